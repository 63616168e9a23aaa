//! PermutedOLS's statistic (NiMARE `_permuted_ols`, estimators.md §9): the one-sample t, and
//! its sample-size-weighted CR2 form with a Satterthwaite dof.

use ibma_stats::transform::{t_to_nlogp, t_to_z};
use ibma_stats::ttest::{one_sample_t, TTestMaps};
use ibma_stats::{StudyVoxels, Tail};
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
