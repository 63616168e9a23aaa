//! Golden single-voxel values: NiMARE 0.22.1 + PyMARE 0.0.13 on
//! `nimare_test_pain_10x10x10/dataset.json` (estimators.md §12a), masked voxel 500 = ijk (5, 0, 0)
//! and voxel 0 = ijk (0, 0, 0).

use crate::shared_data;
use ibma::estimators::{Fishers, Inference, Stouffers};
use ibma::stats::correct::Correction;
use ibma::{tol, Dataset, Estimator, MetaResult};

fn at(result: &MetaResult, map: &str, v: usize) -> f64 {
    // Maps are written as float32; compare what a user reads from the file.
    f64::from(result.map(map).unwrap_or_else(|| panic!("no map {map}"))[v] as f32)
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
    let mut r = Stouffers::default().fit(&ds).unwrap();
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
    let r = Stouffers::weighted().fit(&ds).unwrap();
    // NiMARE 0.22.1 Stouffers(use_sample_size=True), §12a
    assert_golden(&r, "z", 500, 4.47661);
    assert_golden(&r, "p", 500, 7.58384e-6);
}

#[test]
fn aggressive_mask_fdr_voxel_500() {
    let Some(ds) = fixture() else { return };
    let mut est = Stouffers::default();
    est.set_param("aggressive_mask", "true").unwrap();
    let mut r = est.fit(&ds).unwrap();
    assert!(r.map("z").unwrap()[0].is_nan(), "voxel 0 lacks 5 studies: NaN with the aggressive mask");
    r.correct(Correction::FdrIndep).unwrap();
    // FDR family n = 973 (estimators.md §11); NiMARE 0.22.1: 5.55565e-6
    assert_golden(&r, "p_corr-FDR_method-indep", 500, 5.55565e-6);
    assert_eq!(r.map("p").unwrap().iter().filter(|p| !p.is_nan()).count(), 973);
}

#[test]
fn same_result_for_any_thread_count() {
    let Some(ds) = fixture() else { return };
    let fit = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| Stouffers::weighted().fit(&ds).unwrap())
    };
    let (one, four) = (fit(1), fit(4));
    for name in one.map_names() {
        let bits = |r: &MetaResult| r.map(name).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&four), "map {name} differs between 1 and 4 threads");
    }
}

/// NiMARE's own fixture JSON as an ibma-dataset: pain_20 has no varcope, pain_21 no z
/// (estimators.md §12b), studies in `order`. Read with derive=false, as NiMARE never derives.
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

fn fit_with(est: &mut dyn Estimator, ds: &Dataset, sets: &[(&str, &str)]) -> MetaResult {
    est.set_param("derive", "false").unwrap();
    for (k, v) in sets {
        est.set_param(k, v).unwrap();
    }
    est.fit(ds).unwrap()
}

#[test]
fn fishers_voxel_500() {
    let Some(ds) = fixture() else { return };
    let r = Fishers::default().fit(&ds).unwrap();
    // NiMARE 0.22.1 Fishers(), §12a
    assert_golden(&r, "z", 500, 4.72670);
    assert_golden(&r, "p", 500, 2.28201e-6);
    assert_golden(&r, "logp", 500, 5.64168);
    assert_golden(&r, "z", 0, 3.14167);
}

/// An estimator, its `set_param` pairs and expected (map, value) at voxel 500.
type Case<'a> = (&'a mut dyn Estimator, &'a [(&'a str, &'a str)], &'a [(&'a str, f64)]);

#[test]
fn combination_tests_on_nimares_fixture_json() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    let agg = ("aggressive_mask", "true");
    // NiMARE 0.22.1, nimare_test_pain_dataset.json, aggressive_mask=True, voxel 500 (§12b)
    let cases: [Case; 6] = [
        (&mut Fishers::default(), &[agg], &[("z", 4.89004), ("p", 1.00816e-6), ("dof", 19.0)]),
        (&mut Fishers::default(), &[agg, ("two_sided", "false")], &[("z", 4.89004), ("p", 5.04080e-7)]),
        (&mut Fishers::default(), &[agg, ("use_sample_size", "true")], &[("z", 4.60178), ("p", 4.18894e-6)]),
        (&mut Stouffers::default(), &[agg], &[("z", 4.88354), ("p", 1.04196e-6)]),
        (&mut Stouffers::default(), &[agg, ("two_sided", "false")], &[("z", 4.88354), ("p", 5.20979e-7)]),
        (&mut Stouffers::default(), &[agg, ("use_sample_size", "true")], &[("z", 4.78530), ("p", 1.70733e-6)]),
    ];
    for (est, sets, expected) in cases {
        let r = fit_with(est, &ds, sets);
        for &(map, value) in expected {
            assert_golden(&r, map, 500, value);
        }
    }
    // Default (liberal) mask, voxel 0: Fishers z 3.33769 on a bag of 15 studies (dof 14).
    let r = fit_with(&mut Fishers::default(), &ds, &[]);
    assert_golden(&r, "z", 0, 3.33769);
    assert_golden(&r, "dof", 0, 14.0);
}

#[test]
fn corrections_on_nimares_fixture_json() {
    let Some((_dir, ds)) = nimare_fixture(&(0..21).collect::<Vec<_>>()) else { return };
    let mut r = fit_with(&mut Stouffers::default(), &ds, &[("aggressive_mask", "true")]);
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
    let r = fit_with(&mut Fishers::default(), &ds, &[("legacy_undirected", "true")]);
    assert_golden(&r, "p", 500, 1.05631e-4);
    assert_golden(&r, "z", 500, 3.87728);
    let r = fit_with(&mut Stouffers::default(), &ds, &[("inference", "rfx")]);
    assert_golden(&r, "t", 500, 4.13711);
    assert_golden(&r, "p", 500, 5.60213e-4);
    assert_golden(&r, "z", 500, 3.45018);
}

#[test]
fn study_order_changes_no_output() {
    let forward: Vec<usize> = (0..21).collect();
    let shuffled: Vec<usize> = (0..21).map(|i| (i * 8) % 21).collect(); // 8 is coprime to 21
    let (Some((_a, ds1)), Some((_b, ds2))) = (nimare_fixture(&forward), nimare_fixture(&shuffled)) else { return };
    let estimators: Vec<Box<dyn Fn() -> Box<dyn Estimator>>> = vec![
        Box::new(|| Box::new(Fishers::default())),
        Box::new(|| Box::new(Stouffers::weighted())),
        Box::new(|| Box::new(Stouffers { inference: Inference::Rfx, ..Stouffers::default() })),
    ];
    for make in estimators {
        let (r1, r2) = (fit_with(&mut *make(), &ds1, &[]), fit_with(&mut *make(), &ds2, &[]));
        for name in r1.map_names() {
            for (a, b) in r1.map(name).unwrap().iter().zip(r2.map(name).unwrap()) {
                assert!(tol::close(*a, *b, tol::SUMMATION_ORDER_RTOL, 0.0), "{} {name}: {a} vs {b}", r1.estimator);
            }
        }
    }
}
