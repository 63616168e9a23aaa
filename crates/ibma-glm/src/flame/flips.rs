//! Sign-flip permutations of one-sample FLAME1 (MFX_GLM's Monte-Carlo FWE and permutation
//! cluster inference) without refitting every voxel of every flip, with every statistic
//! exactly that of a full refit of the flipped copes by the same optimiser.
//!
//! Sign flips leave each voxel's variances, Σ ln(s + σ²), Σw and Σwy² unchanged and change
//! only the signed sums of w·y. So, per voxel (voxels outside, flips inside):
//! - the weights at the global search's starting points are computed once and reused by every
//!   flip; a refit then evaluates exactly what [`flame`](super::flame) evaluates (same code,
//!   same bits), only the starting points' weights come from the cache;
//! - for the maximum over voxels, a flip's |t| is bounded without refitting, from a bank of
//!   16 values of σ² whose weights are also computed once per voxel: the global minimum lies
//!   at a point as low as the best or in an interval the energy bounds of `global.rs` cannot
//!   exclude, and on an interval [a, b] the positive and negative terms of Σ w y are monotone
//!   in σ² and Σw ≥ Σw(b), so |t| = |Σwy|/√Σw is bounded there. First for 32 flips at once
//!   from Σ w y alone (E at the points, and E ≥ ½(f(a) + q(b)) on intervals), then, where that
//!   is not enough, with Σ w² y (slopes, the tangent bound) for the flip alone; before all,
//!   |t| ≤ √Σ y²/s at any σ². A voxel whose bound lies below the flip's maximum so far (over
//!   all tasks) cannot raise it and is not refitted. Maxima are exact values of voxels, so the null does not depend on the order
//!   in which voxels are visited or on the thread count.

use super::global::min_pl;
use super::node::{FlipBank, Weights, BANK_POINTS};
use super::optimise::GLOBAL_GRID;
use super::{units, Buf, Ctx, Optimizer, RunMode};
use crate::design::{Contrast, Design};
use ibma_stats::permute::FlipMatrix;
use ibma_stats::transform::z_to_t;
use ibma_stats::{StudyVoxels, Tail};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// Voxels per parallel task.
const CHUNK: usize = 1024;
/// Flips whose bounds are computed together (arrays over flips vectorise).
const BLOCK: usize = 32;
/// Voxels refitted for every flip before the main pass, to start each flip's maximum high.
const SEED_VOXELS: usize = 512;
/// Most valid studies at a voxel for which the kernel's sign blocks are sized (more: refits).
const MAX_ROWS: usize = 64;
/// Relative slack on the bound's comparisons, far above their rounding (1e−13 and below).
const BOUND_SLACK: f64 = 1e-9;
/// Points (units of Σy²/n) at which the bound evaluates each flip: denser than the search's
/// start over the usual range of σ̂², so that the intervals that can hold the optimum are
/// narrow and |t| is tightly bounded there.
const BOUND_GRID: [f64; BANK_POINTS] =
    [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 10.0, 1e10];

/// One max statistic per flip (row of `flips`, one sign per study of `con`): the largest z
/// (`Tail::One`) or |z| (`Tail::Two`) over voxels of the one-sample FLAME1 fit of the
/// sign-flipped copes, NaN voxels ignored, −∞ if every voxel is NaN; equal to
/// `max_statistic(flame(flipped con, var, intercept, [1], Flame1(optimizer)).z, tail)`.
/// Panics if the shapes disagree.
pub fn flame1_flip_max_null(
    con: &StudyVoxels,
    var: &StudyVoxels,
    flips: &FlipMatrix,
    optimizer: Optimizer,
    tail: Tail,
) -> Vec<f64> {
    let kernel = Kernel::new(con, var, flips, optimizer);
    let all: Vec<usize> = (0..con.n_voxels()).collect();
    let none = || (0..flips.n_iters()).map(|_| AtomicU64::new(f64::NEG_INFINITY.to_bits())).collect::<Vec<_>>();
    let seeds = kernel.max_over(&kernel.seed_voxels(), &none(), tail);
    let shared: Vec<AtomicU64> = seeds.iter().map(|s| AtomicU64::new(s.to_bits())).collect();
    all.par_chunks(CHUNK)
        .map(|voxels| kernel.max_over(voxels, &shared, tail))
        .reduce(|| vec![f64::NEG_INFINITY; flips.n_iters()], |a, b| a.iter().zip(&b).map(|(a, b)| a.max(*b)).collect())
}

