//! Sign-flip permutations of one-sample FLAME1 (MFX_GLM's Monte-Carlo FWE and permutation
//! cluster inference) without refitting every voxel of every flip, with every statistic
//! exactly that of a full refit of the flipped copes by the same optimiser.
//!
//! Sign flips leave each voxel's variances, Σ ln(s + σ²), Σw and Σwy² unchanged and change
//! only the signed sums of w·y. So, per voxel (voxels outside, flips inside):
//! - the weights at the global search's starting points are computed once and reused by every
//!   flip; a refit then evaluates exactly what [`flame`](super::flame) evaluates (same code,
//!   same bits), only the starting points' weights come from the cache;
//! - for the maximum over voxels, a flip's |t| is bounded from those starting points alone:
//!   the global minimum lies in the best point or in an interval the energy bounds of
//!   `global.rs` cannot exclude, and on an interval [a, b] the positive and negative terms of
//!   Σ w y are monotone in σ² and Σw ≥ Σw(b), so |t| = |Σwy|/√Σw is bounded there. A voxel
//!   whose bound lies below the flip's maximum so far cannot raise it and is not refitted.
//!   Maxima are exact, so the null does not depend on the order or the thread count.

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

/// Voxels per parallel task.
const CHUNK: usize = 1024;
/// Flips whose bounds are computed together (arrays over flips vectorise).
const BLOCK: usize = 32;
/// Voxels refitted for every flip before the main pass, to start each flip's maximum high.
const SEED_VOXELS: usize = 2048;
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
    let seeds = kernel.seed_voxels();
    let seed = kernel.max_over(&seeds, &vec![f64::NEG_INFINITY; flips.n_iters()], tail);
    all.par_chunks(CHUNK)
        .map(|voxels| kernel.max_over(voxels, &seed, tail))
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
    assert!(iters.end <= flips.n_iters(), "flips {iters:?} of {}", flips.n_iters());
    let kernel = Kernel::new(con, var, flips, optimizer);
    let per_voxel: Vec<Vec<f64>> = (0..con.n_voxels())
        .into_par_iter()
        .map_init(
            || (Buf::new(kernel.k), vec![0.0; kernel.k]),
            |(buf, flipped), v| {
                let prepared = kernel.prepare(v, buf, &mut None);
                let z =
                    iters.clone().map(|i| if prepared { kernel.refit(v, i, buf, flipped) } else { f64::NAN }).collect();
                buf.grid_set = false;
                z
            },
        )
        .collect();
    (0..iters.len()).map(|i| per_voxel.iter().map(|z| z[i]).collect()).collect()
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

    /// z of voxel `v` refitted on flip `i` (after [`Kernel::prepare`]).
    fn refit(&self, v: usize, i: usize, buf: &mut Buf, flipped: &mut [f64]) -> f64 {
        for ((f, &c), &sign) in flipped.iter_mut().zip(self.con.voxel(v)).zip(self.flips.row(i)) {
            *f = c * sign;
        }
        self.ctx().voxel(flipped, self.var.voxel(v), buf).z
    }

    /// Per flip, the larger of `start` and the statistic over `voxels`.
    fn max_over(&self, voxels: &[usize], start: &[f64], tail: Tail) -> Vec<f64> {
        let mut best = start.to_vec();
        let m = best.len();
        let mut buf = Buf::new(self.k);
        let (mut flipped, mut bank, mut rows) = (vec![0.0; self.k], None, Vec::new());
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
            for i0 in (0..m).step_by(BLOCK) {
                let len = BLOCK.min(m - i0);
                let bounds = match bank {
                    Some(bank) if best[i0..i0 + len].iter().any(|b| b.is_finite()) => {
                        block.bounds(bank, &self.by_study, m, &rows, i0, len)
                    }
                    _ => [f64::INFINITY; BLOCK],
                };
                for (i, &t) in (i0..i0 + len).zip(&bounds) {
                    let b = &mut best[i];
                    if b.is_finite() {
                        let cached = &mut threshold[i * self.k + n - 1];
                        if cached.1.to_bits() != b.to_bits() {
                            *cached = (z_to_t(*b, dof), *b);
                        }
                        if t * (1.0 + BOUND_SLACK) < cached.0 * (1.0 - BOUND_SLACK) {
                            continue; // this voxel cannot reach the flip's maximum so far
                        }
                    }
                    let z = self.refit(v, i, &mut buf, &mut flipped);
                    let stat = match tail {
                        Tail::Two => z.abs(),
                        Tail::One => z,
                    };
                    if stat > *b {
                        *b = stat;
                    }
                }
            }
        }
        best
    }
}

/// Per-block arrays of the bound: point j's quantity for flip f at `[j][f]`.
struct Block {
    b1: [[f64; BLOCK]; BANK_POINTS],
    b2: [[f64; BLOCK]; BANK_POINTS],
    e: [[f64; BLOCK]; BANK_POINTS],
    q: [[f64; BLOCK]; BANK_POINTS],
    q1: [[f64; BLOCK]; BANK_POINTS],
}

