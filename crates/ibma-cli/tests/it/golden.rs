//! Golden single-voxel values: NiMARE 0.22.1 + PyMARE 0.0.13 on
//! `nimare_test_pain_10x10x10/dataset.json` (docs/estimators.md §12a), masked voxel 500 = ijk (5, 0, 0)
//! and voxel 0 = ijk (0, 0, 0).

use crate::{estimator, shared_data};
use ibma::estimators::{Fishers, Stouffers, WeightedStouffers};
use ibma::maps::Map;
use ibma::stats::correct::Correction;
use ibma::{tol, Dataset, Estimator, MetaResult};

fn at(result: &MetaResult, map: &str, v: usize) -> f64 {
    // Maps are written as float32; compare what a user reads from the file.
    f64::from(result.map(crate::map(map)).unwrap_or_else(|| panic!("no map {map}"))[v] as f32)
}

fn assert_golden(result: &MetaResult, map: &str, v: usize, expected: f64) {
    let got = at(result, map, v);
    assert!(tol::close(got, expected, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "{map}[{v}] = {got}, NiMARE 0.22.1: {expected}");
}

fn fixture() -> Option<Dataset> {
    Some(Dataset::load(&shared_data("nimare_test_pain_10x10x10")?).expect("fixture loads"))
}

#[test]
fn stouffers_voxel_500() {
    let Some(ds) = fixture() else { return };
    let mut r = Stouffers::default().fit_dataset(&ds).unwrap();
    // NiMARE 0.22.1 Stouffers(), §12a
    assert_golden(&r, "z", 500, 4.57376);
    assert_golden(&r, "p", 500, 4.79053e-6);
    assert_golden(&r, "logp", 500, 5.31962);
    assert_golden(&r, "dof", 500, 20.0);
    // Default (liberal) mask, voxel 0: a bag of 16 studies.
    assert_golden(&r, "z", 0, 1.90069);
    assert_golden(&r, "dof", 0, 15.0);
    // FDRCorrector(method="indep") on the default mask (n = 1000)
    r.correct(Correction::FdrIndep).unwrap();
    assert_golden(&r, "p_corr-FDR_method-indep", 500, 5.70302e-6);
}

#[test]
fn weighted_stouffers_voxel_500() {
    let Some(ds) = fixture() else { return };
    let r = WeightedStouffers::default().fit_dataset(&ds).unwrap();
    // NiMARE 0.22.1 Stouffers(use_sample_size=True), §12a
    assert_golden(&r, "z", 500, 4.47661);
    assert_golden(&r, "p", 500, 7.58384e-6);
}

#[test]
fn aggressive_mask_fdr_voxel_500() {
    let Some(ds) = fixture() else { return };
    let mut est = Stouffers::default();
    est.inputs.aggressive_mask = true;
    let mut r = est.fit_dataset(&ds).unwrap();
    assert!(r.map(Map::Z).unwrap()[0].is_nan(), "voxel 0 lacks 5 studies: NaN with the aggressive mask");
    r.correct(Correction::FdrIndep).unwrap();
    // FDR family n = 973 (docs/estimators.md §11); NiMARE 0.22.1: 5.55565e-6
    assert_golden(&r, "p_corr-FDR_method-indep", 500, 5.55565e-6);
    assert_eq!(r.map(Map::P).unwrap().iter().filter(|p| !p.is_nan()).count(), 973);
}

/// NiMARE's own fixture JSON as an ibma-dataset: pain_20 has no varcope, pain_21 no z
/// (docs/estimators.md §12b), studies in `order`. Read with derive=false, as NiMARE never derives.
fn nimare_fixture(order: &[usize]) -> Option<(tempfile::TempDir, Dataset)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let mut studies = Vec::new();
    for &i in order {
        let mut s = full["studies"][i].clone();
        let id = s["id"].as_str().unwrap().to_string();
        let maps = s["maps"].as_object_mut().unwrap();
        for path in maps.values_mut() {
            *path = data.join(path.as_str().unwrap()).to_str().unwrap().into();
        }
        match id.as_str() {
            "pain_20" => maps.remove("varcope"),
            "pain_21" => maps.remove("z"),
            _ => None,
        };
        studies.push(s);
    }
    let manifest = serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": data.join("mask.nii.gz"), "studies": studies});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    Some((dir, ds))
}

