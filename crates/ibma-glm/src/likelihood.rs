//! The likelihood estimators of PyMARE 0.0.13 as NiMARE 0.22.1 runs them:
//! VarianceBasedLikelihood (τ² by ML or REML with the study variances known) and
//! SampleSizeBasedLikelihood (τ² and a shared σ² from the sample sizes), `docs/estimators.md` §7–8.
//!
//! Both minimise a profiled negative log-likelihood in one variable with the bounded scalar
//! search of §7, which PyMARE runs in *lock-step* over all voxels of a model: every voxel keeps
//! stepping until all of them satisfy the stopping test. Each voxel's trajectory depends only
//! on its own data, so the lock-step result is reproduced voxel-parallel: [`model_iterations`]
//! finds the model's iteration count N from every voxel's per-iteration stop flags, then each
//! voxel reports its state after exactly N steps.

use crate::design::Design;
use crate::linalg::{Cholesky, SmallMat, MAX_P};
use crate::metareg::{contrast_stats, Rows};
use crate::moments::{dersimonian_laird_tau2, Mean};
use crate::wls::fe_stats;
use crate::{RegressionMaps, SmallSampleCorrection, VoxelFit};
use ibma_stats::bags::Bag;
use ibma_stats::StudyVoxels;
use rayon::prelude::*;

/// Which likelihood is maximised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Maximum likelihood.
    Ml,
    /// Restricted (residual) maximum likelihood.
    Reml,
}

/// Bracket-width tolerance, relative to the initial bracket (PyMARE `xtol`).
const XTOL: f64 = 1e-6;
/// Relative flatness tolerance on the objective (PyMARE `ftol`).
const FTOL: f64 = 1e-12;
/// Maximum number of refinement steps; the per-iteration flags fit in a `u64`.
pub const MAXITER: usize = 50;
/// Number of scan points.
const N_SCAN: usize = 31;
/// Golden-section fraction (3 − √5)/2.
const GOLDEN: f64 = 0.381_966_011_250_105_1;
/// Upper end of the VBL search variable u (τ² = s·u/(1 − u) stays finite).
pub(crate) const U_MAX: f64 = 1.0 - 1e-9;
/// SSBL's floor on the weighted residual sum of squares (smallest normal f64).
const D_FLOOR: f64 = 2.225_073_858_507_201_4e-308;
/// Voxels per rayon task inside one model; small models run on one thread.
const VOXEL_CHUNK: usize = 512;

/// The 31 scan fractions: {j/24} ∪ {1e−6, 1e−4, 1e−2, 0.99, 0.9999, 0.999999}, sorted.
fn scan_fractions() -> [f64; N_SCAN] {
    let mut f = [0.0; N_SCAN];
    for (j, x) in f.iter_mut().take(25).enumerate() {
        *x = j as f64 / 24.0;
    }
    f[25..].copy_from_slice(&[1e-6, 1e-4, 1e-2, 0.99, 0.9999, 0.999_999]);
    f.sort_by(f64::total_cmp);
    f
}

/// A scalar objective on the search interval. NaN is treated as +∞ by the search.
pub trait Objective {
    /// The objective at `x`.
    fn eval(&self, x: f64) -> f64;
}

fn eval_inf(f: &impl Objective, x: f64) -> f64 {
    let y = f.eval(x);
    if y.is_nan() {
        f64::INFINITY
    } else {
        y
    }
}

/// NaN-propagating maximum (NaN makes the flatness test fail).
fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// One voxel's state in `bounded_scalar_min` (docs/estimators.md §7): a scan of 31 points, then
/// parabolic / golden-section steps on the bracket around the best scan point.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    low: f64,
    mid: f64,
    high: f64,
    f_low: f64,
    f_mid: f64,
    f_high: f64,
    tol: f64,
    last_step: f64,
    prev_step: f64,
    /// The best scan point is an end of the interval.
    settled: bool,
    best_x: f64,
    best_f: f64,
}

impl Search {
    /// Scan `[lo, hi]` and set up the bracket (steps 1–2).
    pub fn start(f: &impl Objective, lo: f64, hi: f64) -> Search {
        let fr = scan_fractions();
        let mut xs = [0.0; N_SCAN];
        let mut fs = [0.0; N_SCAN];
        let mut best = 0;
        for j in 0..N_SCAN {
            xs[j] = lo + fr[j] * (hi - lo);
            fs[j] = eval_inf(f, xs[j]);
            if fs[j] < fs[best] {
                best = j;
            }
        }
        let m = best.clamp(1, N_SCAN - 2);
        let (low, mid, high) = (xs[m - 1], xs[m], xs[m + 1]);
        let width = high - low;
        Search {
            low,
            mid,
            high,
            f_low: fs[m - 1],
            f_mid: fs[m],
            f_high: fs[m + 1],
            tol: XTOL * width,
            last_step: width,
            prev_step: width,
            settled: best == 0 || best == N_SCAN - 1,
            best_x: xs[best],
            best_f: fs[best],
        }
    }

