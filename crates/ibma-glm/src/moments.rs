//! τ² by the method of moments, then WLS inference (docs/estimators.md §6).

use crate::rows::Rows;
use crate::wls::{fe_stats, per_voxel};
use crate::{RegressionMaps, SmallSampleCorrection};
use ibma_stats::StudyVoxels;

/// The mean model of a moment τ²: the one-sample model, or a design.
#[derive(Clone, Copy, Debug)]
pub enum Mean<'a> {
    /// y_k ~ β: the one-column design X = 1.
    Intercept,
    /// y ~ Xβ with X the K × P rows of the studies of y and v, row-major.
    Design {
        /// Design rows, row-major K × P.
        x: &'a [f64],
        /// Columns P.
        p: usize,
    },
}

/// DerSimonian–Laird τ² = max(0, (Q − (K − P))/(tr W − tr[(XᵀWX)⁻¹XᵀW²X])), with w = 1/v and
/// Q = Σw(y − xβ̂_FE)² (PyMARE's form; the intercept's denominator is Σw − Σw²/Σw). NaN where it
/// is undefined: K ≤ P, X singular, or a NaN quotient. The moment estimators read NaN as 0
/// (`.max(0.0)`), the likelihood scale as "no scale".
///
/// One column is done by scalar sums (Σw − Σ(wx)²/Σwx²), which for X = 1 give the intercept's
/// operations bit for bit: the likelihood search is sensitive to the last bit of its scale
/// τ²_DL + mean(v), and the Cholesky route rounds differently. More columns go through the
/// Cholesky factor of XᵀWX.
pub fn dersimonian_laird_tau2(y: &[f64], v: &[f64], mean: Mean) -> f64 {
    let t = match mean {
        Mean::Intercept => one_column(y, v, |_| 1.0),
        Mean::Design { x, p: 1 } => one_column(y, v, |k| x[k]),
        Mean::Design { x, p } => design(&Rows { y, v, x, p }),
    };
    if t.is_nan() {
        t
    } else {
        t.max(0.0)
    }
}

/// (Q − (K − 1))/(Σw − Σ(wx)²/Σwx²) for the one column x.
fn one_column(y: &[f64], v: &[f64], x: impl Fn(usize) -> f64) -> f64 {
    let k = y.len();
    if k <= 1 {
        return f64::NAN;
    }
    let (mut sw, mut swx2, mut sw2x2, mut swxy) = (0.0, 0.0, 0.0, 0.0);
    for (i, (&yk, &vk)) in y.iter().zip(v).enumerate() {
        let (w, xk) = (1.0 / vk, x(i));
        sw += w;
        swx2 += w * xk * xk;
        sw2x2 += (w * xk) * (w * xk);
        swxy += w * xk * yk;
    }
    let beta = swxy / swx2;
    let q: f64 = y.iter().zip(v).enumerate().map(|(i, (&yk, &vk))| (yk - x(i) * beta).powi(2) / vk).sum();
    (q - (k - 1) as f64) / (sw - sw2x2 / swx2)
}

/// (Q − (K − P))/(tr W − tr[(XᵀWX)⁻¹XᵀW²X]) through the Cholesky factor of XᵀWX.
fn design(r: &Rows) -> f64 {
    let (k, p) = (r.y.len(), r.p);
    if k <= p {
        return f64::NAN;
    }
    let Some((beta, chol)) = r.fit(|i| 1.0 / r.v[i]) else { return f64::NAN };
    let q: f64 = (0..k).map(|i| r.residual(i, &beta).powi(2) / r.v[i]).sum();
    // tr[(XᵀWX)⁻¹ XᵀW²X] = Σ_k w_k² x_kᵀ (XᵀWX)⁻¹ x_k
    let inv = chol.inverse();
    let trace_w: f64 = r.v.iter().map(|v| 1.0 / v).sum();
    let correction: f64 = (0..k)
        .map(|i| {
            let x = r.row(i);
            let quad: f64 =
                (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).map(|(a, b)| x[a] * inv.get(a, b) * x[b]).sum();
            quad / (r.v[i] * r.v[i])
        })
        .sum();
    (q - (k - p) as f64) / (trace_w - correction)
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
    let fits =
        per_voxel(con, var, |y, v| fe_stats(y, v, dersimonian_laird_tau2(y, v, Mean::Intercept).max(0.0), correction));
    crate::collect(&fits, true, false)
}

/// NiMARE `Hedges()`: maps est, se, tau2, z, p, dof (Knapp–Hartung by default).
pub fn hedges(con: &StudyVoxels, var: &StudyVoxels, correction: SmallSampleCorrection) -> RegressionMaps {
    let fits = per_voxel(con, var, |y, v| fe_stats(y, v, hedges_tau2(y, v), correction));
    crate::collect(&fits, true, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    #[test]
    fn one_dersimonian_laird_for_every_design() {
        let (y, v) = ([0.3, -1.2, 2.5, 0.8, 1.1], [0.5, 0.7, 0.2, 1.1, 0.4]);
        let intercept = dersimonian_laird_tau2(&y, &v, Mean::Intercept);
        assert!(intercept > 0.0);
        // The intercept is the one-column design X = 1, bit for bit.
        let ones = [1.0; 5];
        assert_eq!(intercept.to_bits(), dersimonian_laird_tau2(&y, &v, Mean::Design { x: &ones, p: 1 }).to_bits());
        // A second column twice the first makes X singular: undefined. A full-rank two-column
        // design goes through Cholesky (its values are checked against metafor in tests/it).
        let twice: Vec<f64> = (0..5).flat_map(|_| [1.0, 2.0]).collect();
        assert!(dersimonian_laird_tau2(&y, &v, Mean::Design { x: &twice, p: 2 }).is_nan());
        let x = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let design = dersimonian_laird_tau2(&y, &v, Mean::Design { x: &x, p: 2 });
        assert!(design.is_finite() && design >= 0.0);
        // K ≤ P is undefined; the moment estimators read that as 0.
        assert!(dersimonian_laird_tau2(&y[..1], &v[..1], Mean::Intercept).is_nan());
        assert!(dersimonian_laird_tau2(&y[..2], &v[..2], Mean::Design { x: &x[..4], p: 2 }).is_nan());
        assert!(tol::close(dersimonian_laird_tau2(&y[..1], &v[..1], Mean::Intercept).max(0.0), 0.0, 0.0, 0.0));
    }
}