fn fit_with(name: &str, ds: &Dataset, sets: &[(&str, &str)]) -> MetaResult {
    let est = estimator(name, &[&[("derive", "false")], sets].concat());
    est.fit_dataset(ds).unwrap()
}

#[test]
fn fishers_voxel_500() {
    let Some(ds) = fixture() else { return };
    let r = Fishers::default().fit_dataset(&ds).unwrap();
    // NiMARE 0.22.1 Fishers(), §12a
    assert_golden(&r, "z", 500, 4.72670);
    assert_golden(&r, "p", 500, 2.28201e-6);
    assert_golden(&r, "logp", 500, 5.64168);
    assert_golden(&r, "z", 0, 3.14167);
}

/// An estimator, its `set_param` pairs and expected (map, value) at voxel 500.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, f64)]);

#[test]
fn combination_tests_on_nimares_fixture_json() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    let agg = ("aggressive_mask", "true");
    // NiMARE 0.22.1, nimare_test_pain_dataset.json, aggressive_mask=True, voxel 500 (§12b)
    let cases: [Case; 6] = [
        ("fishers", &[agg], &[("z", 4.89004), ("p", 1.00816e-6), ("dof", 19.0)]),
        ("fishers", &[agg, ("two_sided", "false")], &[("z", 4.89004), ("p", 5.04080e-7)]),
        ("fishers", &[agg, ("use_sample_size", "true")], &[("z", 4.60178), ("p", 4.18894e-6)]),
        ("stouffers", &[agg], &[("z", 4.88354), ("p", 1.04196e-6)]),
        ("stouffers", &[agg, ("two_sided", "false")], &[("z", 4.88354), ("p", 5.20979e-7)]),
        ("stouffers", &[agg, ("use_sample_size", "true")], &[("z", 4.78530), ("p", 1.70733e-6)]),
    ];
    for (est, sets, expected) in cases {
        let r = fit_with(est, &ds, sets);
        for &(map, value) in expected {
            assert_golden(&r, map, 500, value);
        }
    }
    // Default (liberal) mask, voxel 0: Fishers z 3.33769 on a bag of 15 studies (dof 14).
    let r = fit_with("fishers", &ds, &[]);
    assert_golden(&r, "z", 0, 3.33769);
    assert_golden(&r, "dof", 0, 14.0);
}

#[test]
fn corrections_on_nimares_fixture_json() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    let mut r = fit_with("stouffers", &ds, &[("aggressive_mask", "true")]);
    for c in [Correction::FdrIndep, Correction::FdrNegcorr, Correction::Bonferroni] {
        r.correct(c).unwrap();
    }
    // NiMARE 0.22.1 Stouffers -> FDR indep / negcorr / Bonferroni, n = 973 (§12b)
    assert_golden(&r, "p_corr-FDR_method-indep", 500, 1.22888e-6);
    assert_golden(&r, "p_corr-FDR_method-negcorr", 500, 9.16513e-6);
    assert_golden(&r, "p_corr-FWE_method-bonferroni", 500, 1.01383e-3);
}

#[test]
fn seed_era_formulas() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    // NiMARE 0.0.1 esma formulas on the fixture's z maps of pain_01..pain_20 (§12c)
    let r = fit_with("fishers", &ds, &[("legacy_undirected", "true")]);
    assert_golden(&r, "p", 500, 1.05631e-4);
    assert_golden(&r, "z", 500, 3.87728);
    let r = fit_with("stouffers", &ds, &[("inference", "rfx")]);
    assert_golden(&r, "t", 500, 4.13711);
    assert_golden(&r, "p", 500, 5.60213e-4);
    assert_golden(&r, "z", 500, 3.45018);
}