    /// This voxel's own stopping test: settled, flat, or bracket below tolerance (step 3a–b).
    pub fn flagged(&self) -> bool {
        let spread = max_nan((self.f_low - self.f_mid).abs(), (self.f_high - self.f_mid).abs());
        let flat = spread <= FTOL * (1.0 + self.f_mid.abs());
        self.settled || flat || self.high - self.low <= self.tol
    }

    /// The flag can never clear again: the bracket only shrinks and `settled` is fixed.
    fn flagged_for_good(&self) -> bool {
        self.settled || self.high - self.low <= self.tol
    }

    /// One parabolic or golden-section step (step 3c–g).
    pub fn step(&mut self, f: &impl Objective) {
        let (low, mid, high) = (self.low, self.mid, self.high);
        let (f_low, f_mid, f_high) = (self.f_low, self.f_mid, self.f_high);
        let l = mid - low;
        let r = mid - high;
        let den = l * (f_mid - f_high) - r * (f_mid - f_low);
        let curv = (f_high - f_mid) / (high - mid) - (f_mid - f_low) / (mid - low);
        let vertex = mid - 0.5 * (l * l * (f_mid - f_high) - r * r * (f_mid - f_low)) / den;
        let floor = self.tol.max(2.22e-16 * (1.0 + mid.abs()));
        let d = (vertex - mid).abs();
        let usable = curv > 0.0
            && vertex.is_finite()
            && low + floor < vertex
            && vertex < high - floor
            && d > floor
            && d < 0.5 * self.prev_step;
        let golden = if mid - low > high - mid { mid - GOLDEN * (mid - low) } else { mid + GOLDEN * (high - mid) };
        let larger = (mid - low).max(high - mid);
        let c = if usable { vertex } else { golden };
        let fc = eval_inf(f, c);
        if usable {
            self.prev_step = self.last_step;
            self.last_step = d;
        } else {
            self.prev_step = larger;
            self.last_step = GOLDEN * larger;
        }
        let better = fc < f_mid;
        if c > mid {
            if better {
                (self.low, self.f_low) = (mid, f_mid);
            } else {
                (self.high, self.f_high) = (c, fc);
            }
        } else if better {
            (self.high, self.f_high) = (mid, f_mid);
        } else {
            (self.low, self.f_low) = (c, fc);
        }
        if better {
            (self.mid, self.f_mid) = (c, fc);
        }
    }

    /// The answer: the bracket's middle unless the best scan point is better (step 4), so an
    /// optimum exactly at an end of the interval is returned exactly.
    pub fn result(&self) -> f64 {
        if self.f_mid <= self.best_f {
            self.mid
        } else {
            self.best_x
        }
    }
}

/// A voxel's first pass: its stop flag before each step as a bit mask (bit i = flagged after i
/// steps), and the state reached when the flag became permanent (or after [`MAXITER`] steps).
pub fn flag_mask(f: &impl Objective, lo: f64, hi: f64) -> (u64, Search, usize) {
    let mut s = Search::start(f, lo, hi);
    let mut mask = 0u64;
    for it in 0..MAXITER {
        if s.flagged() {
            if s.flagged_for_good() {
                mask |= !0u64 << it;
                return (mask & full_mask(), s, it);
            }
            mask |= 1 << it;
        }
        s.step(f);
    }
    (mask, s, MAXITER)
}

fn full_mask() -> u64 {
    (1u64 << MAXITER) - 1
}

/// The lock-step iteration count of a model from the AND of its voxels' flag masks: the first
/// iteration at which every voxel is flagged, else [`MAXITER`].
pub fn model_iterations(and_mask: u64) -> usize {
    (and_mask.trailing_zeros() as usize).min(MAXITER)
}

/// A voxel's state after exactly `n` steps, resuming from its first-pass state when that is
/// not past `n` (the trajectory is deterministic, so this equals a fresh run).
pub fn advance(f: &impl Objective, lo: f64, hi: f64, saved: (Search, usize), n: usize) -> Search {
    let (mut s, mut done) = saved;
    if done > n {
        s = Search::start(f, lo, hi);
        done = 0;
    }
    for _ in done..n {
        s.step(f);
    }
    s
}

/// Minimise `f` on `[lo, hi]` for a model consisting of this single voxel.
pub fn bounded_scalar_min(f: &impl Objective, lo: f64, hi: f64) -> f64 {
    let (mask, s, done) = flag_mask(f, lo, hi);
    advance(f, lo, hi, (s, done), model_iterations(mask)).result()
}

/// Independent partial sums in [`one_column_sums`], so that the compiler can vectorise it.
const LANES: usize = 4;
/// Rows per tile of [`one_column_sums`]: its u_k and w_k are computed into stack buffers of
/// this size, and each lane's product is renormalised after every tile (at most 9 factors
/// per lane: any within 1e±34 keep it normal; otherwise the exact path is taken).
const TILE: usize = 32;

