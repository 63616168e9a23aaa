//! Fitting in voxel blocks (large datasets) gives exactly the whole fit, for every estimator
//! that allows it, with and without a design.

use crate::design::fixture_with_covariates;
use crate::estimator;
use ibma::estimators::AnyEstimator;
use ibma::{Dataset, Estimator, MetaResult};

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn assert_same(whole: &MetaResult, blocks: &MetaResult, what: &str) {
    let names: Vec<_> = whole.maps().map(|(m, _)| m).collect();
    assert_eq!(names, blocks.maps().map(|(m, _)| m).collect::<Vec<_>>(), "{what}: map names");
    for name in names {
        assert!(same_values(whole.map(name).unwrap(), blocks.map(name).unwrap()), "{what}: map {name} differs");
    }
    for ((n, a), (_, b)) in whole.per_study_maps().zip(blocks.per_study_maps()) {
        assert!(a.iter().zip(b).all(|(x, y)| same_values(x, y)), "{what}: 4-D map {n} differs");
    }
    assert_eq!(whole.tables, blocks.tables, "{what}: tables");
    assert_eq!(whole.diagnostics, blocks.diagnostics, "{what}: diagnostics");
    assert_eq!(whole.warnings, blocks.warnings, "{what}: warnings");
    assert_eq!(whole.mask.indices, blocks.mask.indices, "{what}: mask");
}

fn check(ds: &Dataset, name: &str, sets: &[(&str, &str)]) -> bool {
    let est = estimator(name, sets);
    if !est.capabilities().voxelwise {
        return false;
    }
    let inputs = ds.inputs(&est.needs()).and_then(|i| i.prepare(&est.needs())).unwrap();
    let mut whole = est.fit_block(&inputs.whole()).unwrap();
    est.finish(&inputs, &mut whole).unwrap();
    // 97 voxels: blocks that split bags and end mid-row.
    let blocks = ibma::blocks::fit_in_blocks(&est, &inputs, 97, &ibma::progress::Quiet).unwrap();
    assert_same(&whole, &blocks, &format!("{name} {sets:?}"));
    true
}

#[test]
fn blockwise_fits_equal_whole_fits() {
    let Some((_dir, ds)) = fixture_with_covariates() else { return };
    let mut blockwise = Vec::new();
    for name in AnyEstimator::names() {
        if check(&ds, name, &[]) {
            blockwise.push(name);
        }
    }
    for name in ["dersimonian-laird", "weighted-least-squares", "mfx-glm", "ffx-glm"] {
        assert!(check(&ds, name, &[("moderators", "n"), ("contrast", "0 1")]), "{name} with a design is voxelwise");
    }
    for name in ["stouffers", "fishers", "dersimonian-laird", "hedges", "mfx-glm", "ffx-glm", "permuted-ols"] {
        assert!(blockwise.contains(&name), "{name} fits in blocks");
    }
    assert!(!blockwise.contains(&"variance-based-likelihood"), "lock-step searches need whole bags");
}