/// Expected (map, value) pairs at one voxel.
type Expected<'a> = &'a [(&'a str, f64)];
/// An estimator command name, its `set_param` pairs and the expected values.
type NamedCase<'a> = (&'a str, &'a [(&'a str, &'a str)], Expected<'a>);

/// `ibma fit --estimator <name>` with default parameters plus `sets`.
fn by_name(name: &str, sets: &[(&str, &str)], ds: &Dataset) -> MetaResult {
    estimator(name, sets).fit_dataset(ds).unwrap()
}

#[test]
fn regression_estimators_voxel_500() {
    let Some(ds) = fixture() else { return };
    // NiMARE 0.22.1 + PyMARE 0.0.13 on dataset.json, voxel 500 (§12a)
    let cases: [NamedCase; 5] = [
        ("weighted-least-squares", &[], &[("est", 0.108962), ("se", 0.0317270), ("z", 3.43437), ("p", 5.93935e-4)]),
        (
            "dersimonian-laird",
            &[],
            &[("tau2", 0.0595645), ("est", 0.245760), ("se", 0.200849), ("z", 1.18676), ("p", 0.235321)],
        ),
        ("hedges", &[], &[("tau2", 1388.36), ("est", 5.72429), ("se", 6.40058), ("z", 0.874626), ("p", 0.381777)]),
        ("permuted-ols", &[], &[("t", 1.06963), ("z", 1.04175), ("p", 0.297526), ("logp", 0.526475)]),
        ("fixed-effects-hedges", &[], &[("est", 0.226843), ("se", 0.0587028), ("z", 3.86426), ("p", 1.11425e-4)]),
    ];
    for (name, sets, expected) in cases {
        let r = by_name(name, sets, &ds);
        for &(map, value) in expected {
            assert_golden(&r, map, 500, value);
        }
        assert_golden(&r, "dof", 500, 20.0);
    }
    // Default mask, voxel 0 (bag of 16 studies)
    for (name, z) in [
        ("weighted-least-squares", 4.75499),
        ("dersimonian-laird", 1.46792),
        ("hedges", -0.333005),
        ("permuted-ols", -0.404433),
        ("fixed-effects-hedges", 1.31791),
    ] {
        assert_golden(&by_name(name, &[], &ds), "z", 0, z);
    }
    assert_golden(&by_name("dersimonian-laird", &[], &ds), "tau2", 0, 14.2757);
    assert_golden(&by_name("permuted-ols", &[], &ds), "t", 0, -0.412380);
}

#[test]
fn regression_options_on_nimares_fixture_json() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    let fit = |name: &str, sets: &[(&str, &str)]| {
        let mut all = vec![("derive", "false"), ("aggressive_mask", "true")];
        all.extend_from_slice(sets);
        by_name(name, &all, &ds)
    };
    let wald = ("small_sample_correction", "wald");
    // NiMARE 0.22.1, nimare_test_pain_dataset.json, aggressive_mask=True, voxel 500 (§12b)
    let cases: [NamedCase; 8] = [
        ("weighted-least-squares", &[], &[("est", 0.109037), ("se", 0.0317271), ("z", 3.43670), ("p", 5.88845e-4)]),
        (
            "dersimonian-laird",
            &[],
            &[("tau2", 0.0583793), ("est", 0.245179), ("se", 0.200783), ("z", 1.18257), ("p", 0.236981), ("dof", 19.0)],
        ),
        ("dersimonian-laird", &[wald], &[("se", 0.130842), ("z", 1.87385), ("p", 0.0609507)]),
        ("hedges", &[], &[("tau2", 1408.95), ("est", 7.27038), ("se", 6.60083), ("z", 1.07034), ("p", 0.284466)]),
        ("hedges", &[wald], &[("se", 9.64297), ("z", 0.753956), ("p", 0.450875)]),
        ("permuted-ols", &[], &[("t", 1.06963), ("z", 1.04175), ("p", 0.297526), ("dof", 20.0)]),
        (
            "permuted-ols",
            &[("use_sample_size", "true")],
            &[("t", 1.10281), ("z", 1.06876), ("p", 0.285179), ("dof", 17.3408)],
        ),
        ("fixed-effects-hedges", &[], &[("est", 0.226843), ("se", 0.0587028), ("z", 3.86426), ("dof", 20.0)]),
    ];
    for (name, sets, expected) in cases {
        let r = fit(name, sets);
        for &(map, value) in expected {
            assert_golden(&r, map, 500, value);
        }
    }
    // Default (liberal) mask, voxel 0
    let liberal = |name: &str, sets: &[(&str, &str)]| {
        let mut all = vec![("derive", "false")];
        all.extend_from_slice(sets);
        by_name(name, &all, &ds)
    };
    let dl = liberal("dersimonian-laird", &[]);
    assert_golden(&dl, "z", 0, 1.70104);
    assert_golden(&dl, "tau2", 0, 11.6393);
    let pols = liberal("permuted-ols", &[]);
    assert_golden(&pols, "t", 0, -0.412380);
    assert_golden(&pols, "dof", 0, 15.0);
    let weighted = liberal("permuted-ols", &[("use_sample_size", "true")]);
    assert_golden(&weighted, "t", 0, -0.498149);
    assert_golden(&weighted, "dof", 0, 12.9882);
}

