//! Standard normal distribution in log space.
//!
//! `erfc`/`erfcx` use W. J. Cody's rational Chebyshev approximations (Math. Comp. 1969,
//! ≥ 18 significant digits in exact arithmetic), and Φ⁻¹ uses Wichura's AS241 (PPND16,
//! ~1e-16). Everything that would underflow is carried through `erfcx` (the scaled
//! complementary error function) so that ln Φ(x) stays accurate to x ≈ −1e154.

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

/// 1/√π.
const FRAC_1_SQRT_PI: f64 = 0.5641895835477563;
/// √(2/π) = 2φ(0).
const SQRT_2_OVER_PI: f64 = 0.7978845608028654;

// Cody's coefficients, erf on |x| ≤ 0.46875 (rational in x²).
const ERF_A: [f64; 5] =
    [3.1611237438705655, 113.86415415105016, 377.485237685302, 3209.3775891384694, 0.18577770618460315];
const ERF_B: [f64; 4] = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.236833439171];
// erfcx on 0.46875 < x ≤ 4 (rational in x).
const ERF_C: [f64; 9] = [
    0.5641884969886701,
    8.883149794388377,
    66.11919063714163,
    298.6351381974001,
    881.952221241769,
    1712.0476126340707,
    2051.0783778260716,
    1230.3393547979972,
    2.1531153547440383e-08,
];
const ERF_D: [f64; 8] = [
    15.744926110709835,
    117.6939508913125,
    537.1811018620099,
    1621.3895745666903,
    3290.7992357334597,
    4362.619090143247,
    3439.3676741437216,
    1230.3393548037495,
];
// erfcx on x > 4 (rational in 1/x²).
const ERF_P: [f64; 6] = [
    0.30532663496123236,
    0.36034489994980445,
    0.12578172611122926,
    0.016083785148742275,
    0.0006587491615298378,
    0.016315387137302097,
];
const ERF_Q: [f64; 5] =
    [2.568520192289822, 1.8729528499234604, 0.5279051029514285, 0.06051834131244132, 0.0023352049762686918];

/// Cody's erf for |x| ≤ 0.46875.
fn erf_small(x: f64) -> f64 {
    let z = x * x;
    let mut num = ERF_A[4] * z;
    let mut den = z;
    for i in 0..3 {
        num = (num + ERF_A[i]) * z;
        den = (den + ERF_B[i]) * z;
    }
    x * (num + ERF_A[3]) / (den + ERF_B[3])
}

/// erfcx(x) = e^{x²} erfc(x) for x ≥ 0, relative accuracy ~1e-16.
fn erfcx_nonneg(x: f64) -> f64 {
    debug_assert!(x >= 0.0);
    if x <= 0.468_75 {
        // erfc = 1 − erf loses nothing here (erfc ≥ 0.5), and e^{x²} ≤ 1.25.
        (x * x).exp() * (1.0 - erf_small(x))
    } else if x <= 4.0 {
        let mut num = ERF_C[8] * x;
        let mut den = x;
        for i in 0..7 {
            num = (num + ERF_C[i]) * x;
            den = (den + ERF_D[i]) * x;
        }
        (num + ERF_C[7]) / (den + ERF_D[7])
    } else {
        // Asymptotic form (1/√π − z R(z))/x with z = 1/x²; z underflows harmlessly.
        let z = 1.0 / (x * x);
        let mut num = ERF_P[5] * z;
        let mut den = z;
        for i in 0..4 {
            num = (num + ERF_P[i]) * z;
            den = (den + ERF_Q[i]) * z;
        }
        let r = z * (num + ERF_P[4]) / (den + ERF_Q[4]);
        (FRAC_1_SQRT_PI - r) / x
    }
}

/// Scaled complementary error function erfcx(x) = e^{x²} erfc(x) (overflows only for x ≲ −26.6).
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x >= 0.0 {
        erfcx_nonneg(x)
    } else {
        // erfc(x) = 2 − erfc(−x)  ⇒  erfcx(x) = 2e^{x²} − erfcx(−x).
        2.0 * (x * x).exp() - erfcx_nonneg(-x)
    }
}

