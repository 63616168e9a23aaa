//! Sign-flip permutation inference (`docs/estimators.md` §9): NiMARE's MT19937 flip
//! matrix, the Monte-Carlo max-statistic null of PermutedOLS (unweighted and CR2-weighted one-sample
//! t, per bag), a generic max-statistic null for any estimator, the FWE maps derived from a null,
//! and the empirical voxelwise null.
//!
//! Determinism (ARCHITECTURE.md, invariants): the flips are drawn up front, sequentially; work is split into
//! blocks of iterations (or voxels) whose results are written in index order, and every value is
//! computed by the same sequence of floating-point operations whatever the thread count.
//!
//! The blocked one-sample t kernels copy each bag into panels of `LANES` voxels (study-major
//! inside a panel) and evaluate `GROUP` iterations per pass, a small GEMM-like loop: for every
//! study, every lane adds `sign × value`. The sum runs over the bag's studies in ascending order
//! from 0, exactly as [`crate::ttest::one_sample_t`] sums the flipped values, so the t values are
//! bit-identical to that function's.
//!
//! The unweighted max-t null ([`max_t_null`]) instead screens every (voxel, iteration) by table
//! lookup of signed partial sums (no multiplications; f32, with a proven slack) and computes
//! the exact t, in that same order, only where it could raise a maximum; its workers split the
//! voxels and merge maxima, which is exact, so it too is identical for any thread count.

use crate::bags::{bags, Bag};
use crate::cr2::Cr2Weights;
use crate::mt19937::Mt19937;
use crate::transform::{p_to_z, t_to_z, Tail};
use crate::{StudyVoxels, TestMaps};
use rayon::prelude::*;
use std::ops::Range;

/// Voxels per panel of the blocked kernels.
const LANES: usize = 8;
/// Iterations evaluated per pass over a panel (each panel value is loaded once per GROUP).
const GROUP: usize = 4;
/// Iterations per parallel task of the max-statistic nulls (a multiple of `GROUP`); every task
/// streams the data once, so larger blocks mean less memory traffic and fewer tasks.
const ITER_BLOCK: usize = 64;
/// Panels per parallel task of the empirical voxelwise null.
const PANEL_BLOCK: usize = 32;
/// |t_to_z(t, ν)| ≤ |t| (t tails are heavier than normal ones); with this margin for rounding a
/// bag group whose largest t is below the running maximum z cannot raise it and is skipped.
const PRUNE_MARGIN: f64 = 1e-9;
/// Most studies per lookup group of the max-t null: 2^g rows of LANES values per group, so the
/// tables of 21 studies (3 groups of 7, 384 rows, 24 KB) stay in L1.
const TABLE_STUDIES: usize = 8;
/// Panels per parallel task of the max-t null's second pass (every task runs all iterations);
/// a multiple of `SEED_STRIDE`.
const NULL_PANEL_BLOCK: usize = 128;
/// Every SEED_STRIDE-th panel of a bag is in the first pass of the max-t null.
const SEED_STRIDE: usize = 16;
/// Largest K accepted by [`FlipMatrix::exact`] (2^20 rows of 20 signs is 168 MB).
const MAX_EXACT_STUDIES: usize = 20;

/// N × K matrix of ±1 study signs, one row per permutation iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipMatrix {
    n_iters: usize,
    n_studies: usize,
    signs: Vec<f64>,
}