/// u = m·2^k with m in [0.6875, 1.375), exactly, for a positive normal finite u (the argument
/// reduction of musl's `log`).
#[inline(always)]
pub(crate) fn split_exponent(u: f64) -> (f64, i64) {
    const OFF: u64 = 0x3fe6_0000_0000_0000;
    let ix = u.to_bits();
    let tmp = ix.wrapping_sub(OFF);
    let k = (tmp as i64) >> 52;
    (f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52))), k)
}

/// The sums of a one-column weighted least-squares fit at between-study variance t, the hot
/// loop of every likelihood search here (VBL, its P = 1 design form, FLAME's one-column
/// energy): with u_k = v_k + t and w_k = 1/u_k, returns
/// (Σ ln u_k [+ ln Σ w_k x_k² if `ln_sw`], Σ w_k x_k², β̂ = Σ w_k x_k y_k / Σ w_k x_k²,
/// Σ w_k (y_k − x_k β̂)²). `x` None means x_k = 1 (the same bits as a column of ones, since
/// multiplying by 1 is exact, but without the multiplications).
///
/// Speed: Σ ln u_k (and ln Σ w x²) is taken as the logarithm of one product, kept as
/// mantissa · 2^exponent (split exactly after every [`TILE`] rows, so it cannot overflow):
/// one logarithm per evaluation instead of K + 1, which dominated the fits. It equals the sum
/// of logarithms up to rounding (~K ulp of the product), as do the lane-wise summation order
/// and the residuals weighted by the stored w_k rather than divided again (K ≤ [`TILE`]).
///
/// None if some u_k is not positive, the product leaves the normal range (some u_k NaN,
/// infinite or extreme), or (with `ln_sw`) Σ w x² is not positive normal: the callers then
/// take their plain per-row path, which keeps the exact NaN / infinity behaviour.
#[inline]
pub(crate) fn one_column_sums(y: &[f64], v: &[f64], x: Option<&[f64]>, t: f64, ln_sw: bool) -> Option<[f64; 4]> {
    match x {
        None => sums::<true>(y, v, y, t, ln_sw),
        Some(x) => sums::<false>(y, v, x, t, ln_sw),
    }
}

/// [`one_column_sums`]; `ONES`: x = 1 (`x` is then ignored).
// Rows index y, x and the weight buffer together.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn sums<const ONES: bool>(y: &[f64], v: &[f64], x: &[f64], t: f64, ln_sw: bool) -> Option<[f64; 4]> {
    let n = y.len();
    let (v, x) = (&v[..n], &x[..n]);
    let (mut ubuf, mut wbuf) = ([0.0f64; TILE], [0.0f64; TILE]);
    let mut prod = [1.0f64; LANES];
    let mut expo = 0i64;
    let mut umin = [f64::INFINITY; LANES];
    let (mut sw, mut swy) = ([0.0f64; LANES], [0.0f64; LANES]);
    let mut ok = true;
    for (start, (yt, vt)) in (0..n).step_by(TILE).zip(y.chunks(TILE).zip(v.chunks(TILE))) {
        let m = yt.len();
        let xt = &x[start..start + m];
        let (u, w) = (&mut ubuf[..m], &mut wbuf[..m]);
        for ((u, w), &v) in u.iter_mut().zip(w.iter_mut()).zip(vt) {
            *u = v + t;
            *w = 1.0 / *u;
        }
        let mut row = |l: usize, u: f64, w: f64, y: f64, x: f64| {
            let x = if ONES { 1.0 } else { x };
            umin[l] = if u < umin[l] { u } else { umin[l] };
            sw[l] += w * x * x;
            swy[l] += w * x * y;
            prod[l] *= u;
        };
        let full = m - m % LANES;
        for c in (0..full).step_by(LANES) {
            for l in 0..LANES {
                row(l, u[c + l], w[c + l], yt[c + l], xt[c + l]);
            }
        }
        for r in full..m {
            row(r - full, u[r], w[r], yt[r], xt[r]);
        }
        // Take the lanes' products back to [0.6875, 1.375) (a NaN or non-normal one fails).
        for p in prod.iter_mut() {
            ok &= p.is_normal() && *p > 0.0;
            let (m, k) = split_exponent(*p);
            *p = m;
            expo += k;
        }
    }
    let lane_sum = |a: [f64; LANES]| a.iter().sum::<f64>();
    let (sw, swy) = (lane_sum(sw), lane_sum(swy));
    let mut p = prod.iter().product::<f64>();
    if ln_sw {
        ok &= sw.is_normal() && sw > 0.0;
        let (m, k) = split_exponent(sw);
        p *= m;
        expo += k;
    }
    if !(ok && umin.iter().all(|&u| u > 0.0)) {
        return None;
    }
    let slog = p.ln() + expo as f64 * std::f64::consts::LN_2;
    let beta = swy / sw;
    let mut rss = [0.0f64; LANES];
    let mut add = |l: usize, r: usize, w: f64| {
        let x = if ONES { 1.0 } else { x[r] };
        rss[l] += (y[r] - x * beta).powi(2) * w;
    };
    if n <= TILE {
        let full = n - n % LANES;
        for c in (0..full).step_by(LANES) {
            for l in 0..LANES {
                add(l, c + l, wbuf[c + l]);
            }
        }
        for r in full..n {
            add(r - full, r, wbuf[r]);
        }
    } else {
        for r in 0..n {
            add(r % LANES, r, 1.0 / (v[r] + t));
        }
    }
    Some([slog, sw, beta, lane_sum(rss)])
}

