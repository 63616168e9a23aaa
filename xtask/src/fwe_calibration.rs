//! Family-wise error calibration of the permutation corrections (issue: ≥ 200 synthetic null
//! datasets, α = 0.05, binomial 99 % interval): voxel-level max statistic, cluster size and
//! TFCE must hold their level; GRF's rate is reported.

use crate::Row;
use ibma::stats::cluster::{clusters, max_stats, smoothness, Connectivity, Grf, Grid, Mode, TfceParams, Workspace};
use ibma::stats::permute::FlipMatrix;
use ibma::stats::ttest::one_sample_t;
use ibma::stats::{StudyVoxels, Tail};
use ibma_testkit::Rng;

const DATASETS: usize = 200;
const PERMUTATIONS: usize = 100;
const K: usize = 20;
const N: usize = 12; // 12³ voxels
const FWHM_VOXELS: f64 = 3.0;
const ALPHA: f64 = 0.05;
/// Cluster-forming threshold: two-tailed p 0.01, the seed's default.
const U: f64 = 2.575_829_303_548_901;

/// Smooth unit-variance noise maps (separable Gaussian, edges truncated), one per study.
fn null_dataset(seed: u64) -> StudyVoxels {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995);
    let sigma = FWHM_VOXELS / (8f64.ln() * 2.0).sqrt();
    let kernel: Vec<f64> = (-4..=4).map(|d: i32| (-(f64::from(d * d)) / (2.0 * sigma * sigma)).exp()).collect();
    let v = N * N * N;
    let mut data = vec![0.0; K * v];
    for k in 0..K {
        let mut field: Vec<f64> = (0..v).map(|_| rng.normal()).collect();
        for axis in 0..3 {
            let stride = [N * N, N, 1][axis];
            let mut out = vec![0.0; v];
            for (idx, o) in out.iter_mut().enumerate() {
                let pos = (idx / stride) % N;
                let (mut s, mut w) = (0.0, 0.0);
                for (t, kv) in kernel.iter().enumerate() {
                    let q = pos as i64 + t as i64 - 4;
                    if (0..N as i64).contains(&q) {
                        s += kv * field[(idx as i64 + (q - pos as i64) * stride as i64) as usize];
                        w += kv * kv;
                    }
                }
                *o = s / w.sqrt();
            }
            field = out;
        }
        for (vox, x) in field.into_iter().enumerate() {
            data[vox * K + k] = x;
        }
    }
    StudyVoxels::new(K, data)
}

/// z of the one-sample t of `x` with study k's values multiplied by `signs[k]`.
fn z_map(x: &StudyVoxels, signs: &[f64], buffer: &mut StudyVoxels) -> Vec<f64> {
    x.flip_into(signs, buffer);
    one_sample_t(buffer, Tail::Two).test.z
}

/// (voxel, size, TFCE, GRF) family-wise error events of one null dataset.
fn events(seed: u64, grid: &Grid) -> [bool; 4] {
    let x = null_dataset(seed);
    let flips = FlipMatrix::nimare(PERMUTATIONS, K, seed as u32);
    let mut buffer = x.clone();
    let mut ws = Workspace::new();
    let tfce = TfceParams::default();
    let conn = Connectivity::TwentySix;
    let observed_z = z_map(&x, &[1.0; K], &mut buffer);
    let stats = |z: &[f64], ws: &mut Workspace| {
        let m = max_stats(grid, z, U, conn, Tail::Two, Some(&tfce), ws);
        [z.iter().fold(0.0f64, |a, v| a.max(v.abs())), m.size as f64, m.tfce]
    };
    let observed = stats(&observed_z, &mut ws);
    let mut exceed = [1usize; 3]; // the observed map counts as one of the N + 1
    for i in 0..PERMUTATIONS {
        let null = stats(&z_map(&x, flips.row(i), &mut buffer), &mut ws);
        for s in 0..3 {
            exceed[s] += usize::from(null[s] >= observed[s]);
        }
    }
    let p = exceed.map(|e| e as f64 / (PERMUTATIONS + 1) as f64);
    // GRF: smoothness of the standardised residuals, the smallest cluster p against α.
    let residuals = StudyVoxels::new(
        K,
        x.voxels()
            .flat_map(|xs| {
                let m = xs.iter().sum::<f64>() / K as f64;
                xs.iter().map(move |v| v - m).collect::<Vec<_>>()
            })
            .collect(),
    );
    let smooth = smoothness(grid, &residuals, (K - 1) as f64, [2.0; 3], Mode::Correct);
    let grf = Grf::new(U, smooth.dlh, smooth.volume as f64, false, Mode::Correct);
    let grf_event = [1.0, -1.0].iter().any(|&s| {
        let z: Vec<f64> = observed_z.iter().map(|v| s * v).collect();
        clusters(grid, &z, U, conn).iter().any(|c| grf.cluster_p(c.size()).p <= ALPHA)
    });
    [p[0] <= ALPHA, p[1] <= ALPHA, p[2] <= ALPHA, grf_event]
}

pub fn rows() -> Vec<Row> {
    let grid = Grid::full([N, N, N]);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_dataset: Vec<[bool; 4]> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let grid = &grid;
                scope.spawn(move || {
                    (t..DATASETS).step_by(threads).map(|d| (d, events(d as u64 + 1, grid))).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, [bool; 4])> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
        all.sort_by_key(|(d, _)| *d);
        all.into_iter().map(|(_, e)| e).collect()
    });
    let n = per_dataset.len() as f64;
    let half = 2.575_829_303_549 * (ALPHA * (1.0 - ALPHA) / n).sqrt();
    ["voxel max-stat (montecarlo)", "cluster-size", "TFCE", "GRF clusters"]
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let rate = per_dataset.iter().filter(|e| e[s]).count() as f64 / n;
            let inside = (rate - ALPHA).abs() <= half;
            let must_pass = s < 3;
            Row {
                what: format!("FWE calibration, {DATASETS} null datasets (K={K}, {N}^3, FWHM {FWHM_VOXELS}): {name}"),
                nan_mismatch: 0,
                max_abs: 0.0,
                max_rel: 0.0,
                failures: usize::from(must_pass && (!inside || per_dataset.len() < DATASETS)),
                note: Some(format!(
                    "FWE {rate:.3} at alpha {ALPHA} (99% interval {:.3}..{:.3}){}",
                    ALPHA - half,
                    ALPHA + half,
                    if must_pass { "" } else { " report only" }
                )),
            }
        })
        .collect()
}
