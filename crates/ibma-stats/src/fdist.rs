//! F distribution upper tail in log space (F contrasts of FLAME1, `docs/flame1.md`).
//!
//! Q(f; d1, d2) = P(F > f) = I_x(d2/2, d1/2) with x = d2/(d2 + d1·f), the regularised
//! incomplete beta evaluated by its continued fraction (modified Lentz) in log space, so the
//! tail never underflows. x and 1 − x are both formed from r = d1·f/d2 without cancellation.

use crate::student_t::{beta_cf, ln_beta};

/// ln P(F > f) for an F(d1, d2) variable; d1, d2 may be any positive reals. f ≤ 0 gives 0,
/// f = +∞ gives −∞, NaN in gives NaN.
pub fn log_sf(f: f64, d1: f64, d2: f64) -> f64 {
    if f.is_nan() || d1.is_nan() || d2.is_nan() || d1 <= 0.0 || d2 <= 0.0 {
        return f64::NAN;
    }
    if f <= 0.0 {
        return 0.0;
    }
    if f.is_infinite() {
        return f64::NEG_INFINITY;
    }
    let (a, b) = (0.5 * d2, 0.5 * d1);
    let r = d1 * f / d2;
    // ln x = −ln(1 + r), ln y = ln r − ln(1 + r), both without cancellation.
    let (ln_x, ln_y) = if !r.is_finite() {
        let ln_r = d1.ln() + f.ln() - d2.ln();
        (-ln_r, -(-ln_r).exp())
    } else if r > 1.0 {
        (-r.ln_1p(), -(1.0 / r).ln_1p())
    } else {
        (-r.ln_1p(), r.ln() - r.ln_1p())
    };
    let (x, y) = (ln_x.exp(), ln_y.exp());
    let ln_b = ln_beta(a, b);
    // Numerical Recipes switch: the fraction for I_x(a, b) converges fast for x < (a+1)/(a+b+2).
    if y > (b + 1.0) / (a + b + 2.0) {
        a * ln_x + b * ln_y - a.ln() - ln_b + beta_cf(a, b, x, y).ln()
    } else {
        let ln_lower = b * ln_y + a * ln_x - b.ln() - ln_b + beta_cf(b, a, y, x).ln();
        (-ln_lower.exp()).ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{student_t, tol};

    /// Closed form for d1 = 2: Q = (1 + 2f/d2)^(−d2/2).
    #[test]
    fn two_numerator_dof_closed_form() {
        for &d2 in &[1.0f64, 3.5, 20.0, 1000.0] {
            for &f in &[1e-6f64, 0.3, 1.0, 4.1, 50.0, 1e6, 1e200] {
                let want = -0.5 * d2 * (2.0 * f / d2).ln_1p();
                let got = log_sf(f, 2.0, d2);
                assert!(tol::close(got, want, tol::SUMMATION_ORDER_RTOL, 0.0), "d2 {d2} f {f}: {got} vs {want}");
            }
        }
    }

    /// d1 = 1: F = t², so Q equals the two-sided t tail 2·T̄(|t|).
    #[test]
    fn one_numerator_dof_is_two_sided_t() {
        for &nu in &[1.0, 4.0, 19.0, 312.0] {
            for &t in &[0.05, 0.9, 2.3, 7.0, 40.0] {
                let want = std::f64::consts::LN_2 + student_t::log_sf(t, nu);
                let got = log_sf(t * t, 1.0, nu);
                assert!(
                    tol::close(got, want, tol::SUMMATION_ORDER_RTOL, tol::REFERENCE_ATOL),
                    "nu {nu} t {t}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn edges() {
        assert_eq!(log_sf(0.0, 3.0, 5.0).to_bits(), 0.0f64.to_bits());
        assert!(log_sf(f64::INFINITY, 3.0, 5.0) == f64::NEG_INFINITY);
        assert!(log_sf(f64::NAN, 3.0, 5.0).is_nan() && log_sf(1.0, 0.0, 5.0).is_nan());
    }
}
