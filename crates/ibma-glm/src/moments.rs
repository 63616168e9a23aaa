//! τ² by the method of moments, then WLS inference (docs/estimators.md §6).

use crate::wls::{fe_stats, per_voxel};
use crate::{RegressionMaps, SmallSampleCorrection};
use ibma_stats::StudyVoxels;

/// DerSimonian–Laird τ²: max(0, (Q − (K − 1))/A), Q = Σw(y − β̂_FE)², A = Σw − Σw²/Σw, w = 1/v.
pub fn dersimonian_laird_tau2(y: &[f64], v: &[f64]) -> f64 {
    let k = y.len();
    if k <= 1 {
        return 0.0;
    }
    let (mut sw, mut sw2, mut swy) = (0.0, 0.0, 0.0);
    for (&yk, &vk) in y.iter().zip(v) {
        let w = 1.0 / vk;
        sw += w;
        sw2 += w * w;
        swy += w * yk;
    }
    let beta = swy / sw;
    let q: f64 = y.iter().zip(v).map(|(&yk, &vk)| (yk - beta).powi(2) / vk).sum();
    let a = sw - sw2 / sw;
    ((q - (k as f64 - 1.0)) / a).max(0.0)
}

/// Hedges' τ² (PyMARE ≥ 0.0.13, intercept only): max(0, s²_y − mean(v)), s²_y with divisor K − 1.
pub fn hedges_tau2(y: &[f64], v: &[f64]) -> f64 {
    let k = y.len() as f64;
    let mean = y.iter().sum::<f64>() / k;
    let s2 = y.iter().map(|yk| (yk - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (s2 - v.iter().sum::<f64>() / k).max(0.0)
}

/// NiMARE `DerSimonianLaird()`: maps est, se, tau2, z, p, dof (Knapp–Hartung by default).
pub fn dersimonian_laird(con: &StudyVoxels, var: &StudyVoxels, correction: SmallSampleCorrection) -> RegressionMaps {
    let fits = per_voxel(con, var, |y, v| fe_stats(y, v, dersimonian_laird_tau2(y, v), correction));
    crate::collect(&fits, true, false)
}

/// NiMARE `Hedges()`: maps est, se, tau2, z, p, dof (Knapp–Hartung by default).
pub fn hedges(con: &StudyVoxels, var: &StudyVoxels, correction: SmallSampleCorrection) -> RegressionMaps {
    let fits = per_voxel(con, var, |y, v| fe_stats(y, v, hedges_tau2(y, v), correction));
    crate::collect(&fits, true, false)
}