/// Profiled negative log-likelihood of τ²(u) = s·u/(1 − u) with β profiled out by WLS (§7).
pub(crate) struct VarianceNll<'a> {
    pub(crate) y: &'a [f64],
    pub(crate) v: &'a [f64],
    pub(crate) scale: f64,
    pub(crate) reml: bool,
}

impl VarianceNll<'_> {
    pub(crate) fn tau2(&self, u: f64) -> f64 {
        self.scale * u / (1.0 - u)
    }
}

impl Objective for VarianceNll<'_> {
    fn eval(&self, u: f64) -> f64 {
        let tau2 = self.tau2(u);
        if let Some([slog, _, _, rss]) = one_column_sums(self.y, self.v, None, tau2, self.reml) {
            return 0.5 * (slog + rss);
        }
        let (mut sw, mut swy, mut slog) = (0.0, 0.0, 0.0);
        for (&y, &v) in self.y.iter().zip(self.v) {
            let w = 1.0 / (v + tau2);
            sw += w;
            swy += w * y;
            slog += (v + tau2).ln();
        }
        let beta = swy / sw;
        let rss: f64 = self.y.iter().zip(self.v).map(|(&y, &v)| (y - beta).powi(2) / (v + tau2)).sum();
        let nll = 0.5 * (slog + rss);
        if self.reml {
            nll + 0.5 * sw.ln()
        } else {
            nll
        }
    }
}

/// Profiled negative log-likelihood of r = τ²/(τ² + σ²) for y_k ~ N(β, τ² + σ²/n_k) (§8).
pub(crate) struct SampleSizeNll<'a> {
    pub(crate) y: &'a [f64],
    pub(crate) n: &'a [f64],
    /// 1/n_k, so that u_k = r + (1 − r)/n_k = (1 − r)·(1/n_k + r/(1 − r)) is a one-column
    /// weighted fit at t = r/(1 − r) scaled by 1 − r (the fast sums of [`one_column_sums`]).
    pub(crate) inv_n: &'a [f64],
    pub(crate) reml: bool,
}

impl SampleSizeNll<'_> {
    /// The objective through [`one_column_sums`]: None where it declines (or r = 1).
    fn eval_fast(&self, r: f64) -> Option<f64> {
        let c = 1.0 - r;
        if c.is_nan() || c <= 0.0 {
            return None;
        }
        let [slog, sw, _, rss] = one_column_sums(self.y, self.inv_n, None, r / c, false)?;
        let k = self.y.len() as f64;
        let ddof = if self.reml { 1.0 } else { 0.0 };
        // Σ ln u_k = K ln c + Σ ln(1/n_k + t); Σ 1/u_k = Σ w_k / c; d = rss / c.
        let (ln_c, slog) = (c.ln(), k * c.ln() + slog);
        let ln_scale = ((rss / c).max(D_FLOOR) / (k - ddof)).ln();
        Some(if self.reml {
            0.5 * (slog + (k - 1.0) * ln_scale + (k - 1.0) + sw.ln() - ln_c)
        } else {
            0.5 * (slog + k * ln_scale + k)
        })
    }
}

impl SampleSizeNll<'_> {
    /// (Σ ln u_k, Σ 1/u_k, scale) at r.
    pub(crate) fn parts(&self, r: f64) -> (f64, f64, f64) {
        let (mut slog, mut sw, mut swy) = (0.0, 0.0, 0.0);
        for (&y, &n) in self.y.iter().zip(self.n) {
            let u = r + (1.0 - r) / n;
            slog += u.ln();
            sw += 1.0 / u;
            swy += y / u;
        }
        let beta = swy / sw;
        let d: f64 = self.y.iter().zip(self.n).map(|(&y, &n)| (y - beta).powi(2) / (r + (1.0 - r) / n)).sum();
        let ddof = if self.reml { 1.0 } else { 0.0 };
        (slog, sw, d.max(D_FLOOR) / (self.y.len() as f64 - ddof))
    }
}

impl Objective for SampleSizeNll<'_> {
    fn eval(&self, r: f64) -> f64 {
        if let Some(nll) = self.eval_fast(r) {
            return nll;
        }
        let (slog, sw, scale) = self.parts(r);
        let k = self.y.len() as f64;
        if self.reml {
            0.5 * (slog + (k - 1.0) * scale.ln() + (k - 1.0) + sw.ln())
        } else {
            0.5 * (slog + k * scale.ln() + k)
        }
    }
}

