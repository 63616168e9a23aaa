//! FixedEffectsHedges (Bossier 2019): Hedges' g from one-sample t maps, then WLS (docs/estimators.md §9).

use crate::wls::{fe_stats, per_voxel};
use crate::{RegressionMaps, SmallSampleCorrection};
use ibma_stats::StudyVoxels;

/// Hedges' g and its sampling variance from a one-sample t with n subjects:
/// d = t/√n, h = 1 − 3/(4(n − 1) − 1), g = d·h, var(g) = (n − 1)(1 + n d²)h²/(n(n − 3)) − d².
/// Needs n > 3 (the facade checks; n = 3 would divide by zero).
pub fn t_to_hedges_g(t: f64, n: f64) -> (f64, f64) {
    let d = t / n.sqrt();
    let h = 1.0 - 3.0 / (4.0 * (n - 1.0) - 1.0);
    let var = (n - 1.0) * (1.0 + n * d * d) * h * h / (n * (n - 3.0)) - d * d;
    (d * h, var)
}

/// Hedges' g and var(g) for every study and voxel of one-sample t maps (NaN stays NaN).
/// `sample_sizes[k]` is study k's n.
#[track_caller]
pub fn hedges_g(t: &StudyVoxels, sample_sizes: &[f64]) -> (StudyVoxels, StudyVoxels) {
    assert_eq!(t.n_studies(), sample_sizes.len(), "one sample size per study");
    let mut g = Vec::with_capacity(t.n_studies() * t.n_voxels());
    let mut var = Vec::with_capacity(g.capacity());
    for ts in t.voxels() {
        for (&tk, &n) in ts.iter().zip(sample_sizes) {
            let (gk, vk) = if tk.is_nan() { (f64::NAN, f64::NAN) } else { t_to_hedges_g(tk, n) };
            g.push(gk);
            var.push(vk);
        }
    }
    (StudyVoxels::new(t.n_studies(), g), StudyVoxels::new(t.n_studies(), var))
}

/// NiMARE `FixedEffectsHedges(tau2)` on g and var(g) from [`hedges_g`]: WLS with the given τ²
/// and Wald by default. Maps est (g units), se, z, p, dof.
pub fn fixed_effects_hedges(
    g: &StudyVoxels,
    var: &StudyVoxels,
    tau2: f64,
    correction: SmallSampleCorrection,
) -> RegressionMaps {
    let fits = per_voxel(g, var, |y, v| fe_stats(y, v, tau2, correction));
    crate::collect(&fits, false, false)
}
