//! The Monte-Carlo max-statistic null of the sample-size-weighted (CR2) one-sample t, by the
//! blocked kernels of [`super::panels`].

use super::panels::{
    check_bags, group_of, max_z_over_groups, panelled, sums, update, usable, Block, Panelled, GROUP, LANES,
};
use super::FlipMatrix;
use crate::bags::Bag;
use crate::cr2::Cr2Weights;
use crate::transform::Tail;
use crate::StudyVoxels;
use rayon::prelude::*;

/// Iterations per parallel task of the max-statistic nulls (a multiple of `GROUP`); every task
/// streams the data once, so larger blocks mean less memory traffic and fewer tasks.
const ITER_BLOCK: usize = 64;

/// Raise `best` by the weighted (CR2 / HC2, intercept only) t at lanes `lane0..lane0 + W`:
/// μ = Σ q F x/W, meat = Σ q²(F x − μ)²/c, t = μW/√meat (NaN if meat ≤ 0), as
/// [`Cr2Weights::fit`].
#[inline(always)]
fn max_cr2_lanes<const W: usize>(
    panel: &[f64],
    lane0: usize,
    signs: &[f64],
    c: &Cr2Weights,
    tail: Tail,
    best: &mut Block<LANES>,
) {
    let m = panel.len() / LANES;
    let mut mu = sums::<W>(panel, lane0, signs, Some(&c.q));
    for mg in &mut mu {
        for acc in mg.iter_mut() {
            *acc /= c.total;
        }
    }
    let mut meat = [[0.0f64; W]; GROUP];
    for (k, x) in panel.chunks_exact(LANES).enumerate() {
        let x = &x[lane0..lane0 + W];
        for (g, (eg, mg)) in meat.iter_mut().zip(&mu).enumerate() {
            let f = signs[g * m + k];
            for ((acc, &value), &mean) in eg.iter_mut().zip(x).zip(mg) {
                let d = f * value - mean;
                *acc += c.meat[k] * (d * d);
            }
        }
    }
    for ((eg, mg), bg) in meat.iter().zip(&mu).zip(best.iter_mut()) {
        for ((&meat, &mean), b) in eg.iter().zip(mg).zip(&mut bg[lane0..lane0 + W]) {
            let t = if meat > 0.0 { mean * c.total / meat.sqrt() } else { f64::NAN };
            update(b, t, tail);
        }
    }
}

/// The blocked max-statistic driver: h0[i] = max over bag groups of t_to_z(max over the group's
/// voxels of the directed t, group dof). `kernel(b, p, lane0, lanes, signs, best)` raises
/// `best` by the directed t of lanes `lane0..lane0 + lanes` of panel `p` of bag `b` (either a
/// full panel or one lane) for GROUP iterations (`signs`: GROUP rows of the bag's m signs).
fn blocked_max_null<K>(bags: &[Panelled], dofs: &[f64], flips: &FlipMatrix, kernel: K) -> Vec<f64>
where
    K: Fn(usize, usize, usize, usize, &[f64], &mut Block<LANES>) + Sync,
{
    let mut h0 = vec![f64::NEG_INFINITY; flips.n_iters()];
    h0.par_chunks_mut(ITER_BLOCK).enumerate().for_each(|(block, out)| {
        let i0 = block * ITER_BLOCK;
        let n_groups = out.len().div_ceil(GROUP);
        // Scratch of this task only: sizes depend on ITER_BLOCK, K and the number of dofs.
        let mut best = vec![f64::NEG_INFINITY; out.len() * dofs.len()];
        let mut lane_best = vec![[[f64::NEG_INFINITY; LANES]; GROUP]; n_groups];
        let mut signs: Vec<f64> = Vec::with_capacity(n_groups * GROUP * flips.n_studies());
        for (b, bag) in bags.iter().enumerate() {
            let m = bag.m();
            signs.clear();
            for i in 0..n_groups * GROUP {
                if i < out.len() {
                    signs.extend(bag.studies.iter().map(|&k| flips.row(i0 + i)[k]));
                } else {
                    // Padding iterations past the end: computed and ignored.
                    signs.extend(std::iter::repeat_n(1.0, m));
                }
            }
            lane_best.fill([[f64::NEG_INFINITY; LANES]; GROUP]);
            let n_voxels = bag.voxels.len();
            for p in 0..bag.n_panels() {
                let lanes = (n_voxels - p * LANES).min(LANES);
                for (g, lb) in lane_best.iter_mut().enumerate() {
                    let signs = &signs[g * GROUP * m..(g + 1) * GROUP * m];
                    if lanes == LANES {
                        kernel(b, p, 0, LANES, signs, lb);
                    } else {
                        // A partial panel (most of a small bag): one lane at a time, no padding work.
                        for lane in 0..lanes {
                            kernel(b, p, lane, 1, signs, lb);
                        }
                    }
                }
            }
            let rows = lane_best.iter().flatten().take(out.len());
            for (i, row) in rows.enumerate() {
                let slot = &mut best[i * dofs.len() + bag.group];
                *slot = row.iter().copied().fold(*slot, f64::max);
            }
        }
        let mut order: Vec<usize> = Vec::with_capacity(dofs.len());
        for (i, h) in out.iter_mut().enumerate() {
            *h = max_z_over_groups(&best[i * dofs.len()..(i + 1) * dofs.len()], dofs, &mut order);
        }
    });
    h0
}

