//! Several images per study through the library (docs/dependence.md): `groupby` as text and as
//! a field, what each estimator does with dependent images, and permutations flipping whole
//! groups. The numbers themselves are checked against NiMARE by `cargo xtask validate`.

use ibma::estimators::{AnyEstimator, DerSimonianLaird, PermutedOls, Stouffers};
use ibma::io::{Covariate, Grid, MapType, Mask};
use ibma::maps::Map;
use ibma::options::{Flips, GroupBy};
use ibma::{params, tol, Estimator, Inputs, MetaResult, StudyInputs};
use ibma_testkit::Rng;

const VOXELS: usize = 40;

fn mask() -> Mask {
    let identity = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    Mask { grid: Grid::from_affine([VOXELS, 1, 1], identity), indices: (0..VOXELS).collect() }
}

/// `studies` studies of two images each (`s<k>-a`, `s<k>-b`), with con, varcope, z and a
/// sample size; image `a` carries a `sample` covariate, `b` does not.
fn inputs(studies: usize, seed: u64) -> Inputs {
    let mut rng = Rng::new(seed);
    let mut inputs = Inputs::new(mask());
    for k in 0..studies {
        let shared: Vec<f64> = (0..VOXELS).map(|_| 0.5 + rng.normal()).collect();
        for (image, n) in [("a", 20.0 + k as f64), ("b", 12.0 + 2.0 * k as f64)] {
            let con: Vec<f64> = shared.iter().map(|s| s + 0.5 * rng.normal()).collect();
            let var: Vec<f64> = (0..VOXELS).map(|_| 0.2 + 0.1 * rng.uniform()).collect();
            let z: Vec<f64> = con.iter().zip(&var).map(|(c, v)| c / v.sqrt()).collect();
            let mut study = StudyInputs::new(format!("s{k}-{image}"))
                .study(format!("s{k}"))
                .sample_size(n)
                .map(MapType::Con, con)
                .map(MapType::Varcope, var)
                .map(MapType::Z, z);
            if image == "a" {
                study = study.covariate("sample", Covariate::Label(format!("sample{}", k % 3)));
            }
            inputs.push(study).unwrap();
        }
    }
    inputs
}

fn with(name: &str, sets: &[(&str, &str)]) -> AnyEstimator {
    let mut est = AnyEstimator::by_name(name).unwrap();
    for (k, v) in sets {
        params::set(&mut est, k, v).unwrap();
    }
    est
}

#[test]
fn groupby_reads_nimare_values_and_writes_text() {
    let mut est = AnyEstimator::by_name("hedges").unwrap();
    let value = |est: &AnyEstimator| params::params(est).into_iter().find(|(k, _)| k == "groupby").unwrap().1;
    assert_eq!(value(&est), "study");
    for (text, expected) in [("none", "none"), ("False", "none"), ("site", "site"), ("study", "study")] {
        params::set(&mut est, "groupby", text).unwrap();
        assert_eq!(value(&est), expected);
    }
    // NiMARE's keyword values: None and False; a list is explicit labels.
    params::set_value(&mut est, "groupby", serde_json::Value::Null).unwrap();
    assert_eq!(value(&est), "study");
    params::set_value(&mut est, "groupby", serde_json::json!(false)).unwrap();
    assert_eq!(value(&est), "none");
    params::set_value(&mut est, "groupby", serde_json::json!(["a", 1])).unwrap();
    let AnyEstimator::Hedges(h) = &est else { unreachable!() };
    assert_eq!(h.inputs.groupby, GroupBy::Labels(vec!["a".into(), "1".into()]));
    let e = params::set_value(&mut est, "groupby", serde_json::json!(true)).unwrap_err().to_string();
    assert!(e.contains("valid values: study, none, a covariate name"), "{e}");
    let e = params::set(&mut est, "rho", "1.5").and_then(|()| est.validate()).unwrap_err().to_string();
    assert!(e.contains("rho") && e.contains("[0, 1]"), "{e}");
    let e = params::set(&mut est, "weight_scheme", "equal").unwrap_err().to_string();
    assert!(e.contains("rescale, individual, collapse"), "{e}");
}

#[test]
fn images_of_a_study_form_a_group_by_default() {
    let inputs = inputs(6, 1);
    let grouped = DerSimonianLaird::default().fit(&inputs).unwrap();
    let facts = grouped.diagnostics.dependence.as_ref().expect("dependence facts");
    assert_eq!(facts.n_groups, 6);
    assert_eq!(facts.group_labels[..3], ["s0", "s0", "s1"]);
    // Cluster-robust: Satterthwaite dof, not K - 1; 6 groups draw the few-groups warning.
    let dof = grouped.map(Map::Dof).unwrap();
    let satterthwaite = |d: &f64| (1.0..=5.0 + 1e-9).contains(d) && d.fract() != 0.0;
    assert!(dof.iter().all(satterthwaite), "{dof:?}");
    assert!(grouped.warnings.iter().any(|w| w.contains("only 6 groups")), "{:?}", grouped.warnings);
    assert!(grouped.map(Map::I2).is_none(), "Q and I2 assume independent images");
    // groupby=none: the ordinary estimator on 12 independent images, with NiMARE's warning.
    let none = with("dersimonian-laird", &[("groupby", "none")]).fit(&inputs).unwrap();
    assert!(none.diagnostics.dependence.is_none());
    assert!(none.map(Map::Dof).unwrap().iter().all(|&d| tol::close(d, 11.0, 0.0, 0.0)));
    assert!(none.warnings.iter().any(|w| w.contains("6 image(s) share a group with another image")));
    assert!(none.map(Map::I2).is_some());
    assert_ne!(none.map(Map::Z), grouped.map(Map::Z));
}

