//! Stouffer's Z (PyMARE `StoufferCombinationTest`), directed or concordant, and the shared
//! directed/concordant logic of the combination tests.

use ibma_stats::normal::{log_cdf, ndtri_exp};
use ibma_stats::{StudyVoxels, TestMaps};
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// Which alternative a combination test takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// NiMARE's `two_sided=True`: both directed tests, Bonferroni ×2, sign of the winner.
    #[default]
    Concordant,
    /// `two_sided=False`: the upper-tail test only.
    Directed,
}

/// Stouffer's test at every voxel over the studies usable there (non-NaN z).
///
/// `weights[k]` is study k's weight (1, or √n with `use_sample_size`). Voxels with fewer than
/// two usable studies are NaN. Z = Σ w z / √Σ w²; see docs/estimators.md §4 for the concordant rule.
#[track_caller]
pub fn stouffers(z: &StudyVoxels, weights: &[f64], direction: Direction) -> TestMaps {
    assert_eq!(z.n_studies(), weights.len(), "one weight per study");
    let per_voxel: Vec<[f64; 3]> =
        z.par_voxels().map(|zs| combine_tails(direction, |sign| directed(zs, weights, sign))).collect();
    collect(per_voxel)
}

/// ln p of the directed Stouffer test on `sign`·z, and the number of studies.
fn directed(zs: &[f64], weights: &[f64], sign: f64) -> (f64, usize) {
    let (mut num, mut w2, mut k) = (0.0, 0.0, 0usize);
    for (&zk, &w) in zs.iter().zip(weights) {
        if !zk.is_nan() {
            num += w * zk;
            w2 += w * w;
            k += 1;
        }
    }
    (log_cdf(-sign * num / w2.sqrt()), k)
}

/// [z, ln p, dof] of a combination test from its directed test `upper(sign)` (ln p of the
/// upper-tail test on sign·z, and its number of independent units: studies, or groups). Concordant: l₁ = upper(+1), l₂ = upper(−1),
/// ln p = min(0, ln 2 + min(l₁, l₂)), |z| = Φ̄⁻¹(p/2), negative if l₂ < l₁ (docs/estimators.md §4).
pub(crate) fn combine_tails(direction: Direction, upper: impl Fn(f64) -> (f64, usize)) -> [f64; 3] {
    let (l1, k) = upper(1.0);
    if k < 2 {
        return [f64::NAN; 3];
    }
    let dof = (k - 1) as f64;
    match direction {
        Direction::Directed => [-ndtri_exp(l1), l1, dof],
        Direction::Concordant => {
            let (l2, _) = upper(-1.0);
            let nlogp = (LN_2 + l1.min(l2)).min(0.0);
            let z = -ndtri_exp(nlogp - LN_2) + 0.0;
            [if l2 < l1 { -z } else { z }, nlogp, dof]
        }
    }
}

/// Gather per-voxel [z, ln p, dof] into maps.
pub(crate) fn collect(per_voxel: Vec<[f64; 3]>) -> TestMaps {
    let mut out = TestMaps::default();
    for [z, l, d] in per_voxel {
        out.z.push(z);
        out.nlogp.push(l);
        out.dof.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    #[test]
    fn directed_and_concordant_agree_on_magnitude() {
        let z = StudyVoxels::new(3, vec![1.0, 2.0, 0.5, -1.0, -2.0, -0.5]);
        let w = [1.0; 3];
        let conc = stouffers(&z, &w, Direction::Concordant);
        let dir = stouffers(&z, &w, Direction::Directed);
        let expect = 3.5 / 3f64.sqrt();
        assert!(tol::close(conc.z[0], expect, tol::TAIL_RTOL, 0.0));
        assert!(tol::close(conc.z[1], -expect, tol::TAIL_RTOL, 0.0));
        assert!(tol::close(dir.z[1], -expect, tol::TAIL_RTOL, 0.0));
        // The concordant p doubles the directed one.
        assert!(tol::close(conc.nlogp[0], dir.nlogp[0] + LN_2, tol::TAIL_RTOL, 0.0));
    }

    #[test]
    fn too_few_studies_is_nan_and_bags_use_their_own_k() {
        let z = StudyVoxels::new(3, vec![1.0, f64::NAN, f64::NAN, 1.0, 1.0, f64::NAN]);
        let out = stouffers(&z, &[1.0; 3], Direction::Concordant);
        assert!(out.z[0].is_nan() && out.dof[0].is_nan());
        assert!(tol::close(out.z[1], 2f64.sqrt(), tol::TAIL_RTOL, 0.0));
        assert!(tol::close(out.dof[1], 1.0, 0.0, 0.0));
    }
}