impl FlipMatrix {
    /// NiMARE's flips: NumPy `RandomState(seed).choice((-1.0, 1.0), size=(n_iters, n_studies))`,
    /// i.e. MT19937 `init_genrand(seed)`, one 32-bit output per (iteration, study) in row-major
    /// order, odd → +1, even → −1.
    pub fn nimare(n_iters: usize, n_studies: usize, seed: u32) -> FlipMatrix {
        let mut rng = Mt19937::new(seed);
        let signs = (0..n_iters * n_studies).map(|_| if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 }).collect();
        FlipMatrix { n_iters, n_studies, signs }
    }

    /// All 2^K sign vectors: row i flips study k iff bit k of i is set, so row 0 is the identity
    /// (the observed data are one of the rows). For K ≤ 20; use it when 2^K ≤ the requested
    /// number of iterations.
    #[track_caller]
    pub fn exact(n_studies: usize) -> FlipMatrix {
        assert!(n_studies <= MAX_EXACT_STUDIES, "2^{n_studies} sign vectors are too many to enumerate");
        let n_iters = 1usize << n_studies;
        let signs = (0..n_iters)
            .flat_map(|i| (0..n_studies).map(move |k| if (i >> k) & 1 == 1 { -1.0 } else { 1.0 }))
            .collect();
        FlipMatrix { n_iters, n_studies, signs }
    }

    /// The flips of a permutation run: when `exact` and 2^K − 1 ≤ `n_iters`, every sign vector
    /// but the identity (the +1 of the permutation p is then the observed labelling itself, so
    /// p = (count + 1)/2^K is the exact permutation p-value); otherwise NiMARE's.
    pub fn for_run(n_iters: usize, n_studies: usize, seed: u32, exact: bool) -> FlipMatrix {
        FlipMatrix::run_rows(n_iters, n_studies, seed, exact, 0..usize::MAX)
    }

    /// The rows `rows` of [`FlipMatrix::for_run`], generated without the rows before them being
    /// kept: a permutation run in slices (chunks in memory, or shards on several machines) sees
    /// exactly the flips of the whole run.
    pub fn run_rows(n_iters: usize, n_studies: usize, seed: u32, exact: bool, rows: Range<usize>) -> FlipMatrix {
        let mut stream = FlipStream::new(n_iters, n_studies, seed, exact);
        stream.skip(rows.start);
        stream.next_chunk(rows.end - rows.start).unwrap_or(FlipMatrix { n_iters: 0, n_studies, signs: Vec::new() })
    }

    /// Wrap row-major signs (`signs[i * n_studies + k]`), each +1 or −1.
    #[track_caller]
    pub fn from_signs(n_studies: usize, signs: Vec<f64>) -> FlipMatrix {
        assert!(n_studies > 0 && signs.len().is_multiple_of(n_studies), "signs are not rows of {n_studies} studies");
        assert!(signs.iter().all(|s| s.abs().to_bits() == 1f64.to_bits()), "every sign must be +1 or -1");
        FlipMatrix { n_iters: signs.len() / n_studies, n_studies, signs }
    }

    /// The rows in consecutive batches of at most `rows` rows, in order.
    #[track_caller]
    pub fn batches(&self, rows: usize) -> impl Iterator<Item = FlipMatrix> + '_ {
        assert!(rows > 0, "batches of zero rows");
        self.signs.chunks(rows * self.n_studies).map(|s| FlipMatrix::from_signs(self.n_studies, s.to_vec()))
    }

    /// Group flips expanded to images: image k takes the sign of column `codes[k]`, so the images
    /// of a dependence group are flipped together (`docs/dependence.md`). `self` has one column
    /// per group, e.g. `FlipMatrix::nimare(n, grouping.n_groups(), seed)` as NiMARE draws them.
    #[track_caller]
    pub fn expand(&self, codes: &[usize]) -> FlipMatrix {
        assert!(codes.iter().all(|&c| c < self.n_studies), "a group code has no column");
        let signs = (0..self.n_iters).flat_map(|i| codes.iter().map(move |&c| self.row(i)[c])).collect();
        FlipMatrix { n_iters: self.n_iters, n_studies: codes.len(), signs }
    }

    /// Number of iterations N (rows).
    pub fn n_iters(&self) -> usize {
        self.n_iters
    }

    /// Number of studies K (columns).
    pub fn n_studies(&self) -> usize {
        self.n_studies
    }

    /// The K signs of iteration `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.signs[i * self.n_studies..(i + 1) * self.n_studies]
    }
}