/// The z maps of the flips `iters` (one map per flip, in order), each equal to
/// `flame(flipped con, var, intercept, [1], Flame1(optimizer)).z`; the starting points' weights
/// are computed once per voxel for all of them. Panics if the shapes disagree or `iters` is
/// outside the flips.
pub fn flame1_flip_z(
    con: &StudyVoxels,
    var: &StudyVoxels,
    flips: &FlipMatrix,
    iters: Range<usize>,
    optimizer: Optimizer,
) -> Vec<Vec<f64>> {
    Kernel::new(con, var, flips, optimizer).maps(iters, None)
}

/// [`flame1_flip_z`] where only what clusters formed at |z| > `u` need is exact: a voxel's z
/// in a flip is refitted unless the bound of the maximum's kernel proves |z| < u, and is 0
/// there. Every |z| ≥ u of the full maps is in these maps with the same bits, and every
/// other value is below u in magnitude (NaN where the full map is NaN), so cluster sizes and
/// masses at u are those of the full maps.
pub fn flame1_flip_z_above(
    con: &StudyVoxels,
    var: &StudyVoxels,
    flips: &FlipMatrix,
    iters: Range<usize>,
    optimizer: Optimizer,
    u: f64,
) -> Vec<Vec<f64>> {
    Kernel::new(con, var, flips, optimizer).maps(iters, Some(u))
}

struct Kernel<'a> {
    con: &'a StudyVoxels,
    var: &'a StudyVoxels,
    flips: &'a FlipMatrix,
    optimizer: Optimizer,
    k: usize,
    /// The flips' signs study by study: study k's sign in flip i at `k * n_iters + i`.
    by_study: Vec<f64>,
    design: Design,
    contrast: Contrast,
    mode: RunMode,
}

