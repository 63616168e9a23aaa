//! FLAME1's per-group search for σ² (`flame1.md` §3 step 2), in the voxel's normalised units.
//!
//! The energy is the negative REML log-likelihood of one variance group. flameo minimises it in
//! x = ln σ² with a single Brent run from x = 0; with very unequal within-study variances the
//! energy can have two basins and that run may stay in the worse one. The `global` optimiser
//! therefore also runs the 31-point scan of `estimators.md` §7 (in σ² = s·u/(1 − u)) with a
//! tight single-voxel refinement, and keeps whichever answer has the lower energy.

use crate::likelihood::one_column_sums;
use crate::linalg::{Cholesky, SmallMat, MAX_P};
use crate::moments::dersimonian_laird_tau2;

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
    let scale = dersimonian_laird_tau2(g.y, g.s) + g.s.iter().sum::<f64>() / g.s.len() as f64;
    let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
    let to_s2 = |u: f64| scale * u / (1.0 - u);
    let scan_s2 = to_s2(scan_refine(|u| g.energy(to_s2(u)), 0.0, U_MAX));
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

/// `bounded_scalar_min` of `estimators.md` §7 for a single voxel (its own stopping test) with
/// the refinement tolerances above; NaN counts as +∞.
pub(crate) fn scan_refine(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    let f = |x: f64| {
        let y = f(x);
        if y.is_nan() {
            f64::INFINITY
        } else {
            y
        }
    };
    let fr = scan_fractions();
    let (mut xs, mut fs) = ([0.0; N_SCAN], [0.0; N_SCAN]);
    let mut best = 0;
    for j in 0..N_SCAN {
        xs[j] = lo + fr[j] * (hi - lo);
        fs[j] = f(xs[j]);
        if fs[j] < fs[best] {
            best = j;
        }
    }
    let settled = best == 0 || best == N_SCAN - 1;
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
    fn refine_is_tight_and_returns_an_exact_end() {
        // Far looser than the 1e−12 bracket tolerance, far tighter than PyMARE's 1e−6.
        const QUAD_ATOL: f64 = 1e-9;
        let u = scan_refine(|u| (u - 0.3137).powi(2), 0.0, 1.0);
        assert!((u - 0.3137).abs() <= QUAD_ATOL, "{u}");
        assert_eq!(scan_refine(|u| u, 0.0, 1.0).to_bits(), 0.0f64.to_bits());
    }
}
