//! FLAME1's per-group search for σ² (`flame1.md` §3 step 2), in the voxel's normalised units.
//!
//! The energy is the negative REML log-likelihood of one variance group. flameo minimises it in
//! x = ln σ² with a single Brent run from x = 0; with very unequal within-study variances the
//! energy can have two basins and that run may stay in the worse one. The `global` optimiser
//! therefore also runs the 31-point scan of `estimators.md` §7 (in σ² = s·u/(1 − u)), finds the
//! minimum of the best scan point's basin (Newton steps in ln σ² for one column, else a tight
//! single-voxel refinement of its bracket), and keeps whichever answer has the lower energy.

use crate::likelihood::one_column_sums;
use crate::linalg::{Cholesky, SmallMat, MAX_P};
use crate::moments::{dersimonian_laird_tau2, Mean};

/// Smallest σ² returned, in normalised units (flameo's floor).
pub(crate) const SIGMA2_FLOOR: f64 = 1e-10;
/// Brent's interval in x = ln σ²: [ln 1e−10, ln 1e10].
const LN_HI: f64 = 23.025_850_929_940_457;
/// flameo evaluates the energy at x + 1e−10.
const X_SHIFT: f64 = 1e-10;
/// Brent's fractional tolerance and absolute floor: tol1 = TOL·|x| + TINY (also the minimum step).
const BRENT_TOL: f64 = 1e-6;
const BRENT_TINY: f64 = 1e-10;
/// Brent stops when |x − midpoint| ≤ this and the bracket is narrower than [`BRENT_WIDTH`].
const BRENT_MID: f64 = 1e-5;
const BRENT_WIDTH: f64 = 4e-5;
const BRENT_MAXITER: usize = 100;
/// Golden-section fraction (3 − √5)/2.
const GOLDEN: f64 = 0.381_966_011_250_105_1;
/// The scan's refinement: bracket tolerance relative to the first bracket, flatness
/// tolerance, step cap (tighter than PyMARE's 1e−6 / 1e−12 / 50: one voxel, no lock-step).
const REFINE_XTOL: f64 = 1e-12;
const REFINE_FTOL: f64 = 0.0;
const REFINE_MAXITER: usize = 300;
/// Newton in ln σ²: converged when a step is below this (σ² to 1e−10 relative, far below
/// the energy's own rounding), given up after this many steps (from a scan point, 4–6 do).
const NEWTON_XTOL: f64 = 1e-10;
const NEWTON_MAXITER: usize = 12;
/// Upper end of the scan variable u (σ² = s·u/(1 − u) stays finite).
const U_MAX: f64 = 1.0 - 1e-9;
const N_SCAN: usize = 31;
/// Largest group whose design column [`GroupRows::energy_one_column`] gathers on the stack
/// for the fast kernel (larger groups take the plain path).
const GATHER_MAX: usize = 64;

/// The rows of one variance group: copes `y`, within-study variances `s`, design rows in `x`
/// (row r at `x[r * stride..]`), of which the columns `cols` belong to the group.
pub(crate) struct GroupRows<'a> {
    pub y: &'a [f64],
    pub s: &'a [f64],
    pub x: &'a [f64],
    pub stride: usize,
    pub cols: &'a [usize],
}