/// Per-voxel work of one estimator within one model: copy the voxel's data into reusable
/// buffers, build its objective, and turn the minimiser's answer into a fit.
pub(crate) trait ModelFit: Sync {
    /// Lower end of the search interval.
    const LO: f64;
    /// Upper end of the search interval.
    const HI: f64;
    /// Per-thread scratch, reused across voxels.
    type Buf: Send;
    /// The objective of one voxel, borrowing the scratch.
    type Obj<'b>: Objective
    where
        Self: 'b;
    /// Fresh scratch.
    fn buf(&self) -> Self::Buf;
    /// Fill the scratch with voxel `v`'s data.
    fn load(&self, v: usize, buf: &mut Self::Buf);
    /// The loaded voxel's objective.
    fn objective<'b>(&'b self, buf: &'b Self::Buf) -> Self::Obj<'b>;
    /// What one voxel's fit gives.
    type Out: Clone + Send;
    /// The output where no model applies.
    const NONE: Self::Out;
    /// Inference at the minimiser's answer `x`.
    fn finish(&self, buf: &mut Self::Buf, x: f64) -> Self::Out;
}

/// Fit one model voxel-parallel with the lock-step rule; results in the bag's voxel order.
fn fit_model<M: ModelFit>(m: &M, voxels: &[usize]) -> Vec<M::Out> {
    let first = |buf: &mut M::Buf, v: usize| {
        m.load(v, buf);
        flag_mask(&m.objective(buf), M::LO, M::HI)
    };
    let firsts: Vec<(u64, Search, usize)> = if voxels.len() > VOXEL_CHUNK {
        voxels.par_iter().with_min_len(VOXEL_CHUNK).map_init(|| m.buf(), |b, &v| first(b, v)).collect()
    } else {
        let mut b = m.buf();
        voxels.iter().map(|&v| first(&mut b, v)).collect()
    };
    // Integer AND: order-independent, so N does not depend on the thread count.
    let n = model_iterations(firsts.iter().fold(full_mask(), |acc, f| acc & f.0));
    let second = |buf: &mut M::Buf, v: usize, (_, s, done): (u64, Search, usize)| {
        m.load(v, buf);
        let x = advance(&m.objective(buf), M::LO, M::HI, (s, done), n).result();
        m.finish(buf, x)
    };
    if voxels.len() > VOXEL_CHUNK {
        voxels
            .par_iter()
            .zip(firsts.par_iter())
            .with_min_len(VOXEL_CHUNK)
            .map_init(|| m.buf(), |b, (&v, &f)| second(b, v, f))
            .collect()
    } else {
        let mut b = m.buf();
        voxels.iter().zip(&firsts).map(|(&v, &f)| second(&mut b, v, f)).collect()
    }
}

/// Fit every model (`make(index, bag)`, None to skip it) in parallel and scatter into V voxels
/// ([`ModelFit::NONE`] where no model applies).
pub(crate) fn fit_models<'a, M: ModelFit>(
    n_voxels: usize,
    models: &'a [Bag],
    make: impl Fn(usize, &'a Bag) -> Option<M> + Sync,
) -> Vec<M::Out> {
    let per_model: Vec<Option<Vec<M::Out>>> =
        models.par_iter().enumerate().map(|(i, bag)| make(i, bag).map(|m| fit_model(&m, &bag.voxels))).collect();
    let mut out = vec![M::NONE; n_voxels];
    for (bag, fits) in models.iter().zip(per_model) {
        if let Some(fits) = fits {
            for (&v, fit) in bag.voxels.iter().zip(fits) {
                out[v] = fit;
            }
        }
    }
    out
}

pub(crate) struct VarianceModel<'a> {
    pub(crate) con: &'a StudyVoxels,
    pub(crate) var: &'a StudyVoxels,
    pub(crate) studies: &'a [usize],
    pub(crate) reml: bool,
    pub(crate) correction: SmallSampleCorrection,
}

/// (y, v, scale s)
type VarianceBuf = (Vec<f64>, Vec<f64>, f64);

impl ModelFit for VarianceModel<'_> {
    const LO: f64 = 0.0;
    const HI: f64 = U_MAX;
    type Buf = VarianceBuf;
    type Out = VoxelFit;
    const NONE: VoxelFit = VoxelFit::NAN;
    type Obj<'b>
        = VarianceNll<'b>
    where
        Self: 'b;

    fn buf(&self) -> VarianceBuf {
        (Vec::with_capacity(self.studies.len()), Vec::with_capacity(self.studies.len()), 1.0)
    }

    fn load(&self, v: usize, (y, s2, scale): &mut VarianceBuf) {
        let (c, s) = (self.con.voxel(v), self.var.voxel(v));
        y.clear();
        s2.clear();
        y.extend(self.studies.iter().map(|&k| c[k]));
        s2.extend(self.studies.iter().map(|&k| s[k]));
        let sc = dersimonian_laird_tau2(y, s2, Mean::Intercept) + s2.iter().sum::<f64>() / s2.len() as f64;
        *scale = if sc.is_finite() && sc > 0.0 { sc } else { 1.0 };
    }

    fn objective<'b>(&'b self, (y, v, scale): &'b VarianceBuf) -> VarianceNll<'b> {
        VarianceNll { y, v, scale: *scale, reml: self.reml }
    }

    fn finish(&self, (y, v, scale): &mut VarianceBuf, u: f64) -> VoxelFit {
        let tau2 = VarianceNll { y, v, scale: *scale, reml: self.reml }.tau2(u);
        fe_stats(y, v, tau2, self.correction)
    }
}

