//! Reading: every datatype, byte order, gzip, scaling, squeezing and affines.
// Exact float equality is intended: every value tested is exactly representable in the stored
// type and in f64, so a correct reader reproduces it bit for bit.
#![allow(clippy::float_cmp)]

use crate::raw::{flat, fortran, gzip, val, Raw};
use ibma_io::{read_volume, Grid, Mask};
use tempfile::TempDir;

const D: [usize; 3] = [2, 3, 4];
const SFORM: [[f32; 4]; 3] = [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0]];

/// Datatype code, bitpix, signed, and the little-endian encoding of a value.
type Enc = (i16, i16, bool, fn(f64) -> Vec<u8>);
const DTYPES: [Enc; 10] = [
    (2, 8, false, |v| (v as u8).to_le_bytes().to_vec()),
    (256, 8, true, |v| (v as i8).to_le_bytes().to_vec()),
    (4, 16, true, |v| (v as i16).to_le_bytes().to_vec()),
    (512, 16, false, |v| (v as u16).to_le_bytes().to_vec()),
    (8, 32, true, |v| (v as i32).to_le_bytes().to_vec()),
    (768, 32, false, |v| (v as u32).to_le_bytes().to_vec()),
    (1024, 64, true, |v| (v as i64).to_le_bytes().to_vec()),
    (1280, 64, false, |v| (v as u64).to_le_bytes().to_vec()),
    (16, 32, true, |v| (v as f32).to_le_bytes().to_vec()),
    (64, 64, true, |v| v.to_le_bytes().to_vec()),
];

/// A 2x3x4 image of `val` (negated for signed types) with the MNI-like sform.
fn image(dims: &[u16], (code, bitpix, signed, enc): Enc, big: bool) -> (Raw, impl Fn(f64) -> f64) {
    let mut r = Raw::new(dims, code, bitpix, big);
    r.sform(1, SFORM);
    let sign = if signed { -1.0 } else { 1.0 };
    fortran(D, |i, j, k| r.push(&enc(sign * val(i, j, k))));
    (r, move |v| sign * v)
}

fn check_values(data: &[f64], expect: impl Fn(f64) -> f64) {
    assert_eq!(data.len(), 24);
    fortran(D, |i, j, k| assert_eq!(data[flat(D, i, j, k)], expect(val(i, j, k)), "voxel {i},{j},{k}"));
}

