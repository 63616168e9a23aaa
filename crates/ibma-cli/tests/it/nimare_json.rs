//! NiMARE's dataset JSON as input (docs/dataset-format.md §8), reproducing docs/estimators.md §12b.

use crate::cli::ibma;
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
fn several_contrasts_per_study_are_grouped_by_study() {
    let Some((dir, json, mask)) = fixture_json(true) else { return };
    let fit = |name: &str, extra: &[&str]| {
        let out = dir.path().join(format!("out-{name}"));
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
        let o = ibma(&[&args[..], extra].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let z = ibma::io::read_volume(&out.join("z.nii.gz")).unwrap().data;
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
        (z, summary)
    };
    // pain_01.nidm now has two contrasts: 22 images from 21 studies, grouped by study (pain_21
    // has no z, so Stouffers fits 21 images in 20 groups).
    let (grouped, summary) = fit("grouped", &[]);
    assert_eq!(summary["n_studies"], 21);
    assert_eq!(summary["diagnostics"]["dependence"]["n_groups"], 20);
    assert_eq!(summary["diagnostics"]["dependence"]["group_labels"][0], "pain_01.nidm");
    let (independent, summary) = fit("none", &["--set", "groupby=none"]);
    assert!(summary["diagnostics"]["dependence"].is_null());
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("1 image(s) share a group with another image, but groupby=none was requested"),
        "{warnings}"
    );
    assert_ne!(grouped, independent);
    // --treat-as-independent reads them as studies of their own: groupby=none's numbers.
    let (treated, _) = fit("treated", &["--treat-as-independent"]);
    assert_eq!(treated, independent);
}

/// NiMARE 0.22.1's `Studyset.from_dataset(...).to_nimads()` of the multi-contrast fixture
/// (`tests/data`) and the fixture's NiMARE JSON are one dataset: every estimator gives the same
/// maps, bit for bit (NiMARE's own fits of the two agree too).
#[test]
fn a_nimads_studyset_and_its_nimare_json_give_identical_maps() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("../data/nimare_test_pain_multiple_contrasts.nimads.json");
    let mut studyset: serde_json::Value = serde_json::from_str(text).unwrap();
    for study in studyset["studies"].as_array_mut().unwrap() {
        for analysis in study["analyses"].as_array_mut().unwrap() {
            for image in analysis["images"].as_array_mut().unwrap() {
                for key in ["url", "filename"] {
                    image[key] = data.join(image[key].as_str().unwrap()).to_str().unwrap().into();
                }
            }
        }
    }
    let nimads = dir.path().join("studyset.json");
    std::fs::write(&nimads, studyset.to_string()).unwrap();
    let options = LoadOptions { mask: Some(data.join("mask.nii.gz")), treat_as_independent: false };
    let from_nimads = Dataset::load_with(&nimads, &options).unwrap();
    let from_json =
        Dataset::load_with(&data.join("nimare_test_pain_dataset_multiple_contrasts.json"), &options).unwrap();
    assert_eq!(from_nimads.manifest.studies.len(), 20);
    for (a, b) in from_nimads.manifest.studies.iter().zip(&from_json.manifest.studies) {
        assert_eq!((&a.id, a.study_id(), a.sample_size, &a.maps), (&b.id, b.study_id(), b.sample_size, &b.maps));
    }
    for name in ibma::estimators::AnyEstimator::names().filter(|n| !n.ends_with("-glm")) {
        for groupby in ["study", "none"] {
            let est = crate::estimator(name, &[("groupby", groupby)]);
            let (a, b) = (est.fit_dataset(&from_nimads).unwrap(), est.fit_dataset(&from_json).unwrap());
            assert!(a.maps().count() >= 4, "{name}");
            for ((map, x), (_, y)) in a.maps().zip(b.maps()) {
                let same = x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{name} groupby={groupby}: {map} differs");
            }
        }
    }
}

#[test]
fn the_multi_contrast_fixture_converts_to_a_version_2_manifest() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = data.join("nimare_test_pain_dataset_multiple_contrasts.json");
    let mask = data.join("mask.nii.gz");
    let converted = dir.path().join("converted");
    let args = [
        "convert-dataset",
        "--dataset",
        json.to_str().unwrap(),
        "--mask",
        mask.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ];
    let o = ibma(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(converted.join("dataset.json")).unwrap();
    assert!(text.contains("\"format_version\": 2") && text.contains("\"study\": \"pain.nidm\""), "{text}");
    // The manifest fits as the JSON does (NiMARE JSON is not derived: neither is the copy).
    let est = crate::estimator("dersimonian-laird", &[("derive", "false")]);
    let options = LoadOptions { mask: Some(mask), treat_as_independent: false };
    let a = est.fit_dataset(&Dataset::load(&converted).unwrap()).unwrap();
    let b = est.fit_dataset(&Dataset::load_with(&json, &options).unwrap()).unwrap();
    assert_eq!(a.map(crate::map("z")), b.map(crate::map("z")));
    assert_eq!(a.diagnostics.dependence.as_ref().map(|d| d.n_groups), Some(11));
}