/// e^{−x²/2} with x² formed exactly (FMA split) so the exponent carries no rounding error;
/// otherwise exp(−x²/2) at x ≈ 37 would be off by ~700 ulp·ε ≈ 1.5e-13 relative.
fn exp_neg_half_sq(x: f64) -> f64 {
    let hi = x * x;
    let lo = x.mul_add(x, -hi);
    (-0.5 * hi).exp() * (-0.5 * lo).exp()
}

/// Complementary error function erfc(x), ~1e-16 relative accuracy (underflows past x ≈ 26.5).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let upper = if ax <= 0.468_75 {
        1.0 - erf_small(ax)
    } else {
        // e^{−x²} = exp_neg_half_sq(√2·x) would reintroduce rounding; split x² directly.
        let hi = ax * ax;
        let lo = ax.mul_add(ax, -hi);
        (-hi).exp() * (-lo).exp() * erfcx_nonneg(ax)
    };
    if x >= 0.0 {
        upper
    } else {
        2.0 - upper
    }
}

/// Φ̄(x) = ½ erfc(x/√2) for x ≥ 0, with the Gaussian factor formed from x itself.
fn sf_nonneg(x: f64) -> f64 {
    0.5 * erfcx_nonneg(x * FRAC_1_SQRT_2) * exp_neg_half_sq(x)
}

/// ln Φ(x), accurate for x far into the lower tail.
pub fn log_cdf(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return x;
    }
    if x == f64::INFINITY {
        return -0.0;
    }
    if x < 0.0 {
        // Φ(x) = ½ erfcx(−x/√2) e^{−x²/2}: both log terms are negative, so no cancellation.
        // erfcx varies slowly, so the rounding of −x/√2 costs only ~1 ulp.
        (0.5 * erfcx_nonneg(-x * FRAC_1_SQRT_2)).ln() - 0.5 * x * x
    } else {
        (-sf_nonneg(x)).ln_1p()
    }
}

/// ln Φ̄(x) = ln(1 − Φ(x)).
pub fn log_sf(x: f64) -> f64 {
    log_cdf(-x)
}

/// φ(x)/Φ(x) (inverse Mills ratio of the lower tail), finite for every finite x.
fn pdf_over_cdf(x: f64) -> f64 {
    if x < 0.0 {
        SQRT_2_OVER_PI / erfcx_nonneg(-x * FRAC_1_SQRT_2)
    } else {
        let phi = exp_neg_half_sq(x) * (0.5 * SQRT_2_OVER_PI);
        phi / (1.0 - sf_nonneg(x))
    }
}

/// Evaluate a polynomial with coefficients in increasing degree (Horner).
fn poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

// Wichura (1988), AS241 PPND16.
const AS241_A: [f64; 8] = [
    3.3871328727963665,
    133.14166789178438,
    1971.5909503065513,
    13731.69376550946,
    45921.95393154987,
    67265.7709270087,
    33430.57558358813,
    2509.0809287301227,
];
const AS241_B: [f64; 8] = [
    1.0,
    42.31333070160091,
    687.1870074920579,
    5394.196021424751,
    21213.794301586597,
    39307.89580009271,
    28729.085735721943,
    5226.495278852854,
];
const AS241_C: [f64; 8] = [
    1.4234371107496835,
    4.630337846156546,
    5.769497221460691,
    3.6478483247632045,
    1.2704582524523684,
    0.2417807251774506,
    0.022723844989269184,
    0.0007745450142783414,
];
const AS241_D: [f64; 8] = [
    1.0,
    2.053191626637759,
    1.6763848301838038,
    0.6897673349851,
    0.14810397642748008,
    0.015198666563616457,
    0.0005475938084995345,
    1.0507500716444169e-09,
];
const AS241_E: [f64; 8] = [
    6.657904643501103,
    5.463784911164114,
    1.7848265399172913,
    0.29656057182850487,
    0.026532189526576124,
    0.0012426609473880784,
    2.7115555687434876e-05,
    2.0103343992922881e-07,
];
const AS241_F: [f64; 8] = [
    1.0,
    0.599832206555888,
    0.1369298809227358,
    0.014875361290850615,
    0.0007868691311456133,
    1.8463183175100548e-05,
    1.421511758316446e-07,
    2.0442631033899397e-15,
];

