//! Golden single-voxel values: NiMARE 0.22.1 + PyMARE 0.0.13 on
//! `nimare_test_pain_10x10x10/dataset.json` (estimators.md §12a), masked voxel 500 = ijk (5, 0, 0)
//! and voxel 0 = ijk (0, 0, 0).

use crate::shared_data;
use ibma::estimators::Stouffers;
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
