//! The lookup screen of the unweighted max-t null: the flips as bit masks, a bag's studies in
//! lookup groups of at most `TABLE_STUDIES`, and per panel the tables of their signed partial
//! sums (f32, scaled to ρ = S/√(m·SS)), so that an iteration costs one table row per group.

use super::panels::LANES;
use super::FlipMatrix;

/// Most studies per lookup group of the max-t null: 2^g rows of LANES values per group, so the
/// tables of 21 studies (3 groups of 7, 384 rows, 24 KB) stay in L1.
const TABLE_STUDIES: usize = 8;

/// Sign patterns of the max-t null: bit k of `words` u64s per iteration is set iff study k is
/// flipped (sign −1).
pub(super) struct NegMasks {
    words: usize,
    bits: Vec<u64>,
}

impl NegMasks {
    pub(super) fn new(flips: &FlipMatrix) -> NegMasks {
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
pub(super) struct Plan {
    /// Per group: (position of its first study in the bag, number of studies).
    pub(super) groups: Vec<(usize, usize)>,
    /// Per group: first table row.
    base: Vec<u32>,
    /// Rows of all tables.
    rows: usize,
    /// Per group: runs of consecutive study indices as (mask word, shift, length, bit offset
    /// in the pattern), to cut the group's pattern out of the flip masks.
    runs: Vec<Vec<(usize, u32, u32, u32)>>,
}

impl Plan {
    pub(super) fn new(studies: &[usize]) -> Plan {
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
    pub(super) fn indices(&self, masks: &NegMasks, idx: &mut Vec<u32>) {
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
pub(super) fn build_tables(
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
pub(super) fn rho_margin(m: usize) -> f64 {
    1e-5 + m as f64 * 1e-7
}

/// Screen threshold (f32) for a running maximum b of the directed t: t > b ⇔ ρ > b/√(dof + b²);
/// −∞ (everything passes) while there is no maximum yet.
pub(super) fn rho_threshold(b: f64, dof: f64, margin: f64) -> f32 {
    if b == f64::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    let r = if b.abs() > 1e100 { b.signum() } else { b / (dof + b * b).sqrt() };
    (r - margin) as f32
}

/// ρ' of the 8 lanes of a panel under one iteration: the sum of its groups' rows.
#[inline(always)]
pub(super) fn rho_lookup(tables: &[[f32; LANES]], rows: &[u32]) -> [f32; LANES] {
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
pub(super) fn scan_panel<const G: usize, const TWO: bool>(
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