/// The flips of a run ([`FlipMatrix::for_run`]) in chunks of rows, so that no more than one
/// chunk is held: NiMARE's MT19937 stream continues from chunk to chunk.
#[derive(Clone, Debug)]
pub struct FlipStream {
    n_studies: usize,
    /// Rows of the whole run.
    total: usize,
    /// Rows handed out (or skipped) so far.
    next: usize,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Nimare(Box<Mt19937>),
    /// Every sign vector but the identity: row i is sign vector i + 1 of [`FlipMatrix::exact`].
    Exact,
}

impl FlipStream {
    /// The flips [`FlipMatrix::for_run`] would return, as a stream.
    pub fn new(n_iters: usize, n_studies: usize, seed: u32, exact: bool) -> FlipStream {
        if exact && n_studies <= MAX_EXACT_STUDIES && (1usize << n_studies) - 1 <= n_iters {
            return FlipStream { n_studies, total: (1usize << n_studies) - 1, next: 0, source: Source::Exact };
        }
        FlipStream { n_studies, total: n_iters, next: 0, source: Source::Nimare(Box::new(Mt19937::new(seed))) }
    }

    /// Rows in the whole run.
    pub fn n_iters(&self) -> usize {
        self.total
    }

    /// Rows not handed out yet.
    pub fn remaining(&self) -> usize {
        self.total - self.next
    }

    /// Pass over the next `rows` rows (drawing and dropping their signs).
    pub fn skip(&mut self, rows: usize) {
        let rows = rows.min(self.remaining());
        if let Source::Nimare(rng) = &mut self.source {
            (0..rows * self.n_studies).for_each(|_| {
                rng.next_u32();
            });
        }
        self.next += rows;
    }

    /// The next chunk of at most `max_rows` rows; None at the end of the run.
    pub fn next_chunk(&mut self, max_rows: usize) -> Option<FlipMatrix> {
        let rows = max_rows.min(self.remaining());
        if rows == 0 {
            return None;
        }
        let k = self.n_studies;
        let signs: Vec<f64> = match &mut self.source {
            Source::Nimare(rng) => (0..rows * k).map(|_| if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 }).collect(),
            Source::Exact => (self.next + 1..self.next + 1 + rows)
                .flat_map(|i| (0..k).map(move |j| if (i >> j) & 1 == 1 { -1.0 } else { 1.0 }))
                .collect(),
        };
        self.next += rows;
        Some(FlipMatrix { n_iters: rows, n_studies: k, signs })
    }
}

/// The statistic whose maximum forms the null: |x| two-sided, x one-sided.
fn directed(x: f64, tail: Tail) -> f64 {
    match tail {
        Tail::Two => x.abs(),
        Tail::One => x,
    }
}

/// Max over `z` of |z| (two-sided) or z (one-sided), NaN ignored; −∞ if every value is NaN.
pub fn max_statistic(z: &[f64], tail: Tail) -> f64 {
    z.iter().map(|&v| directed(v, tail)).filter(|v| !v.is_nan()).fold(f64::NEG_INFINITY, f64::max)
}

/// The generic Monte-Carlo max-statistic null (§9, "Monte-Carlo FWE for other estimators").
///
/// For every iteration i, `stat_for_flip(signs_i, z)` writes the estimator's z map of the
/// flipped data (x_k → F_ik·x_k) into `z` (length `n_voxels`, NaN on entry); h0\[i\] is
/// [`max_statistic`] of it. Iterations run in parallel, each thread reusing its own buffer;
/// h0 is in iteration order, identical for any thread count if `stat_for_flip` is deterministic.
pub fn max_null_by<F>(flips: &FlipMatrix, n_voxels: usize, tail: Tail, stat_for_flip: F) -> Vec<f64>
where
    F: Fn(&[f64], &mut [f64]) + Sync,
{
    max_null_by_init(flips, n_voxels, tail, || (), |_, signs, z| stat_for_flip(signs, z))
}

