//! Bad input files: each gives its own error naming the file, and no input bytes panic.

use crate::raw::{gzip, Raw};
use ibma_io::{read_volume, Error};
use ibma_testkit::Rng;
use std::path::Path;
use tempfile::TempDir;

/// A valid 2x3x4 float32 image.
fn good() -> Raw {
    let mut r = Raw::new(&[2, 3, 4], 16, 32, false);
    r.data = (0..24u8).flat_map(|v| f32::from(v).to_le_bytes()).collect();
    r
}

/// Read `path`, expect an error whose message names the file and contains `what`.
fn expect_err(path: &Path, what: &str) -> Error {
    let err = read_volume(path).expect_err("reading should fail");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg:?} does not name {}", path.display());
    assert!(msg.contains(what), "{msg:?} does not say {what:?}");
    err
}

#[test]
fn missing_file() {
    let dir = TempDir::new().unwrap();
    let err = expect_err(&dir.path().join("nope.nii.gz"), "No such file");
    assert!(matches!(err, Error::Io { .. }));
}

#[test]
fn truncated_gzip() {
    let dir = TempDir::new().unwrap();
    let gz = gzip(&good().bytes());
    for cut in [gz.len() / 2, gz.len() - 4] {
        let path = dir.path().join(format!("cut{cut}.nii.gz"));
        std::fs::write(&path, &gz[..cut]).unwrap();
        assert!(matches!(expect_err(&path, "truncated gzip stream"), Error::Nifti { .. }));
    }
}

#[test]
fn corrupt_gzip() {
    let dir = TempDir::new().unwrap();
    let mut gz = gzip(&good().bytes());
    let n = gz.len();
    gz[n - 8] ^= 0xff; // CRC32 of the member
    let path = dir.path().join("crc.nii.gz");
    std::fs::write(&path, gz).unwrap();
    expect_err(&path, "invalid gzip data");
}

#[test]
fn wrong_magic() {
    let dir = TempDir::new().unwrap();
    let mut r = good();
    r.hdr[344..348].copy_from_slice(b"xyz\0");
    expect_err(&r.write(&dir.path().join("magic.nii")), "not a NIfTI-1 file (bad magic)");
    r.hdr[344..348].copy_from_slice(b"ni1\0");
    expect_err(&r.write(&dir.path().join("pair.nii")), "header-only");
    std::fs::write(dir.path().join("text.nii"), "hello").unwrap();
    expect_err(&dir.path().join("text.nii"), "too short");
}

#[test]
fn real_4d_series() {
    let dir = TempDir::new().unwrap();
    let mut r = Raw::new(&[2, 3, 4, 5], 2, 8, false);
    r.data = vec![1; 120];
    expect_err(&r.write_gz(&dir.path().join("series.nii.gz")), "4-D series with 5 volumes; ibma needs 3-D maps");
    let mut r = Raw::new(&[2, 3, 4, 1, 2], 2, 8, false);
    r.data = vec![1; 48];
    expect_err(&r.write(&dir.path().join("five.nii")), "5-D array (2x3x4x1x2)");
    let mut r = Raw::new(&[2, 3], 2, 8, false);
    r.data = vec![1; 6];
    expect_err(&r.write(&dir.path().join("flat.nii")), "2-D image");
}

