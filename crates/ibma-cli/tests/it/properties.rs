//! Properties every estimator must have: invariance to the units of the contrast, and the
//! same bits for any thread count.

use crate::shared_data;
use ibma::estimators::AnyEstimator;
use ibma::io::{read_volume, write_map, MapMeta};
use ibma::maps::Map;
use ibma::{tol, Dataset, Estimator, MetaResult};

/// The fixture's con and varcope maps with con × `scale` and varcope × scale².
fn scaled_fixture(scale: f64) -> Option<(tempfile::TempDir, Dataset)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut studies = Vec::new();
    for s in full["studies"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        for (ty, factor) in [("con", scale), ("varcope", scale * scale)] {
            let vol = read_volume(&data.join(s["maps"][ty].as_str().unwrap())).unwrap();
            let values: Vec<f32> = vol.data.iter().map(|x| (x * factor) as f32).collect();
            write_map(&dir.path().join(format!("{id}_{ty}.nii.gz")), &vol.grid, &values, &MapMeta::default()).unwrap();
        }
        studies.push(serde_json::json!({"id": id, "sample_size": s["sample_size"],
            "maps": {"con": format!("{id}_con.nii.gz"), "varcope": format!("{id}_varcope.nii.gz")}}));
    }
    let manifest = serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": data.join("mask.nii.gz"), "studies": studies});
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    Some((dir, ds))
}

fn fit(name: &str, ds: &Dataset) -> MetaResult {
    AnyEstimator::by_name(name).unwrap().fit_dataset(ds).unwrap()
}

const ESTIMATORS: [&str; 10] = [
    "stouffers",
    "fishers",
    "weighted-least-squares",
    "dersimonian-laird",
    "hedges",
    "variance-based-likelihood",
    "permuted-ols",
    "fixed-effects-hedges",
    "rfx-glm",
    "ffx-glm",
];

#[test]
fn scaling_con_and_se_leaves_z_unchanged() {
    let (Some((_a, unit)), Some((_b, scaled))) = (scaled_fixture(1.0), scaled_fixture(8.0)) else { return };
    for name in ESTIMATORS {
        let (a, b) = (fit(name, &unit), fit(name, &scaled));
        for (x, y) in a.map(Map::Z).unwrap().iter().zip(b.map(Map::Z).unwrap()) {
            // Inputs are float32: scaling by a power of two is exact, so only the search
            // tolerance of the likelihood fit can move z.
            let rtol = if name.contains("likelihood") { tol::MAP_RTOL } else { tol::SUMMATION_ORDER_RTOL };
            assert!(tol::close(*x, *y, rtol, 0.0), "{name}: z {x} vs {y}");
        }
    }
}

#[test]
fn same_bits_for_1_2_and_4_threads() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let ds = Dataset::load(&data).unwrap();
    for name in ESTIMATORS.iter().chain(&["sample-size-based-likelihood", "weighted-stouffers"]) {
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| fit(name, &ds))
        };
        let reference = run(1);
        for threads in [2, 4] {
            let other = run(threads);
            for (map, _) in reference.maps() {
                let bits = |r: &MetaResult| r.map(map).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&reference), bits(&other), "{name} {map}: 1 vs {threads} threads");
            }
        }
    }
}

/// The fixture with its studies listed in another order.
fn reordered_fixture(order: &[usize]) -> Option<(tempfile::TempDir, Dataset)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let studies: Vec<serde_json::Value> = order
        .iter()
        .map(|&i| {
            let mut s = full["studies"][i].clone();
            for path in s["maps"].as_object_mut().unwrap().values_mut() {
                *path = data.join(path.as_str().unwrap()).to_str().unwrap().into();
            }
            s
        })
        .collect();
    let manifest = serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": data.join("mask.nii.gz"), "studies": studies});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    Some((dir, ds))
}

#[test]
fn study_order_changes_no_output_of_any_estimator() {
    let forward: Vec<usize> = (0..21).collect();
    let shuffled: Vec<usize> = (0..21).map(|i| (i * 8 + 5) % 21).collect();
    let (Some((_a, a)), Some((_b, b))) = (reordered_fixture(&forward), reordered_fixture(&shuffled)) else { return };
    for name in ESTIMATORS.iter().chain(&["sample-size-based-likelihood", "weighted-stouffers"]) {
        let (ra, rb) = (fit(name, &a), fit(name, &b));
        for (map, _) in ra.maps() {
            // Only summation order differs; the likelihood search may move within its tolerance.
            let rtol = if name.contains("likelihood") { tol::MAP_RTOL } else { tol::SUMMATION_ORDER_RTOL };
            for (x, y) in ra.map(map).unwrap().iter().zip(rb.map(map).unwrap()) {
                assert!(tol::close(*x, *y, rtol, tol::REFERENCE_ATOL), "{name} {map}: {x} vs {y}");
            }
        }
    }
}
