//! NiMARE's dataset JSON: sample sizes are validated as `dataset.json`'s are, and study ids
//! built from study and contrast names never silently collide.

use ibma_io::{Manifest, Source};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A NiMARE JSON with one contrast per (study, contrast, sample_sizes JSON) entry, each with
/// an existing `z` image.
fn nimare(dir: &Path, studies: &[(&str, &str, &str)]) -> PathBuf {
    std::fs::write(dir.join("z.nii.gz"), b"x").unwrap();
    let mut top = serde_json::Map::new();
    for &(study, contrast, sizes) in studies {
        let c = serde_json::json!({"images": {"z": "z.nii.gz"}, "metadata": {"sample_sizes": serde_json::from_str::<serde_json::Value>(sizes).unwrap()}});
        let entry = top.entry(study).or_insert_with(|| serde_json::json!({"contrasts": {}}));
        entry["contrasts"][contrast] = c;
    }
    let path = dir.join("nimare.json");
    std::fs::write(&path, serde_json::to_string(&top).unwrap()).unwrap();
    path
}

fn load_err(dir: &Path, studies: &[(&str, &str, &str)]) -> String {
    let path = nimare(dir, studies);
    let msg = Manifest::load_with(&path, true).expect_err("should be refused").to_string();
    assert!(msg.starts_with(&format!("{}: ", path.display())), "{msg}");
    msg
}