impl Default for Block {
    fn default() -> Self {
        let z = [[0.0; BLOCK]; BANK_POINTS];
        Block { b1: z, b2: z, e: z, q: z, q1: z }
    }
}

impl Block {
    /// Upper bounds on |t| of the global REML fit of the flips `i0..i0 + len` at one voxel
    /// (valid studies `rows`, `bank` at the [`BOUND_GRID`] points; `by_study` as in
    /// [`Kernel`], `m` flips in all); +∞ where the points do not bound it. The global minimum
    /// lies at the best point or in an interval the energy bounds of `global.rs` cannot
    /// exclude (slope of one sign, or nothing as low as the best point); there, the positive
    /// and negative terms of Σ w y are monotone in σ² and Σw ≥ Σw(b).
    // Arrays over points and flips are indexed together.
    #[allow(clippy::needless_range_loop)]
    fn bounds(
        &mut self,
        bank: &FlipBank,
        by_study: &[f64],
        m: usize,
        rows: &[usize],
        i0: usize,
        len: usize,
    ) -> [f64; BLOCK] {
        // Σ w y and Σ w² y of every point and flip: the only sums the signs enter.
        for j in 0..BANK_POINTS {
            self.b1[j] = [0.0; BLOCK];
            self.b2[j] = [0.0; BLOCK];
        }
        for (r, &k) in rows.iter().enumerate() {
            let mut signs = [0.0; BLOCK];
            signs[..len].copy_from_slice(&by_study[k * m + i0..k * m + i0 + len]);
            for j in 0..BANK_POINTS {
                let (wy, w2y) = bank.terms(j);
                let (a, b) = (wy[r], w2y[r]);
                for f in 0..BLOCK {
                    self.b1[j][f] += a * signs[f];
                    self.b2[j][f] += b * signs[f];
                }
            }
        }
        let mut best = [f64::INFINITY; BLOCK];
        for (j, p) in bank.inv.iter().enumerate() {
            for f in 0..BLOCK {
                let gamma = self.b1[j][f] / p.sum_w;
                self.q[j][f] = p.wyy - gamma * self.b1[j][f];
                self.q1[j][f] = -(p.w2yy - 2.0 * gamma * self.b2[j][f] + gamma * gamma * p.sum_w2);
                self.e[j][f] = 0.5 * (p.f + self.q[j][f]);
                best[f] = best[f].min(self.e[j][f]);
            }
        }
        // The sums here differ from the search's by rounding, relative to Σwy² (q is a difference).
        let wyy = bank.inv.iter().map(|p| p.wyy).fold(0.0, f64::max);
        let mut target = [0.0f64; BLOCK];
        for f in 0..BLOCK {
            target[f] = best[f] + BOUND_SLACK * (1.0 + best[f].abs() + wyy);
        }
        let mut bound = [0.0f64; BLOCK];
        for (j, p) in bank.inv.iter().enumerate() {
            let root = p.sum_w.sqrt();
            for f in 0..BLOCK {
                let t = self.b1[j][f].abs() / root;
                if self.e[j][f] <= target[f] && t > bound[f] {
                    bound[f] = t;
                }
            }
        }
        for j in 0..BANK_POINTS - 1 {
            let (pa, pb) = (&bank.inv[j], &bank.inv[j + 1]);
            for f in 0..BLOCK {
                let (qa, qb, q1a, q1b) = (self.q[j][f], self.q[j + 1][f], self.q1[j][f], self.q1[j + 1][f]);
                // The slope has one sign on [a, b]: its minimum is an end point, covered above or
                // not the global minimum.
                let up = pb.f1 + q1a > BOUND_SLACK * (pb.f1 + q1a.abs());
                let down = pa.f1 + q1b < -BOUND_SLACK * (pa.f1 + q1b.abs());
                if up || down || 0.5 * min_pl(pa.s2, pb.s2, (qa, q1a), (qb, q1b), (pa.f, pb.f)) > target[f] {
                    continue;
                }
                let (b1a, b1b) = (self.b1[j][f], self.b1[j + 1][f]);
                // pos = ½(Σ|wy| + Σwy), neg = ½(Σwy − Σ|wy|) at each end.
                let (pos_a, neg_a) = (0.5 * (pa.abs_wy + b1a), 0.5 * (b1a - pa.abs_wy));
                let (pos_b, neg_b) = (0.5 * (pb.abs_wy + b1b), 0.5 * (b1b - pb.abs_wy));
                let t = (pos_a + neg_b).abs().max((pos_b + neg_a).abs()) / pb.sum_w.sqrt();
                bound[f] = bound[f].max(t);
            }
        }
        for f in 0..BLOCK {
            if !best[f].is_finite() || bound[f].is_nan() {
                bound[f] = f64::INFINITY;
            }
        }
        bound
    }
}