#[test]
fn likelihood_estimators_voxel_500() {
    let Some(ds) = fixture() else { return };
    // NiMARE 0.22.1 on dataset.json, voxel 500 (§12a); the lock-step search runs over the voxel's bag.
    let cases: [(&str, &str, Expected); 4] = [
        (
            "variance-based-likelihood",
            "ml",
            &[("tau2", 9.66945e-4), ("est", 0.111670), ("se", 0.0605284), ("z", 1.75120), ("p", 0.0799117)],
        ),
        (
            "variance-based-likelihood",
            "reml",
            &[("tau2", 6.25352e-3), ("est", 0.133042), ("se", 0.0916017), ("z", 1.39871), ("p", 0.161899)],
        ),
        (
            "sample-size-based-likelihood",
            "ml",
            &[("sigma2", 45252.3), ("est", 11.6122), ("se", 11.9273), ("z", 0.950429), ("p", 0.341894)],
        ),
        ("sample-size-based-likelihood", "reml", &[("sigma2", 47514.9), ("est", 11.6122), ("z", 0.950429)]),
    ];
    for (name, method, expected) in cases {
        let r = by_name(name, &[("method", method)], &ds);
        for &(map, value) in expected {
            assert_golden(&r, map, 500, value);
        }
    }
    let ssbl = by_name("sample-size-based-likelihood", &[], &ds);
    assert!(tol::close(ssbl.map(Map::Tau2).unwrap()[500], 0.0, 0.0, 0.0), "SSBL tau2 is exactly 0 at voxel 500");
}

#[test]
fn glm_identities() {
    let Some(ds) = fixture() else { return };
    // RFX_GLM's t is PermutedOLS's t (the same one-sample t, flameo's `ols` mode).
    let (rfx, pols) = (by_name("rfx-glm", &[], &ds), by_name("permuted-ols", &[], &ds));
    let bits = |r: &MetaResult, m: &str| r.map(crate::map(m)).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&rfx, "t"), bits(&pols, "t"));
    // FFX_GLM's est and se are WLS with tau2 = 0.
    let (ffx, wls) = (by_name("ffx-glm", &[], &ds), by_name("weighted-least-squares", &[], &ds));
    for m in ["est", "se"] {
        for (a, b) in ffx.map(crate::map(m)).unwrap().iter().zip(wls.map(crate::map(m)).unwrap()) {
            assert!(tol::close(*a, *b, tol::SUMMATION_ORDER_RTOL, 0.0), "{m}: {a} vs {b}");
        }
    }
    // FFX_GLM dof: min(sum(n_k - 1), 1000) - 1 over the voxel's studies.
    let n_sum: f64 = ds.manifest.studies.iter().map(|s| s.sample_size.unwrap() - 1.0).sum();
    assert_golden(&ffx, "dof", 500, n_sum.min(1000.0) - 1.0);
}

#[test]
fn seed_era_rfx_glm_standardized() {
    let Some(ds) = fixture() else { return };
    // NiMARE 0.0.1 RFX_GLM formulas on the fixture's con maps of all 21 studies, per-map SD
    // standardised, theoretical null (§12c)
    let r = by_name("rfx-glm", &[("standardize", "true")], &ds);
    assert_golden(&r, "t", 500, 3.68361);
    assert_golden(&r, "z", 500, 3.18008);
    assert_golden(&r, "p", 500, 1.47235e-3);
}

