//! PermutedOLS's statistic (NiMARE `_permuted_ols`, estimators.md §9): the one-sample t, and
//! its sample-size-weighted CR2 form with a Satterthwaite dof.

use ibma_stats::transform::{t_to_nlogp, t_to_z};
use ibma_stats::ttest::{one_sample_t, TTestMaps};
use ibma_stats::{StudyVoxels, Tail, TestMaps};
use rayon::prelude::*;

/// The unweighted one-sample t (also RFX_GLM's and the `ols` mode's statistic).
pub fn permuted_ols(con: &StudyVoxels, tail: Tail) -> TTestMaps {
    one_sample_t(con, tail)
}

/// Weighted (`use_sample_size=True`) t and dof at one voxel over its valid studies.
///
/// q_k = n_k, W = Σq, h_k = q_k/W, μ = Σq x/W, meat = Σ q²(x − μ)²/(1 − h), t = Σq x/√meat;
/// ν = 1/[Σ h²(1 − 2h)/(1 − h)² + (Σ h²/(1 − h))²], floored at 1.
pub fn cr2_t(xs: &[f64], n: &[f64]) -> (f64, f64) {
    let valid = || xs.iter().zip(n).filter(|(x, _)| !x.is_nan());
    let m = valid().count();
    if m < 2 {
        return (f64::NAN, f64::NAN);
    }
    let w: f64 = valid().map(|(_, q)| q).sum();
    let mu = valid().map(|(x, q)| q * x).sum::<f64>() / w;
    let (mut meat, mut a, mut b) = (0.0, 0.0, 0.0);
    for (x, q) in valid() {
        let h = q / w;
        meat += q * q * (x - mu).powi(2) / (1.0 - h);
        a += h * h * (1.0 - 2.0 * h) / (1.0 - h).powi(2);
        b += h * h / (1.0 - h);
    }
    let dof = (1.0 / (a + b * b)).max(1.0);
    let t = if meat > 0.0 { mu * w / meat.sqrt() } else { f64::NAN };
    (t, dof)
}

/// The weighted PermutedOLS t map with its per-voxel Satterthwaite dof.
#[track_caller]
pub fn permuted_ols_weighted(con: &StudyVoxels, sample_sizes: &[f64], tail: Tail) -> TTestMaps {
    assert_eq!(con.n_studies(), sample_sizes.len(), "one sample size per study");
    let per_voxel: Vec<(f64, f64)> = con.par_voxels().map(|xs| cr2_t(xs, sample_sizes)).collect();
    let mut out = TTestMaps::default();
    for (t, dof) in per_voxel {
        out.t.push(t);
        out.test.z.push(t_to_z(t, dof));
        out.test.nlogp.push(t_to_nlogp(t, dof, tail));
        out.test.dof.push(dof);
    }
    out
}

/// FSL flameo `fe` mode (the seed's FFX_GLM, flame1.md §5): w = 1/v, est = Σwy/Σw,
/// varcope = 1/Σw, t = est/√varcope, DOF = min(Σ(n_k − 1), 1000) − 1 over the voxel's studies,
/// z = t_to_z(t, round(DOF)), p = 2Φ̄(|z|). Returns (est, se, t, test maps).
#[track_caller]
pub fn ffx_glm(con: &StudyVoxels, var: &StudyVoxels, sample_sizes: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, TestMaps) {
    assert_eq!(con.n_studies(), sample_sizes.len(), "one sample size per study");
    let per_voxel: Vec<[f64; 6]> = con
        .par_voxels()
        .zip(var.par_voxels())
        .map(|(ys, vs)| {
            let (mut sw, mut swy, mut dof_sum, mut k) = (0.0, 0.0, 0.0, 0usize);
            for ((&y, &v), &n) in ys.iter().zip(vs).zip(sample_sizes) {
                if !y.is_nan() && !v.is_nan() {
                    sw += 1.0 / v;
                    swy += y / v;
                    dof_sum += n - 1.0;
                    k += 1;
                }
            }
            if k < 2 {
                return [f64::NAN; 6];
            }
            let est = swy / sw;
            let se = (1.0 / sw).sqrt();
            let t = est / se;
            let dof = dof_sum.min(1000.0) - 1.0;
            let z = t_to_z(t, dof.round());
            [est, se, t, z, ibma_stats::transform::z_to_nlogp(z, Tail::Two), dof]
        })
        .collect();
    let col = |i: usize| per_voxel.iter().map(|r| r[i]).collect::<Vec<f64>>();
    (col(0), col(1), col(2), TestMaps { z: col(3), nlogp: col(4), dof: col(5) })
}
