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