#[test]
fn ssbl_all_equal_sample_sizes() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    // Two studies with one shared n: the pair's bags are not identifiable.
    let mut full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let studies = full["studies"].as_array_mut().unwrap();
    studies.truncate(3);
    for s in studies.iter_mut() {
        s["sample_size"] = 20.into();
        for path in s["maps"].as_object_mut().unwrap().values_mut() {
            *path = data.join(path.as_str().unwrap()).to_str().unwrap().into();
        }
    }
    full["mask"] = data.join("mask.nii.gz").to_str().unwrap().into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), full.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    let r = by_name("sample-size-based-likelihood", &[], &ds);
    assert!(r.map(Map::Z).unwrap().iter().all(|z| z.is_nan()));
    assert!(r.warnings.iter().any(|w| w.contains("share one sample size")), "{:?}", r.warnings);
    assert!(r.diagnostics.voxels_nan_all_equal_sample_size.unwrap() > 0);
    let strict = estimator("sample-size-based-likelihood", &[("nimare_strict", "true")]);
    let err = strict.fit_dataset(&ds).unwrap_err().to_string();
    assert!(err.contains("cannot work with all-equal sample sizes"), "{err}");
}

#[test]
fn heterogeneity_maps_are_written_by_tau2_estimators() {
    let Some(ds) = fixture() else { return };
    for name in ["weighted-least-squares", "dersimonian-laird", "hedges", "variance-based-likelihood", "ffx-glm"] {
        let r = by_name(name, &[], &ds);
        for m in ["q", "q_p", "q_logp", "i2", "h"] {
            assert!(r.map(crate::map(m)).is_some(), "{name} lacks {m}");
        }
        // Q does not depend on the estimator's tau2: DerSimonian-Laird's tau2 is (Q - df)/A.
        let (q, i2) = (r.map(Map::Q).unwrap()[500], r.map(Map::I2).unwrap()[500]);
        assert!(tol::close(i2, 100.0 * (q - 20.0) / q, tol::SUMMATION_ORDER_RTOL, 0.0), "{name}");
    }
}

#[test]
fn glm_faces_of_flame_on_the_fixture() {
    let Some(ds) = fixture() else { return };
    // docs/flame1.md, Reference cases (Imaging fixture): dataset.json, one-sample, listwise.
    let mfx = by_name("mfx-glm", &[], &ds);
    for (map, v500) in [
        ("tau2", 0.00625352),
        ("est", 0.133042),
        ("varcope", 0.00339446),
        ("t", 2.28352),
        ("dof", 20.0),
        ("z", 2.12640),
    ] {
        assert_golden(&mfx, map, 500, v500);
    }
    for (map, v0) in [("est", 3.70612), ("varcope", 0.607490), ("t", 4.75499), ("dof", 15.0), ("z", 3.65668)] {
        assert_golden(&mfx, map, 0, v0);
    }
    let ffx = by_name("ffx-glm", &[], &ds);
    for (v, t, dof, z) in [(500, 3.43437, 312.0, 3.39984), (0, 4.75499, 218.0, 4.63291)] {
        assert_golden(&ffx, "t", v, t);
        assert_golden(&ffx, "dof", v, dof);
        assert_golden(&ffx, "z", v, z);
    }
    let rfx = by_name("rfx-glm", &[], &ds);
    assert_golden(&rfx, "t", 500, 1.06963);
    assert_golden(&rfx, "z", 0, -0.404433);
    // The ols face with an explicit intercept design is the same t-test.
    let rfx_design = by_name("rfx-glm", &[("contrast", "1")], &ds);
    for (a, b) in rfx.map(Map::T).unwrap().iter().zip(rfx_design.map(Map::T).unwrap()) {
        assert!(tol::close(*a, *b, tol::SUMMATION_ORDER_RTOL, tol::REFERENCE_ATOL), "{a} vs {b}");
    }
    for m in ["q", "i2", "h"] {
        assert!(mfx.map(crate::map(m)).is_some(), "mfx-glm writes {m}");
    }
}