#[test]
fn groups_by_covariate_or_label_and_what_cannot_be_grouped() {
    let inputs = inputs(6, 2);
    // `sample` is on image a only: the b images are dropped, and 6 images form 3 samples.
    let by_sample = with("stouffers", &[("groupby", "sample")]).fit(&inputs).unwrap();
    assert_eq!(by_sample.studies.len(), 6);
    assert_eq!(by_sample.diagnostics.dependence.as_ref().unwrap().n_groups, 3);
    assert!(by_sample.warnings.iter().any(|w| w.contains("s0-b (no covariate sample")), "{:?}", by_sample.warnings);
    assert!(by_sample.map(Map::Dof).unwrap().iter().all(|&d| tol::close(d, 2.0, 0.0, 0.0)), "groups - 1");
    // Explicit labels: one per image, in order.
    let labels: Vec<String> = (0..12).map(|i| format!("g{}", i / 4)).collect();
    let explicit = Stouffers {
        inputs: ibma::options::InputOptions { groupby: GroupBy::Labels(labels), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(explicit.fit(&inputs).unwrap().diagnostics.dependence.unwrap().n_groups, 3);
    let short = Stouffers {
        inputs: ibma::options::InputOptions { groupby: GroupBy::Labels(vec!["a".into()]), ..Default::default() },
        ..Default::default()
    };
    let e = short.fit(&inputs).unwrap_err().to_string();
    assert!(e.contains("groupby: 1 labels for 12 images"), "{e}");
    // No dependence-aware form: refused, naming the way out.
    for (name, sets) in [
        ("mfx-glm", &[][..]),
        ("stouffers", &[("inference", "rfx")][..]),
        ("fishers", &[("legacy_undirected", "true")][..]),
    ] {
        let e = with(name, sets).fit(&inputs).unwrap_err().to_string();
        assert!(e.contains("does not model dependent images") && e.contains("groupby=none"), "{name}: {e}");
    }
    let mut dl = with("dersimonian-laird", &[("moderators", "x")]);
    let e = dl.fit(&inputs).unwrap_err().to_string();
    assert!(e.contains("meta-regression"), "{e}");
    params::set(&mut dl, "groupby", "none").unwrap();
    assert!(dl.fit(&inputs).unwrap_err().to_string().contains("covariate"), "the design is tried without groups");
}

/// PermutedOLS with groups is the one-sample t over the groups' mean images, and its
/// Monte-Carlo null is NiMARE's group flips: the same as an ungrouped fit of the mean images.
#[test]
fn permutations_flip_whole_groups() {
    let inputs = inputs(5, 3);
    let mut means = Inputs::new(mask());
    for k in 0..5 {
        let (a, b) = (&inputs.studies()[2 * k].maps[&MapType::Con], &inputs.studies()[2 * k + 1].maps[&MapType::Con]);
        means
            .push(
                StudyInputs::new(format!("s{k}"))
                    .map(MapType::Con, a.iter().zip(b).map(|(x, y)| (f64::from(*x) + f64::from(*y)) / 2.0)),
            )
            .unwrap();
    }
    let corrections = |exact: bool| ibma::correct::Corrections {
        methods: vec![ibma::maps::Method::Montecarlo],
        flips: Flips { n_iters: 300, seed: 9, exact_flips: exact },
        ..Default::default()
    };
    let fit = |inputs: &Inputs, exact: bool| -> MetaResult {
        let est = AnyEstimator::PermutedOls(PermutedOls::default());
        let prepared = inputs.prepare(&est.needs()).unwrap();
        let mut result = est.fit_prepared(&prepared, &ibma::progress::Quiet).unwrap();
        corrections(exact).apply(&est, &prepared, &mut result, &ibma::progress::Quiet).unwrap();
        result
    };
    let (grouped, of_means) = (fit(&inputs, false), fit(&means, false));
    // The means are float32-rounded as inputs: equal up to that rounding.
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| tol::close(*x, *y, 1e-5, 1e-6));
    assert!(close(grouped.map(Map::T).unwrap(), of_means.map(Map::T).unwrap()));
    let null = |r: &MetaResult| {
        r.diagnostics.montecarlo.as_ref().unwrap().montecarlo_null_max_z.iter().map(|z| z.unwrap()).collect::<Vec<_>>()
    };
    assert!(close(&null(&grouped), &null(&of_means)));
    // Enumerated flips: 2^5 - 1 group patterns, not 2^10 - 1 image patterns, for the t engine
    // and for a refitted estimator alike.
    assert_eq!(fit(&inputs, true).diagnostics.montecarlo.unwrap().montecarlo_n_iters, 31);
    let stouffers = AnyEstimator::Stouffers(Stouffers::default());
    let prepared = inputs.prepare(&stouffers.needs()).unwrap();
    let mut result = stouffers.fit_prepared(&prepared, &ibma::progress::Quiet).unwrap();
    corrections(true).apply(&stouffers, &prepared, &mut result, &ibma::progress::Quiet).unwrap();
    assert_eq!(result.diagnostics.montecarlo.unwrap().montecarlo_n_iters, 31);
    assert!(result.diagnostics.dependence.unwrap().null_correlation.is_some());
}