#[test]
fn sample_sizes_are_validated_entry_by_entry() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // Once silently 30 (the mean of the numbers), once a study without a sample size.
    let e = load_err(d, &[("s1", "c", "[20]"), ("pain", "1", r#"[20, "x", 40]"#)]);
    assert!(e.contains(r#"pain.contrasts.1.metadata.sample_sizes[1]: expected a positive number, found "x""#), "{e}");
    let e = load_err(d, &[("pain", "1", r#"["25"]"#)]);
    assert!(e.contains(r#"pain.contrasts.1.metadata.sample_sizes[0]: expected a positive number, found "25""#), "{e}");
    let e = load_err(d, &[("pain", "1", "25")]);
    assert!(e.contains("pain.contrasts.1.metadata.sample_sizes: expected a list of group sizes, found 25"), "{e}");
    let e = load_err(d, &[("pain", "1", "[10, -2]")]);
    assert!(e.contains("sample_sizes[1]: expected a positive number, found -2"), "{e}");
    let e = load_err(d, &[("pain", "1", "[1]")]);
    assert!(e.contains("pain.contrasts.1.metadata.sample_sizes: mean 1 is not a sample size >= 2"), "{e}");
}

#[test]
fn valid_sample_sizes_give_their_mean() {
    let dir = TempDir::new().unwrap();
    let path = nimare(dir.path(), &[("a", "1", "[20, 30]"), ("b", "1", "null"), ("c", "1", "[12.5]")]);
    let m = Manifest::load(&path).unwrap();
    assert_eq!(m.source, Source::NimareJson);
    let sizes: Vec<(String, Option<f64>)> = m.studies.iter().map(|s| (s.id.clone(), s.sample_size)).collect();
    assert_eq!(sizes, [("a-1".into(), Some(25.0)), ("b-1".into(), None), ("c-1".into(), Some(12.5))]);
    assert!(m.warnings.iter().any(|w| w.contains("a.contrasts.1: 2 sample sizes")), "{:?}", m.warnings);
    assert!(m.warnings.iter().any(|w| w.contains("c.contrasts.1.metadata.sample_sizes [12.5] holds a non-integer")));
}

#[test]
fn colliding_study_ids_are_refused_naming_both() {
    let dir = TempDir::new().unwrap();
    let e = load_err(dir.path(), &[("a", "b-c", "[20]"), ("a-b", "c", "[20]")]);
    assert!(
        e.contains(r#"a-b.contrasts.c: its study id "a-b-c" (study-contrast) is also that of a.contrasts.b-c"#),
        "{e}"
    );
}

#[test]
fn contrasts_of_a_study_are_its_images_in_nimare_order() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("a.nii.gz"), b"x").unwrap();
    std::fs::write(dir.path().join("b.nii.gz"), b"x").unwrap();
    // Two "01" keys under one study: Python's json (NiMARE) keeps the last, so must ibma.
    let text = r#"{"s.b": {"contrasts": {"1": {"images": {"z": "a.nii.gz"}}}},
        "s": {"contrasts": {"01": {"images": {"z": "a.nii.gz"}, "metadata": {"sample_sizes": [25]}},
                            "02": {"images": {"z": "a.nii.gz"}},
                            "01": {"images": {"z": "b.nii.gz"}, "metadata": {"sample_sizes": [20]}}}}}"#;
    let path = dir.path().join("nimare.json");
    std::fs::write(&path, text).unwrap();
    let m = Manifest::load(&path).unwrap();
    let ids: Vec<(&str, &str)> = m.studies.iter().map(|s| (s.id.as_str(), s.study_id())).collect();
    assert_eq!(ids, [("s-01", "s"), ("s-02", "s"), ("s.b-1", "s.b")]);
    assert_eq!(m.studies[0].maps[&ibma_io::MapType::Z], dir.path().join("b.nii.gz"));
    assert_eq!(m.studies[0].sample_size, Some(20.0));
    assert_eq!(m.studies[0].covariates["sample_sizes"], ibma_io::Covariate::Label("(20,)".into()));
    // --treat-as-independent: every image a study of its own.
    let independent = Manifest::load_with(&path, true).unwrap();
    assert!(independent.studies.iter().all(|s| s.study_id() == s.id));
}

/// A NIMADS studyset as `Studyset.to_nimads` writes it (abridged): studies → analyses → images.
#[test]
fn nimads_studysets_read_as_their_analyses() {
    let dir = TempDir::new().unwrap();
    for f in ["a_con.nii.gz", "a_z.nii.gz", "b_z.nii.gz"] {
        std::fs::write(dir.path().join(f), b"x").unwrap();
    }
    let studyset = serde_json::json!({"id": "nimads_from_dataset", "name": "", "studies": [
        {"id": "s2", "name": "s2", "metadata": {"sample_sizes": [30]}, "analyses": [
            {"id": "1", "metadata": null, "images": [{"url": "b_z.nii.gz", "filename": "b_z.nii.gz", "value_type": "z"}]}]},
        {"id": "s1", "name": "s1", "metadata": null, "analyses": [
            {"id": "2", "metadata": {"sample_sizes": [20, 22], "site": "A"}, "images": [
                {"url": "https://neurovault.org/images/9/", "filename": "a_z.nii.gz", "value_type": "Z map"},
                {"url": "a_con.nii.gz", "filename": null, "value_type": "univariate-beta map"},
                {"url": "a_z.nii.gz", "value_type": "p"}]},
            {"id": "1", "metadata": {"sample_size": 12}, "images": [{"filename": "a_z.nii.gz", "value_type": "z"}]}]}]});
    let path = dir.path().join("studyset.json");
    std::fs::write(&path, studyset.to_string()).unwrap();
    let m = Manifest::load(&path).unwrap();
    assert_eq!(m.source, Source::Nimads);
    let ids: Vec<(&str, &str, Option<f64>)> =
        m.studies.iter().map(|s| (s.id.as_str(), s.study_id(), s.sample_size)).collect();
    assert_eq!(ids, [("s1-1", "s1", Some(12.0)), ("s1-2", "s1", Some(21.0)), ("s2-1", "s2", Some(30.0))]);
    let types: Vec<&str> = m.studies[1].maps.keys().map(|t| t.name()).collect();
    assert_eq!(types, ["con", "z"]);
    assert_eq!(m.studies[1].maps[&ibma_io::MapType::Z], dir.path().join("a_z.nii.gz"));
    assert_eq!(m.studies[1].covariates["site"], ibma_io::Covariate::Label("A".into()));
    assert!(m.warnings.iter().any(|w| w.contains("p is not an IBMA map type")), "{:?}", m.warnings);
    // A remote image is named, not fetched.
    let remote = serde_json::json!({"studies": [{"id": "s", "analyses": [{"id": "1", "images": [{"url": "https://x.org/a.nii.gz", "value_type": "z"}]}]}]});
    std::fs::write(&path, remote.to_string()).unwrap();
    let e = Manifest::load(&path).unwrap_err().to_string();
    assert!(e.contains("studies[0] (s).analyses[0] (1).images[0]: https://x.org/a.nii.gz is remote"), "{e}");
}
