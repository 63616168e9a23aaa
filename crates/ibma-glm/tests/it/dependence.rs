//! The regression estimators and PermutedOLS with dependence groups against NiMARE 0.22.1 /
//! PyMARE 0.0.13 on a synthetic dataset of 9 images from 5 studies (every weight scheme, two ρ,
//! `groupby=False`, a bag holding one study only), `tests/data/dependence_reference.json`.

use crate::dependence_data::{assert_map, reference, values, Inputs};
use ibma_glm::hedges_fe::hedges_g;
use ibma_glm::likelihood::Method;
use ibma_glm::metareg::Tau2;
use ibma_glm::ols::permuted_ols_grouped;
use ibma_glm::robust::likelihood::{grouped_sample_size_likelihood, grouped_variance_likelihood};
use ibma_glm::robust::{grouped_moments, GroupedFit, WeightScheme, Working};
use ibma_glm::SmallSampleCorrection;
use ibma_stats::bags::bags;
use ibma_stats::groups::DependenceWarning;
use ibma_stats::permute::{max_cr2_null_per_bag, max_t_null, FlipMatrix};
use ibma_stats::pmaps::logp_from_nlogp;
use ibma_stats::{tol, Tail};
use serde_json::Value;

fn working(kwargs: &Value) -> Working {
    let scheme = match kwargs["weight_scheme"].as_str() {
        None | Some("rescale") => WeightScheme::Rescale,
        Some("individual") => WeightScheme::Individual,
        Some("collapse") => WeightScheme::Collapse,
        Some(other) => panic!("weight scheme {other}"),
    };
    Working { scheme, rho: kwargs["rho"].as_f64().unwrap_or(ibma_glm::robust::DEFAULT_RHO) }
}

fn method(kwargs: &Value) -> Method {
    if kwargs["method"] == "reml" {
        Method::Reml
    } else {
        Method::Ml
    }
}

