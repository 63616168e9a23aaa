//! The Monte-Carlo FWE p, z and logp maps from a max-statistic null.

use super::max_stat::directed;
use crate::transform::{p_to_z, Tail};

/// Monte-Carlo FWE p (§9 step 3): p(v) = (#{i : h0\[i\] ≥ s(v)} + 1)/(N + 1) with s = |z_obs|
/// (two-sided) or z_obs (one-sided); ties count as exceedances, NaN where z_obs is NaN, NaN
/// entries of h0 never exceed. Minimum 1/(N + 1).
pub fn fwe_p(z_obs: &[f64], h0: &[f64], tail: Tail) -> Vec<f64> {
    let mut sorted: Vec<f64> = h0.iter().copied().filter(|h| !h.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let denominator = (h0.len() + 1) as f64;
    z_obs
        .iter()
        .map(|&z| {
            if z.is_nan() {
                return f64::NAN;
            }
            let s = directed(z, tail);
            let exceed = sorted.len() - sorted.partition_point(|&h| h < s);
            (exceed + 1) as f64 / denominator
        })
        .collect()
}

/// Where [`fwe_p`] crosses `alpha`: a statistic s (|z| two-sided, z one-sided) has FWE
/// p ≤ `alpha` exactly when s > the returned value. `None` when no statistic can reach `alpha`
/// with N = `h0.len()` iterations ((N + 1)·alpha < 1); −∞ when every statistic does (at least
/// N + 1 − (N + 1)·alpha entries of h0 are NaN).
pub fn fwe_threshold(h0: &[f64], alpha: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = h0.iter().copied().filter(|h| !h.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let denominator = (h0.len() + 1) as f64;
    // The most exceedances m with (m + 1)/(N + 1) ≤ alpha, by fwe_p's own arithmetic.
    let ok = |m: usize| (m + 1) as f64 / denominator <= alpha;
    let guess = (alpha * denominator).floor().max(0.0) as usize;
    let m = (0..=guess + 1).rev().find(|&m| ok(m))?;
    // s > the (m + 1)-th largest value leaves at most m values ≥ s.
    Some(if m >= sorted.len() { f64::NEG_INFINITY } else { sorted[sorted.len() - 1 - m] })
}

/// The three Monte-Carlo FWE maps of §9 step 4 (before the float32 cast of §10).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FweMaps {
    /// `p_level-voxel_corr-FWE_method-montecarlo`.
    pub p: Vec<f64>,
    /// `z_level-voxel_…`: p_to_z(p, tail)·sign(z_obs), sign 0 → +1.
    pub z: Vec<f64>,
    /// `logp_level-voxel_…`: −log10 p.
    pub logp: Vec<f64>,
}

/// [`fwe_p`] and the z and logp maps derived from it.
pub fn fwe_maps(z_obs: &[f64], h0: &[f64], tail: Tail) -> FweMaps {
    let p = fwe_p(z_obs, h0, tail);
    let z = p.iter().zip(z_obs).map(|(&p, &zo)| p_to_z(p, tail) * sign_or_plus(zo)).collect();
    // + 0.0: p = 1 gives +0, not −0.
    let logp = p.iter().map(|&p| -p.log10() + 0.0).collect();
    FweMaps { p, z, logp }
}

/// −1 for negative x, +1 otherwise (0 → +1); NaN stays NaN.
pub(super) fn sign_or_plus(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}
