//! Bags copied into panels of `LANES` voxels (study-major inside a panel) and the blocked
//! one-sample t kernel: `GROUP` flipped iterations per pass, a small GEMM-like loop in which, for
//! every study, every lane adds `sign × value`. The sum runs over the bag's studies in ascending
//! order from 0, exactly as [`crate::ttest::one_sample_t`] sums the flipped values, so the t
//! values are bit-identical to that function's.

use super::max_stat::directed;
use super::FlipMatrix;
use crate::bags::Bag;
use crate::transform::{t_to_z, Tail};
use crate::StudyVoxels;

/// Voxels per panel of the blocked kernels.
pub(super) const LANES: usize = 8;
/// Iterations evaluated per pass over a panel (each panel value is loaded once per GROUP).
pub(super) const GROUP: usize = 4;
/// |t_to_z(t, ν)| ≤ |t| (t tails are heavier than normal ones); with this margin for rounding a
/// bag group whose largest t is below the running maximum z cannot raise it and is skipped.
const PRUNE_MARGIN: f64 = 1e-9;

/// One bag copied into panels for the blocked kernels.
pub(super) struct Panelled {
    pub(super) studies: Vec<usize>,
    pub(super) voxels: Vec<usize>,
    /// `n_panels × m × LANES`: panel p, study k, lane l at `(p·m + k)·LANES + l`; padding is 0.
    pub(super) data: Vec<f64>,
    /// Unweighted: m·SS per (padded) voxel, as `one_sample_t` forms it.
    pub(super) mss: Vec<f64>,
    /// Index of the bag's dof in the list of distinct dofs.
    pub(super) group: usize,
}

impl Panelled {
    pub(super) fn m(&self) -> usize {
        self.studies.len()
    }

    pub(super) fn n_panels(&self) -> usize {
        self.voxels.len().div_ceil(LANES)
    }

    pub(super) fn panel(&self, p: usize) -> &[f64] {
        let len = self.m() * LANES;
        &self.data[p * len..(p + 1) * len]
    }
}

pub(super) fn panelled(x: &StudyVoxels, bag: &Bag, group: usize) -> Panelled {
    let m = bag.studies.len();
    let n_panels = bag.voxels.len().div_ceil(LANES);
    let mut data = vec![0.0; n_panels * m * LANES];
    let mut mss = vec![0.0; n_panels * LANES];
    for (j, &v) in bag.voxels.iter().enumerate() {
        let xs = x.voxel(v);
        let (p, lane) = (j / LANES, j % LANES);
        let mut ss = 0.0;
        for (k, &s) in bag.studies.iter().enumerate() {
            let value = xs[s];
            data[(p * m + k) * LANES + lane] = value;
            ss += value * value;
        }
        mss[j] = m as f64 * ss;
    }
    Panelled { studies: bag.studies.clone(), voxels: bag.voxels.clone(), data, mss, group }
}

/// Check the bags against the data and the flips.
#[track_caller]
pub(super) fn check_bags(x: &StudyVoxels, bags: &[Bag], flips: &FlipMatrix) {
    assert_eq!(flips.n_studies(), x.n_studies(), "the flip matrix needs one column per study");
    let (k, v) = (x.n_studies(), x.n_voxels());
    for bag in bags {
        assert!(bag.studies.iter().all(|&s| s < k), "bag study out of range");
        assert!(bag.voxels.iter().all(|&i| i < v), "bag voxel out of range");
    }
}

/// A bag that can be fitted: at least two studies and a voxel.
pub(super) fn usable(bag: &Bag) -> bool {
    bag.studies.len() >= 2 && !bag.voxels.is_empty()
}

/// Index of `dof` in `dofs` (exact match), appending it if new.
pub(super) fn group_of(dofs: &mut Vec<f64>, dof: f64) -> usize {
    dofs.iter().position(|d| d.to_bits() == dof.to_bits()).unwrap_or_else(|| {
        dofs.push(dof);
        dofs.len() - 1
    })
}

/// Per-iteration, per-lane values of one kernel pass: `[iteration in group][lane]`.
pub(super) type Block<const W: usize> = [[f64; W]; GROUP];

/// S_i = Σ_k F_ik x_k for GROUP iterations (`signs`: GROUP rows of m) at lanes
/// `lane0..lane0 + W` of a panel, summed over studies in order from 0. `W = LANES` is the
/// vectorised full panel, `W = 1` one voxel of a partial panel: the same operations either way.
#[inline(always)]
pub(super) fn sums<const W: usize>(panel: &[f64], lane0: usize, signs: &[f64], scale: Option<&[f64]>) -> Block<W> {
    let m = panel.len() / LANES;
    let mut s = [[0.0f64; W]; GROUP];
    for (k, x) in panel.chunks_exact(LANES).enumerate() {
        let x = &x[lane0..lane0 + W];
        for (g, sg) in s.iter_mut().enumerate() {
            // Flipping a sign is exact, so (F·q)·x = q·(F·x) bit for bit.
            let f = scale.map_or(signs[g * m + k], |q| signs[g * m + k] * q[k]);
            for (acc, &value) in sg.iter_mut().zip(x) {
                *acc += f * value;
            }
        }
    }
    s
}

/// The unweighted t from S, in `one_sample_t`'s operation order.
#[inline(always)]
pub(super) fn t_from_sum(sum: f64, mss: f64, sqrt_dof: f64) -> f64 {
    sum * sqrt_dof / (mss - sum * sum).max(0.0).sqrt()
}

/// Raise `best` to the directed t if that is finite and larger (a non-finite t comes from zero
/// spread and is NaN in `one_sample_t`).
#[inline(always)]
pub(super) fn update(best: &mut f64, t: f64, tail: Tail) {
    let a = directed(t, tail);
    if a.abs() < f64::INFINITY && a > *best {
        *best = a;
    }
}

/// Unweighted one-sample t of GROUP flipped iterations at a full panel (empirical null).
#[inline]
pub(super) fn kernel_t(panel: &[f64], mss: &[f64], signs: &[f64], sqrt_dof: f64) -> Block<LANES> {
    let mut s = sums::<LANES>(panel, 0, signs, None);
    for sg in &mut s {
        for (acc, &mss) in sg.iter_mut().zip(mss) {
            *acc = t_from_sum(*acc, mss, sqrt_dof);
        }
    }
    s
}

/// max over groups of t_to_z(t_g, dof_g) (t_g = −∞: group had no finite value), converting only
/// the groups that can still raise the maximum.
pub(super) fn max_z_over_groups(t: &[f64], dofs: &[f64], order: &mut Vec<usize>) -> f64 {
    order.clear();
    order.extend((0..t.len()).filter(|&g| t[g] > f64::NEG_INFINITY));
    order.sort_by(|&a, &b| t[b].total_cmp(&t[a]));
    let mut h = f64::NEG_INFINITY;
    for &g in order.iter() {
        let tg = t[g];
        // Sorted descending: once a group cannot win, none of the rest can.
        if (tg >= 0.0 && tg * (1.0 + PRUNE_MARGIN) < h) || (tg < 0.0 && h >= 0.0) {
            break;
        }
        let z = t_to_z(tg, dofs[g]);
        if z > h {
            h = z;
        }
    }
    h
}
