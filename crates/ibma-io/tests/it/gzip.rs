//! gzip input and output: zero padding and several members are read, inflation is bounded by
//! the header (bombs fail with one error naming the file), every compression level round-trips.
// Exact float equality is intended: the values are small integers, exact in every type.
#![allow(clippy::float_cmp)]

use crate::raw::{gzip, Raw};
use ibma_io::gz::{gzip as compress, GzipLevel};
use ibma_io::{read_volume, write_volumes, Grid, MapMeta};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A 2x3x4 float32 image of 0..24 (448 bytes: header, extension flag, data).
fn image() -> Vec<u8> {
    let mut r = Raw::new(&[2, 3, 4], 16, 32, false);
    r.data = (0..24u8).flat_map(|v| f32::from(v).to_le_bytes()).collect();
    r.bytes()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The values of `image()` in C order.
fn expected() -> Vec<f64> {
    let mut v = vec![0.0; 24];
    for (f, x) in v.iter_mut().enumerate().map(|(c, x)| ((c / 12) + 2 * ((c / 4) % 3) + 6 * (c % 4), x)) {
        *x = f as f64;
    }
    v
}

fn read_err(path: &Path) -> String {
    let msg = read_volume(path).expect_err("reading should fail").to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg:?} does not name the file");
    msg
}

#[test]
fn zero_padding_after_gzip_data_is_skipped() {
    let dir = TempDir::new().unwrap();
    let bytes = image();
    // Padding after one member (as tape and block devices leave it), and between and after
    // several members, the first of which holds only part of the header.
    let mut one = gzip(&bytes);
    one.extend([0u8; 1000]);
    let mut several = gzip(&bytes[..100]);
    several.extend([0u8; 7]);
    several.extend(gzip(&bytes[100..400]));
    several.extend(gzip(&bytes[400..]));
    several.extend([0u8; 512]);
    for (name, gz) in [("one.nii.gz", one), ("several.nii.gz", several)] {
        let v = read_volume(&write(dir.path(), name, &gz)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.data, expected(), "{name}");
    }
}

#[test]
fn empty_members_and_a_lone_header_member_are_read() {
    let dir = TempDir::new().unwrap();
    let bytes = image();
    let mut gz = gzip(&[]);
    gz.extend(gzip(&bytes[..352]));
    gz.extend(gzip(&[]));
    gz.extend(gzip(&bytes[352..]));
    gz.extend(gzip(&[]));
    assert_eq!(read_volume(&write(dir.path(), "m.nii.gz", &gz)).unwrap().data, expected());
}

#[test]
fn trailing_garbage_is_an_error() {
    let dir = TempDir::new().unwrap();
    let mut gz = gzip(&image());
    gz.extend(b"not gzip");
    assert!(read_err(&write(dir.path(), "garbage.nii.gz", &gz)).contains("invalid gzip data"));
}

#[test]
fn single_member_bomb_fails_at_the_header_size() {
    // A 2x3x4 header followed by 64 MiB of zeros in one member.
    let dir = TempDir::new().unwrap();
    let mut bytes = image();
    bytes.resize(bytes.len() + (64 << 20), 0);
    let path = write(dir.path(), "bomb.nii.gz", &compress(&bytes, GzipLevel::new(9).unwrap()));
    drop(bytes);
    let msg = read_err(&path);
    assert!(msg.contains("gzip data inflate to more than the 448 bytes the header describes"), "{msg}");
}

#[test]
fn multi_member_bomb_of_1_5_gib_fails_at_the_header_size() {
    // The image, then 1536 members of 1 MiB of zeros each: a 1.6 MB file inflating to 1.5 GiB.
    let dir = TempDir::new().unwrap();
    let zeros = compress(&vec![0u8; 1 << 20], GzipLevel::new(9).unwrap());
    let mut gz = gzip(&image());
    for _ in 0..1536 {
        gz.extend_from_slice(&zeros);
    }
    assert!(gz.len() < 1_700_000, "{} bytes", gz.len());
    let msg = read_err(&write(dir.path(), "bomb.nii.gz", &gz));
    assert!(msg.contains("gzip data inflate to more than the 448 bytes the header describes"), "{msg}");
}

#[test]
fn header_asking_more_than_the_file_can_hold_is_refused_before_allocating() {
    // 512^3 float32 (512 MiB) claimed by a file of a few hundred bytes.
    let dir = TempDir::new().unwrap();
    let mut r = Raw::new(&[512, 512, 512], 16, 32, false);
    r.data = vec![0; 64];
    let msg = read_err(&r.write_gz(&dir.path().join("claim.nii.gz")));
    assert!(msg.contains("truncated data: 134217728 voxels of 4 bytes from offset 352 need 536871264 bytes"), "{msg}");
    assert!(msg.contains("bytes of gzip data inflate to at most"), "{msg}");
    // The same header with its data cut short inflates completely and is short.
    let mut r = Raw::new(&[2, 3, 4], 16, 32, false);
    r.data = vec![0; 95];
    let msg = read_err(&r.write_gz(&dir.path().join("short.nii.gz")));
    assert!(msg.contains("need 448 bytes, the gzip data inflate to 447"), "{msg}");
}

#[test]
fn every_compression_level_round_trips() {
    let dir = TempDir::new().unwrap();
    let affine = [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine([20, 30, 40], affine);
    let data: Vec<f32> = (0..grid.n_voxels()).map(|v| ((v % 97) as f32 * 0.25).sin()).collect();
    let mut sizes = Vec::new();
    for level in 0..=9 {
        let path = dir.path().join(format!("l{level}.nii.gz"));
        write_volumes(&path, &grid, &[&data], &MapMeta::default(), GzipLevel::new(level).unwrap()).unwrap();
        let back = read_volume(&path).unwrap();
        assert!(back.data.iter().zip(&data).all(|(a, &b)| a.to_bits() == f64::from(b).to_bits()), "level {level}");
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    // Level 0 stores, 9 compresses hardest; the default is level 1, nibabel's.
    assert!(sizes[0] > sizes[1] && sizes[1] >= sizes[9], "{sizes:?}");
    assert_eq!(GzipLevel::default().get(), 1);
    assert!(GzipLevel::new(10).is_none());
}

#[test]
fn a_written_map_is_one_gzip_member() {
    use std::io::Read;
    let dir = TempDir::new().unwrap();
    let affine = [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine([9, 8, 7], affine);
    let path = dir.path().join("z.nii.gz");
    ibma_io::write_map(&path, &grid, &vec![1.5; 504], &MapMeta::default()).unwrap();
    // A single-member decoder (what some readers use) sees the whole file.
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&std::fs::read(&path).unwrap()[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out.len(), 352 + 504 * 4);
}

#[test]
fn gunzip_reads_members_and_padding_within_its_limit() {
    use ibma_io::gz::{gunzip_limited, InflateError};
    let text = b"a saved result, in two members".to_vec();
    let mut gz = gzip(&text[..9]);
    gz.extend([0u8; 3]);
    gz.extend(gzip(&text[9..]));
    gz.extend([0u8; 100]);
    assert_eq!(ibma_io::gunzip(&gz).unwrap(), text);
    assert_eq!(gunzip_limited(&gz, text.len()).unwrap(), text);
    assert_eq!(gunzip_limited(&gz, text.len() - 1), Err(InflateError::TooLong));
    let err = ibma_io::gunzip(&gz[..20]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    gz.push(7);
    assert!(ibma_io::gunzip(&gz).unwrap_err().to_string().contains("neither a gzip member nor zero padding"));
}
