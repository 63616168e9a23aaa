//! Student t distribution in log space.
//!
//! T̄_ν(t) = ½ I_x(ν/2, ½) with x = ν/(ν+t²) for t > 0. Both x and 1 − x = t²/(ν+t²) are
//! formed directly from s = t²/ν, so nothing cancels when x is close to 1 (large ν or small t).
//! Two expansions of the regularised incomplete beta, both evaluated in log space:
//! * |t| beyond the Numerical-Recipes switch point, the continued fraction for I_x(ν/2, ½)
//!   (modified Lentz), which converges quickly there and never underflows in log space;
//! * |t| below it, the power series of I_{1−x}(½, ν/2) = 1 − I_x(ν/2, ½). Its terms are all
//!   positive, so the central part stays accurate even for ν = 1e6, where the continued
//!   fraction near the switch point loses digits to cancellation.

use std::f64::consts::LN_2;

use statrs::function::gamma::ln_gamma;

/// ½ ln 2π.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// Relative convergence threshold of the series and continued fractions.
const EPS: f64 = 1e-16;
/// Guard against division by zero in modified Lentz.
const TINY: f64 = 1e-300;
/// Iteration cap; near the switch point the expansions need O(√ν) terms (≈ 700 at ν = 1e6).
const MAX_ITER: usize = 100_000;

/// Stirling remainder w(z) = lnΓ(z) − [(z − ½) ln z − z + ½ ln 2π], for z ≥ 10
/// (the first 8 Bernoulli terms; truncation error < 1e-17 there).
pub(crate) fn stirling_rem(z: f64) -> f64 {
    const C: [f64; 8] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
        1.0 / 156.0,
        -3617.0 / 122_400.0,
    ];
    let r = 1.0 / z;
    let r2 = r * r;
    r * C.iter().rev().fold(0.0, |acc, &c| acc * r2 + c)
}

/// lnΓ(z): statrs' Lanczos for small z, Stirling with remainder for z ≥ 10.
pub(crate) fn ln_gamma_acc(z: f64) -> f64 {
    if z < 10.0 {
        ln_gamma(z)
    } else {
        (z - 0.5) * z.ln() - z + LN_SQRT_2PI + stirling_rem(z)
    }
}

/// ln B(a, b), accurate when one argument is huge: lnΓ(q) − lnΓ(p+q) for q ≥ 10 is formed as
/// −(q − ½) log1p(p/q) − p ln(p+q) + p + w(q) − w(p+q) instead of a difference of two
/// lnΓ ≈ q ln q that would cancel (1e-9 absolute error at q = 5e5).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    let (p, q) = if a <= b { (a, b) } else { (b, a) };
    if q < 10.0 {
        return ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q);
    }
    let s = p + q;
    let diff = -(q - 0.5) * (p / q).ln_1p() - p * s.ln() + p + stirling_rem(q) - stirling_rem(s);
    ln_gamma_acc(p) + diff
}