/// NiMARE `VarianceBasedLikelihood(method)` (docs/estimators.md §7): τ² by ML or REML with the
/// varcopes as known within-study variances, then WLS inference (§5; NiMARE's default
/// correction is Knapp–Hartung).
///
/// `models` are the bags to fit (each bag's studies must be valid in con and var at all its
/// voxels); each bag is one lock-step model. Voxels in no model (or in a model with fewer
/// than two studies) are NaN. Maps est, se, tau2, z, ln p, dof.
pub fn variance_based_likelihood(
    con: &StudyVoxels,
    var: &StudyVoxels,
    models: &[Bag],
    method: Method,
    correction: SmallSampleCorrection,
) -> RegressionMaps {
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    let fits = fit_models(con.n_voxels(), models, |_, bag| {
        (bag.studies.len() >= 2).then_some(VarianceModel {
            con,
            var,
            studies: &bag.studies,
            reml: method == Method::Reml,
            correction,
        })
    });
    crate::collect(&fits, true, false)
}

/// The general-design profiled negative log-likelihood (§7 with X K × P): β̂(τ²) = (XᵀWX)⁻¹XᵀWy,
/// W = diag(1/(v + τ²)); ML ½[Σ ln(v_k + τ²) + Σ w_k r_k²], REML adds ½ ln det(XᵀWX) (PyMARE's
/// general form). NaN (= +∞ to the search) where XᵀWX is singular.
struct DesignNll<'a> {
    y: &'a [f64],
    v: &'a [f64],
    /// Design rows of the model's studies, row-major K × P.
    x: &'a [f64],
    p: usize,
    scale: f64,
    reml: bool,
}

impl DesignNll<'_> {
    fn tau2(&self, u: f64) -> f64 {
        self.scale * u / (1.0 - u)
    }

    /// P = 1: the 1 × 1 normal equation solved by division, in the operation order of
    /// [`VarianceNll`], so that X = 1 reproduces the intercept-only objective bit for bit.
    fn eval_one_column(&self, tau2: f64) -> f64 {
        if let Some([slog, sw, _, rss]) = one_column_sums(self.y, self.v, Some(self.x), tau2, self.reml) {
            if !(sw.is_finite() && sw > 0.0) {
                return f64::NAN;
            }
            return 0.5 * (slog + rss);
        }
        let (mut sw, mut swy, mut slog) = (0.0, 0.0, 0.0);
        for ((&y, &v), &x) in self.y.iter().zip(self.v).zip(self.x) {
            let w = 1.0 / (v + tau2);
            sw += w * x * x;
            swy += w * x * y;
            slog += (v + tau2).ln();
        }
        if !(sw.is_finite() && sw > 0.0) {
            return f64::NAN;
        }
        let beta = swy / sw;
        let rss: f64 =
            self.y.iter().zip(self.v).zip(self.x).map(|((&y, &v), &x)| (y - x * beta).powi(2) / (v + tau2)).sum();
        let nll = 0.5 * (slog + rss);
        if self.reml {
            nll + 0.5 * sw.ln()
        } else {
            nll
        }
    }
}

impl Objective for DesignNll<'_> {
    fn eval(&self, u: f64) -> f64 {
        let (tau2, p) = (self.tau2(u), self.p);
        if p == 1 {
            return self.eval_one_column(tau2);
        }
        let mut xtwx = SmallMat::zeros(p);
        let mut beta = [0.0; MAX_P];
        let mut slog = 0.0;
        for ((&y, &v), row) in self.y.iter().zip(self.v).zip(self.x.chunks_exact(p)) {
            let w = 1.0 / (v + tau2);
            xtwx.add_outer(row, w);
            for (acc, xj) in beta.iter_mut().zip(row) {
                *acc += w * xj * y;
            }
            slog += (v + tau2).ln();
        }
        let Some(chol) = Cholesky::new(&xtwx) else { return f64::NAN };
        chol.solve(&mut beta[..p]);
        let rss: f64 = self
            .y
            .iter()
            .zip(self.v)
            .zip(self.x.chunks_exact(p))
            .map(|((&y, &v), row)| (y - row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>()).powi(2) / (v + tau2))
            .sum();
        let nll = 0.5 * (slog + rss);
        if self.reml {
            nll + 0.5 * chol.log_det()
        } else {
            nll
        }
    }
}

struct VarianceDesignModel<'a> {
    con: &'a StudyVoxels,
    var: &'a StudyVoxels,
    studies: &'a [usize],
    /// Design rows of `studies`, row-major (studies.len() × p), shared by all voxels.
    x: Vec<f64>,
    p: usize,
    contrast: &'a [f64],
    reml: bool,
    correction: SmallSampleCorrection,
}

