//! NIfTI I/O and masking on an MNI-2mm grid (91 × 109 × 91, an ellipsoidal mask of ~228k voxels
//! like nidm_pain21's): reading float32 and float64 `.nii.gz` maps, writing a float32 map, and
//! moving between volumes and masked vectors.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use flate2::{write::GzEncoder, Compression};
use ibma_io::{gunzip, read_volume, write_map, Grid, MapMeta, Mask};
use ibma_testkit::Rng;
use std::io::Write;
use std::path::Path;

const DIMS: [usize; 3] = [91, 109, 91];

/// A z-like map: normal noise inside an ellipsoid (~228k voxels), 0 outside.
fn synthetic_map(grid: &Grid) -> Vec<f32> {
    let [_, ny, nz] = DIMS;
    let (centre, semi) = ([45.0, 54.0, 45.0], [35.7, 42.7, 35.7]);
    let inside = |v: usize| {
        let c = [v / (ny * nz), (v / nz) % ny, v % nz];
        (0..3).map(|d| ((c[d] as f64 - centre[d]) / semi[d]).powi(2)).sum::<f64>() <= 1.0
    };
    let z = Rng::new(7).normals(grid.n_voxels());
    z.iter().enumerate().map(|(v, &z)| if inside(v) { z as f32 } else { 0.0 }).collect()
}

/// The float32 file at `f32_path` rewritten as float64 (datatype 64, bitpix 64) at `path`.
fn write_f64_copy(f32_path: &Path, path: &Path) {
    let raw = gunzip(&std::fs::read(f32_path).unwrap()).unwrap();
    let mut bytes = raw[..352].to_vec();
    bytes[70..72].copy_from_slice(&64i16.to_le_bytes());
    bytes[72..74].copy_from_slice(&64i16.to_le_bytes());
    for c in raw[352..].chunks_exact(4) {
        bytes.extend_from_slice(&f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes());
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&bytes).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

fn bench(c: &mut Criterion) {
    let affine = [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine(DIMS, affine);
    let data = synthetic_map(&grid);
    let dir = tempfile::TempDir::new().unwrap();
    let (p32, p64, out) = (dir.path().join("z32.nii.gz"), dir.path().join("z64.nii.gz"), dir.path().join("out.nii.gz"));
    let meta = MapMeta { intent_code: 5, intent_p1: 0.0, descrip: "ibma bench".into() };
    write_map(&p32, &grid, &data, &meta).unwrap();
    write_f64_copy(&p32, &p64);
    let volume = read_volume(&p64).unwrap();
    let mask = Mask::from_volume(&volume);
    let masked = mask.extract(&volume, &p64).unwrap();
    eprintln!("{} mask voxels", mask.len());

    let mut group = c.benchmark_group("nifti_mni2mm");
    group.sample_size(20);
    group.bench_function("read_f32_gz", |b| b.iter(|| read_volume(&p32).unwrap()));
    group.bench_function("read_f64_gz", |b| b.iter(|| read_volume(&p64).unwrap()));
    group.bench_function("write_f32_gz", |b| b.iter(|| write_map(&out, &grid, &data, &meta).unwrap()));
    group.bench_function("mask_from_volume", |b| b.iter(|| Mask::from_volume(&volume)));
    group.bench_function("mask_extract", |b| b.iter(|| mask.extract(&volume, &p64).unwrap()));
    group.bench_function("mask_unmask", |b| b.iter(|| mask.unmask(&masked)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
