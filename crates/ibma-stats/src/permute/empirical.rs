//! The empirical voxelwise sign-flip null of a one-sample t.

use super::fwe::sign_or_plus;
use super::max_stat::directed;
use super::panels::{kernel_t, panelled, Panelled, GROUP, LANES};
use super::FlipMatrix;
use crate::bags::bags;
use crate::transform::{p_to_z, Tail};
use crate::{StudyVoxels, TestMaps};
use rayon::prelude::*;

/// Panels per parallel task of the empirical voxelwise null.
const PANEL_BLOCK: usize = 32;

/// The empirical voxelwise sign-flip null of a one-sample t (§9 last paragraph, §13).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmpiricalNull {
    /// Observed t (NaN where fewer than two studies or zero spread).
    pub t: Vec<f64>,
    /// p(v) = (#{i : |t_i(v)| ≥ |t(v)|} + 1)/(N + 1) (two-sided; one-sided t_i ≥ t).
    pub p: Vec<f64>,
    /// z = p_to_z(p, tail)·sign(t) (sign 0 → +1), nlogp = ln p, dof = studies − 1.
    pub test: TestMaps,
}

/// Empirical voxelwise null: at every voxel the one-sample t of its valid (non-NaN) studies,
/// observed and under every row of `flips` (fair flips), and the permutation p of §9.
/// Flipped t that are NaN or infinite never count as exceedances.
#[track_caller]
pub fn empirical_voxel_p(x: &StudyVoxels, flips: &FlipMatrix, tail: Tail) -> EmpiricalNull {
    assert_eq!(flips.n_studies(), x.n_studies(), "the flip matrix needs one column per study");
    let bag_list = bags(x, 2);
    let panelled: Vec<Panelled> = bag_list.iter().map(|b| panelled(x, b, 0)).collect();
    // Tasks: runs of PANEL_BLOCK panels of one bag.
    let tasks: Vec<(usize, usize, usize)> = panelled
        .iter()
        .enumerate()
        .flat_map(|(b, bag)| {
            let n = bag.n_panels();
            (0..n).step_by(PANEL_BLOCK).map(move |p0| (b, p0, (p0 + PANEL_BLOCK).min(n)))
        })
        .collect();
    let n_iters = flips.n_iters();
    let per_task: Vec<(Vec<f64>, Vec<u64>)> = tasks
        .par_iter()
        .map(|&(b, p0, p1)| {
            let bag = &panelled[b];
            let m = bag.m();
            let sqrt_dof = ((m - 1) as f64).sqrt();
            let t_of =
                |p: usize, signs: &[f64]| kernel_t(bag.panel(p), &bag.mss[p * LANES..(p + 1) * LANES], signs, sqrt_dof);
            // Observed t through the same kernel (all signs +1), hence bit-identical to a flip of ones.
            let ones = vec![1.0; GROUP * m];
            let t_obs: Vec<f64> = (p0..p1).flat_map(|p| t_of(p, &ones)[0]).collect();
            let s_obs: Vec<f64> = t_obs.iter().map(|&t| directed(t, tail)).collect();
            let mut counts = vec![0u64; t_obs.len()];
            let mut signs = vec![1.0; GROUP * m];
            for g0 in (0..n_iters).step_by(GROUP) {
                for (g, row) in signs.chunks_exact_mut(m).enumerate() {
                    if g0 + g < n_iters {
                        row.iter_mut().zip(&bag.studies).for_each(|(s, &k)| *s = flips.row(g0 + g)[k]);
                    } else {
                        row.fill(f64::NAN);
                    }
                }
                for p in p0..p1 {
                    let t = t_of(p, &signs);
                    let base = (p - p0) * LANES;
                    for lanes in &t {
                        for ((count, &obs), &ti) in counts[base..base + LANES].iter_mut().zip(&s_obs[base..]).zip(lanes)
                        {
                            let a = directed(ti, tail);
                            // NaN signs (padding) give NaN t: never counted.
                            *count += u64::from(a.abs() < f64::INFINITY && a >= obs);
                        }
                    }
                }
            }
            (t_obs, counts)
        })
        .collect();

    let v = x.n_voxels();
    let mut out = EmpiricalNull {
        t: vec![f64::NAN; v],
        p: vec![f64::NAN; v],
        test: TestMaps { z: vec![f64::NAN; v], nlogp: vec![f64::NAN; v], dof: vec![f64::NAN; v] },
    };
    let denominator = (n_iters + 1) as f64;
    for (&(b, p0, p1), (t_obs, counts)) in tasks.iter().zip(per_task) {
        let bag = &panelled[b];
        let dof = (bag.m() - 1) as f64;
        let voxels = &bag.voxels[p0 * LANES..(p1 * LANES).min(bag.voxels.len())];
        for ((&voxel, &t), &count) in voxels.iter().zip(&t_obs).zip(&counts) {
            out.test.dof[voxel] = dof;
            if !t.is_finite() {
                continue;
            }
            let p = (count + 1) as f64 / denominator;
            out.t[voxel] = t;
            out.p[voxel] = p;
            out.test.z[voxel] = p_to_z(p, tail) * sign_or_plus(t);
            out.test.nlogp[voxel] = p.ln();
        }
    }
    out
}
