//! Meta-regression: the WLS core of [`crate::wls`] with a general design X (K × P) and a t
//! contrast, with τ² fixed, by DerSimonian–Laird ([`crate::moments::dersimonian_laird_tau2`]) or
//! by Hedges generalised to P columns (PyMARE's form): τ² = [RSS_OLS − Σ(1 − h_k) v_k]/(K − P)
//! with h the OLS leverages.

use crate::design::Design;
use crate::moments::{dersimonian_laird_tau2, Mean};
pub use crate::rows::Rows;
use crate::{SmallSampleCorrection, VoxelFit};

/// Cochran's Q of the fixed-effects fit (weights 1/v) and its df = K − P; None where X is
/// singular or K ≤ P.
pub fn residual_q(r: &Rows) -> Option<(f64, f64)> {
    if r.k() <= r.p {
        return None;
    }
    let (beta, _) = r.fit(|i| 1.0 / r.v[i])?;
    let q = (0..r.k()).map(|i| r.residual(i, &beta).powi(2) / r.v[i]).sum();
    Some((q, (r.k() - r.p) as f64))
}

/// Hedges τ² for a general design; None where X is singular or K ≤ P.
pub fn hedges_tau2(r: &Rows) -> Option<f64> {
    let (k, p) = (r.k(), r.p);
    if k <= p {
        return None;
    }
    let (beta, chol) = r.fit(|_| 1.0)?;
    let inv = chol.inverse();
    let mut total = 0.0;
    for i in 0..k {
        let x = r.row(i);
        let h: f64 = (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).map(|(a, b)| x[a] * inv.get(a, b) * x[b]).sum();
        total += r.residual(i, &beta).powi(2) - (1.0 - h) * r.v[i];
    }
    Some((total / (k - p) as f64).max(0.0))
}

/// WLS with weights 1/(v + τ²), contrast c·β and its inference (Wald z, or Knapp–Hartung t
/// with K − P dof), as [`crate::wls::fe_stats`] does for the intercept. NaN where K ≤ P or X is
/// singular at this voxel.
pub fn contrast_stats(r: &Rows, contrast: &[f64], tau2: f64, correction: SmallSampleCorrection) -> VoxelFit {
    let (k, p) = (r.k(), r.p);
    let Some((beta, chol)) = (k > p).then(|| r.fit(|i| 1.0 / (r.v[i] + tau2))).flatten() else {
        return VoxelFit::NAN;
    };
    let inv = chol.inverse();
    let est: f64 = contrast.iter().zip(&beta).map(|(c, b)| c * b).sum();
    let var: f64 =
        (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).map(|(a, b)| contrast[a] * inv.get(a, b) * contrast[b]).sum();
    let dof = (k - p) as f64;
    let rss = || (0..k).map(|i| r.residual(i, &beta).powi(2) / (r.v[i] + tau2)).sum();
    crate::wls::inference(est, var, tau2, dof, correction, rss)
}

/// How τ² is obtained for a meta-regression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tau2 {
    /// A fixed value (WeightedLeastSquares).
    Fixed(f64),
    /// DerSimonian–Laird.
    DerSimonianLaird,
    /// Hedges.
    Hedges,
}

/// Meta-regression at every voxel over its valid studies: `design` covers all studies (the rows
/// of invalid studies are skipped per voxel), `contrast` has one weight per design column.
/// Maps est (= c·β̂), se, tau2, z, p, dof = K − P.
#[track_caller]
pub fn meta_regression(
    con: &ibma_stats::StudyVoxels,
    var: &ibma_stats::StudyVoxels,
    design: &Design,
    contrast: &[f64],
    tau2: Tau2,
    correction: SmallSampleCorrection,
) -> crate::RegressionMaps {
    use rayon::prelude::*;
    let (k_all, p) = (con.n_studies(), design.n_columns());
    assert_eq!(design.n_studies(), k_all, "the design needs one row per study");
    assert_eq!(contrast.len(), p, "the contrast needs one weight per design column");
    let fits: Vec<VoxelFit> = con
        .par_voxels()
        .zip(var.par_voxels())
        .map_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(y, v, x), (c, s)| {
                y.clear();
                v.clear();
                x.clear();
                for k in 0..k_all {
                    if !c[k].is_nan() && !s[k].is_nan() {
                        y.push(c[k]);
                        v.push(s[k]);
                        x.extend_from_slice(design.row(k));
                    }
                }
                let rows = Rows { y, v, x, p };
                let t2 = match tau2 {
                    Tau2::Fixed(t) => Some(t),
                    // Undefined (K ≤ P, X singular): so is the fit.
                    Tau2::DerSimonianLaird => {
                        Some(dersimonian_laird_tau2(rows.y, rows.v, Mean::Design { x: rows.x, p }))
                            .filter(|t| !t.is_nan())
                    }
                    Tau2::Hedges => hedges_tau2(&rows),
                };
                t2.map_or(VoxelFit::NAN, |t2| contrast_stats(&rows, contrast, t2, correction))
            },
        )
        .collect();
    crate::collect(&fits, !matches!(tau2, Tau2::Fixed(_)), false)
}
