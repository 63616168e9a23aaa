//! Writing maps: read back through `read_volume` and, independently, through raw bytes.
// Exact float equality is intended: float32 values round-trip through the file bit for bit.
#![allow(clippy::float_cmp)]

use crate::raw::{flat, fortran, gunzip, le_f32, le_i16, le_i32, Raw};
use ibma_io::nifti_io::write_map_4d;
use ibma_io::{read_volume, write_map, Grid, MapMeta};
use std::path::Path;
use tempfile::TempDir;

const D: [usize; 3] = [2, 3, 4];

/// A grid read from a file with both xforms set, distinct codes, qfac -1 and units mm+s.
fn source_grid(dir: &Path) -> Grid {
    let mut r = Raw::new(&[2, 3, 4], 2, 8, false);
    r.data = vec![1; 24];
    r.sform(4, [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0]]);
    r.i16(252, 2);
    for (off, v) in [(76, -1.0), (80, 2.0), (84, 2.0), (88, 2.0), (260, 1.0), (268, 90.0), (272, -126.0), (276, 72.0)] {
        r.f32(off, v);
    }
    r.hdr[123] = 10;
    read_volume(&r.write(&dir.join("mask.nii"))).unwrap().grid
}

/// Values with a NaN, a negative zero and non-integers, indexed in C order.
fn values() -> Vec<f32> {
    let mut v: Vec<f32> = (0..24).map(|x| x as f32 * 0.25 - 3.0).collect();
    v[5] = f32::NAN;
    v[7] = -0.0;
    v
}

fn meta() -> MapMeta {
    MapMeta { intent_code: 3, intent_p1: 19.0, descrip: "ibma 0.1.0 dersimonian-laird t".into() }
}

#[test]
fn round_trip_through_read_volume() {
    let dir = TempDir::new().unwrap();
    let grid = source_grid(dir.path());
    let path = dir.path().join("t.nii.gz");
    write_map(&path, &grid, &values(), &meta()).unwrap();
    let back = read_volume(&path).unwrap();
    assert!(back.grid.same_as(&grid));
    assert_eq!(back.grid.affine, grid.affine);
    for (a, b) in back.data.iter().zip(values()) {
        assert_eq!(a.to_bits(), f64::from(b).to_bits());
    }
}

#[test]
fn raw_header_and_data() {
    let dir = TempDir::new().unwrap();
    let grid = source_grid(dir.path());
    let path = dir.path().join("t.nii.gz");
    write_map(&path, &grid, &values(), &meta()).unwrap();
    let b = gunzip(&std::fs::read(&path).unwrap());
    assert_eq!(b.len(), 352 + 24 * 4);
    assert_eq!(le_i32(&b, 0), 348);
    let dims: Vec<i16> = (0..8).map(|n| le_i16(&b, 40 + 2 * n)).collect();
    assert_eq!(dims, [3, 2, 3, 4, 1, 1, 1, 1]);
    assert_eq!((le_f32(&b, 56), le_i16(&b, 68)), (19.0, 3)); // intent_p1, intent_code
    assert_eq!((le_i16(&b, 70), le_i16(&b, 72)), (16, 32)); // float32, bitpix
    assert_eq!([le_f32(&b, 76), le_f32(&b, 80)], [-1.0, 2.0]); // qfac and pixdim kept
    assert_eq!([le_f32(&b, 108), le_f32(&b, 112), le_f32(&b, 116)], [352.0, 1.0, 0.0]);
    assert_eq!(b[123], 10); // xyzt_units
    assert_eq!([le_f32(&b, 124), le_f32(&b, 128)], [0.0, 0.0]); // cal_max/min
    let descrip = meta().descrip;
    assert_eq!(&b[148..148 + descrip.len()], descrip.as_bytes());
    assert!(b[148 + descrip.len()..228].iter().all(|&x| x == 0));
    assert_eq!((le_i16(&b, 252), le_i16(&b, 254)), (2, 4)); // qform_code, sform_code
    let quat: Vec<f32> = (0..6).map(|n| le_f32(&b, 256 + 4 * n)).collect();
    assert_eq!(quat, [0.0, 1.0, 0.0, 90.0, -126.0, 72.0]);
    let srow: Vec<f32> = (0..12).map(|n| le_f32(&b, 280 + 4 * n)).collect();
    assert_eq!(srow, [-2.0, 0.0, 0.0, 90.0, 0.0, 2.0, 0.0, -126.0, 0.0, 0.0, 2.0, -72.0]);
    assert_eq!(&b[344..352], b"n+1\0\0\0\0\0");
    // Data: Fortran order on disk, exact bits (NaN and -0 included).
    let v = values();
    let mut at = 352;
    fortran(D, |i, j, k| {
        assert_eq!(le_f32(&b, at).to_bits(), v[flat(D, i, j, k)].to_bits(), "voxel {i},{j},{k}");
        at += 4;
    });
}

