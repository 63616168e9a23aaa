//! The Monte-Carlo max-statistic null of the unweighted one-sample t (PermutedOLS): every
//! (voxel, iteration) is screened by table lookup of signed partial sums ([`super::lookup`]; no
//! multiplications, f32 with a proven slack) and the exact t, in
//! [`crate::ttest::one_sample_t`]'s order, is computed only where it could raise a maximum. Its
//! workers split the voxels and merge maxima, which is exact, so it is identical for any thread
//! count.

use super::lookup::{build_tables, rho_lookup, rho_margin, rho_threshold, scan_panel, NegMasks, Plan};
use super::panels::{check_bags, group_of, max_z_over_groups, panelled, t_from_sum, update, usable, Panelled, LANES};
use super::FlipMatrix;
use crate::bags::Bag;
use crate::transform::Tail;
use crate::StudyVoxels;
use rayon::prelude::*;

/// Panels per parallel task of the max-t null's second pass (every task runs all iterations);
/// a multiple of `SEED_STRIDE`.
const NULL_PANEL_BLOCK: usize = 128;
/// Every SEED_STRIDE-th panel of a bag is in the first pass of the max-t null.
const SEED_STRIDE: usize = 16;

/// Per-worker state of the max-t null: per dof group, the running maximum of the directed t and
/// its screen threshold, per iteration (allocated on first use), plus scratch.
struct MaxTAcc {
    best: Vec<Vec<f64>>,
    thr: Vec<Vec<f32>>,
    idx: Vec<u32>,
    scratch: Vec<[f64; LANES]>,
    tables: Vec<[f32; LANES]>,
}

impl MaxTAcc {
    fn new(n_groups: usize) -> MaxTAcc {
        MaxTAcc {
            best: vec![Vec::new(); n_groups],
            thr: vec![Vec::new(); n_groups],
            idx: vec![],
            scratch: vec![],
            tables: vec![],
        }
    }

    /// Elementwise maximum (exact, so any split of the work gives the same result).
    fn merge(mut self, other: MaxTAcc) -> MaxTAcc {
        for (a, b) in self.best.iter_mut().zip(other.best) {
            if a.is_empty() {
                *a = b;
            } else {
                for (x, y) in a.iter_mut().zip(b) {
                    if y > *x {
                        *x = y;
                    }
                }
            }
        }
        self
    }

    /// A worker starting from the maxima (and thresholds) of `seed`.
    fn seeded(seed: &MaxTAcc) -> MaxTAcc {
        MaxTAcc { best: seed.best.clone(), thr: seed.thr.clone(), idx: vec![], scratch: vec![], tables: vec![] }
    }

    /// Screen thresholds matching the maxima (`dofs`: per group, m = dof + 1).
    fn with_thresholds(mut self, dofs: &[f64]) -> MaxTAcc {
        for ((thr, best), &dof) in self.thr.iter_mut().zip(&self.best).zip(dofs) {
            let margin = rho_margin(dof as usize + 1);
            *thr = best.iter().map(|&b| rho_threshold(b, dof, margin)).collect();
        }
        self
    }

    /// Raise the maxima of `bag`'s group by some of its panels, for every iteration.
    #[allow(clippy::too_many_arguments)] // one panel pass needs the bag, its tables, thresholds and flips
    fn run(
        &mut self,
        bag: &Panelled,
        plan: &Plan,
        panels: impl Iterator<Item = usize>,
        flips: &FlipMatrix,
        masks: &NegMasks,
        tail: Tail,
    ) {
        let n = flips.n_iters();
        let group = bag.group;
        if self.best[group].is_empty() {
            self.best[group] = vec![f64::NEG_INFINITY; n];
            self.thr[group] = vec![f32::NEG_INFINITY; n];
        }
        plan.indices(masks, &mut self.idx);
        let m = bag.m();
        let dof = (m - 1) as f64;
        let (sqrt_dof, margin, two) = (dof.sqrt(), rho_margin(m), tail == Tail::Two);
        let n_groups = plan.groups.len();
        for p in panels {
            let (panel, mss) = (bag.panel(p), &bag.mss[p * LANES..(p + 1) * LANES]);
            let lanes = (bag.voxels.len() - p * LANES).min(LANES);
            build_tables(panel, mss, plan, &mut self.scratch, &mut self.tables);
            let (tables, idx) = (&self.tables, &self.idx);
            let best = &mut self.best[group];
            // The exact t of the lanes that pass, in `one_sample_t`'s operation order.
            let on_pass = |i: usize, th: f32| {
                let rho = rho_lookup(tables, &idx[i * n_groups..(i + 1) * n_groups]);
                let signs = flips.row(i);
                let b = &mut best[i];
                for (l, &r) in rho.iter().enumerate().take(lanes) {
                    if (if two { r.abs() } else { r }) >= th {
                        let mut sum = 0.0;
                        for (k, &s) in bag.studies.iter().enumerate() {
                            sum += signs[s] * panel[k * LANES + l];
                        }
                        update(b, t_from_sum(sum, mss[l], sqrt_dof), tail);
                    }
                }
                // +0 for −0: which of two equal zeros is kept would depend on the work split.
                *b += 0.0;
                rho_threshold(*b, dof, margin)
            };
            let thr = &mut self.thr[group];
            match (n_groups, two) {
                (1, true) => scan_panel::<1, true>(tables, idx, n_groups, thr, on_pass),
                (2, true) => scan_panel::<2, true>(tables, idx, n_groups, thr, on_pass),
                (3, true) => scan_panel::<3, true>(tables, idx, n_groups, thr, on_pass),
                (4, true) => scan_panel::<4, true>(tables, idx, n_groups, thr, on_pass),
                (_, true) => scan_panel::<0, true>(tables, idx, n_groups, thr, on_pass),
                (1, false) => scan_panel::<1, false>(tables, idx, n_groups, thr, on_pass),
                (2, false) => scan_panel::<2, false>(tables, idx, n_groups, thr, on_pass),
                (3, false) => scan_panel::<3, false>(tables, idx, n_groups, thr, on_pass),
                (4, false) => scan_panel::<4, false>(tables, idx, n_groups, thr, on_pass),
                (_, false) => scan_panel::<0, false>(tables, idx, n_groups, thr, on_pass),
            }
        }
    }
}

