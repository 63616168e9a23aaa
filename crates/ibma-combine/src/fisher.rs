//! Fisher's combination test (PyMARE `FisherCombinationTest`), directed, concordant or the
//! seed-era undirected statistic.

use crate::stouffer::{combine_tails, Direction};
use ibma_stats::normal::log_cdf;
use ibma_stats::{chi2, StudyVoxels, TestMaps};
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// Which statistic Fisher's test uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FisherMode {
    /// NiMARE 0.22.1: directed or concordant (see [`Direction`]).
    #[default]
    Modern,
    /// NiMARE 0.0.1's "two-sided" test, X = −2 Σ ln(2Φ̄(|z|)) on χ²(2K): "some study deviates in
    /// either direction"; z = Φ̄⁻¹(p/2)·sign(mean z). Legacy only (no weights).
    LegacyUndirected,
}

/// Fisher's test at every voxel over the studies usable there (non-NaN z).
///
/// `weights[k]` is 1, or n_k with `use_sample_size` (n, not √n: PyMARE's weighted Fisher uses
/// a scaled χ², docs/estimators.md §4). Voxels with fewer than two usable studies are NaN.
#[track_caller]
pub fn fishers(z: &StudyVoxels, weights: &[f64], direction: Direction, mode: FisherMode) -> TestMaps {
    assert_eq!(z.n_studies(), weights.len(), "one weight per study");
    let per_voxel: Vec<[f64; 3]> = z
        .par_voxels()
        .map(|zs| match mode {
            FisherMode::Modern => combine_tails(direction, |sign| directed(zs, weights, sign)),
            FisherMode::LegacyUndirected => undirected(zs),
        })
        .collect();
    crate::stouffer::collect(per_voxel)
}

/// ln p of the directed (upper-tail, after multiplying z by `sign`) weighted Fisher test,
/// and the number of studies.
fn directed(zs: &[f64], weights: &[f64], sign: f64) -> (f64, usize) {
    let (mut x, mut sw, mut sw2, mut k) = (0.0, 0.0, 0.0, 0usize);
    for (&zk, &w) in zs.iter().zip(weights) {
        if !zk.is_nan() {
            x -= 2.0 * w * log_cdf(-sign * zk);
            sw += w;
            sw2 += w * w;
            k += 1;
        }
    }
    // Scaled χ² matching the first two moments: E = 2Σw, V = 4Σw², c = V/(2E), f = 2E²/V.
    let (e, v) = (2.0 * sw, 4.0 * sw2);
    let (c, f) = (v / (2.0 * e), 2.0 * e * e / v);
    (chi2::log_sf(x / c, f), k)
}

fn undirected(zs: &[f64]) -> [f64; 3] {
    let valid = || zs.iter().filter(|z| !z.is_nan());
    let k = valid().count();
    if k < 2 {
        return [f64::NAN; 3];
    }
    // ln(2Φ̄(|z|)) = ln 2 + ln Φ(−|z|), in log space so large |z| stays finite.
    let x: f64 = valid().map(|z| -2.0 * (LN_2 + log_cdf(-z.abs()))).sum();
    let nlogp = chi2::log_sf(x, 2.0 * k as f64);
    let mean: f64 = valid().sum::<f64>() / k as f64;
    let sign = if mean < 0.0 { -1.0 } else { 1.0 }; // 0.0.1: sign(0) = +1
    let z = ibma_stats::transform::nlogp_to_z(nlogp, ibma_stats::Tail::Two) * sign;
    [z, nlogp, (k - 1) as f64]
}