#[test]
fn no_xform_grid_gets_an_sform_and_long_descrip_is_cut() {
    let dir = TempDir::new().unwrap();
    let mut r = Raw::new(&[2, 3, 4], 2, 8, true);
    r.data = vec![1; 24];
    let grid = read_volume(&r.write(&dir.path().join("plain.nii"))).unwrap().grid;
    let path = dir.path().join("m.nii.gz");
    let long = MapMeta { descrip: "é".repeat(50), ..MapMeta::default() };
    write_map(&path, &grid, &[0.5; 24], &long).unwrap();
    let b = gunzip(&std::fs::read(&path).unwrap());
    assert_eq!(le_i16(&b, 254), 1);
    assert_eq!(b[123], 2); // unknown units become mm
                           // 79 bytes would split a 2-byte character: 78 kept, then NULs.
    assert_eq!(&b[148..226], "é".repeat(39).as_bytes());
    assert_eq!(b[226..228], [0, 0]);
    let back = read_volume(&path).unwrap();
    assert!(back.grid.same_as(&grid));
    assert_eq!(back.grid.affine[0], [-1.0, 0.0, 0.0, 0.5]);
}

#[test]
fn four_d_maps() {
    let dir = TempDir::new().unwrap();
    let grid = source_grid(dir.path());
    let path = dir.path().join("weights.nii.gz");
    let vols: Vec<Vec<f32>> = (0..3).map(|s| (0..24).map(|x| (100 * s + x) as f32).collect()).collect();
    write_map_4d(&path, &grid, &vols, &MapMeta::default()).unwrap();
    let b = gunzip(&std::fs::read(&path).unwrap());
    assert_eq!((le_i16(&b, 40), le_i16(&b, 48)), (4, 3));
    assert_eq!(b.len(), 352 + 3 * 24 * 4);
    let mut at = 352;
    for v in &vols {
        fortran(D, |i, j, k| {
            assert_eq!(le_f32(&b, at), v[flat(D, i, j, k)]);
            at += 4;
        });
    }
    let err = read_volume(&path).unwrap_err().to_string();
    assert!(err.contains("4-D series with 3 volumes"), "{err}");
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn atomic_write_leaves_no_temp_files() {
    let dir = TempDir::new().unwrap();
    let grid =
        Grid::from_affine(D, [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Missing directory: an error naming the file, nothing created anywhere.
    let missing = out.join("no/such/dir/z.nii.gz");
    let err = write_map(&missing, &grid, &[1.0; 24], &MapMeta::default()).unwrap_err();
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert!(listing(&out).is_empty());
    // Wrong length: refused before any file exists.
    assert!(write_map(&out.join("z.nii.gz"), &grid, &[1.0; 23], &MapMeta::default()).is_err());
    assert!(listing(&out).is_empty());
    // Success, then overwrite: only the final file remains, with the new content.
    write_map(&out.join("z.nii.gz"), &grid, &[1.0; 24], &MapMeta::default()).unwrap();
    write_map(&out.join("z.nii.gz"), &grid, &[2.0; 24], &MapMeta::default()).unwrap();
    assert_eq!(listing(&out), ["z.nii.gz"]);
    assert!(read_volume(&out.join("z.nii.gz")).unwrap().data.iter().all(|&v| v == 2.0));
}
