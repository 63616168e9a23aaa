//! Heterogeneity statistics per voxel (PyMARE `get_heterogeneity_stats`, docs/estimators.md §5b):
//! Cochran's Q at fixed-effects weights 1/v (whatever the estimator's τ²), its p-value in log
//! space, I² and H. NiMARE writes none of these maps.

use crate::design::Design;
use crate::valid_pairs;
use ibma_stats::{chi2, StudyVoxels};
use rayon::prelude::*;

/// The heterogeneity maps: `q`, ln of its p-value, `i2` (percent) and `h`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeterogeneityMaps {
    /// Cochran's Q.
    pub q: Vec<f64>,
    /// ln p of Q against χ²(K − 1).
    pub q_nlogp: Vec<f64>,
    /// I² = max(0, 100 (Q − df)/Q), 0 when Q = 0.
    pub i2: Vec<f64>,
    /// H = max(1, √(Q/df)).
    pub h: Vec<f64>,
}

/// [Q, ln p, I², H] for one voxel's valid studies (intercept-only model, df = K − 1).
pub fn voxel(y: &[f64], v: &[f64]) -> [f64; 4] {
    let df = y.len() as f64 - 1.0;
    if df <= 0.0 {
        return [f64::NAN; 4];
    }
    let (mut sw, mut swy) = (0.0, 0.0);
    for (&yk, &vk) in y.iter().zip(v) {
        sw += 1.0 / vk;
        swy += yk / vk;
    }
    let beta = swy / sw;
    let q: f64 = y.iter().zip(v).map(|(&yk, &vk)| (yk - beta).powi(2) / vk).sum();
    from_q(q, df)
}

/// [Q, ln p, I², H] from Cochran's Q and its df (df ≤ 0 → NaN).
pub fn from_q(q: f64, df: f64) -> [f64; 4] {
    if df.is_nan() || df <= 0.0 {
        return [f64::NAN; 4];
    }
    let i2 = if q > 0.0 { (100.0 * (q - df) / q).max(0.0) } else { 0.0 };
    [q, chi2::log_sf(q, df), i2, (q / df).sqrt().max(1.0)]
}

/// Residual heterogeneity of a meta-regression: Q of the fixed-effects fit on `design` (over
/// all studies), df = K − P.
#[track_caller]
pub fn heterogeneity_design(con: &StudyVoxels, var: &StudyVoxels, design: &Design) -> HeterogeneityMaps {
    let (k_all, p) = (con.n_studies(), design.n_columns());
    assert_eq!(design.n_studies(), k_all, "the design needs one row per study");
    let rows: Vec<[f64; 4]> = con
        .par_voxels()
        .zip(var.par_voxels())
        .map_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(y, v, x), (c, s)| {
                valid_pairs(c, s, y, v);
                x.clear();
                for k in (0..k_all).filter(|&k| !c[k].is_nan() && !s[k].is_nan()) {
                    x.extend_from_slice(design.row(k));
                }
                let r = crate::metareg::Rows { y, v, x, p };
                crate::metareg::residual_q(&r).map_or([f64::NAN; 4], |(q, df)| from_q(q, df))
            },
        )
        .collect();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
    HeterogeneityMaps { q: col(0), q_nlogp: col(1), i2: col(2), h: col(3) }
}

/// Heterogeneity maps of con with within-study variances `var` (NaN = study not valid).
pub fn heterogeneity(con: &StudyVoxels, var: &StudyVoxels) -> HeterogeneityMaps {
    let rows: Vec<[f64; 4]> = con
        .par_voxels()
        .zip(var.par_voxels())
        .map_init(
            || (Vec::new(), Vec::new()),
            |(y, v), (c, s)| {
                valid_pairs(c, s, y, v);
                voxel(y, v)
            },
        )
        .collect();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
    HeterogeneityMaps { q: col(0), q_nlogp: col(1), i2: col(2), h: col(3) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    #[test]
    fn homogeneous_data_has_no_heterogeneity() {
        let [q, _, i2, h] = voxel(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]);
        assert!(tol::close(q, 0.0, 0.0, 0.0) && tol::close(i2, 0.0, 0.0, 0.0) && tol::close(h, 1.0, 0.0, 0.0));
    }

    #[test]
    fn q_and_i2_by_hand() {
        // y = (0, 2), v = (1, 1): beta = 1, Q = 2, df = 1, I2 = 50 %, H = sqrt(2).
        let [q, nlogp, i2, h] = voxel(&[0.0, 2.0], &[1.0, 1.0]);
        assert!(tol::close(q, 2.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(i2, 50.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(h, 2f64.sqrt(), tol::SUMMATION_ORDER_RTOL, 0.0));
        // P(chi2_1 > 2) = erfc(1) = 0.15729920705028513 (scipy.special.erfc(1))
        assert!(tol::close(nlogp.exp(), 0.157_299_207_050_285_13, tol::TAIL_RTOL, 0.0));
    }
}