/// Monte-Carlo max-statistic null of the sample-size-weighted PermutedOLS t
/// (`use_sample_size=True`): as [`super::max_t_null`] with the CR2 t of the signed values,
/// q_k = `sample_sizes[k]`, and each bag's Satterthwaite dof.
#[track_caller]
pub fn max_cr2_null(x: &StudyVoxels, sample_sizes: &[f64], bags: &[Bag], flips: &FlipMatrix, tail: Tail) -> Vec<f64> {
    assert_eq!(sample_sizes.len(), x.n_studies(), "one sample size per study");
    let weights: Vec<Vec<f64>> = bags.iter().map(|b| b.studies.iter().map(|&k| sample_sizes[k]).collect()).collect();
    max_cr2_null_per_bag(x, bags, &weights, flips, tail)
}

/// [`max_cr2_null`] with each bag's own weights (`weights[b][j]` for study `bags[b].studies[j]`):
/// with dependence groups a group's weight is the mean sample size of its images in that bag
/// (rows of [`crate::groups::group_means`], bags from [`crate::groups::group_model`]).
#[track_caller]
pub fn max_cr2_null_per_bag(
    x: &StudyVoxels,
    bags: &[Bag],
    weights: &[Vec<f64>],
    flips: &FlipMatrix,
    tail: Tail,
) -> Vec<f64> {
    assert_eq!(weights.len(), bags.len(), "one weight vector per bag");
    assert!(weights.iter().zip(bags).all(|(w, b)| w.len() == b.studies.len()), "one weight per bag study");
    check_bags(x, bags, flips);
    let mut dofs = Vec::new();
    let mut constants = Vec::new();
    let panelled: Vec<Panelled> = bags
        .iter()
        .zip(weights)
        .filter(|(bag, _)| usable(bag))
        .map(|(bag, w)| {
            let c = Cr2Weights::new(w);
            let group = group_of(&mut dofs, c.dof);
            constants.push(c);
            panelled(x, bag, group)
        })
        .collect();
    blocked_max_null(&panelled, &dofs, flips, |b, p, lane0, lanes, signs, best| {
        let panel = panelled[b].panel(p);
        if lanes == LANES {
            max_cr2_lanes::<LANES>(panel, 0, signs, &constants[b], tail, best);
        } else {
            max_cr2_lanes::<1>(panel, lane0, signs, &constants[b], tail, best);
        }
    })
}