impl GroupRows<'_> {
    /// E(σ²) = ½ Σ ln(s_i + σ²) + ½ ln|ZᵀU⁻¹Z| + ½ Σ (y_i − z_iᵀγ̂)²/(s_i + σ²); +∞ where it is
    /// undefined (a non-positive total variance or a singular ZᵀU⁻¹Z).
    pub fn energy(&self, sigma2: f64) -> f64 {
        if self.cols.len() == 1 {
            return self.energy_one_column(sigma2);
        }
        let p = self.cols.len();
        let mut a = SmallMat::zeros(p);
        let mut b = [0.0; MAX_P];
        let mut z = [0.0; MAX_P];
        let mut slog = 0.0;
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let u = s + sigma2;
            if u.is_nan() || u <= 0.0 {
                return f64::INFINITY;
            }
            slog += u.ln();
            let w = 1.0 / u;
            self.row(r, &mut z);
            a.add_outer(&z[..p], w);
            for (bj, &zj) in b.iter_mut().zip(&z[..p]) {
                *bj += w * y * zj;
            }
        }
        let Some(chol) = Cholesky::new(&a) else { return f64::INFINITY };
        chol.solve(&mut b[..p]);
        // Residual form of y'U⁻¹y − γ̂ᵀ(ZᵀU⁻¹Z)γ̂: no cancellation.
        let mut rss = 0.0;
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            self.row(r, &mut z);
            let fit: f64 = z[..p].iter().zip(&b[..p]).map(|(zj, gj)| zj * gj).sum();
            rss += (y - fit).powi(2) / (s + sigma2);
        }
        let e = 0.5 * (slog + chol.log_det() + rss);
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    }

    /// [`Self::energy`] for one column (the one-sample case), without the matrix machinery:
    /// the hot path of whole-brain maps.
    // x == 1 exactly selects the kernel's ones path (same bits either way).
    #[allow(clippy::float_cmp)]
    fn energy_one_column(&self, sigma2: f64) -> f64 {
        let j = self.cols[0];
        let n = self.y.len();
        if n <= GATHER_MAX {
            // The fast kernel (one logarithm per call) on the contiguous column; x = 1 (the
            // one-sample case) is passed as None, which gives the same bits, faster.
            let mut z = [0.0; GATHER_MAX];
            for (r, z) in z[..n].iter_mut().enumerate() {
                *z = self.x[r * self.stride + j];
            }
            let x = (!z[..n].iter().all(|&z| z == 1.0)).then_some(&z[..n]);
            if let Some([slog, _, _, rss]) = one_column_sums(self.y, self.s, x, sigma2, true) {
                let e = 0.5 * (slog + rss);
                return if e.is_nan() { f64::INFINITY } else { e };
            }
        }
        // The plain path: also where the kernel declines (non-positive or extreme totals).
        let (mut slog, mut a, mut b) = (0.0, 0.0, 0.0);
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let u = s + sigma2;
            if u.is_nan() || u <= 0.0 {
                return f64::INFINITY;
            }
            let z = self.x[r * self.stride + j];
            let w = 1.0 / u;
            slog += u.ln();
            a += w * z * z;
            b += w * y * z;
        }
        if !(a.is_finite() && a > 0.0) {
            return f64::INFINITY;
        }
        let gamma = b / a;
        let rss: f64 = (self.y.iter().zip(self.s).enumerate())
            .map(|(r, (&y, &s))| (y - self.x[r * self.stride + j] * gamma).powi(2) / (s + sigma2))
            .sum();
        let e = 0.5 * (slog + a.ln() + rss);
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    }

    /// (E′, E″) of a one-column group's energy in σ², from the WLS fit there (w_k = 1/(s_k + σ²),
    /// A = Σ w x², r = y − x γ̂; Σ w x r = 0 removes the γ̂′ terms from E′):
    /// E′ = ½[Σ w − Σ w²x²/A − Σ w²r²],
    /// E″ = ½[−Σ w² + 2Σ w³x²/A − (Σ w²x²/A)² + 2Σ w³r² − 2(Σ w²x r)²/A].
    fn one_column_derivatives(&self, sigma2: f64) -> Option<(f64, f64)> {
        let j = self.cols[0];
        let x = |r: usize| self.x[r * self.stride + j];
        let (mut a, mut b) = (0.0, 0.0);
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let w = 1.0 / (s + sigma2);
            a += w * x(r) * x(r);
            b += w * x(r) * y;
        }
        let gamma = b / a;
        let [mut w1, mut w2, mut c2, mut c3, mut r2, mut r3, mut xr2] = [0.0; 7];
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let w = 1.0 / (s + sigma2);
            let (xr, res) = (x(r), y - x(r) * gamma);
            let (ww, www) = (w * w, w * w * w);
            w1 += w;
            w2 += ww;
            c2 += ww * xr * xr;
            c3 += www * xr * xr;
            r2 += ww * res * res;
            r3 += www * res * res;
            xr2 += ww * xr * res;
        }
        let d1 = 0.5 * (w1 - c2 / a - r2);
        let d2 = 0.5 * (-w2 + 2.0 * c3 / a - (c2 / a).powi(2) + 2.0 * r3 - 2.0 * xr2 * xr2 / a);
        (a > 0.0 && d1.is_finite() && d2.is_finite()).then_some((d1, d2))
    }

    /// The minimum of a one-column energy in the basin of `start`, by Newton steps in ln σ²
    /// (dE/dx = σ²E′, d²E/dx² = σ²E′ + σ⁴E″), each required to stay inside (`lo`, `hi`), to
    /// meet positive curvature and not to raise the energy. None when a step breaks one of
    /// those or [`NEWTON_MAXITER`] steps do not converge: the caller then refines the bracket.
    fn newton_min(&self, start: f64, lo: f64, hi: f64) -> Option<f64> {
        let (mut s2, mut e) = (start, self.energy(start));
        for _ in 0..NEWTON_MAXITER {
            let (d1, d2) = self.one_column_derivatives(s2)?;
            let (g, h) = (s2 * d1, s2 * d1 + s2 * s2 * d2);
            if h.is_nan() || h <= 0.0 {
                return None;
            }
            let step = -g / h;
            let next = s2 * step.exp();
            if step.abs() <= NEWTON_XTOL {
                return Some(next);
            }
            if !(lo < next && next < hi) {
                return None;
            }
            let e_next = self.energy(next);
            if e_next.is_nan() || e_next > e {
                return None;
            }
            (s2, e) = (next, e_next);
        }
        None
    }

    fn row(&self, r: usize, z: &mut [f64; MAX_P]) {
        let xr = &self.x[r * self.stride..];
        for (zj, &j) in z.iter_mut().zip(self.cols) {
            *zj = xr[j];
        }
    }
}

