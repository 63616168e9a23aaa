//! Weighted least squares with an intercept, and its inference (PyMARE `get_fe_stats` with
//! the Knapp–Hartung option; docs/estimators.md §5).

use crate::{valid_pairs, RegressionMaps, SmallSampleCorrection, VoxelFit};
use ibma_stats::normal::{log_cdf, ndtri_exp};
use ibma_stats::{student_t, StudyVoxels};
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// PyMARE's absolute floor under which the weighted residual sum of squares counts as 0.
const KH_RSS_FLOOR: f64 = 2.220_446_049_250_313e-16;

/// Fit y_k ~ β with weights 1/(v_k + τ²) and draw inference (docs/estimators.md §5).
///
/// With fewer than two studies the voxel is NaN. Knapp–Hartung falls back to Wald when
/// K − 1 < 1. A non-positive or non-finite se gives NaN z/p (est and se are still reported).
pub fn fe_stats(y: &[f64], v: &[f64], tau2: f64, correction: SmallSampleCorrection) -> VoxelFit {
    let k = y.len();
    if k < 2 {
        return VoxelFit::NAN;
    }
    let (mut sw, mut swy) = (0.0, 0.0);
    for (&yk, &vk) in y.iter().zip(v) {
        let w = 1.0 / (vk + tau2);
        sw += w;
        swy += w * yk;
    }
    let est = swy / sw;
    let cov = 1.0 / sw;
    let dof = (k - 1) as f64;
    let rss = || y.iter().zip(v).map(|(&yk, &vk)| (yk - est).powi(2) / (vk + tau2)).sum();
    inference(est, cov, tau2, dof, correction, rss)
}

/// Inference on an estimate `est` with sampling variance `var` (at weights 1/(v + τ²)): Wald z,
/// or Knapp–Hartung t with `dof`, scaling `var` by the weighted residual sum of squares `rss`
/// (evaluated only then). The shared tail of [`fe_stats`] and the meta-regression.
pub(crate) fn inference(
    est: f64,
    var: f64,
    tau2: f64,
    dof: f64,
    correction: SmallSampleCorrection,
    rss: impl FnOnce() -> f64,
) -> VoxelFit {
    match correction {
        SmallSampleCorrection::Wald => {
            let se = var.sqrt();
            let z = est / se;
            reported(est, se, tau2, z, log_cdf(-z.abs()), dof)
        }
        SmallSampleCorrection::KnappHartung | SmallSampleCorrection::KnappHartungConservative => {
            let rss = rss();
            let mut q = if rss <= KH_RSS_FLOOR { 0.0 } else { rss / dof };
            if correction == SmallSampleCorrection::KnappHartungConservative {
                q = q.max(1.0);
            }
            let se = (q * var).sqrt();
            t_reference(est, se, est / se, tau2, dof)
        }
    }
}

/// Inference on `stat` = est/se against a t with `dof` (Knapp–Hartung, or the cluster-robust
/// statistic with its Satterthwaite dof): z is tail-matched to the t statistic, not β̂/se.
pub(crate) fn t_reference(est: f64, se: f64, stat: f64, tau2: f64, dof: f64) -> VoxelFit {
    let log_tail = student_t::log_sf_nimare(stat.abs(), dof);
    reported(est, se, tau2, -ndtri_exp(log_tail) * stat.signum(), log_tail, dof)
}

/// The fit with two-sided ln p from the one-tail `log_tail`; z and p are NaN where se is not
/// positive and finite (PyMARE's "undefined" statistics; est and se are still reported).
fn reported(est: f64, se: f64, tau2: f64, z: f64, log_tail: f64, dof: f64) -> VoxelFit {
    if !(se.is_finite() && se > 0.0) {
        return VoxelFit { est, se, tau2, sigma2: f64::NAN, z: f64::NAN, nlogp: f64::NAN, dof };
    }
    VoxelFit { est, se, tau2, sigma2: f64::NAN, z, nlogp: (log_tail + LN_2).min(0.0), dof }
}

/// Apply `fit(y, v)` at every voxel to the studies valid there (non-NaN con and varcope).
pub fn per_voxel(
    con: &StudyVoxels,
    var: &StudyVoxels,
    fit: impl Fn(&[f64], &[f64]) -> VoxelFit + Sync,
) -> Vec<VoxelFit> {
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    con.par_voxels()
        .zip(var.par_voxels())
        .map_init(
            || (Vec::new(), Vec::new()),
            |(y, v), (c, s)| {
                valid_pairs(c, s, y, v);
                fit(y, v)
            },
        )
        .collect()
}

/// NiMARE `WeightedLeastSquares(tau2)`: fixed τ² (default 0), Wald by default. Maps est, se,
/// z, p, logp, dof (its τ² is a parameter, not a map).
pub fn weighted_least_squares(
    con: &StudyVoxels,
    var: &StudyVoxels,
    tau2: f64,
    correction: SmallSampleCorrection,
) -> RegressionMaps {
    let fits = per_voxel(con, var, |y, v| fe_stats(y, v, tau2, correction));
    crate::collect(&fits, false, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    #[test]
    fn wald_is_inverse_variance_weighting() {
        let fit = fe_stats(&[1.0, 3.0], &[1.0, 1.0], 0.0, SmallSampleCorrection::Wald);
        assert!(tol::close(fit.est, 2.0, tol::TAIL_RTOL, 0.0));
        assert!(tol::close(fit.se, 0.5f64.sqrt(), tol::TAIL_RTOL, 0.0));
        assert!(tol::close(fit.z, 2.0 / 0.5f64.sqrt(), tol::TAIL_RTOL, 0.0));
    }

    #[test]
    fn knapp_hartung_perfect_fit_is_nan() {
        let fit = fe_stats(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0], 0.0, SmallSampleCorrection::KnappHartung);
        assert!(tol::close(fit.est, 2.0, tol::TAIL_RTOL, 0.0));
        assert!(fit.z.is_nan() && fit.nlogp.is_nan());
    }
}