/// Our fit of one NiMARE run: (map name, values) pairs and the warnings.
fn fit(inputs: &Inputs, run: &Value) -> (Vec<(&'static str, Vec<f64>)>, Vec<DependenceWarning>) {
    let kwargs = &run["kwargs"];
    let grouping = inputs.grouping(kwargs["groupby"] == false);
    let (con, var) = (inputs.matrix("beta", &["beta", "varcope"]), inputs.matrix("varcope", &["beta", "varcope"]));
    let models = bags(&con, 2);
    let n = inputs.sample_sizes();
    let tau2 = kwargs["tau2"].as_f64().unwrap_or(0.0);
    let (wald, kh) = (SmallSampleCorrection::Wald, SmallSampleCorrection::KnappHartung);
    let maps = |fit: GroupedFit| {
        let m = fit.maps;
        let mut out = vec![
            ("z", m.test.z),
            ("logp", m.test.nlogp.iter().map(|&l| logp_from_nlogp(l)).collect()),
            ("est", m.est),
            ("se", m.se),
            ("dof", m.test.dof),
        ];
        if !m.tau2.is_empty() {
            out.push(("tau2", m.tau2));
        }
        if !m.sigma2.is_empty() {
            out.push(("sigma2", m.sigma2));
        }
        (out, fit.warnings)
    };
    match run["estimator"].as_str().unwrap() {
        "WeightedLeastSquares" => {
            maps(grouped_moments(&con, &var, &grouping, &models, Tau2::Fixed(tau2), working(kwargs), wald))
        }
        "DerSimonianLaird" => {
            maps(grouped_moments(&con, &var, &grouping, &models, Tau2::DerSimonianLaird, working(kwargs), kh))
        }
        "Hedges" => maps(grouped_moments(&con, &var, &grouping, &models, Tau2::Hedges, working(kwargs), kh)),
        "VarianceBasedLikelihood" => {
            maps(grouped_variance_likelihood(&con, &var, &grouping, &models, method(kwargs), working(kwargs), kh))
        }
        "SampleSizeBasedLikelihood" => {
            let con = inputs.matrix("beta", &["beta"]);
            let (fit, degenerate) = grouped_sample_size_likelihood(
                &con,
                &n,
                &grouping,
                &bags(&con, 2),
                method(kwargs),
                working(kwargs),
                kh,
            );
            assert!(degenerate.is_empty());
            maps(fit)
        }
        "FixedEffectsHedges" => {
            let t = inputs.matrix("t", &["t"]);
            let (g, v) = hedges_g(&t, &n);
            maps(grouped_moments(&g, &v, &grouping, &bags(&t, 2), Tau2::Fixed(tau2), working(kwargs), wald))
        }
        other => panic!("estimator {other}"),
    }
}

#[test]
fn regression_estimators_with_groups_match_nimare() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let inputs = Inputs(&json["inputs"]);
    let mut checked = 0;
    for run in json["runs"].as_array().unwrap().iter().filter(|r| r["estimator"] != "PermutedOLS") {
        let label = run["label"].as_str().unwrap();
        let (maps, warnings) = fit(&inputs, run);
        for (name, got) in &maps {
            let want = values(&run["maps"][*name]);
            assert_map(&format!("{label} {name}"), got, &want, tol::MAP_RTOL);
            checked += 1;
        }
        // PyMARE warns of few groups and of low dof exactly when the fit is cluster-robust.
        let robust =
            run["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().starts_with("Cluster-robust"));
        assert_eq!(robust, warnings.iter().any(|w| matches!(w, DependenceWarning::FewGroups { .. })), "{label}");
        let low = run["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().starts_with("Satterthwaite"));
        assert_eq!(low, warnings.iter().any(|w| matches!(w, DependenceWarning::LowDof { .. })), "{label}");
    }
    // 5 settings × (WLS ×2, FEH: 5 maps; DL, Hedges, VBL ×2: 6; SSBL ×2: 7).
    assert_eq!(checked, 5 * (3 * 5 + 4 * 6 + 2 * 7), "every reference map compared");
}

#[test]
fn permuted_ols_with_groups_matches_nimare_maps_and_null() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let inputs = Inputs(&json["inputs"]);
    let grouping = inputs.grouping(false);
    let con = inputs.matrix("beta", &["beta"]);
    let n = inputs.sample_sizes();
    for run in json["runs"].as_array().unwrap().iter().filter(|r| r["estimator"] == "PermutedOLS") {
        let weighted = run["kwargs"]["use_sample_size"] == true;
        let ols = permuted_ols_grouped(&con, &grouping, &bags(&con, 2), weighted.then_some(&n[..]), Tail::Two);
        let label = run["label"].as_str().unwrap();
        let logp: Vec<f64> = ols.maps.test.nlogp.iter().map(|&l| logp_from_nlogp(l)).collect();
        for (name, got) in [("t", &ols.maps.t), ("z", &ols.maps.test.z), ("logp", &logp), ("dof", &ols.maps.test.dof)] {
            assert_map(&format!("{label} {name}"), got, &values(&run["maps"][name]), tol::MAP_RTOL);
        }
        // One sign per group, drawn as NiMARE draws them (seed 7, 200 iterations).
        let want = values(&run["fwe_null_max_z"]);
        let flips = FlipMatrix::nimare(want.len(), grouping.n_groups(), 7);
        let h0 = if weighted {
            max_cr2_null_per_bag(&ols.means, &ols.models, &ols.weights, &flips, Tail::Two)
        } else {
            max_t_null(&ols.means, &ols.models, &flips, Tail::Two)
        };
        for (i, (g, w)) in h0.iter().zip(&want).enumerate() {
            assert!(tol::close(*g, *w, tol::REFERENCE_RTOL, 0.0), "{label} null {i}: {g} vs NiMARE {w}");
        }
    }
}

#[test]
fn grouped_fits_do_not_depend_on_the_thread_count() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let inputs = Inputs(&json["inputs"]);
    let grouping = inputs.grouping(false);
    let (con, var) = (inputs.matrix("beta", &["beta", "varcope"]), inputs.matrix("varcope", &["beta", "varcope"]));
    let models = bags(&con, 2);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let kh = SmallSampleCorrection::KnappHartung;
            let vbl = grouped_variance_likelihood(&con, &var, &grouping, &models, Method::Reml, Working::default(), kh);
            let dl = grouped_moments(&con, &var, &grouping, &models, Tau2::DerSimonianLaird, Working::default(), kh);
            [vbl.maps.test.z, vbl.maps.tau2, dl.maps.test.z, dl.maps.test.dof]
                .map(|m| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        })
    };
    assert_eq!(run(1), run(4));
}