/// σ̂² of one group (normalised units, floored at [`SIGMA2_FLOOR`]): Brent in ln σ², and with
/// `global` also the scan + refinement, keeping the lower energy (ties → Brent).
pub(crate) fn optimise(g: &GroupRows, global: bool) -> f64 {
    let brent_s2 = brent(|x| g.energy((x + X_SHIFT).exp())).exp().max(SIGMA2_FLOOR);
    if !global {
        return brent_s2;
    }
    let scale = dersimonian_laird_tau2(g.y, g.s, Mean::Intercept).max(0.0) + g.s.iter().sum::<f64>() / g.s.len() as f64;
    let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
    let to_s2 = |u: f64| scale * u / (1.0 - u);
    let f = |u: f64| g.energy(to_s2(u));
    let grid = scan(&f, 0.0, U_MAX);
    // The best scan point's basin: Newton steps from it (one column) reach its minimum in a
    // few evaluations, where refining the bracket takes dozens; refine if Newton cannot.
    let newton = if g.cols.len() == 1 && !grid.settled() {
        let (low, high) = grid.bracket();
        g.newton_min(to_s2(grid.best_point()), to_s2(low), to_s2(high))
    } else {
        None
    };
    let scan_s2 = newton.unwrap_or_else(|| to_s2(refine(&f, &grid)));
    if g.energy(scan_s2) < g.energy(brent_s2) {
        scan_s2.max(SIGMA2_FLOOR)
    } else {
        brent_s2
    }
}

