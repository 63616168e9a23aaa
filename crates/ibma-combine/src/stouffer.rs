//! Stouffer's Z (PyMARE `StoufferCombinationTest`), directed or concordant.

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
/// two usable studies are NaN. Z = Σ w z / √Σ w²; see estimators.md §4 for the concordant rule.
#[track_caller]
pub fn stouffers(z: &StudyVoxels, weights: &[f64], direction: Direction) -> TestMaps {
    assert_eq!(z.n_studies(), weights.len(), "one weight per study");
    let per_voxel: Vec<(f64, f64, f64)> = z.par_voxels().map(|zs| voxel(zs, weights, direction)).collect();
    let mut out = TestMaps::default();
    for (zv, l, d) in per_voxel {
        out.z.push(zv);
        out.nlogp.push(l);
        out.dof.push(d);
    }
    out
}

fn voxel(zs: &[f64], weights: &[f64], direction: Direction) -> (f64, f64, f64) {
    let (mut num, mut w2, mut k) = (0.0, 0.0, 0usize);
    for (&zk, &w) in zs.iter().zip(weights) {
        if !zk.is_nan() {
            num += w * zk;
            w2 += w * w;
            k += 1;
        }
    }
    if k < 2 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let stat = num / w2.sqrt();
    let (z, nlogp) = directed_or_concordant(stat, direction);
    (z, nlogp, (k - 1) as f64)
}

/// z and ln p of a combined normal deviate under the chosen alternative.
fn directed_or_concordant(stat: f64, direction: Direction) -> (f64, f64) {
    let upper = log_cdf(-stat);
    match direction {
        Direction::Directed => (-ndtri_exp(upper), upper),
        Direction::Concordant => {
            let lower = log_cdf(stat);
            let nlogp = (LN_2 + upper.min(lower)).min(0.0);
            let z = -ndtri_exp(nlogp - LN_2) + 0.0;
            (if lower < upper { -z } else { z }, nlogp)
        }
    }
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