#[test]
fn nifti2_header() {
    let dir = TempDir::new().unwrap();
    for big in [false, true] {
        let mut b = vec![0u8; 540 + 4 + 8];
        b[..4].copy_from_slice(&if big { 540i32.to_be_bytes() } else { 540i32.to_le_bytes() });
        b[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
        let path = dir.path().join("two.nii.gz");
        std::fs::write(&path, gzip(&b)).unwrap();
        expect_err(&path, "NIfTI-2 is not supported");
    }
}

#[test]
fn unsupported_datatypes() {
    let dir = TempDir::new().unwrap();
    for (code, bitpix, name) in [(32, 64, "complex64"), (128, 24, "rgb24"), (1536, 128, "float128"), (1, 1, "binary")] {
        let mut r = Raw::new(&[2, 3, 4], code, bitpix, false);
        r.data = vec![0; 24 * 16];
        expect_err(
            &r.write(&dir.path().join(format!("{name}.nii"))),
            &format!("unsupported datatype {name} (datatype {code})"),
        );
    }
}

#[test]
fn bad_scaling_and_short_data() {
    let dir = TempDir::new().unwrap();
    let mut r = good();
    r.f32(112, 2.0);
    r.f32(116, f32::NAN);
    expect_err(&r.write(&dir.path().join("inter.nii")), "non-finite scl_inter");
    let mut r = good();
    r.data.truncate(95);
    expect_err(&r.write_gz(&dir.path().join("short.nii.gz")), "truncated data");
    let mut r = good();
    r.f32(108, 0.0);
    expect_err(&r.write(&dir.path().join("off.nii")), "vox_offset");
}

#[test]
fn no_panic_on_mangled_input() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("fuzz.nii");
    let mut r = good();
    r.i16(252, 1); // exercise the qform path too
    let valid = r.bytes();
    for len in 0..valid.len() {
        std::fs::write(&path, &valid[..len]).unwrap();
        assert!(read_volume(&path).is_err(), "prefix of {len} bytes accepted");
    }
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for _ in 0..1500 {
        let mut b = valid.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(352);
            b[at] = rng.next_u64() as u8;
        }
        std::fs::write(&path, &b).unwrap();
        let _ = read_volume(&path); // must return, Ok or Err
    }
}

#[test]
fn size_fields_are_validated_before_any_allocation() {
    let dir = TempDir::new().unwrap();
    // 32767^3 float64: 2.8e14 bytes; the product of the dimensions is refused first.
    let mut r = Raw::new(&[32767, 32767, 32767], 64, 64, false);
    r.data = vec![0; 64];
    expect_err(&r.write(&dir.path().join("huge.nii")), "dimensions 32767x32767x32767 give 35181150961663 voxels");
    expect_err(&r.write_gz(&dir.path().join("huge.nii.gz")), "more than ibma reads (268435456)");
    // A negative dimension (dim is signed in nifti1.h) is named as such, big-endian too.
    for big in [false, true] {
        let mut r = Raw::new(&[2, 3, 4], 16, 32, big);
        r.i16(44, -3);
        expect_err(&r.write(&dir.path().join("neg.nii")), "invalid dim[2] = -3");
    }
    let mut r = good();
    r.i16(40, 9);
    expect_err(&r.write(&dir.path().join("dim0.nii")), "invalid dim[0] = 9");
    // vox_offset: beyond the file, overflowing when added to the data size, not a number.
    for (off, what) in [
        (3.0e9, "truncated data"),
        (1.0e30, "invalid vox_offset 1000000000000000000000000000000"),
        (f32::NAN, "invalid vox_offset NaN"),
    ] {
        let mut r = good();
        r.f32(108, off);
        expect_err(&r.write(&dir.path().join("off.nii")), what);
        expect_err(&r.write_gz(&dir.path().join("off.nii.gz")), what);
    }
}

#[test]
fn saved_grids_with_absurd_dims_are_refused() {
    let grid = ibma_io::Grid::from_affine(
        [2, 3, 4],
        [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let json = serde_json::to_value(&grid).unwrap();
    assert!(serde_json::from_value::<ibma_io::Grid>(json.clone()).is_ok());
    let range = "each must be 1 to 32767";
    let count = "more than 268435456 voxels";
    for (dims, needle) in [
        ([0, 3, 4], range),
        ([40000, 1, 1], range),
        ([30000, 30000, 30000], count),
        ([usize::MAX, 2, 2], range),
        ([2, 3, 5], "unlike the header's [2, 3, 4]"),
    ] {
        let mut bad = json.clone();
        bad["dims"] = serde_json::json!(dims);
        let e = serde_json::from_value::<ibma_io::Grid>(bad).expect_err("absurd dims accepted").to_string();
        assert!(e.contains(needle), "{e}");
    }
}
