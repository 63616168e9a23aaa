//! Chi-square distribution in log space.
//!
//! ln Q(a, z) with a = f/2, z = x/2 (regularised upper incomplete gamma): the series for P
//! when z < a + 1, the continued fraction for Q otherwise (Numerical Recipes `gser`/`gcf`,
//! modified Lentz), both with the common factor z^a e^{−z}/Γ(a) kept as a logarithm.

use crate::student_t::{ln_gamma_acc, stirling_rem};

/// ½ ln 2π.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// Relative convergence threshold.
const EPS: f64 = 1e-16;
/// Guard against division by zero in modified Lentz.
const TINY: f64 = 1e-300;
/// Both expansions need O(√a) terms near z ≈ a.
const MAX_ITER: usize = 100_000;

/// ln(z^a e^{−z}/Γ(a)). For a ≥ 10 Stirling turns it into −a(u − log1p u) + ½ ln(a/2π) − w(a)
/// with u = (z − a)/a, so the two ~a ln a terms never cancel.
fn ln_prefactor(a: f64, z: f64) -> f64 {
    if a < 10.0 {
        a * z.ln() - z - ln_gamma_acc(a)
    } else {
        let u = (z - a) / a;
        // ln(z/a): log1p(u) only near z = a; for z ≪ a, 1 + u would cancel (4e-11 at z/a = 2.5e-5).
        let ln_ratio = if u.abs() < 0.5 { u.ln_1p() } else { (z / a).ln() };
        -a * (u - ln_ratio) + 0.5 * a.ln() - LN_SQRT_2PI - stirling_rem(a)
    }
}

/// ln Q_f(x), the log survival function of χ²_f; never underflows for finite x.
///
/// x ≤ 0 gives 0, x = +∞ gives −∞, NaN or f ≤ 0 gives NaN.
pub fn log_sf(x: f64, dof: f64) -> f64 {
    if x.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return f64::NEG_INFINITY;
    }
    let a = 0.5 * dof;
    let z = 0.5 * x;
    let ln_pre = ln_prefactor(a, z);
    if z < a + 1.0 {
        // P = pre/a · Σ z^n/((a+1)…(a+n)); Q = 1 − P with P ≲ 0.6 here, so log1p is safe.
        let mut term = 1.0 / a;
        let mut sum = term;
        for n in 1..MAX_ITER {
            term *= z / (a + n as f64);
            sum += term;
            if term < EPS * sum {
                break;
            }
        }
        (-(ln_pre + sum.ln()).exp()).ln_1p()
    } else {
        // Q = pre · 1/(z+1−a − 1(1−a)/(z+3−a − 2(2−a)/(z+5−a − …))).
        let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
        let mut b = z + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..MAX_ITER {
            let i = i as f64;
            let an = -i * (i - a);
            b += 2.0;
            d = 1.0 / guard(an * d + b);
            c = guard(b + an / c);
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        ln_pre + h.ln()
    }
}