/// [`max_null_by`] with per-thread scratch: `init` builds a workspace that `stat_for_flip` may
/// reuse across the iterations one worker runs (it must not carry results between them).
pub fn max_null_by_init<T, I, F>(flips: &FlipMatrix, n_voxels: usize, tail: Tail, init: I, stat_for_flip: F) -> Vec<f64>
where
    I: Fn() -> T + Sync + Send,
    F: Fn(&mut T, &[f64], &mut [f64]) + Sync,
{
    (0..flips.n_iters())
        .into_par_iter()
        .map_init(
            || (init(), vec![f64::NAN; n_voxels]),
            |(scratch, z), i| {
                z.fill(f64::NAN);
                stat_for_flip(scratch, flips.row(i), z);
                max_statistic(z, tail)
            },
        )
        .collect()
}

/// One bag copied into panels for the blocked kernels.
struct Panelled {
    studies: Vec<usize>,
    voxels: Vec<usize>,
    /// `n_panels × m × LANES`: panel p, study k, lane l at `(p·m + k)·LANES + l`; padding is 0.
    data: Vec<f64>,
    /// Unweighted: m·SS per (padded) voxel, as `one_sample_t` forms it.
    mss: Vec<f64>,
    /// Index of the bag's dof in the list of distinct dofs.
    group: usize,
}

impl Panelled {
    fn m(&self) -> usize {
        self.studies.len()
    }

    fn n_panels(&self) -> usize {
        self.voxels.len().div_ceil(LANES)
    }

    fn panel(&self, p: usize) -> &[f64] {
        let len = self.m() * LANES;
        &self.data[p * len..(p + 1) * len]
    }
}