fn check_sform(g: &Grid) {
    assert_eq!(g.dims, D);
    for (r, row) in SFORM.iter().enumerate() {
        assert_eq!(g.affine[r], row.map(f64::from), "affine row {r}");
    }
    assert_eq!(g.affine[3], [0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn every_datatype_both_byte_orders_plain_and_gzip() {
    let dir = TempDir::new().unwrap();
    for enc in DTYPES {
        for big in [false, true] {
            let (r, expect) = image(&[2, 3, 4], enc, big);
            for path in [r.write(&dir.path().join("a.nii")), r.write_gz(&dir.path().join("a.nii.gz"))] {
                let v = read_volume(&path).unwrap_or_else(|e| panic!("datatype {} big {big}: {e}", enc.0));
                check_values(&v.data, &expect);
                check_sform(&v.grid);
            }
        }
    }
}

#[test]
fn c_order_index() {
    // Voxel (1, 2, 3) of a 2x3x4 grid is flat index (1·3 + 2)·4 + 3 = 23, the last one.
    let dir = TempDir::new().unwrap();
    let (r, _) = image(&[2, 3, 4], DTYPES[0], false);
    let v = read_volume(&r.write(&dir.path().join("a.nii"))).unwrap();
    assert_eq!(v.data[23], 123.0);
    assert_eq!(v.data[4], 10.0); // (0, 1, 0)
    assert_eq!(v.data[12], 100.0); // (1, 0, 0)
}

#[test]
fn trailing_unit_dims_are_squeezed() {
    let dir = TempDir::new().unwrap();
    for dims in [&[2u16, 3, 4, 1][..], &[2, 3, 4, 1, 1]] {
        let (r, expect) = image(dims, DTYPES[9], true);
        let v = read_volume(&r.write_gz(&dir.path().join("a.nii.gz"))).unwrap();
        check_values(&v.data, expect);
        check_sform(&v.grid);
    }
}

#[test]
fn multi_member_gzip_is_read_completely() {
    let dir = TempDir::new().unwrap();
    let (r, expect) = image(&[2, 3, 4], DTYPES[9], false);
    let bytes = r.bytes();
    // Split inside the data so that a single-member reader would come up short.
    let mut gz = gzip(&bytes[..400]);
    gz.extend(gzip(&bytes[400..]));
    let path = dir.path().join("multi.nii.gz");
    std::fs::write(&path, gz).unwrap();
    check_values(&read_volume(&path).unwrap().data, expect);
}

#[test]
fn scl_slope_and_inter() {
    let dir = TempDir::new().unwrap();
    // (slope, inter, effective slope and intercept): slope 0 and NaN mean "no scaling".
    let cases = [(2.0, -1.0, 2.0, -1.0), (0.5, 3.0, 0.5, 3.0), (0.0, 5.0, 1.0, 0.0), (f32::NAN, 5.0, 1.0, 0.0)];
    for (slope, inter, a, b) in cases {
        for big in [false, true] {
            let (mut r, _) = image(&[2, 3, 4], DTYPES[2], big);
            r.f32(112, slope);
            r.f32(116, inter);
            let v = read_volume(&r.write(&dir.path().join("s.nii"))).unwrap();
            check_values(&v.data, |x| -x * a + b);
        }
    }
}

#[test]
fn float32_reads_round_the_float64_values() {
    let dir = TempDir::new().unwrap();
    for enc in DTYPES {
        // An inexact scaling, so that the float64 values are not float32 values.
        for (slope, inter) in [(1.0, 0.0), (0.1, 1.0 / 3.0)] {
            let (mut r, _) = image(&[2, 3, 4], enc, false);
            r.f32(112, slope);
            r.f32(116, inter);
            let path = r.write(&dir.path().join("s.nii"));
            let volume = read_volume(&path).unwrap();
            let mask = Mask { grid: volume.grid.clone(), indices: vec![0, 5, 6, 7, 13, 22, 23] };
            let wide = mask.read_masked(&path).unwrap();
            let narrow = mask.read_masked_as::<f32>(&path, None).unwrap();
            let rounded: Vec<u32> = wide.iter().map(|&x| (x as f32).to_bits()).collect();
            assert_eq!(narrow.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), rounded, "datatype {}", enc.0);
        }
    }
}

#[test]
fn reads_through_the_file_order_equal_reads_in_mask_order() {
    let dir = TempDir::new().unwrap();
    for enc in DTYPES {
        for big in [false, true] {
            let (mut r, _) = image(&[2, 3, 4], enc, big);
            r.f32(112, 0.1);
            r.f32(116, 1.0 / 3.0);
            let path = r.write_gz(&dir.path().join("o.nii.gz"));
            let grid = read_volume(&path).unwrap().grid;
            // Every voxel, none, and an irregular subset of the 2x3x4 grid.
            for indices in [(0..24).collect(), vec![], vec![0, 1, 5, 6, 7, 12, 13, 17, 22, 23]] {
                let mask = Mask { grid: grid.clone(), indices };
                let order = mask.file_order();
                let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let want = bits(mask.read_masked(&path).unwrap());
                assert_eq!(bits(order.read_as::<f64>(&path, None).unwrap()), want, "datatype {}", enc.0);
                let narrow: Vec<f64> = order.read_as::<f32>(&path, None).unwrap().into_iter().map(f64::from).collect();
                let rounded: Vec<f64> = mask.read_masked(&path).unwrap().iter().map(|&x| f64::from(x as f32)).collect();
                assert_eq!(bits(narrow), bits(rounded), "datatype {} as float32", enc.0);
            }
        }
    }
}

#[test]
fn float_specials_survive() {
    let dir = TempDir::new().unwrap();
    let mut r = Raw::new(&[1, 1, 3], 16, 32, true);
    for v in [f32::NAN, f32::INFINITY, -0.0] {
        r.push(&v.to_le_bytes());
    }
    let v = read_volume(&r.write(&dir.path().join("f.nii"))).unwrap();
    assert!(v.data[0].is_nan());
    assert_eq!(v.data[1], f64::INFINITY);
    assert_eq!(v.data[2].to_bits(), (-0.0f64).to_bits());
}

fn assert_affine(g: &Grid, expect: [[f64; 4]; 3]) {
    for r in 0..3 {
        for c in 0..4 {
            assert!((g.affine[r][c] - expect[r][c]).abs() < 1e-6, "affine {:?} vs {expect:?}", g.affine);
        }
    }
}

#[test]
fn qform_and_base_affines() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("q.nii");
    let mut r = Raw::new(&[2, 3, 4], 2, 8, false);
    r.data = vec![0; 24];
    for (n, z) in [2.0, 3.0, 4.0].into_iter().enumerate() {
        r.f32(80 + 4 * n, z);
    }
    // No xform codes: nibabel's base affine, x flipped and centred.
    r.write(&path);
    assert_affine(
        &read_volume(&path).unwrap().grid,
        [[-2.0, 0.0, 0.0, 1.0], [0.0, 3.0, 0.0, -3.0], [0.0, 0.0, 4.0, -6.0]],
    );
    // qform: 90° about z (d = sin 45°), qfac -1 flips the third column; offsets as translation.
    r.i16(252, 1);
    r.f32(264, std::f32::consts::FRAC_1_SQRT_2);
    r.f32(76, -1.0);
    for (n, t) in [10.0, 20.0, 30.0].into_iter().enumerate() {
        r.f32(268 + 4 * n, t);
    }
    r.write(&path);
    let q = [[0.0, -3.0, 0.0, 10.0], [2.0, 0.0, 0.0, 20.0], [0.0, 0.0, -4.0, 30.0]];
    assert_affine(&read_volume(&path).unwrap().grid, q);
    // A big-endian copy decodes the same qform.
    let mut be = Raw::new(&[2, 3, 4], 2, 8, true);
    be.data = r.data.clone();
    for off in (76..112).step_by(4).chain((256..280).step_by(4)) {
        be.f32(off, crate::raw::le_f32(&r.hdr, off));
    }
    be.i16(252, 1);
    be.write(&path);
    assert_affine(&read_volume(&path).unwrap().grid, q);
    // sform_code > 0 wins over the qform.
    r.sform(2, SFORM);
    r.write(&path);
    assert_affine(&read_volume(&path).unwrap().grid, SFORM.map(|row| row.map(f64::from)));
}

#[test]
fn grid_describe_and_same_as() {
    let a = [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]];
    let g = Grid::from_affine([91, 109, 91], a);
    assert_eq!(g.describe(), "91x109x91, affine [-2 0 0 90; 0 2 0 -126; 0 0 2 -72]");
    let mut near = a;
    near[0][3] += 0.9e-4;
    assert!(g.same_as(&Grid::from_affine([91, 109, 91], near)));
    near[0][3] += 0.2e-4;
    assert!(!g.same_as(&Grid::from_affine([91, 109, 91], near)));
    assert!(!g.same_as(&Grid::from_affine([91, 109, 90], a)));
    let mut flipped = a;
    flipped[0][0] = 2.0; // LAS vs RAS
    assert!(!g.same_as(&Grid::from_affine([91, 109, 91], flipped)));
}