/// Monte-Carlo max-statistic null of the unweighted one-sample t (PermutedOLS, §9 steps 1–3).
///
/// For every iteration i and bag (its studies S and voxels; bags with < 2 studies are skipped),
/// t at every voxel uses S_i = Σ_{k∈S} F_ik x_k (SS unchanged); the bag's maximum of |t|
/// (two-sided) or t (one-sided) over its voxels, NaN and ±∞ ignored, becomes
/// z = t_to_z(·, |S| − 1); h0\[i\] is the maximum over bags, −∞ if no bag has a finite value.
/// A voxel where one of its bag's studies is NaN has NaN t (bags from [`crate::bags::bags`] never do).
/// `flips` has one column per study of `x` (a bag uses its studies' columns).
///
/// Every t that can raise a maximum is computed exactly as [`crate::ttest::one_sample_t`] does
/// (S summed over the bag's studies in order from 0), so h0 is bit-identical to the direct
/// computation. The others are screened out by lookup: since every sign is ±1, the bag's
/// studies are split into groups of ≤ 8 whose 2^g signed partial sums (scaled to ρ = S/√(m·SS))
/// are tabulated per panel of 8 voxels; an iteration then costs one table row per group per
/// panel, and only a lane whose ρ' reaches the threshold of the running maximum (with a slack
/// far above the rounding of ρ') is recomputed exactly. Work is split by panels, each worker
/// running all iterations; maxima are merged exactly, so any thread count gives the same bits.
#[track_caller]
pub fn max_t_null(x: &StudyVoxels, bags: &[Bag], flips: &FlipMatrix, tail: Tail) -> Vec<f64> {
    let mut dofs = Vec::new();
    check_bags(x, bags, flips);
    let panelled: Vec<Panelled> = bags
        .iter()
        .filter(|b| usable(b))
        .map(|bag| {
            let group = group_of(&mut dofs, (bag.studies.len() - 1) as f64);
            panelled(x, bag, group)
        })
        .collect();
    let plans: Vec<Plan> = panelled.iter().map(|b| Plan::new(&b.studies)).collect();
    let masks = NegMasks::new(flips);
    let n_groups = dofs.len();
    // First pass, one task per dof group so that its maxima carry over all of its bags: every
    // SEED_STRIDE-th panel of each bag (all of a small bag). Its maxima then seed the screen of
    // the second pass (the other panels), which so rarely needs the exact path.
    let first = (0..n_groups)
        .into_par_iter()
        .map(|group| {
            let mut acc = MaxTAcc::new(n_groups);
            for (bag, plan) in panelled.iter().zip(&plans).filter(|(bag, _)| bag.group == group) {
                acc.run(bag, plan, (0..bag.n_panels()).step_by(SEED_STRIDE), flips, &masks, tail);
            }
            acc
        })
        .reduce(|| MaxTAcc::new(n_groups), MaxTAcc::merge)
        .with_thresholds(&dofs);
    // Runs of NULL_PANEL_BLOCK panels (a multiple of SEED_STRIDE) with some second-pass panel.
    let tasks: Vec<(usize, usize, usize)> = panelled
        .iter()
        .enumerate()
        .flat_map(|(b, bag)| {
            let n = bag.n_panels();
            (0..n).step_by(NULL_PANEL_BLOCK).map(move |p0| (b, p0, (p0 + NULL_PANEL_BLOCK).min(n)))
        })
        .filter(|&(_, p0, p1)| p1 - p0 > 1)
        .collect();
    let second = tasks
        .par_iter()
        .fold(
            || MaxTAcc::seeded(&first),
            |mut acc, &(b, p0, p1)| {
                let panels = (p0..p1).filter(|p| p % SEED_STRIDE != 0);
                acc.run(&panelled[b], &plans[b], panels, flips, &masks, tail);
                acc
            },
        )
        .reduce(|| MaxTAcc::new(n_groups), MaxTAcc::merge);
    let acc = first.merge(second);
    (0..flips.n_iters())
        .into_par_iter()
        .map_init(
            || (Vec::with_capacity(n_groups), Vec::with_capacity(n_groups)),
            |(t, order), i| {
                t.clear();
                t.extend(acc.best.iter().map(|b| b.get(i).copied().unwrap_or(f64::NEG_INFINITY)));
                max_z_over_groups(t, &dofs, order)
            },
        )
        .collect()
}