/// Continued fraction of I_x(a, b) = x^a y^b/(a B(a,b)) · cf (Numerical Recipes `betacf`,
/// modified Lentz), with y = 1 − x supplied so that the leading partial denominator
/// 1 − (a+b)x/(a+1) = (1 − b + (a+b)y)/(a+1) is formed without cancellation when x → 1.
pub(crate) fn beta_cf(a: f64, b: f64, x: f64, y: f64) -> f64 {
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard((1.0 - b + (a + b) * y) / (a + 1.0));
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Σ_n (a+b)_n/(a+1)_n · x^n, the power series of I_x(a, b)·a B(a,b)/(x^a y^b). All terms are
/// positive; it converges geometrically for x·(a+b) ≲ a+1, where it is used.
fn beta_series(a: f64, b: f64, x: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..MAX_ITER {
        let n = n as f64;
        term *= (a + b + n) / (a + 1.0 + n) * x;
        sum += term;
        if term < EPS * sum {
            break;
        }
    }
    sum
}

/// Smallest a = ν/2 for which the large-a expansion below replaces the continued fraction.
const A_LARGE: f64 = 15.0;

/// ln I_x(a, ½) for large a by the asymptotic expansion of DiDonato & Morris (TOMS 708,
/// "BGRAT"; DLMF 8.17.22) specialised to b = ½:
/// I_x(a, ½) = Γ(a+½)/(Γ(a)√n) · e^{−z}√z/Γ(½) · Σ_k d_k J_k,  n = a − ¼, z = −n ln x,
/// with J_0 = Γ(½) e^z z^{−½} Q(½, z) = √π erfcx(√z)/√z, so nothing underflows (`ln_beta_a`
/// is ln B(a, ½)). It needs only
/// ln x (exact through log1p), whereas the continued fraction also needs x itself, and the
/// rounding of x near 1 is amplified by ~ν in the result (2e-11 relative at ν = 1e6, t = 2).
/// Returns `None` if 30 terms do not converge.
fn ln_ibeta_large_a_half(a: f64, ln_beta_a: f64, ln_x: f64) -> Option<f64> {
    const B: f64 = 0.5;
    const N_MAX: usize = 30;
    let nu = a - 0.25;
    let z = -nu * ln_x;
    if z.is_nan() || z <= 0.0 {
        return None;
    }
    let sz = z.sqrt();
    let mut j = std::f64::consts::PI.sqrt() * crate::normal::erfcx(sz) / sz;
    let mut sum = j;
    let v = 0.25 / (nu * nu);
    let l2 = 0.25 * ln_x * ln_x;
    let mut t = 1.0;
    let mut cn = 1.0;
    let mut c = [0.0; N_MAX];
    let mut d = [0.0; N_MAX];
    for n in 1..=N_MAX {
        let nf = n as f64;
        let bp2n = B + 2.0 * nf - 2.0;
        // J_n = [(b+2n−2)(b+2n−1) J_{n−1} + (z+b+2n−1) (ln²x/4)^{n−1}] / (4 n²): all positive.
        j = (bp2n * (bp2n + 1.0) * j + (z + bp2n + 1.0) * t) * v;
        t *= l2;
        cn /= 2.0 * nf * (2.0 * nf + 1.0);
        c[n - 1] = cn;
        // d_n = (b−1) c_n + (1/n) Σ_{i<n} (b i − n) c_i d_{n−i}, with c_n = 1/(2n+1)!.
        let s: f64 = (1..n).map(|i| (B * i as f64 - nf) * c[i - 1] * d[n - i - 1]).sum();
        d[n - 1] = (B - 1.0) * cn + s / nf;
        let dj = d[n - 1] * j;
        sum += dj;
        if sum.is_nan() || sum <= 0.0 {
            return None;
        }
        if dj.abs() <= EPS * sum {
            return Some(-ln_beta_a - 0.5 * nu.ln() - z + 0.5 * z.ln() + sum.ln());
        }
    }
    None
}

/// The pieces of x = ν/(ν+t²) and y = 1 − x that both expansions need, for t > 0.
struct Split {
    x: f64,
    y: f64,
    ln_x: f64,
    ln_y: f64,
}

fn split(t: f64, dof: f64) -> Split {
    let s = t * t / dof;
    if s.is_finite() {
        Split { x: 1.0 / (1.0 + s), y: s / (1.0 + s), ln_x: -s.ln_1p(), ln_y: -(1.0 / s).ln_1p() }
    } else {
        // t > ~1e154: carry s through its logarithm.
        let ln_s = 2.0 * t.ln() - dof.ln();
        Split { x: (-ln_s).exp(), y: 1.0, ln_x: -ln_s, ln_y: -(-ln_s).exp() }
    }
}

/// For t > 0: either `Upper(ln T̄(t))` from the continued fraction, or `Central(i)` with
/// i = I_{1−x}(½, ν/2) = P(|T| < t), so that T̄(t) = ½(1 − i).
enum Tail {
    Upper(f64),
    Central(f64),
}

fn tail(t: f64, at: &TailAt) -> Tail {
    if let Some(nu) = at.integer_dof {
        let i = central_integer_dof(t, nu);
        if 1.0 - i >= CLOSED_FORM_MIN_TWO_SIDED_P {
            return Tail::Central(i);
        }
    }
    let (dof, a) = (at.dof, 0.5 * at.dof);
    let sp = split(t, dof);
    // NR switch point x < (a+1)/(a+b+2), written on y to avoid rounding x near 1.
    if sp.y > 1.5 / (a + 2.5) {
        let large_a = if a >= A_LARGE { ln_ibeta_large_a_half(a, at.ln_beta, sp.ln_x) } else { None };
        let ln_i = large_a
            .unwrap_or_else(|| a * sp.ln_x + 0.5 * sp.ln_y - a.ln() - at.ln_beta + beta_cf(a, 0.5, sp.x, sp.y).ln());
        Tail::Upper(ln_i - LN_2)
    } else {
        let ln_i = 0.5 * sp.ln_y + a * sp.ln_x + LN_2 - at.ln_beta + beta_series(0.5, a, sp.y).ln();
        Tail::Central(ln_i.exp())
    }
}

/// Largest ν given the closed form below (its cost grows as ν/2 terms).
const CLOSED_FORM_MAX_DOF: f64 = 100.0;
/// The closed form is used while P(|T| ≥ t) = 1 − i is at least this: forming 1 − i then costs
/// at most a factor 1/0.002 of i's rounding (~ν/2 ulp), 3e-12 in the worst case at ν = 100
/// and ~1e-14 in practice, within [`crate::tol::TAIL_RTOL`]'s 1e-12 of mpmath (tested).
const CLOSED_FORM_MIN_TWO_SIDED_P: f64 = 2e-3;

/// P(|T| < t) for t > 0 and a whole number ν of degrees of freedom, by the finite sums of
/// Abramowitz & Stegun 26.7.3–4 with θ = atan(t/√ν): sin θ Σ_{k<ν/2} c_k cos^{2k}θ for even ν,
/// (2/π)(θ + sin θ cos θ Σ_{k<(ν−1)/2} d_k cos^{2k}θ) for odd ν, c_k = (2k−1)!!/(2k)!!,
/// d_k = (2k)!!/(2k+1)!!. Positive terms, ν/2 of them: ~5x faster than the incomplete-beta
/// expansions in the body of the distribution, where deriving z from t spends its time.
fn central_integer_dof(t: f64, nu: u32) -> f64 {
    let nu_f = f64::from(nu);
    let r = 1.0 / (nu_f + t * t);
    let (cos2, sin) = (nu_f * r, t * r.sqrt());
    let odd = nu % 2 == 1;
    let terms = if odd { (nu - 1) / 2 } else { nu / 2 };
    let (mut term, mut sum) = (1.0, if terms > 0 { 1.0 } else { 0.0 });
    for k in 1..terms {
        let k = f64::from(k);
        term *= cos2 * if odd { 2.0 * k / (2.0 * k + 1.0) } else { (2.0 * k - 1.0) / (2.0 * k) };
        sum += term;
    }
    if odd {
        std::f64::consts::FRAC_2_PI * ((t / nu_f.sqrt()).atan() + sin * (cos2.sqrt() * sum))
    } else {
        sin * sum
    }
}

/// ln T̄_ν(t) = ln P(T > t), the log survival function; never underflows for finite t.
///
/// `dof` may be any positive real (1 to 1e6 tested). NaN in, NaN out. For many values at one
/// ν, [`TailAt`] computes ν's constants once (same results).
pub fn log_sf(t: f64, dof: f64) -> f64 {
    TailAt::new(dof).log_sf(t)
}

/// The t tail at one ν with its constant ln B(ν/2, ½) computed once: for maps of many
/// values sharing a dof (deriving z from t), where that constant was a third of the cost.
#[derive(Clone, Copy, Debug)]
pub struct TailAt {
    dof: f64,
    ln_beta: f64,
    /// ν when it is a whole number up to [`CLOSED_FORM_MAX_DOF`] (the closed-form body).
    integer_dof: Option<u32>,
}

impl TailAt {
    /// The tail with `dof` degrees of freedom.
    pub fn new(dof: f64) -> TailAt {
        let whole = (1.0..=CLOSED_FORM_MAX_DOF).contains(&dof) && dof.fract() == 0.0;
        TailAt { dof, ln_beta: ln_beta(0.5, 0.5 * dof), integer_dof: whole.then_some(dof as u32) }
    }

    /// The same tail without the closed form for whole ν (the incomplete-beta expansions
    /// only), to check one against the other.
    #[doc(hidden)]
    pub fn expansions_only(dof: f64) -> TailAt {
        TailAt { integer_dof: None, ..TailAt::new(dof) }
    }

    /// [`log_sf`]`(t, dof)`.
    pub fn log_sf(&self, t: f64) -> f64 {
        let dof = self.dof;
        if t.is_nan() || dof.is_nan() || dof <= 0.0 {
            return f64::NAN;
        }
        if t == 0.0 {
            return -LN_2;
        }
        if t.is_infinite() {
            return if t > 0.0 { f64::NEG_INFINITY } else { 0.0 };
        }
        match (tail(t.abs(), self), t > 0.0) {
            (Tail::Upper(l), true) => l,
            // 1 − T̄(|t|); T̄(|t|) ≤ ½ here, so log1p loses nothing.
            (Tail::Upper(l), false) => (-l.exp()).ln_1p(),
            (Tail::Central(i), true) => (-i).ln_1p() - LN_2,
            (Tail::Central(i), false) => i.ln_1p() - LN_2,
        }
    }

    /// [`log_sf_nimare`]`(t, dof)`.
    pub fn log_sf_nimare(&self, t: f64) -> f64 {
        let sf = self.log_sf(t).exp();
        if sf > 0.0 || t.is_nan() || t <= 0.0 || t.is_infinite() {
            return sf.ln();
        }
        let dof = self.dof;
        0.5 * (dof - 2.0) * dof.ln() - self.ln_beta - dof * t.ln()
    }
}

/// ln T_ν(t) = ln P(T ≤ t), the log cumulative distribution function.
pub fn log_cdf(t: f64, dof: f64) -> f64 {
    log_sf(-t, dof)
}

/// ln of the density f_ν(t) = (1 + t²/ν)^{−(ν+1)/2} / (√ν B(½, ν/2)).
pub fn log_pdf(t: f64, dof: f64) -> f64 {
    let s = t * t / dof;
    let ln1s = if s.is_finite() { s.ln_1p() } else { 2.0 * t.abs().ln() - dof.ln() };
    -0.5 * (dof + 1.0) * ln1s - 0.5 * dof.ln() - ln_beta(0.5, 0.5 * dof)
}

/// t with ln T̄_ν(t) = `log_p` (inverse of [`log_sf`]); used for z → t.
///
/// `log_p = 0` gives −∞, `log_p = −∞` gives +∞, and a t beyond f64 (e.g. ν = 1 and
/// ln p = −1e5) gives +∞. Safeguarded Newton in ln t, with a bisection fallback.
pub fn isf_log(log_p: f64, dof: f64) -> f64 {
    if log_p.is_nan() || dof.is_nan() || log_p > 0.0 || dof <= 0.0 {
        return f64::NAN;
    }
    if log_p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if log_p == f64::NEG_INFINITY {
        return f64::INFINITY;
    }
    if log_p > -LN_2 {
        // Upper half: mirror through 1 − p, formed accurately as −expm1(ln p).
        return -isf_log((-log_p.exp_m1()).ln(), dof);
    }
    let g = |t: f64| log_sf(t, dof) - log_p;
    // f ≤ power-law density, so T̄ ≤ C t^{−ν}: the power-law inverse is an upper bound.
    let log_c = 0.5 * (dof - 2.0) * dof.ln() - ln_beta(0.5, 0.5 * dof);
    let mut hi = ((log_c - log_p) / dof).exp().max(1.0);
    while hi.is_finite() && g(hi) > 0.0 {
        hi *= 2.0;
    }
    if !hi.is_finite() {
        return if g(f64::MAX) > 0.0 { f64::INFINITY } else { bisect(g, 0.0, f64::MAX) };
    }
    let mut lo = 0.0_f64;
    // Start from the normal quantile (exact for ν → ∞), kept inside the bracket.
    let mut t = (-crate::normal::ndtri_exp(log_p)).clamp(f64::MIN_POSITIVE, hi);
    for _ in 0..200 {
        let gt = g(t);
        if gt.abs() <= 0.0 {
            return t;
        }
        if gt > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // Newton in u = ln t: dg/du = −t f(t)/T̄(t); near-linear in the power-law tail.
        let dg_du = -t * (log_pdf(t, dof) - log_sf(t, dof)).exp();
        let mut t_new = t * (-gt / dg_du).exp();
        if !(t_new > lo && t_new < hi) {
            t_new = if lo > 0.0 { (lo * hi).sqrt() } else { 0.5 * hi };
        }
        if (t_new - t).abs() <= 2.0 * f64::EPSILON * t {
            return t_new;
        }
        t = t_new;
    }
    t
}

/// Plain bisection on a decreasing `g` over [lo, hi] (only reached for t near f64::MAX).
fn bisect(g: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..2100 {
        let mid = lo + 0.5 * (hi - lo);
        if mid <= lo || mid >= hi {
            break;
        }
        if g(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// ln T̄_ν(t) as NiMARE 0.22.1 `_log_t_sf` computes it: SciPy's `log(sf)` while the survival
/// function is a representable double (including its subnormal rounding), and the power-law
/// expansion ln C − ν ln t once that underflows to 0 (ln T̄ < −745.13).
///
/// That expansion has relative error of order ν/t², so for large ν it is far from the exact
/// tail (ν = 1384, t = 85: −1148.11 instead of −1269.31). Provided only to reproduce
/// NiMARE's maps; use [`log_sf`] for the exact value.
pub fn log_sf_nimare(t: f64, dof: f64) -> f64 {
    TailAt::new(dof).log_sf_nimare(t)
}
