//! NiMARE's dataset JSON as input (docs/dataset-format.md §8), reproducing docs/estimators.md §12b.

use crate::cli::{assert_bad_input, ibma};
use crate::shared_data;
use ibma::dataset::LoadOptions;
use ibma::Estimator;
use ibma::{tol, Dataset};

/// NiMARE's fixture JSON with its image paths pointing at this folder's files (`beta` is
/// stored as `pain_NN_con.nii.gz` here), absolute so the JSON can live anywhere.
fn fixture_json(extra_contrast: bool) -> Option<(tempfile::TempDir, std::path::PathBuf, std::path::PathBuf)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let text = std::fs::read_to_string(data.join("nimare_test_pain_dataset.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for study in json.as_object_mut().unwrap().values_mut() {
        for contrast in study["contrasts"].as_object_mut().unwrap().values_mut() {
            for path in contrast["images"].as_object_mut().unwrap().values_mut() {
                if let Some(p) = path.as_str() {
                    *path = data.join(p.replace("_beta", "_con")).to_str().unwrap().into();
                }
            }
        }
    }
    if extra_contrast {
        let first = json["pain_01.nidm"]["contrasts"]["1"].clone();
        json["pain_01.nidm"]["contrasts"]["2"] = first;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nimare.json");
    std::fs::write(&path, json.to_string()).unwrap();
    Some((dir, path, data.join("mask.nii.gz")))
}

#[test]
fn nimare_json_reproduces_the_nimare_fixture_values() {
    let Some((_dir, json, mask)) = fixture_json(false) else { return };
    let ds = Dataset::load_with(&json, &LoadOptions { mask: Some(mask), treat_as_independent: false }).unwrap();
    assert_eq!(ds.manifest.studies[0].id, "pain_01.nidm-1");
    let fit = |name: &str| crate::estimator(name, &[("aggressive_mask", "true")]).fit_dataset(&ds).unwrap();
    // NiMARE 0.22.1 on nimare_test_pain_dataset.json, aggressive mask, voxel 500 (§12b): derivation
    // is off for NiMARE JSON, so pain_20 (no varcope) and pain_21 (no z) drop out where needed.
    let at = |r: &ibma::MetaResult, m: &str| f64::from(r.map(crate::map(m)).unwrap()[500] as f32);
    let stouffers = fit("stouffers");
    assert!(tol::close(at(&stouffers, "z"), 4.88354, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
    assert_eq!(stouffers.studies.len(), 20);
    let dl = fit("dersimonian-laird");
    assert!(tol::close(at(&dl, "tau2"), 0.0583793, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
    assert!(tol::close(at(&fit("permuted-ols"), "t"), 1.06963, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
}

#[test]
fn cli_reads_nimare_json_and_converts_it() {
    let Some((dir, json, mask)) = fixture_json(false) else { return };
    let out = dir.path().join("out");
    let o = ibma(&[
        "fit",
        "--quiet",
        "--dataset",
        json.to_str().unwrap(),
        "--mask",
        mask.to_str().unwrap(),
        "--estimator",
        "Fishers",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let converted = dir.path().join("converted");
    let o = ibma(&[
        "convert-dataset",
        "--dataset",
        json.to_str().unwrap(),
        "--mask",
        mask.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::load(&converted).unwrap();
    assert_eq!(ds.manifest.studies.len(), 21);
    assert!(!ds.manifest.studies[19].maps.contains_key(&ibma::io::MapType::Varcope), "pain_20 has no varcope");
    assert_eq!(ds.mask.len(), 1000);
}

#[test]
fn several_contrasts_per_study_are_refused_unless_asked() {
    let Some((dir, json, mask)) = fixture_json(true) else { return };
    let out = dir.path().join("out");
    let args = [
        "fit",
        "--quiet",
        "--dataset",
        json.to_str().unwrap(),
        "--mask",
        mask.to_str().unwrap(),
        "--estimator",
        "stouffers",
        "--out",
        out.to_str().unwrap(),
    ];
    assert_bad_input(&ibma(&args), &["pain_01.nidm.contrasts", "dependent", "--treat-as-independent"]);
    let o = ibma(&[&args[..], &["--treat-as-independent"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