/// AS241 central region: Φ⁻¹(½ + q) for |q| ≤ 0.425.
fn ppnd_central(q: f64) -> f64 {
    let r = 0.180_625 - q * q;
    q * poly(&AS241_A, r) / poly(&AS241_B, r)
}

/// AS241 tails: −Φ⁻¹(p) for p = min(P, 1 − P) < 0.075, given r = √(−ln p) (> 1.6).
fn ppnd_tail(r: f64) -> f64 {
    if r <= 5.0 {
        let s = r - 1.6;
        poly(&AS241_C, s) / poly(&AS241_D, s)
    } else {
        let s = r - 5.0;
        poly(&AS241_E, s) / poly(&AS241_F, s)
    }
}

/// Newton steps on ln Φ(x) = y; the tail makes this well conditioned (dx ≈ residual/|x|).
fn newton_log_cdf(mut x: f64, y: f64, max_iter: usize) -> f64 {
    for _ in 0..max_iter {
        let dx = (log_cdf(x) - y) / pdf_over_cdf(x);
        x -= dx;
        if dx.abs() <= 1e-16 * x.abs() {
            break;
        }
    }
    x
}

/// Φ⁻¹(e^y) for y ≤ 0 (SciPy `special.ndtri_exp`), 1e-12 relative accuracy.
///
/// `ndtri_exp(0) = +∞`, `ndtri_exp(−∞) = −∞`, NaN or y > 0 gives NaN.
pub fn ndtri_exp(y: f64) -> f64 {
    if y.is_nan() || y > 0.0 {
        return f64::NAN;
    }
    if y == 0.0 {
        return f64::INFINITY;
    }
    if y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    // p = e^y ∈ [0.075, 0.925]: q = p − ½ = ½ expm1(y + ln 2); y + ln 2 is exact (Sterbenz)
    // near y = −ln 2, so q keeps full relative precision there, except that the rounded
    // ln 2 makes ndtri_exp(−ln 2) exactly 0 (as SciPy, whose e^{−ln 2} rounds to ½) rather
    // than the 2.9e-17 the binary64 input strictly maps to.
    const Y_CENTRAL_LO: f64 = -2.5902671654458267; // ln 0.075
    const Y_CENTRAL_HI: f64 = -0.0779615414697118; // ln 0.925
    if (Y_CENTRAL_LO..=Y_CENTRAL_HI).contains(&y) {
        let q = 0.5 * (y + LN_2).exp_m1();
        return ppnd_central(q);
    }
    if y > Y_CENTRAL_HI {
        // Upper tail: 1 − p = −expm1(y) keeps full precision as y → 0⁻.
        let r = (-(-y.exp_m1()).ln()).sqrt();
        return ppnd_tail(r);
    }
    if y >= -700.0 {
        // Lower tail straight from r = √(−y), so e^y is never formed. AS241 is ~1e-16 here;
        // below y = −400 (r > 20, past p ≈ 1e-174 its fit was aimed at) Newton steps polish.
        let x = -ppnd_tail((-y).sqrt());
        return if y < -400.0 { newton_log_cdf(x, y, 2) } else { x };
    }
    // Beyond AS241's range: Newton from the asymptotic x₀ = −√(−2y − ln(−2y) − ln 2π).
    let m2y = -2.0 * y;
    let x0 = -(m2y - m2y.ln() - (2.0 * PI).ln()).sqrt();
    newton_log_cdf(x0, y, 50)
}