#[test]
fn mfx_glm_energy_is_never_above_nimares_reml() {
    let Some(ds) = fixture() else { return };
    // docs/flame1.md, The test of MFX against NiMARE's REML, on the fixture's all-21 voxels
    // (aggressive mask): NiMARE's VarianceBasedLikelihood(method="reml") as ibma reproduces it
    // (validated against NiMARE).
    let agg = [("aggressive_mask", "true")];
    let (mfx, vbl) =
        (by_name("mfx-glm", &agg, &ds), by_name("variance-based-likelihood", &[agg[0], ("method", "reml")], &ds));
    let needs = crate::estimator("mfx-glm", &agg).needs();
    let inputs = ds.inputs(&needs).and_then(|i| i.prepare(&needs)).unwrap().whole();
    let (con, var) = (inputs.map(ibma::io::MapType::Con), inputs.map(ibma::io::MapType::Varcope));
    let (mut better, mut agree, mut boundary) = (0, 0, 0);
    for v in 0..con.n_voxels() {
        let (t_mfx, t_vbl) = (mfx.map(Map::Tau2).unwrap()[v], vbl.map(Map::Tau2).unwrap()[v]);
        if t_vbl.is_nan() {
            continue;
        }
        let (y, s): (Vec<f64>, Vec<f64>) = con.voxel(v).iter().zip(var.voxel(v)).map(|(c, s)| (*c, *s)).unzip();
        let k = y.len() as f64;
        let mean = y.iter().sum::<f64>() / k;
        let s_hat2 = y.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (k - 1.0);
        let at_boundary = |t2: f64| t2 <= tol::BOUNDARY_ATOL_PER_VAR * s_hat2;
        if at_boundary(t_vbl) && at_boundary(t_mfx) {
            // (iii) both at the boundary τ² = 0 (MFX reports its floor 1e−10·ŝ²)
            boundary += 1;
            continue;
        }
        let energy = |t2: f64| ibma::glm::flame::reml_energy(&y, &s, &vec![1.0; y.len()], 1, t2);
        let (e_mfx, e_vbl) = (energy(t_mfx), energy(t_vbl));
        // (i) never above NiMARE's energy
        assert!(e_mfx <= e_vbl + tol::ENERGY_RTOL * (1.0 + e_vbl.abs()), "voxel {v}: MFX energy {e_mfx} > {e_vbl}");
        if (e_mfx - e_vbl).abs() <= tol::ENERGY_AGREE_ATOL {
            // (ii) same optimum: same τ² and est, and NiMARE's KH se = MFX se · √q_KH
            agree += 1;
            let at = |r: &MetaResult, m: &str| r.map(crate::map(m)).unwrap()[v];
            assert!(tol::close(t_mfx, t_vbl, tol::FLAME_VS_NIMARE_RTOL, 0.0), "voxel {v}: tau2 {t_mfx} vs {t_vbl}");
            assert!(tol::close(at(&mfx, "est"), at(&vbl, "est"), tol::FLAME_VS_NIMARE_RTOL, 0.0), "voxel {v}: est");
            let w: Vec<f64> = s.iter().map(|s| 1.0 / (s + t_mfx)).collect();
            let est = at(&mfx, "est");
            let q_kh = y.iter().zip(&w).map(|(y, w)| w * (y - est).powi(2)).sum::<f64>() / (k - 1.0);
            assert!(
                tol::close(at(&mfx, "se") * q_kh.sqrt(), at(&vbl, "se"), tol::FLAME_VS_NIMARE_RTOL, 0.0),
                "voxel {v}: se"
            );
        } else {
            better += 1;
        }
    }
    // (iv) docs/flame1.md (The test of MFX against NiMARE's REML) measured 13 strictly better voxels.
    eprintln!("mfx-glm vs VBL-REML: {better} voxels with a strictly lower energy, {agree} at the same optimum, {boundary} at tau2 = 0");
    assert!(better > 0 && better + agree + boundary == 973);
}
