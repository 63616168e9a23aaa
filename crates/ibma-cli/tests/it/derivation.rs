//! Estimators run on any dataset that carries enough information: missing map types are
//! derived (docs/dataset-format.md §3), and studies that still lack an input are dropped with a warning.

use crate::shared_data;
use ibma::estimators::Stouffers;
use ibma::maps::Map;
use ibma::stats::transform::t_to_z;
use ibma::{tol, Dataset, Estimator};

/// The fixture's studies with only the given map types (and sample sizes unless `drop_n`).
fn fixture_with(types: &[&str], drop_n: &[&str]) -> Option<(tempfile::TempDir, Dataset)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let studies: Vec<serde_json::Value> = full["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap();
            let maps: serde_json::Map<String, serde_json::Value> = types
                .iter()
                .map(|t| (t.to_string(), data.join(s["maps"][*t].as_str().unwrap()).to_str().unwrap().into()))
                .collect();
            let mut study = serde_json::json!({"id": id, "maps": maps});
            if !drop_n.contains(&id) {
                study["sample_size"] = s["sample_size"].clone();
            }
            study
        })
        .collect();
    let manifest = serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": data.join("mask.nii.gz"), "studies": studies});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    Some((dir, ds))
}

#[test]
fn stouffers_runs_on_t_maps_and_sample_sizes() {
    let Some((_dir, ds)) = fixture_with(&["t"], &[]) else { return };
    let r = Stouffers::default().fit_dataset(&ds).unwrap();
    assert_eq!(r.studies.len(), 21);
    // Independent path: z_k = t_to_z(t_k, n_k − 1) of the float32-rounded derived z, summed by hand.
    let v = 500;
    let mut sum = 0.0;
    for s in &ds.manifest.studies {
        let t = ds.mask.read_masked(&s.maps[&ibma::io::MapType::T]).unwrap()[v];
        sum += f64::from(t_to_z(t, s.sample_size.unwrap() - 1.0) as f32);
    }
    let expected = sum / 21f64.sqrt();
    let got = r.map(Map::Z).unwrap()[v];
    assert!(tol::close(got, expected, tol::SUMMATION_ORDER_RTOL, 0.0), "{got} vs {expected}");
}

#[test]
fn study_without_what_it_needs_is_dropped_with_a_warning() {
    let Some((_dir, ds)) = fixture_with(&["con", "varcope"], &["pain_03"]) else { return };
    let r = ibma::estimators::WeightedStouffers::default().fit_dataset(&ds).unwrap();
    assert_eq!(r.studies.len(), 20);
    assert!(!r.studies.contains(&"pain_03".to_string()));
    assert!(
        r.warnings.iter().any(|w| w.contains("dropping study pain_03") && w.contains("sample_size")),
        "{:?}",
        r.warnings
    );
    // Without derivation nothing provides z: fewer than two studies is an error naming the cause.
    let mut est = Stouffers::default();
    est.inputs.derive = ibma::options::Derive::Never;
    let err = est.fit_dataset(&ds).unwrap_err().to_string();
    assert!(err.contains("needs at least 2 usable studies, found 0") && err.contains("pain_01 (no z)"), "{err}");
}