impl VarianceDesignModel<'_> {
    fn rows<'b>(&'b self, y: &'b [f64], v: &'b [f64]) -> Rows<'b> {
        Rows { y, v, x: &self.x, p: self.p }
    }
}

impl ModelFit for VarianceDesignModel<'_> {
    const LO: f64 = 0.0;
    const HI: f64 = U_MAX;
    type Buf = VarianceBuf;
    type Out = VoxelFit;
    const NONE: VoxelFit = VoxelFit::NAN;
    type Obj<'b>
        = DesignNll<'b>
    where
        Self: 'b;

    fn buf(&self) -> VarianceBuf {
        (Vec::with_capacity(self.studies.len()), Vec::with_capacity(self.studies.len()), 1.0)
    }

    fn load(&self, vox: usize, (y, v, scale): &mut VarianceBuf) {
        let (c, s) = (self.con.voxel(vox), self.var.voxel(vox));
        y.clear();
        v.clear();
        y.extend(self.studies.iter().map(|&k| c[k]));
        v.extend(self.studies.iter().map(|&k| s[k]));
        let dl = dersimonian_laird_tau2(y, v, Mean::Design { x: &self.x, p: self.p });
        let sc = dl + v.iter().sum::<f64>() / v.len() as f64;
        *scale = if sc.is_finite() && sc > 0.0 { sc } else { 1.0 };
    }

    fn objective<'b>(&'b self, (y, v, scale): &'b VarianceBuf) -> DesignNll<'b> {
        DesignNll { y, v, x: &self.x, p: self.p, scale: *scale, reml: self.reml }
    }

    fn finish(&self, buf: &mut VarianceBuf, u: f64) -> VoxelFit {
        let tau2 = self.objective(buf).tau2(u);
        let (y, v, _) = buf;
        contrast_stats(&self.rows(y, v), self.contrast, tau2, self.correction)
    }
}

/// [`variance_based_likelihood`] with a general design (meta-regression): τ² by ML or REML
/// of the model y = Xβ + u + e (PyMARE's profiled likelihood with REML term ½ ln det XᵀWX),
/// the same scale s = τ²_DL + mean(v) (general-design DerSimonian–Laird) and lock-step search
/// per model, then inference on the contrast c·β̂ by [`contrast_stats`] (Wald z, or
/// Knapp–Hartung t with K − P dof).
///
/// `design` covers all studies of `con`, `contrast` has one weight per design column; each
/// model uses its bag's rows. Voxels in no model, in a model with
/// K ≤ P studies, or where XᵀWX is singular are NaN. Maps est (= c·β̂), se, tau2, z, ln p, dof.
///
/// With P = 1 the scale and objective are computed by scalar division rather than Cholesky,
/// so that X = 1 gives [`variance_based_likelihood`]'s τ² bit for bit (the search amplifies
/// last-bit differences); est/se/z/p then differ from it only by the inference's rounding.
#[track_caller]
pub fn variance_based_likelihood_design(
    con: &StudyVoxels,
    var: &StudyVoxels,
    design: &Design,
    contrast: &[f64],
    models: &[Bag],
    method: Method,
    correction: SmallSampleCorrection,
) -> RegressionMaps {
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    let p = design.n_columns();
    assert_eq!(design.n_studies(), con.n_studies(), "the design needs one row per study");
    assert_eq!(contrast.len(), p, "the contrast needs one weight per design column");
    let fits = fit_models(con.n_voxels(), models, |_, bag| {
        (bag.studies.len() > p).then(|| VarianceDesignModel {
            con,
            var,
            studies: &bag.studies,
            x: bag.studies.iter().flat_map(|&k| design.row(k)).copied().collect(),
            p,
            contrast,
            reml: method == Method::Reml,
            correction,
        })
    });
    crate::collect(&fits, true, false)
}

pub(crate) struct SampleSizeModel<'a> {
    pub(crate) con: &'a StudyVoxels,
    pub(crate) studies: &'a [usize],
    /// Sample sizes of the model's studies, in `studies` order.
    pub(crate) n: Vec<f64>,
    /// Their reciprocals.
    pub(crate) inv_n: Vec<f64>,
    pub(crate) reml: bool,
    pub(crate) correction: SmallSampleCorrection,
}

/// (y, v scratch for the final WLS)
type SampleSizeBuf = (Vec<f64>, Vec<f64>);

