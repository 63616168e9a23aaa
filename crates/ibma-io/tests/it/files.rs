//! Input paths: non-regular files (a FIFO would block forever) are refused at once, and paths
//! that are not UTF-8 are read, written and named in messages without a panic.
// Exact float equality is intended: small integers read back from files.
#![allow(clippy::float_cmp)]

use crate::raw::Raw;
use ibma_io::{read_volume, write_map, Error, Manifest, MapMeta, Mask};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

/// `f()` on another thread, failing the test if it has not returned within 20 s (a blocked
/// open of a FIFO never would).
fn within_time<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("blocked: the call did not return")
}

#[cfg(unix)]
fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = std::process::Command::new("mkfifo").arg(&path).status().expect("mkfifo runs");
    assert!(status.success());
    path
}

fn image(dir: &Path, name: &str) -> PathBuf {
    let mut r = Raw::new(&[2, 2, 2], 2, 8, false);
    r.data = vec![1, 0, 2, 0, 3, 0, 4, 5];
    r.write_gz(&dir.join(name))
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_not_waited_on() {
    let dir = TempDir::new().unwrap();
    let map = fifo(dir.path(), "map.nii.gz");
    let msg = within_time({
        let map = map.clone();
        move || read_volume(&map).unwrap_err().to_string()
    });
    assert!(msg.contains(&format!("{}: not a regular file (a FIFO)", map.display())), "{msg}");
    // As dataset.json, directly or as the file of a dataset folder.
    let json = fifo(dir.path(), "dataset.json");
    for path in [json.clone(), dir.path().to_path_buf()] {
        let err = within_time(move || Manifest::load(&path).unwrap_err());
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains(&format!("{}: not a regular file (a FIFO)", json.display())), "{err}");
    }
    // As a map or mask named by a manifest: the field is named.
    let sub = dir.path().join("ds");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink(&map, sub.join("con.nii.gz")).unwrap();
    let text = r#"{"format": "ibma-dataset", "format_version": 1, "mask": "con.nii.gz", "studies": []}"#;
    std::fs::write(sub.join("dataset.json"), text).unwrap();
    let msg = within_time(move || Manifest::load(&sub).unwrap_err().to_string());
    assert!(msg.contains("mask: ") && msg.contains("not a regular file (a FIFO)"), "{msg}");
}

#[test]
fn a_directory_is_refused_as_a_map() {
    let dir = TempDir::new().unwrap();
    let msg = read_volume(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("not a regular file (a directory)"), "{msg}");
    let text = r#"{"format": "ibma-dataset", "format_version": 1,
        "studies": [{"id": "s", "maps": {"con": "."}}]}"#;
    std::fs::write(dir.path().join("dataset.json"), text).unwrap();
    let msg = Manifest::load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("studies[0] (s).maps.con: ") && msg.contains("(a directory)"), "{msg}");
}

#[test]
fn a_binary_file_as_dataset_json_says_what_it_is() {
    let dir = TempDir::new().unwrap();
    let path = image(dir.path(), "dataset.json");
    let msg = Manifest::load(&path).unwrap_err().to_string();
    assert!(msg.contains("not UTF-8 text, so not a dataset JSON file"), "{msg}");
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_are_read_written_and_named() {
    use std::os::unix::ffi::OsStrExt;
    let root = TempDir::new().unwrap();
    let dir = root.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9 \xff"));
    std::fs::create_dir(&dir).unwrap();
    image(&dir, "con.nii.gz");
    let text = r#"{"format": "ibma-dataset", "format_version": 1, "mask": "con.nii.gz",
        "studies": [{"id": "s", "maps": {"con": "con.nii.gz"}}]}"#;
    std::fs::write(dir.join("dataset.json"), text).unwrap();
    let manifest = Manifest::load(&dir).unwrap();
    let mask = Mask::read(manifest.mask.as_ref().unwrap()).unwrap();
    assert_eq!(mask.read_masked(&manifest.studies[0].maps[&ibma_io::MapType::Con]).unwrap(), [1.0, 3.0, 2.0, 4.0, 5.0]);
    let out = dir.join(std::ffi::OsStr::from_bytes(b"z\xfe.nii.gz"));
    write_map(&out, &mask.grid, &mask.unmask(&[1.0; 5]), &MapMeta::default()).unwrap();
    assert_eq!(read_volume(&out).unwrap().data.iter().filter(|&&x| x == 1.0).count(), 5);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "no temporary file left");
    // Messages show the path lossily.
    let missing = dir.join("nope.nii.gz");
    let msg = read_volume(&missing).unwrap_err().to_string();
    assert!(msg.contains("caf\u{fffd} \u{fffd}/nope.nii.gz"), "{msg}");
}
