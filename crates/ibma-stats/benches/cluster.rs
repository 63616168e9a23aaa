//! Cluster labelling, TFCE and the per-permutation maxima on an MNI-2mm-sized grid
//! (91 × 109 × 91, an ellipsoidal mask of ~228k voxels) holding a smooth unit-variance field
//! (white noise smoothed to FWHM ≈ 4 voxels) plus two blobs of signal.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use ibma_stats::cluster::{clusters, max_stats, tfce, Connectivity, Grid, TfceParams, Workspace};
use ibma_stats::Tail;
use ibma_testkit::Rng;

const DIMS: [usize; 3] = [91, 109, 91];

/// Deterministic smooth field and its ellipsoidal mask (per-mask-voxel values).
fn field() -> (Grid, Vec<f64>) {
    let [nx, ny, nz] = DIMS;
    let n = nx * ny * nz;
    let mut x = Rng::new(7).normals(n);
    let sigma = 4.0 / (8.0 * std::f64::consts::LN_2).sqrt();
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius).map(|d| (-((d * d) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let norm = kernel.iter().map(|w| w * w).sum::<f64>().powf(1.5).sqrt(); // unit variance after 3 passes
    for (axis, len) in [(0, nx), (1, ny), (2, nz)] {
        let stride = [ny * nz, nz, 1][axis];
        let mut y = vec![0.0; n];
        for (v, out) in y.iter_mut().enumerate() {
            let c = ((v / stride) % len) as isize;
            *out = (-radius..=radius)
                .zip(&kernel)
                .filter(|(d, _)| (0..len as isize).contains(&(c + d)))
                .map(|(d, w)| w * x[(v as isize + d * stride as isize) as usize])
                .sum();
        }
        x = y;
    }
    let centre = [45.0, 54.0, 45.0];
    let semi = [35.7, 42.7, 35.7];
    let mask: Vec<usize> = (0..n)
        .filter(|&v| {
            let c = [v / (ny * nz), (v / nz) % ny, v % nz];
            (0..3).map(|d| ((c[d] as f64 - centre[d]) / semi[d]).powi(2)).sum::<f64>() <= 1.0
        })
        .collect();
    let values = mask
        .iter()
        .map(|&v| {
            let c = [v / (ny * nz), (v / nz) % ny, v % nz];
            let blob = |at: [f64; 3], amp: f64| {
                amp * (-(0..3).map(|d| (c[d] as f64 - at[d]).powi(2)).sum::<f64>() / 50.0).exp()
            };
            x[v] / norm + blob([30.0, 40.0, 40.0], 5.0) - blob([60.0, 70.0, 50.0], 4.0)
        })
        .collect();
    (Grid::new(DIMS, &mask), values)
}

fn bench(c: &mut Criterion) {
    let (grid, z) = field();
    eprintln!("{} mask voxels", grid.n_voxels());
    let params = TfceParams::default();
    let mut group = c.benchmark_group("cluster_mni2mm");
    group.sample_size(10);
    group.bench_function("label_u2.3_26", |b| b.iter(|| clusters(&grid, &z, 2.3, Connectivity::TwentySix)));
    group.bench_function("tfce_two_sided_26", |b| {
        b.iter(|| tfce(&grid, &z, &params, Connectivity::TwentySix, Tail::Two))
    });
    let mut ws = Workspace::new();
    group.bench_function("max_stats_two_sided_26", |b| {
        b.iter(|| max_stats(&grid, &z, 2.3, Connectivity::TwentySix, Tail::Two, Some(&params), &mut ws))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
