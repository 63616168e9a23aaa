//! Fitting in voxel blocks (large datasets) gives exactly the whole fit, for every estimator
//! that allows it, with and without a design.

use crate::design::fixture_with_covariates;
use ibma::{Dataset, MetaResult};

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn assert_same(whole: &MetaResult, blocks: &MetaResult, what: &str) {
    let names: Vec<&str> = whole.map_names().collect();
    assert_eq!(names, blocks.map_names().collect::<Vec<_>>(), "{what}: map names");
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
    let mut est = ibma::estimators::by_name(name).unwrap();
    for (k, v) in sets {
        est.set_param(k, v).unwrap();
    }
    if !est.voxelwise() {
        return false;
    }
    let inputs = est.common().compact_inputs(est.name(), est.needs(), ds).unwrap();
    let whole = est.fit_inputs(ds, &inputs.to_inputs()).unwrap();
    // 97 voxels: blocks that split bags and end mid-row.
    let blocks = ibma::blocks::fit_in_blocks(est.as_ref(), ds, &inputs, 97, &ibma::progress::Quiet).unwrap();
    assert_same(&whole, &blocks, &format!("{name} {sets:?}"));
    true
}

#[test]
fn blockwise_fits_equal_whole_fits() {
    let Some((_dir, ds)) = fixture_with_covariates() else { return };
    let mut blockwise = Vec::new();
    for name in ibma::estimators::available() {
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
