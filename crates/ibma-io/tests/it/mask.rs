//! Masks: selection, extraction, grid checks, unmasking, and the shipped data if present.
// Exact float equality is intended: values are copied, never computed.
#![allow(clippy::float_cmp)]

use crate::raw::Raw;
use ibma_io::{read_volume, Error, Grid, Mask, Volume};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const AFF: [[f64; 4]; 4] = [[2.0, 0.0, 0.0, -3.0], [0.0, 2.0, 0.0, -5.0], [0.0, 0.0, 2.0, -7.0], [0.0, 0.0, 0.0, 1.0]];

fn volume(data: Vec<f64>) -> Volume {
    Volume { grid: Grid::from_affine([2, 2, 2], AFF), data }
}

#[test]
fn selection_extract_unmask() {
    let mask = Mask::from_volume(&volume(vec![0.0, 1.0, f64::NAN, -2.0, 0.0, f64::INFINITY, -0.0, 0.5]));
    assert_eq!(mask.indices, [1, 3, 5, 7]);
    assert_eq!(mask.len(), 4);
    let img = volume((0..8).map(f64::from).collect());
    assert_eq!(mask.extract(&img, Path::new("img.nii.gz")).unwrap(), [1.0, 3.0, 5.0, 7.0]);
    let full = mask.unmask(&[1.5, f64::NAN, -2.0, 4.0]);
    assert_eq!(full.len(), 8);
    assert!(full[3].is_nan());
    for (i, want) in [(0, 0.0), (1, 1.5), (2, 0.0), (4, 0.0), (5, -2.0), (6, 0.0), (7, 4.0)] {
        assert_eq!(full[i].to_bits(), f32::to_bits(want), "voxel {i}");
    }
}

#[test]
fn grid_mismatch_names_file_and_both_grids() {
    let dir = TempDir::new().unwrap();
    let mask = Mask::from_volume(&volume(vec![1.0; 8]));
    // Same shape, affine differing by 1 mm in one translation.
    let mut r = Raw::new(&[2, 2, 2], 2, 8, false);
    r.sform(1, [[2.0, 0.0, 0.0, -3.0], [0.0, 2.0, 0.0, -5.0], [0.0, 0.0, 2.0, -6.0]]);
    r.data = vec![1; 8];
    let path = r.write(&dir.path().join("shifted.nii"));
    let err = mask.read_masked(&path).unwrap_err();
    assert!(matches!(err, Error::GridMismatch { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("2x2x2, affine [2 0 0 -3; 0 2 0 -5; 0 0 2 -6]"), "{msg}");
    assert!(msg.contains("2x2x2, affine [2 0 0 -3; 0 2 0 -5; 0 0 2 -7]"), "{msg}");
    // The matching grid reads fine.
    r.sform(1, [[2.0, 0.0, 0.0, -3.0], [0.0, 2.0, 0.0, -5.0], [0.0, 0.0, 2.0, -7.0]]);
    assert_eq!(mask.read_masked(&r.write(&path)).unwrap(), [1.0; 8]);
}

/// A file of the shipped data set, or None (with the reason printed) when it is absent.
fn shared(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

#[test]
fn shared_data_masks() {
    if let Some(path) = shared("nimare_test_pain_10x10x10/mask.nii.gz") {
        let v = read_volume(&path).unwrap();
        assert_eq!(v.grid.dims, [10, 10, 10]);
        assert!(v.data.iter().all(|&x| x == 1.0));
        let mask = Mask::read(&path).unwrap();
        assert_eq!(mask.len(), 1000);
        assert_eq!(mask.indices[500], 500); // ijk (5, 0, 0)
    }
    if let Some(path) = shared("nidm_pain21/mask.nii.gz") {
        let mask = Mask::read(&path).unwrap();
        assert_eq!(mask.len(), 228_483);
        eprintln!("nidm_pain21 mask grid: {}", mask.grid.describe());
    }
}