impl ModelFit for SampleSizeModel<'_> {
    const LO: f64 = 0.0;
    const HI: f64 = 1.0;
    type Buf = SampleSizeBuf;
    type Out = VoxelFit;
    const NONE: VoxelFit = VoxelFit::NAN;
    type Obj<'b>
        = SampleSizeNll<'b>
    where
        Self: 'b;

    fn buf(&self) -> SampleSizeBuf {
        (Vec::with_capacity(self.studies.len()), Vec::with_capacity(self.studies.len()))
    }

    fn load(&self, v: usize, (y, _): &mut SampleSizeBuf) {
        let c = self.con.voxel(v);
        y.clear();
        y.extend(self.studies.iter().map(|&k| c[k]));
    }

    fn objective<'b>(&'b self, (y, _): &'b SampleSizeBuf) -> SampleSizeNll<'b> {
        SampleSizeNll { y, n: &self.n, inv_n: &self.inv_n, reml: self.reml }
    }

    fn finish(&self, (y, v): &mut SampleSizeBuf, r: f64) -> VoxelFit {
        let (_, _, scale) = SampleSizeNll { y, n: &self.n, inv_n: &self.inv_n, reml: self.reml }.parts(r);
        let sigma2 = scale * (1.0 - r);
        let tau2 = scale * r;
        v.clear();
        v.extend(self.n.iter().map(|&n| sigma2 / n));
        VoxelFit { sigma2, ..fe_stats(y, v, tau2, self.correction) }
    }
}

/// PyMARE's identifiability threshold on the population SD of the sample sizes (√eps).
const SAMPLE_SIZE_SD_MIN: f64 = 1.490_116_119_384_765_6e-8;

/// Population SD (divisor K) of the sample sizes below √eps: σ² and τ² are not identifiable.
pub(crate) fn all_equal_sample_sizes(n: &[f64]) -> bool {
    let k = n.len() as f64;
    let mean = n.iter().sum::<f64>() / k;
    let sd = (n.iter().map(|&x| (x - mean).powi(2)).sum::<f64>() / k).sqrt();
    // A NaN SD (non-finite n) cannot be fitted either.
    sd.is_nan() || sd < SAMPLE_SIZE_SD_MIN
}

/// NiMARE `SampleSizeBasedLikelihood(method)` (docs/estimators.md §8): y_k ~ N(β, τ² + σ²/n_k) with
/// one σ² per voxel, fitted by ML or REML; then WLS inference with v_k = σ̂²/n_k and τ̂² (§5;
/// NiMARE's default correction is Knapp–Hartung).
///
/// `sample_sizes[k]` is study k's n (a column of `con`); `models` are the bags to fit, each a
/// lock-step model whose studies must be valid in `con` at all its voxels. A model whose
/// sample sizes are all equal (population SD < √eps) cannot be fitted: its voxels are NaN and
/// its index into `models` is returned in the second value (PyMARE would fail the whole fit;
/// the caller decides). Maps est, se, tau2, sigma2, z, ln p, dof.
pub fn sample_size_based_likelihood(
    con: &StudyVoxels,
    sample_sizes: &[f64],
    models: &[Bag],
    method: Method,
    correction: SmallSampleCorrection,
) -> (RegressionMaps, Vec<usize>) {
    assert_eq!(sample_sizes.len(), con.n_studies(), "one sample size per study");
    let n_of = |bag: &Bag| bag.studies.iter().map(|&k| sample_sizes[k]).collect::<Vec<f64>>();
    let degenerate: Vec<usize> = models
        .iter()
        .enumerate()
        .filter(|(_, bag)| bag.studies.len() >= 2 && all_equal_sample_sizes(&n_of(bag)))
        .map(|(i, _)| i)
        .collect();
    let fits = fit_models(con.n_voxels(), models, |_, bag| {
        let n = n_of(bag);
        (bag.studies.len() >= 2 && !all_equal_sample_sizes(&n)).then(|| SampleSizeModel {
            con,
            studies: &bag.studies,
            inv_n: n.iter().map(|n| 1.0 / n).collect(),
            n,
            reml: method == Method::Reml,
            correction,
        })
    });
    (crate::collect(&fits, true, true), degenerate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_has_31_sorted_unique_fractions() {
        let f = scan_fractions();
        assert!(f.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f[0].to_bits(), 0.0f64.to_bits());
        assert_eq!(f[N_SCAN - 1].to_bits(), 1.0f64.to_bits());
    }

    #[test]
    fn golden_constant_is_three_minus_root5_over_2() {
        assert_eq!(GOLDEN.to_bits(), ((3.0 - 5f64.sqrt()) / 2.0).to_bits());
    }

    struct Quadratic(f64);
    impl Objective for Quadratic {
        fn eval(&self, x: f64) -> f64 {
            (x - self.0).powi(2)
        }
    }

    #[test]
    fn finds_interior_minimum_and_exact_boundary() {
        let x = bounded_scalar_min(&Quadratic(0.3), 0.0, 1.0);
        assert!((x - 0.3).abs() <= XTOL, "{x}");
        // Minimum beyond the lower end: the scan's end point is returned exactly.
        assert_eq!(bounded_scalar_min(&Quadratic(-1.0), 0.0, 1.0).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn nan_objective_counts_as_infinite() {
        struct NanLeft;
        impl Objective for NanLeft {
            fn eval(&self, x: f64) -> f64 {
                if x < 0.5 {
                    f64::NAN
                } else {
                    (x - 0.7).powi(2)
                }
            }
        }
        let x = bounded_scalar_min(&NanLeft, 0.0, 1.0);
        assert!((x - 0.7).abs() <= XTOL, "{x}");
    }
}
