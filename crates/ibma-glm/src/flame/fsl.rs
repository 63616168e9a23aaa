//! flameo's own search (`optimizer = fsl`), which FSL 5.0.9's σ̂² reproduces to 1e−3 in 99.99 %
//! of nidm_pain21's voxels (docs/flame1.md, Reproducing flameo): Brent's method in x = ln σ² from x = 0 on
//! [ln 1e−10, ln 1e10], in units of the copes' variance held as a single-precision standard
//! deviation ŝ (copes divided by ŝ, variances by the single-precision ŝ·ŝ), with x, eˣ and the
//! energy in single precision (`optimise.rs`) and flameo's bookkeeping of Brent's points below.

/// Brent's interval in x = ln σ²: [ln 1e−10, ln 1e10].
const LN_HI: f64 = 23.025_850_929_940_457;
/// Brent's fractional tolerance and absolute floor: tol1 = TOL·|x| + TINY (also the minimum step).
const BRENT_TOL: f64 = 1e-6;
const BRENT_TINY: f64 = 1e-10;
/// Brent stops when |x − midpoint| ≤ this and the bracket is narrower than [`BRENT_WIDTH`].
const BRENT_MID: f64 = 1e-5;
const BRENT_WIDTH: f64 = 4e-5;
const BRENT_MAXITER: usize = 100;
/// Golden-section fraction (3 − √5)/2.
const GOLDEN: f64 = 0.381_966_011_250_105_1;

/// Brent's minimiser (golden section + parabolic interpolation, Numerical-Recipes form) on
/// [ln 1e−10, ln 1e10] from x = 0 with flameo's tolerances, stopping rule and bookkeeping.
/// Returns x.
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
            // flameo's bookkeeping: `fv = fw; fw = fv`, so fw keeps its old value where
            // Numerical Recipes shifts fx into it (it steers the parabolic steps).
            (v, w, x) = (w, x, u);
            (fv, fx) = (fw, fu);
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
}