fn panelled(x: &StudyVoxels, bag: &Bag, group: usize) -> Panelled {
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
fn check_bags(x: &StudyVoxels, bags: &[Bag], flips: &FlipMatrix) {
    assert_eq!(flips.n_studies(), x.n_studies(), "the flip matrix needs one column per study");
    let (k, v) = (x.n_studies(), x.n_voxels());
    for bag in bags {
        assert!(bag.studies.iter().all(|&s| s < k), "bag study out of range");
        assert!(bag.voxels.iter().all(|&i| i < v), "bag voxel out of range");
    }
}

/// A bag that can be fitted: at least two studies and a voxel.
fn usable(bag: &Bag) -> bool {
    bag.studies.len() >= 2 && !bag.voxels.is_empty()
}

/// Index of `dof` in `dofs` (exact match), appending it if new.
fn group_of(dofs: &mut Vec<f64>, dof: f64) -> usize {
    dofs.iter().position(|d| d.to_bits() == dof.to_bits()).unwrap_or_else(|| {
        dofs.push(dof);
        dofs.len() - 1
    })
}

/// Per-iteration, per-lane values of one kernel pass: `[iteration in group][lane]`.
type Block<const W: usize> = [[f64; W]; GROUP];

/// S_i = Σ_k F_ik x_k for GROUP iterations (`signs`: GROUP rows of m) at lanes
/// `lane0..lane0 + W` of a panel, summed over studies in order from 0. `W = LANES` is the
/// vectorised full panel, `W = 1` one voxel of a partial panel: the same operations either way.
#[inline(always)]
fn sums<const W: usize>(panel: &[f64], lane0: usize, signs: &[f64], scale: Option<&[f64]>) -> Block<W> {
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
fn t_from_sum(sum: f64, mss: f64, sqrt_dof: f64) -> f64 {
    sum * sqrt_dof / (mss - sum * sum).max(0.0).sqrt()
}

/// Raise `best` to the directed t if that is finite and larger (a non-finite t comes from zero
/// spread and is NaN in `one_sample_t`).
#[inline(always)]
fn update(best: &mut f64, t: f64, tail: Tail) {
    let a = directed(t, tail);
    if a.abs() < f64::INFINITY && a > *best {
        *best = a;
    }
}

/// Unweighted one-sample t of GROUP flipped iterations at a full panel (empirical null).
#[inline]
fn kernel_t(panel: &[f64], mss: &[f64], signs: &[f64], sqrt_dof: f64) -> Block<LANES> {
    let mut s = sums::<LANES>(panel, 0, signs, None);
    for sg in &mut s {
        for (acc, &mss) in sg.iter_mut().zip(mss) {
            *acc = t_from_sum(*acc, mss, sqrt_dof);
        }
    }
    s
}

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

/// max over groups of t_to_z(t_g, dof_g) (t_g = −∞: group had no finite value), converting only
/// the groups that can still raise the maximum.
fn max_z_over_groups(t: &[f64], dofs: &[f64], order: &mut Vec<usize>) -> f64 {
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

/// Sign patterns of the max-t null: bit k of `words` u64s per iteration is set iff study k is
/// flipped (sign −1).
struct NegMasks {
    words: usize,
    bits: Vec<u64>,
}

impl NegMasks {
    fn new(flips: &FlipMatrix) -> NegMasks {
        let words = flips.n_studies().div_ceil(64).max(1);
        let mut bits = vec![0u64; flips.n_iters() * words];
        for (i, masks) in bits.chunks_exact_mut(words).enumerate() {
            for (k, &f) in flips.row(i).iter().enumerate() {
                if f < 0.0 {
                    masks[k / 64] |= 1 << (k % 64);
                }
            }
        }
        NegMasks { words, bits }
    }
}

/// A bag's studies split into lookup groups of at most `TABLE_STUDIES` (as even as possible):
/// group j's table holds, for each of its 2^g sign patterns, Σ ±x'_k over its studies at every
/// lane of a panel (x' = x/√(m·SS), see [`build_tables`]).
struct Plan {
    /// Per group: (position of its first study in the bag, number of studies).
    groups: Vec<(usize, usize)>,
    /// Per group: first table row.
    base: Vec<u32>,
    /// Rows of all tables.
    rows: usize,
    /// Per group: runs of consecutive study indices as (mask word, shift, length, bit offset
    /// in the pattern), to cut the group's pattern out of the flip masks.
    runs: Vec<Vec<(usize, u32, u32, u32)>>,
}

impl Plan {
    fn new(studies: &[usize]) -> Plan {
        let m = studies.len();
        let n_groups = m.div_ceil(TABLE_STUDIES);
        let (mut groups, mut base, mut runs, mut rows, mut o) = (vec![], vec![], vec![], 0, 0);
        for j in 0..n_groups {
            let g = m / n_groups + usize::from(j < m % n_groups);
            groups.push((o, g));
            base.push(u32::try_from(rows).expect("lookup tables fit u32 rows"));
            rows += 1 << g;
            let mut group_runs: Vec<(usize, u32, u32, u32)> = Vec::new();
            for b in 0..g {
                let k = studies[o + b];
                let (word, shift) = (k / 64, (k % 64) as u32);
                match group_runs.last_mut() {
                    Some(r) if r.0 == word && r.1 + r.2 == shift => r.2 += 1,
                    _ => group_runs.push((word, shift, 1, b as u32)),
                }
            }
            runs.push(group_runs);
            o += g;
        }
        Plan { groups, base, rows, runs }
    }

    /// `idx[i·G + j]`: the table row of group j under iteration i.
    fn indices(&self, masks: &NegMasks, idx: &mut Vec<u32>) {
        let n_groups = self.groups.len();
        idx.clear();
        idx.resize(masks.bits.len() / masks.words * n_groups, 0);
        for (out, words) in idx.chunks_exact_mut(n_groups).zip(masks.bits.chunks_exact(masks.words)) {
            for ((slot, runs), &base) in out.iter_mut().zip(&self.runs).zip(&self.base) {
                let mut pattern = 0u64;
                for &(word, shift, len, offset) in runs {
                    pattern |= ((words[word] >> shift) & ((1u64 << len) - 1)) << offset;
                }
                *slot = base + pattern as u32;
            }
        }
    }
}

/// Scaled panel lanes are those with m·SS in this range: x' = x/√(m·SS) and every bound of
/// [`rho_margin`] hold there without overflow or underflow.
const SCALE_RANGE: std::ops::RangeInclusive<f64> = 1e-250..=1e250;

/// The lookup tables of one panel (rows as laid out by `plan`), built in f64 (`scratch`) and
/// stored in f32, half the bytes and twice the lanes per vector of the scan.
///
/// For a lane with m·SS in [`SCALE_RANGE`], the sum of one row per group is
/// ρ' ≈ ρ = S/√(m·SS) (S the flipped sum), and t = √dof·ρ/√(1 − ρ²) increases with ρ. A lane
/// with m·SS = 0 has no finite t under any flip (S = ±0 gives 0/0, otherwise ±∞): its rows are
/// NaN and it never passes the screen. Any other lane (NaN, ±∞, extreme magnitudes) reads 2,
/// above every threshold, so it always takes the exact path.
fn build_tables(
    panel: &[f64],
    mss: &[f64],
    plan: &Plan,
    scratch: &mut Vec<[f64; LANES]>,
    rows: &mut Vec<[f32; LANES]>,
) {
    scratch.clear();
    scratch.resize(plan.rows, [0.0; LANES]);
    let mut w = [0.0; LANES];
    for (w, &q) in w.iter_mut().zip(mss) {
        if SCALE_RANGE.contains(&q) {
            *w = 1.0 / q.sqrt();
        }
    }
    let value = |k: usize, l: usize| panel[k * LANES + l] * w[l];
    for (&(o, g), &base) in plan.groups.iter().zip(&plan.base) {
        let table = &mut scratch[base as usize..base as usize + (1 << g)];
        for b in 0..g {
            for (l, acc) in table[0].iter_mut().enumerate() {
                *acc += value(o + b, l);
            }
        }
        for p in 1..1usize << g {
            // Pattern p = pattern q plus the flip of study `high`.
            let high = (usize::BITS - 1 - p.leading_zeros()) as usize;
            let q = table[p ^ (1 << high)];
            for (l, (out, &prev)) in table[p].iter_mut().zip(&q).enumerate() {
                *out = prev - 2.0 * value(o + high, l);
            }
        }
    }
    let g0 = 1 << plan.groups[0].1;
    for (l, &q) in mss.iter().enumerate() {
        if q == 0.0 {
            scratch[..g0].iter_mut().for_each(|r| r[l] = f64::NAN);
        } else if !SCALE_RANGE.contains(&q) {
            for (r, row) in scratch.iter_mut().enumerate() {
                row[l] = if r < g0 { 2.0 } else { 0.0 };
            }
        }
    }
    rows.clear();
    rows.extend(scratch.iter().map(|r| r.map(|v| v as f32)));
}

/// Absolute slack of the ρ screen for m studies. With Σ|x'| ≤ 1, the f64 tables are within a
/// few (m + 16)·2⁻⁵³ of ρ, and the exact t (its S, m·SS, division and square root), mapped back
/// to ρ, within a few (m + 8)·2⁻⁵³; the f32 rounding of each table entry, of each of the ⌈m/8⌉ − 1
/// additions and of the threshold adds ≤ 2⁻²⁴ each (6e−8). The slack is > 40 times the sum.
fn rho_margin(m: usize) -> f64 {
    1e-5 + m as f64 * 1e-7
}

/// Screen threshold (f32) for a running maximum b of the directed t: t > b ⇔ ρ > b/√(dof + b²);
/// −∞ (everything passes) while there is no maximum yet.
fn rho_threshold(b: f64, dof: f64, margin: f64) -> f32 {
    if b == f64::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    let r = if b.abs() > 1e100 { b.signum() } else { b / (dof + b * b).sqrt() };
    (r - margin) as f32
}

/// ρ' of the 8 lanes of a panel under one iteration: the sum of its groups' rows.
#[inline(always)]
fn rho_lookup(tables: &[[f32; LANES]], rows: &[u32]) -> [f32; LANES] {
    let mut rho = tables[rows[0] as usize];
    for &r in &rows[1..] {
        let row = &tables[r as usize];
        for (acc, &v) in rho.iter_mut().zip(row) {
            *acc += v;
        }
    }
    rho
}

/// Screen every iteration of one panel by lookup (`idx`: `G` table rows per iteration; `G = 0`:
/// `n_groups`), calling `on_pass(i, thr[i])` (which returns the new threshold) when the directed ρ' of
/// some lane reaches `thr[i]`.
#[inline(always)]
fn scan_panel<const G: usize, const TWO: bool>(
    tables: &[[f32; LANES]],
    idx: &[u32],
    n_groups: usize,
    thr: &mut [f32],
    mut on_pass: impl FnMut(usize, f32) -> f32,
) {
    let n_groups = if G == 0 { n_groups } else { G };
    for (i, (rows, th)) in idx.chunks_exact(n_groups).zip(thr.iter_mut()).enumerate() {
        let rho = rho_lookup(tables, rows);
        let mut pass = false;
        for &v in &rho {
            pass |= if TWO { v.abs() } else { v } >= *th;
        }
        if pass {
            *th = on_pass(i, *th);
        }
    }
}

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
/// A voxel where one of its bag's studies is NaN has NaN t (bags from [`bags`] never do).
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

/// Monte-Carlo max-statistic null of the sample-size-weighted PermutedOLS t
/// (`use_sample_size=True`): as [`max_t_null`] with the CR2 t of the signed values,
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

/// Monte-Carlo FWE p (§9 step 3): p(v) = (#{i : h0\[i\] ≥ s(v)} + 1)/(N + 1) with s = |z_obs|
/// (two-sided) or z_obs (one-sided); ties count as exceedances, NaN where z_obs is NaN, NaN
/// entries of h0 never exceed. Minimum 1/(N + 1).
pub fn fwe_p(z_obs: &[f64], h0: &[f64], tail: Tail) -> Vec<f64> {
    let mut sorted: Vec<f64> = h0.iter().copied().filter(|h| !h.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let denominator = (h0.len() + 1) as f64;
    z_obs
        .iter()
        .map(|&z| {
            if z.is_nan() {
                return f64::NAN;
            }
            let s = directed(z, tail);
            let exceed = sorted.len() - sorted.partition_point(|&h| h < s);
            (exceed + 1) as f64 / denominator
        })
        .collect()
}

/// Where [`fwe_p`] crosses `alpha`: a statistic s (|z| two-sided, z one-sided) has FWE
/// p ≤ `alpha` exactly when s > the returned value. `None` when no statistic can reach `alpha`
/// with N = `h0.len()` iterations ((N + 1)·alpha < 1); −∞ when every statistic does (at least
/// N + 1 − (N + 1)·alpha entries of h0 are NaN).
pub fn fwe_threshold(h0: &[f64], alpha: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = h0.iter().copied().filter(|h| !h.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let denominator = (h0.len() + 1) as f64;
    // The most exceedances m with (m + 1)/(N + 1) ≤ alpha, by fwe_p's own arithmetic.
    let ok = |m: usize| (m + 1) as f64 / denominator <= alpha;
    let guess = (alpha * denominator).floor().max(0.0) as usize;
    let m = (0..=guess + 1).rev().find(|&m| ok(m))?;
    // s > the (m + 1)-th largest value leaves at most m values ≥ s.
    Some(if m >= sorted.len() { f64::NEG_INFINITY } else { sorted[sorted.len() - 1 - m] })
}

/// The three Monte-Carlo FWE maps of §9 step 4 (before the float32 cast of §10).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FweMaps {
    /// `p_level-voxel_corr-FWE_method-montecarlo`.
    pub p: Vec<f64>,
    /// `z_level-voxel_…`: p_to_z(p, tail)·sign(z_obs), sign 0 → +1.
    pub z: Vec<f64>,
    /// `logp_level-voxel_…`: −log10 p.
    pub logp: Vec<f64>,
}

/// [`fwe_p`] and the z and logp maps derived from it.
pub fn fwe_maps(z_obs: &[f64], h0: &[f64], tail: Tail) -> FweMaps {
    let p = fwe_p(z_obs, h0, tail);
    let z = p.iter().zip(z_obs).map(|(&p, &zo)| p_to_z(p, tail) * sign_or_plus(zo)).collect();
    // + 0.0: p = 1 gives +0, not −0.
    let logp = p.iter().map(|&p| -p.log10() + 0.0).collect();
    FweMaps { p, z, logp }
}

/// −1 for negative x, +1 otherwise (0 → +1); NaN stays NaN.
fn sign_or_plus(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}

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
