//! Resampling onto another grid, checked against nilearn 0.13.1's `resample_to_img` on a
//! shifted, whole-voxel-shifted, rotated (qform) and 2x down-sampled grid. The reference files
//! and how they were made: tests/data/resample/make_reference.py.

use crate::raw::Raw;
use ibma_io::resample::resample;
use ibma_io::{read_volume, Error, Grid, Interpolation, Mask, Volume};
use std::path::{Path, PathBuf};

/// nilearn returns float32 (the source's type) rounded from scipy's double-precision
/// interpolation, so its value is within half a float32 ulp of the exact one.
const NILEARN_F32_ROUNDING: f64 = f32::EPSILON as f64 / 2.0;
/// Absolute slack, as a fraction of the largest |source value|: f64 round-off of the two
/// voxel-to-voxel transforms (~1e-15 voxel) and ibma's snapping of coordinates within 1e-9 voxel
/// of a voxel centre (src/resample.rs SNAP_VOXELS) move a value by far less than this.
const GEOMETRY_ATOL: f64 = 1e-8;

const CASES: [&str; 4] = ["shifted", "intshift", "rotated", "down"];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/resample").join(name)
}

fn load(name: &str) -> Volume {
    read_volume(&data(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The source, the target grid and ibma's resampling of the source onto it.
fn ibma_on(case: &str, interpolation: Interpolation) -> (Volume, Grid, Volume) {
    let source = load("source.nii.gz");
    let target = load(&format!("target_{case}.nii.gz")).grid;
    let out = resample(&source, &target, interpolation).expect("invertible source affine");
    (source, target, out)
}

fn max_abs(v: &Volume) -> f64 {
    v.data.iter().filter(|x| x.is_finite()).fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn linear_matches_nilearn_where_ibma_has_data_and_no_data_where_nilearn_mixes_in_no_data() {
    for case in CASES {
        let (source, target, ibma) = ibma_on(case, Interpolation::Linear);
        let nilearn = load(&format!("nilearn_{case}_linear.nii.gz"));
        // 1 where nilearn's linear weights reach a zero, NaN or out-of-volume source voxel.
        let mixed = load(&format!("nilearn_{case}_nodata.nii.gz"));
        assert!(nilearn.grid.same_as(&target) && mixed.grid.same_as(&target), "{case}: reference grids");
        let atol = GEOMETRY_ATOL * max_abs(&source);
        let (mut data, mut nodata, mut disagree, mut worst) = (0, 0, 0, 0.0f64);
        for v in 0..target.n_voxels() {
            let (ours, theirs, theirs_mixed) = (ibma.data[v], nilearn.data[v], mixed.data[v] > 0.5);
            if ours.is_nan() != theirs_mixed {
                disagree += 1;
                eprintln!("{case}: voxel {v}: ibma {ours}, nilearn {theirs} (mixes in no data: {theirs_mixed})");
                continue;
            }
            if ours.is_nan() {
                nodata += 1;
                continue;
            }
            data += 1;
            let err = (ours - theirs).abs();
            worst = worst.max(err / theirs.abs().max(1e-30));
            assert!(
                err <= NILEARN_F32_ROUNDING * theirs.abs() + atol,
                "{case}: voxel {v}: ibma {ours}, nilearn {theirs}"
            );
        }
        eprintln!(
            "linear {case}: {data} data voxels agree (max rel. diff {worst:.1e}), {nodata} no-data voxels agree, {disagree} disagree"
        );
        assert_eq!(disagree, 0, "{case}: no-data pattern differs from nilearn's on {disagree} voxels");
        // Both kinds must be well represented for the comparison to mean something.
        assert!(data > target.n_voxels() / 2 && nodata > 50, "{case}: {data} data, {nodata} no-data voxels");
    }
}

#[test]
fn nearest_is_nilearns_voxel_and_no_data_where_nilearns_is_zero_or_nan() {
    for case in CASES {
        let (_, target, ibma) = ibma_on(case, Interpolation::Nearest);
        let nilearn = load(&format!("nilearn_{case}_nearest.nii.gz"));
        assert!(nilearn.grid.same_as(&target), "{case}: reference grid");
        let (mut data, mut nodata, mut disagree) = (0, 0, 0);
        for v in 0..target.n_voxels() {
            let (ours, theirs) = (ibma.data[v], nilearn.data[v]);
            let theirs_nodata = theirs.is_nan() || theirs == 0.0;
            if ours.is_nan() && theirs_nodata {
                nodata += 1;
            } else if ours.to_bits() == theirs.to_bits() {
                // Both are a float32 source value, copied: equal bits.
                data += 1;
            } else {
                disagree += 1;
                eprintln!("{case}: voxel {v}: ibma {ours}, nilearn {theirs}");
            }
        }
        eprintln!("nearest {case}: {data} data voxels equal, {nodata} no-data voxels agree, {disagree} disagree");
        assert_eq!(disagree, 0, "{case}: {disagree} voxels differ from nilearn's nearest neighbour");
        assert!(data > target.n_voxels() / 2 && nodata > 50, "{case}: {data} data, {nodata} no-data voxels");
    }
}

#[test]
fn linear_keeps_affine_functions_exactly_and_drops_any_zero_neighbour() {
    // On a source where v = 1 + i + 2j + 3k, linear interpolation is exact: at a target grid
    // shifted by (0.25, 0.5, 0.75) voxel the value is 1 + (i + .25) + 2(j + .5) + 3(k + .75).
    let aff = [[2.0, 0.0, 0.0, 10.0], [0.0, 2.0, 0.0, -4.0], [0.0, 0.0, 2.0, 6.0], [0.0, 0.0, 0.0, 1.0]];
    let dims = [4, 5, 3];
    let value = |i: f64, j: f64, k: f64| 1.0 + i + 2.0 * j + 3.0 * k;
    let mut data = Vec::new();
    for i in 0..4 {
        for j in 0..5 {
            for k in 0..3 {
                data.push(value(f64::from(i), f64::from(j), f64::from(k)));
            }
        }
    }
    data[(2 * 5 + 3) * 3 + 1] = 0.0; // voxel (2, 3, 1) is no data
    let source = Volume { grid: Grid::from_affine(dims, aff), data };
    let mut shifted = aff;
    for (r, d) in [0.5, 1.0, 1.5].into_iter().enumerate() {
        shifted[r][3] += d;
    }
    let out = resample(&source, &Grid::from_affine(dims, shifted), Interpolation::Linear).unwrap();
    let (mut nan, mut exact) = (0, 0);
    for i in 0..4 {
        for j in 0..5 {
            for k in 0..3 {
                let got = out.data[(i * 5 + j) * 3 + k];
                // The cell's upper corner is out of volume on the last index of each axis.
                let outside = i == 3 || j == 4 || k == 2;
                let touches_zero = (1..=2).contains(&i) && (2..=3).contains(&j) && k <= 1;
                if outside || touches_zero {
                    assert!(got.is_nan(), "({i}, {j}, {k}): {got}");
                    nan += 1;
                } else {
                    let want = value(i as f64 + 0.25, j as f64 + 0.5, k as f64 + 0.75);
                    assert!((got - want).abs() <= 1e-12 * want, "({i}, {j}, {k}): {got} vs {want}");
                    exact += 1;
                }
            }
        }
    }
    // 3x4x2 cells inside the volume, 2x2x2 of them touching the zero.
    assert_eq!((exact, nan), (24 - 8, 60 - (24 - 8)));
}

#[test]
fn masked_reading_resamples_only_when_asked_and_only_other_grids() {
    let target = load("target_rotated.nii.gz");
    let mask = Mask::from_volume(&target);
    let path = data("source.nii.gz");
    // Off: the grid error names the file and tells how to resample.
    let err = mask.read_masked_resampled(&path, None).unwrap_err();
    assert!(matches!(err, Error::GridMismatch { .. }));
    let msg = err.to_string();
    assert!(msg.contains("source.nii.gz") && msg.contains("--set resample=linear"), "{msg}");
    // On: the in-mask values of the whole-volume resampling.
    let masked = mask.read_masked_resampled(&path, Some(Interpolation::Linear)).unwrap();
    let (_, _, full) = ibma_on("rotated", Interpolation::Linear);
    assert_eq!(masked.len(), mask.len());
    for (&v, &x) in mask.indices.iter().zip(&masked) {
        assert_eq!(x.to_bits(), full.data[v].to_bits(), "voxel {v}");
    }
    // A map already on the mask grid is read as it is.
    let same = Mask::from_volume(&load("source.nii.gz"));
    let direct = same.read_masked(&path).unwrap();
    let resampled = same.read_masked_resampled(&path, Some(Interpolation::Nearest)).unwrap();
    assert!(direct.iter().zip(&resampled).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn a_singular_affine_cannot_be_resampled_and_the_error_names_the_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut r = Raw::new(&[2, 2, 2], 16, 32, false);
    r.sform(1, [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]);
    (0..8).for_each(|_| r.push(&1.5f32.to_le_bytes()));
    let path = r.write(&dir.path().join("flat.nii"));
    let mask = Mask::from_volume(&Volume {
        grid: Grid::from_affine(
            [2, 2, 2],
            [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        ),
        data: vec![1.0; 8],
    });
    let msg = mask.read_masked_resampled(&path, Some(Interpolation::Linear)).unwrap_err().to_string();
    assert!(msg.contains("flat.nii") && msg.contains("singular"), "{msg}");
}
