//! Masks: selection, extraction, grid checks, unmasking, and the shipped data if present.
// Exact float equality is intended: values are copied, never computed.
#![allow(clippy::float_cmp)]

use crate::raw::Raw;
use ibma_io::{read_volume, Error, Grid, Mask, Volume};
use ibma_testkit::shared_data;
use std::path::Path;
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

#[test]
fn shared_data_masks() {
    if let Some(path) = shared_data("nimare_test_pain_10x10x10/mask.nii.gz") {
        let v = read_volume(&path).unwrap();
        assert_eq!(v.grid.dims, [10, 10, 10]);
        assert!(v.data.iter().all(|&x| x == 1.0));
        let mask = Mask::read(&path).unwrap();
        assert_eq!(mask.len(), 1000);
        assert_eq!(mask.indices[500], 500); // ijk (5, 0, 0)
    }
    if let Some(path) = shared_data("nidm_pain21/mask.nii.gz") {
        let mask = Mask::read(&path).unwrap();
        assert_eq!(mask.len(), 228_483);
        eprintln!("nidm_pain21 mask grid: {}", mask.grid.describe());
    }
}

#[test]
fn saved_mask_is_run_lengths_and_round_trips() {
    let grid = Grid::from_affine([4, 5, 6], AFF);
    // First and last voxels, a long run, singletons; and the empty and full masks.
    let cases: [Vec<usize>; 4] = [vec![0, 1, 2, 7, 9, 10, 11, 12, 13, 50, 119], vec![], (0..120).collect(), vec![5]];
    for indices in cases {
        let mask = Mask { grid: grid.clone(), indices: indices.clone() };
        let json = serde_json::to_value(&mask).unwrap();
        assert!(json.get("indices").is_none(), "{json}");
        let back: Mask = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.indices, indices);
        assert!(back.grid.same_as(&grid));
        if indices.len() == 11 {
            assert_eq!(json["runs"], serde_json::json!([0, 3, 4, 1, 1, 5, 36, 1, 68, 1]));
        }
    }
}

#[test]
fn saved_mask_of_a_brain_is_small() {
    // An ellipsoid on the MNI 2 mm grid: 200,000-odd indices, a few thousand runs.
    let grid = Grid::from_affine([91, 109, 91], AFF);
    let inside = |v: usize| {
        let c = [v / (109 * 91), (v / 91) % 109, v % 91].map(|x| x as f64);
        ((c[0] - 45.0) / 36.0).powi(2) + ((c[1] - 54.0) / 43.0).powi(2) + ((c[2] - 45.0) / 36.0).powi(2) <= 1.0
    };
    let mask = Mask { indices: (0..grid.n_voxels()).filter(|&v| inside(v)).collect(), grid };
    assert!(mask.len() > 200_000);
    let text = serde_json::to_string(&mask).unwrap();
    assert!(text.len() < 80_000, "{} bytes", text.len());
    assert_eq!(serde_json::from_str::<Mask>(&text).unwrap().indices, mask.indices);
}

#[test]
fn saved_mask_of_an_earlier_version_loads_and_bad_runs_are_refused() {
    let grid = Grid::from_affine([2, 2, 2], AFF);
    let mut json = serde_json::to_value(Mask { grid, indices: vec![1, 2] }).unwrap();
    json.as_object_mut().unwrap().remove("runs");
    json["indices"] = serde_json::json!([1, 6]);
    assert_eq!(serde_json::from_value::<Mask>(json.clone()).unwrap().indices, [1, 6]);
    for (key, bad, what) in [
        ("indices", serde_json::json!([6, 1]), "not ascending"),
        ("indices", serde_json::json!([8]), "not ascending inside the 8-voxel grid"),
        ("runs", serde_json::json!([7, 2]), "the runs cover more than the grid's 8 voxels"),
        ("runs", serde_json::json!([usize::MAX, 2]), "the runs cover more than the grid's 8 voxels"),
    ] {
        let mut j = json.clone();
        j.as_object_mut().unwrap().remove("indices");
        j[key] = bad;
        let e = serde_json::from_value::<Mask>(j).expect_err(what).to_string();
        assert!(e.contains(what), "{e}");
    }
    let mut both = json.clone();
    both["runs"] = serde_json::json!([1, 1]);
    assert!(serde_json::from_value::<Mask>(both).unwrap_err().to_string().contains("either runs or indices"));
}