/// Brent's minimiser (golden section + parabolic interpolation, Numerical-Recipes form) on
/// [ln 1e−10, ln 1e10] from x = 0 with flameo's tolerances and stopping rule. Returns x.
// Brent's point-identity tests (w == x, v == w) are exact by design.
#[allow(clippy::float_cmp)]
pub(crate) fn brent(f: impl Fn(f64) -> f64) -> f64 {
    let (mut a, mut b) = (-LN_HI, LN_HI);
    let mut x = 0.0;
    let (mut w, mut v) = (x, x);
    let mut fx = f(x);
    let (mut fw, mut fv) = (fx, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for _ in 0..BRENT_MAXITER {
        let xm = 0.5 * (a + b);
        let tol1 = BRENT_TOL * x.abs() + BRENT_TINY;
        let tol2 = 2.0 * tol1;
        if (x - xm).abs() <= BRENT_MID && b - a < BRENT_WIDTH {
            break;
        }
        let golden = |x: f64| if x >= xm { a - x } else { b - x };
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            let e_old = e;
            e = d;
            // NaN p or q (infinite energies) also falls back to golden section.
            if !(p.abs() < (0.5 * q * e_old).abs() && p > q * (a - x) && p < q * (b - x)) {
                e = golden(x);
                d = GOLDEN * e;
            } else {
                d = p / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = tol1.copysign(xm - x);
                }
            }
        } else {
            e = golden(x);
            d = GOLDEN * e;
        }
        let u = if d.abs() >= tol1 { x + d } else { x + tol1.copysign(d) };
        let fu = f(u);
        if fu <= fx {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    x
}

/// The 31 scan fractions of `estimators.md` §7: {j/24} ∪ {1e−6, 1e−4, 1e−2, 0.99, 0.9999,
/// 0.999999}, sorted.
fn scan_fractions() -> [f64; N_SCAN] {
    let mut f = [0.0; N_SCAN];
    for (j, x) in f.iter_mut().take(25).enumerate() {
        *x = j as f64 / 24.0;
    }
    f[25..].copy_from_slice(&[1e-6, 1e-4, 1e-2, 0.99, 0.9999, 0.999_999]);
    f.sort_by(f64::total_cmp);
    f
}

/// The 31-point scan of `estimators.md` §7 on [lo, hi]: points, values (NaN as +∞), best.
pub(crate) struct Scan {
    xs: [f64; N_SCAN],
    fs: [f64; N_SCAN],
    best: usize,
}

impl Scan {
    /// The best point is an end: that end is the answer, there is nothing to refine.
    fn settled(&self) -> bool {
        self.best == 0 || self.best == N_SCAN - 1
    }

    /// The best point.
    fn best_point(&self) -> f64 {
        self.xs[self.best]
    }

    /// The best point's neighbours (the refinement's first bracket).
    fn bracket(&self) -> (f64, f64) {
        let m = self.best.clamp(1, N_SCAN - 2);
        (self.xs[m - 1], self.xs[m + 1])
    }
}

/// NaN counts as +∞.
fn no_nan(y: f64) -> f64 {
    if y.is_nan() {
        f64::INFINITY
    } else {
        y
    }
}

/// Evaluate `f` at the scan points of [lo, hi].
pub(crate) fn scan(f: &impl Fn(f64) -> f64, lo: f64, hi: f64) -> Scan {
    let fr = scan_fractions();
    let (mut xs, mut fs) = ([0.0; N_SCAN], [0.0; N_SCAN]);
    let mut best = 0;
    for j in 0..N_SCAN {
        xs[j] = lo + fr[j] * (hi - lo);
        fs[j] = no_nan(f(xs[j]));
        if fs[j] < fs[best] {
            best = j;
        }
    }
    Scan { xs, fs, best }
}

/// `bounded_scalar_min` of `estimators.md` §7 for a single voxel (its own stopping test) with
/// the refinement tolerances above, from the bracket of `grid`'s best point; NaN counts as +∞.
pub(crate) fn refine(f: &impl Fn(f64) -> f64, grid: &Scan) -> f64 {
    let f = |x: f64| no_nan(f(x));
    let (xs, fs, best) = (&grid.xs, &grid.fs, grid.best);
    let settled = grid.settled();
    let m = best.clamp(1, N_SCAN - 2);
    let (mut low, mut mid, mut high) = (xs[m - 1], xs[m], xs[m + 1]);
    let (mut f_low, mut f_mid, mut f_high) = (fs[m - 1], fs[m], fs[m + 1]);
    let tol = REFINE_XTOL * (high - low);
    let (mut last_step, mut prev_step) = (high - low, high - low);
    for _ in 0..REFINE_MAXITER {
        let (dl, dh) = ((f_low - f_mid).abs(), (f_high - f_mid).abs());
        // A NaN spread (infinite values) is not flat.
        let flat = !(dl.is_nan() || dh.is_nan()) && dl.max(dh) <= REFINE_FTOL * (1.0 + f_mid.abs());
        if settled || flat || high - low <= tol {
            break;
        }
        let (l, r) = (mid - low, mid - high);
        let den = l * (f_mid - f_high) - r * (f_mid - f_low);
        let curv = (f_high - f_mid) / (high - mid) - (f_mid - f_low) / (mid - low);
        let vertex = mid - 0.5 * (l * l * (f_mid - f_high) - r * r * (f_mid - f_low)) / den;
        let floor = tol.max(2.22e-16 * (1.0 + mid.abs()));
        let d = (vertex - mid).abs();
        let usable = curv > 0.0
            && vertex.is_finite()
            && low + floor < vertex
            && vertex < high - floor
            && d > floor
            && d < 0.5 * prev_step;
        let larger = (mid - low).max(high - mid);
        let c = if usable {
            vertex
        } else if mid - low > high - mid {
            mid - GOLDEN * (mid - low)
        } else {
            mid + GOLDEN * (high - mid)
        };
        let fc = f(c);
        (prev_step, last_step) = if usable { (last_step, d) } else { (larger, GOLDEN * larger) };
        let better = fc < f_mid;
        match (c > mid, better) {
            (true, true) => (low, f_low) = (mid, f_mid),
            (true, false) => (high, f_high) = (c, fc),
            (false, true) => (high, f_high) = (mid, f_mid),
            (false, false) => (low, f_low) = (c, fc),
        }
        if better {
            (mid, f_mid) = (c, fc);
        }
    }
    if f_mid <= fs[best] {
        mid
    } else {
        xs[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brent_finds_a_quadratic_minimum_to_its_tolerance() {
        let x = brent(|x| (x - 3.7).powi(2));
        assert!((x - 3.7).abs() <= BRENT_WIDTH, "{x}");
        // Monotone energy: the search runs to the lower bound.
        let x = brent(|x| x);
        assert!(x + LN_HI <= BRENT_WIDTH, "{x}");
    }

    #[test]
    fn one_column_derivatives_match_finite_differences() {
        use ibma_stats::tol;
        let y = [0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 3.1];
        let s = [0.5, 0.2, 1.5, 0.8, 0.3, 2.0, 0.6];
        let x = [1.0, 0.5, 2.0, 1.0, -1.0, 0.3, 1.5];
        let g = GroupRows { y: &y, s: &s, x: &x, stride: 1, cols: &[0] };
        for sigma2 in [0.05, 0.7, 3.0] {
            let h = 1e-4 * sigma2;
            let e = |v: f64| g.energy(v);
            let fd1 = (e(sigma2 + h) - e(sigma2 - h)) / (2.0 * h);
            let fd2 = (e(sigma2 + h) - 2.0 * e(sigma2) + e(sigma2 - h)) / (h * h);
            let (d1, d2) = g.one_column_derivatives(sigma2).unwrap();
            assert!(tol::close(d1, fd1, tol::FINITE_DIFFERENCE_RTOL, 0.0), "E' {d1} vs {fd1}");
            assert!(tol::close(d2, fd2, tol::FINITE_DIFFERENCE_RTOL, 0.0), "E'' {d2} vs {fd2}");
        }
        // Newton from a point of the basin ends at its minimum: the refinement's answer.
        let to_s2 = |u: f64| u / (1.0 - u);
        let f = |u: f64| g.energy(to_s2(u));
        let grid = scan(&f, 0.0, U_MAX);
        let (low, high) = grid.bracket();
        let newton = g.newton_min(to_s2(grid.best_point()), to_s2(low), to_s2(high)).unwrap();
        let refined = to_s2(refine(&f, &grid));
        assert!(tol::close(newton, refined, tol::FINITE_DIFFERENCE_RTOL, 0.0), "{newton} vs {refined}");
        assert!(g.energy(newton) <= g.energy(refined));
    }

    #[test]
    fn refine_is_tight_and_returns_an_exact_end() {
        // Far looser than the 1e−12 bracket tolerance, far tighter than PyMARE's 1e−6.
        const QUAD_ATOL: f64 = 1e-9;
        let quad = |u: f64| (u - 0.3137).powi(2);
        let u = refine(&quad, &scan(&quad, 0.0, 1.0));
        assert!((u - 0.3137).abs() <= QUAD_ATOL, "{u}");
        let line = |u: f64| u;
        assert_eq!(refine(&line, &scan(&line, 0.0, 1.0)).to_bits(), 0.0f64.to_bits());
    }
}