impl<'a> Kernel<'a> {
    fn new(con: &'a StudyVoxels, var: &'a StudyVoxels, flips: &'a FlipMatrix, optimizer: Optimizer) -> Kernel<'a> {
        let k = con.n_studies();
        assert_eq!((k, con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
        assert_eq!(flips.n_studies(), k, "one sign per study");
        let (design, contrast) = (Design::intercept(k), Contrast::unit(1, 0));
        let m = flips.n_iters();
        let by_study = (0..k * m).map(|x| flips.row(x % m)[x / m]).collect();
        Kernel { con, var, flips, optimizer, k, by_study, design, contrast, mode: RunMode::Flame1(optimizer) }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.design, &self.contrast, &self.mode)
    }

    /// [`SEED_VOXELS`] voxels spread evenly over the map (neighbouring voxels' flipped z are
    /// alike, so spread ones give a higher maximum).
    fn seed_voxels(&self) -> Vec<usize> {
        let v = self.con.n_voxels();
        let step = v.div_ceil(SEED_VOXELS).max(1);
        (0..v).step_by(step).collect()
    }

    /// Gather voxel `v`'s valid rows into `buf` and, for the global search, the weights at
    /// the starting points (`buf.grid`, flagged in `buf.grid_set`) and the bound's parts.
    /// False if the voxel is NaN for every flip (fewer than two valid studies).
    fn prepare(&self, v: usize, buf: &mut Buf, bank: &mut Option<FlipBank>) -> bool {
        let (c, s) = (self.con.voxel(v), self.var.voxel(v));
        buf.y.clear();
        buf.s.clear();
        for (&c, &s) in c.iter().zip(s) {
            if !c.is_nan() && !s.is_nan() {
                buf.y.push(c);
                buf.s.push(s);
            }
        }
        let n = buf.y.len();
        buf.grid_set = false;
        let parts = bank.get_or_insert_with(FlipBank::default);
        parts.reset(0);
        if n < 2 || self.optimizer != Optimizer::Global {
            return n >= 2;
        }
        let bounded = n <= MAX_ROWS;
        // The units and normalised rows of `Ctx::flame1_tau2` (the variance only matters to
        // the fsl units).
        let (sd, unit) = units(Optimizer::Global, &buf.y, f64::NAN);
        buf.yn.clear();
        buf.yn.extend(buf.y.iter().map(|y| y / sd));
        buf.sn.clear();
        buf.sn.extend(buf.s.iter().map(|s| s / unit));
        buf.grid.resize_with(GLOBAL_GRID.len(), Weights::default);
        let mut ok = true;
        for (w, &s2) in buf.grid.iter_mut().zip(&GLOBAL_GRID) {
            ok &= w.set(&buf.sn, s2);
        }
        if !ok {
            return true;
        }
        buf.grid_set = true;
        if !bounded {
            return true;
        }
        parts.reset(n);
        let mut w = Weights::default();
        for &s2 in &BOUND_GRID {
            if !w.set(&buf.sn, s2) {
                parts.reset(0);
                return true;
            }
            parts.push(&w, &buf.yn);
        }
        true
    }

    /// The z maps of the flips `iters`, refitted where |z| may reach `above` (all of them
    /// without it), 0 elsewhere.
    fn maps(&self, iters: Range<usize>, above: Option<f64>) -> Vec<Vec<f64>> {
        assert!(iters.end <= self.flips.n_iters(), "flips {iters:?} of {}", self.flips.n_iters());
        let per_voxel: Vec<Vec<f64>> = (0..self.con.n_voxels())
            .into_par_iter()
            .map_init(
                || (Buf::new(self.k), vec![0.0; self.k], self.ctx(), None, Block::default(), Vec::new(), Vec::new()),
                |(buf, flipped, ctx, bank, block, rows, signs), v| {
                    let mut z = vec![f64::NAN; iters.len()];
                    if self.prepare(v, buf, bank) {
                        let n = buf.y.len();
                        let bank = bank.as_ref().filter(|b| b.inv.len() == BANK_POINTS);
                        // |t| below this (with slack) is |z| < u.
                        let t_u = match (above, bank) {
                            (Some(u), Some(_)) => z_to_t(u, (n - 1) as f64) * (1.0 - BOUND_SLACK),
                            _ => f64::INFINITY,
                        };
                        let (c, s) = (self.con.voxel(v), self.var.voxel(v));
                        rows.clear();
                        rows.extend((0..self.k).filter(|&k| !c[k].is_nan() && !s[k].is_nan()));
                        let m = self.flips.n_iters();
                        for i0 in iters.clone().step_by(BLOCK) {
                            let len = BLOCK.min(iters.end - i0);
                            let bounds = match bank {
                                Some(bank) if t_u.is_finite() => {
                                    block.bounds(bank, &self.by_study, m, rows, i0, len, &[t_u; BLOCK], signs)
                                }
                                _ => [f64::INFINITY; BLOCK],
                            };
                            for (f, i) in (i0..i0 + len).enumerate() {
                                z[i - iters.start] = if bounds[f] * (1.0 + BOUND_SLACK) < t_u {
                                    0.0
                                } else {
                                    self.refit(ctx, v, i, buf, flipped)
                                };
                            }
                        }
                    }
                    buf.grid_set = false;
                    z
                },
            )
            .collect();
        (0..iters.len()).map(|i| per_voxel.iter().map(|z| z[i]).collect()).collect()
    }

    /// z of voxel `v` refitted on flip `i` (after [`Kernel::prepare`]).
    fn refit(&self, ctx: &Ctx, v: usize, i: usize, buf: &mut Buf, flipped: &mut [f64]) -> f64 {
        for ((f, &c), &sign) in flipped.iter_mut().zip(self.con.voxel(v)).zip(self.flips.row(i)) {
            *f = c * sign;
        }
        ctx.voxel(flipped, self.var.voxel(v), buf).z
    }

    /// Per flip, the statistic's maximum over `voxels`, or over more voxels: `shared` holds
    /// maxima other tasks have reached (each an exact statistic of some voxel), read to skip
    /// more voxels and raised with this task's.
    fn max_over(&self, voxels: &[usize], shared: &[AtomicU64], tail: Tail) -> Vec<f64> {
        let ctx = self.ctx();
        let load = |i: usize| f64::from_bits(shared[i].load(Ordering::Relaxed));
        let mut best: Vec<f64> = (0..shared.len()).map(load).collect();
        let m = best.len();
        let mut buf = Buf::new(self.k);
        let (mut flipped, mut bank, mut rows, mut signs) = (vec![0.0; self.k], None, Vec::new(), Vec::new());
        let mut block = Block::default();
        // Per flip and DOF: the |t| whose z is the flip's maximum when last computed, and that
        // maximum (z → t is costly; maxima change rarely).
        let mut threshold = vec![(f64::NAN, f64::NAN); m * self.k];
        for &v in voxels {
            if !self.prepare(v, &mut buf, &mut bank) {
                continue;
            }
            let n = buf.y.len();
            let dof = (n - 1) as f64;
            let bank = bank.as_ref().filter(|b| b.inv.len() == BANK_POINTS);
            rows.clear();
            let (c, s) = (self.con.voxel(v), self.var.voxel(v));
            rows.extend((0..self.k).filter(|&k| !c[k].is_nan() && !s[k].is_nan()));
            for (i, b) in best.iter_mut().enumerate() {
                *b = b.max(load(i));
            }
            // Flip-invariant: |t| ≤ √Σ w y² ≤ √Σ y²/s at any σ²; below every flip's threshold,
            // the voxel is done.
            let fe = buf.y.iter().zip(&buf.s).map(|(y, s)| y * y / s).sum::<f64>().sqrt();
            let lowest = best.iter().fold(f64::INFINITY, |a, &b| a.min(b));
            if lowest.is_finite() && fe * (1.0 + BOUND_SLACK) < z_to_t(lowest, dof) * (1.0 - BOUND_SLACK) {
                continue;
            }
            for i0 in (0..m).step_by(BLOCK) {
                let len = BLOCK.min(m - i0);
                let mut thresholds = [f64::NEG_INFINITY; BLOCK];
                for (f, i) in (i0..i0 + len).enumerate() {
                    let b = best[i];
                    if b.is_finite() {
                        let cached = &mut threshold[i * self.k + n - 1];
                        if cached.1.to_bits() != b.to_bits() {
                            *cached = (z_to_t(b, dof), b);
                        }
                        thresholds[f] = cached.0;
                    }
                }
                let bounds = match bank {
                    Some(bank) if thresholds[..len].iter().any(|t| *t > f64::NEG_INFINITY) => {
                        block.bounds(bank, &self.by_study, m, &rows, i0, len, &thresholds, &mut signs)
                    }
                    _ => [f64::INFINITY; BLOCK],
                };
                for (f, i) in (i0..i0 + len).enumerate() {
                    if bounds[f] * (1.0 + BOUND_SLACK) < thresholds[f] * (1.0 - BOUND_SLACK) {
                        continue; // this voxel cannot reach the flip's maximum so far
                    }
                    let z = self.refit(&ctx, v, i, &mut buf, &mut flipped);
                    let stat = match tail {
                        Tail::Two => z.abs(),
                        Tail::One => z,
                    };
                    if stat > best[i] {
                        best[i] = stat;
                        raise(&shared[i], stat);
                    }
                }
            }
        }
        best
    }
}

/// Raise the f64 in `cell` to `x` if `x` is larger.
fn raise(cell: &AtomicU64, x: f64) {
    let mut old = cell.load(Ordering::Relaxed);
    while x > f64::from_bits(old) {
        match cell.compare_exchange_weak(old, x.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => old = now,
        }
    }
}

/// Per-block arrays of the bound: Σ w y of point j and flip f at `[j][f]`.
struct Block {
    b1: [[f64; BLOCK]; BANK_POINTS],
}

impl Default for Block {
    fn default() -> Self {
        Block { b1: [[0.0; BLOCK]; BANK_POINTS] }
    }
}

impl Block {
    /// Upper bounds on |t| of the global REML fit of the flips `i0..i0 + len` at one voxel
    /// (valid studies `rows`, `bank` at the [`BOUND_GRID`] points; `by_study` as in
    /// [`Kernel`], `m` flips in all), tight enough to compare with `thresholds` where
    /// possible. First, for all the block's flips at once, |t| over the whole range from Σ w y
    /// alone; where that is not below the threshold, [`refined`] for that flip.
    // Arrays over points and flips are indexed together.
    #[allow(clippy::needless_range_loop)]
    #[allow(clippy::too_many_arguments)]
    fn bounds(
        &mut self,
        bank: &FlipBank,
        by_study: &[f64],
        m: usize,
        rows: &[usize],
        i0: usize,
        len: usize,
        thresholds: &[f64; BLOCK],
        signs: &mut Vec<f64>,
    ) -> [f64; BLOCK] {
        for j in 0..BANK_POINTS {
            self.b1[j] = [0.0; BLOCK];
        }
        for (r, &k) in rows.iter().enumerate() {
            let mut sign = [0.0; BLOCK];
            sign[..len].copy_from_slice(&by_study[k * m + i0..k * m + i0 + len]);
            for j in 0..BANK_POINTS {
                let a = bank.terms(j).0[r];
                for f in 0..BLOCK {
                    self.b1[j][f] += a * sign[f];
                }
            }
        }
        // E at every point from Σ w y alone (q = Σwy² − (Σwy)²/Σw), and the best per flip.
        let mut e = [[0.0; BLOCK]; BANK_POINTS];
        let mut q = [[0.0; BLOCK]; BANK_POINTS];
        let mut best = [f64::INFINITY; BLOCK];
        for j in 0..BANK_POINTS {
            let p = &bank.inv[j];
            for f in 0..BLOCK {
                q[j][f] = p.wyy - self.b1[j][f] * self.b1[j][f] * p.inv_sum_w;
                e[j][f] = 0.5 * (p.f + q[j][f]);
                best[f] = best[f].min(e[j][f]);
            }
        }
        let wyy = bank.inv.iter().map(|p| p.wyy).fold(0.0, f64::max);
        let mut target = [0.0; BLOCK];
        for f in 0..BLOCK {
            target[f] = best[f] + BOUND_SLACK * (1.0 + best[f].abs() + wyy);
        }
        // |t| at the points as low as the best, and on the intervals whose zeroth-order bound
        // E ≥ ½(f(a) + q(b)) (f rises, q falls) does not exclude them.
        let mut bound = [0.0f64; BLOCK];
        for j in 0..BANK_POINTS {
            let p = &bank.inv[j];
            for f in 0..BLOCK {
                let t = self.b1[j][f].abs() * p.inv_root;
                if e[j][f] <= target[f] && t > bound[f] {
                    bound[f] = t;
                }
            }
            if j + 1 < BANK_POINTS {
                let pb = &bank.inv[j + 1];
                for f in 0..BLOCK {
                    let (b1a, b1b) = (self.b1[j][f], self.b1[j + 1][f]);
                    let t =
                        ((p.abs_wy + b1a) - (pb.abs_wy - b1b)).abs().max(((pb.abs_wy + b1b) - (p.abs_wy - b1a)).abs());
                    let t = 0.5 * t * pb.inv_root;
                    if 0.5 * (p.f + q[j + 1][f]) <= target[f] && t > bound[f] {
                        bound[f] = t;
                    }
                }
            }
        }
        for f in 0..BLOCK {
            if !best[f].is_finite() || bound[f].is_nan() {
                bound[f] = f64::INFINITY;
            }
        }
        for f in 0..len {
            if bound[f] * (1.0 + BOUND_SLACK) >= thresholds[f] * (1.0 - BOUND_SLACK) {
                signs.clear();
                signs.extend(rows.iter().map(|&k| by_study[k * m + i0 + f]));
                let b1: [f64; BANK_POINTS] = std::array::from_fn(|j| self.b1[j][f]);
                bound[f] = bound[f].min(refined(bank, signs, &b1));
            }
        }
        bound
    }
}

/// An upper bound on |t| of the global REML fit of one flip (`signs` of the valid rows, `b1`
/// its Σ w y at the bank's points), over the best point and the intervals the energy bounds of
/// `global.rs` cannot exclude (slope of one sign, or nothing as low as the best point): the
/// global minimum lies there. On an interval [a, b] the positive and negative terms of Σ w y
/// are monotone in σ² and Σw ≥ Σw(b). +∞ where the points do not bound it.
fn refined(bank: &FlipBank, signs: &[f64], b1: &[f64; BANK_POINTS]) -> f64 {
    let (mut q, mut q1, mut e) = ([0.0; BANK_POINTS], [0.0; BANK_POINTS], [0.0; BANK_POINTS]);
    let mut best = f64::INFINITY;
    for (j, p) in bank.inv.iter().enumerate() {
        let w2y = bank.terms(j).1;
        let b2: f64 = w2y.iter().zip(signs).map(|(w, s)| w * s).sum();
        let gamma = b1[j] * p.inv_sum_w;
        q[j] = p.wyy - gamma * b1[j];
        q1[j] = -(p.w2yy - 2.0 * gamma * b2 + gamma * gamma * p.sum_w2);
        e[j] = 0.5 * (p.f + q[j]);
        best = best.min(e[j]);
    }
    if !best.is_finite() {
        return f64::INFINITY;
    }
    // The sums here differ from the search's by rounding, relative to Σwy² (q is a difference).
    let wyy = bank.inv.iter().map(|p| p.wyy).fold(0.0, f64::max);
    let target = best + BOUND_SLACK * (1.0 + best.abs() + wyy);
    let mut bound = 0.0f64;
    for (j, p) in bank.inv.iter().enumerate() {
        if e[j] <= target {
            bound = bound.max(b1[j].abs() * p.inv_root);
        }
    }
    for j in 0..BANK_POINTS - 1 {
        let (pa, pb) = (&bank.inv[j], &bank.inv[j + 1]);
        // The slope has one sign on [a, b]: its minimum is an end point, covered above or not
        // the global minimum.
        let up = pb.f1 + q1[j] > BOUND_SLACK * (pb.f1 + q1[j].abs());
        let down = pa.f1 + q1[j + 1] < -BOUND_SLACK * (pa.f1 + q1[j + 1].abs());
        if up || down || 0.5 * min_pl(pa.s2, pb.s2, (q[j], q1[j]), (q[j + 1], q1[j + 1]), (pa.f, pb.f)) > target {
            continue;
        }
        // pos = ½(Σ|wy| + Σwy), neg = ½(Σwy − Σ|wy|) at each end.
        let (b1a, b1b) = (b1[j], b1[j + 1]);
        let t = ((pa.abs_wy + b1a) - (pb.abs_wy - b1b)).abs().max(((pb.abs_wy + b1b) - (pa.abs_wy - b1a)).abs());
        bound = bound.max(0.5 * t * pb.inv_root);
    }
    if bound.is_nan() {
        f64::INFINITY
    } else {
        bound
    }
}
