//! t/p/z transforms of NiMARE 0.22.1 (`nimare/transforms.py`), carried in log space.
//!
//! `nlogp` is the natural log of a p-value (≤ 0), as in NiMARE. t ↔ z is tail matching
//! (Hughett 2008): the z whose normal upper tail equals the t upper tail, with no cap.
//! [`t_to_z`] and [`t_to_nlogp`] use NiMARE's t tail ([`student_t::log_sf_nimare`]: exact
//! while T̄ is a normal double, a power-law expansion beyond), so ibma's maps match NiMARE's;
//! [`t_to_z_exact`] is the exact transform for users who want it.

use std::f64::consts::LN_2;

use crate::{normal, student_t};

/// Which tail(s) a p-value refers to (two-sided by default, as NiMARE's tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tail {
    /// One-sided (upper tail).
    One,
    /// Two-sided.
    #[default]
    Two,
}

/// Smallest positive (subnormal) double, 4.94e-324; NiMARE clips p to it before taking the log.
const P_FLOOR: f64 = f64::from_bits(1);

/// z from a t statistic with `dof` degrees of freedom by exact tail matching (no cap):
/// sign(t)·max(0, −Φ⁻¹(T̄_ν(|t|))). t = 0 gives +0; NaN propagates. Differs from NiMARE's
/// [`t_to_z`] only where T̄ underflows a double (e.g. 50.28856 vs 47.81896 at t = 85, ν = 1384).
pub fn t_to_z_exact(t: f64, dof: f64) -> f64 {
    signed_z(t, student_t::log_sf(t.abs(), dof))
}

/// z from a t statistic as NiMARE 0.22.1 `t_to_z` computes it: tail matching on NiMARE's t
/// tail, unbounded (t = 85, ν = 1384 gives 47.81896, never NaN, inf or a cap). t = 0 gives +0.
pub fn t_to_z(t: f64, dof: f64) -> f64 {
    TToZ::new(dof).z(t)
}

/// Where FSL switches to its large-t expansion: |t| ≥ this at ν ≥ [`FSL_SERIES_DOF`] ...
const FSL_SERIES_T: f64 = 7.5;
/// ... and, below that DOF, wherever ln p < [`FSL_SERIES_LN_P`].
const FSL_SERIES_DOF: f64 = 15.0;
const FSL_SERIES_LN_P: f64 = -14.5;
/// Fixed-point steps FSL takes from z = √(−2 ln p) when inverting the normal tail.
const FSL_Z_STEPS: usize = 3;

/// z from a t statistic as FSL 5.0.9 converts it (`flameo`'s zstat, `ttoz`), for reproducing
/// published FSL results (docs/flame1.md, FSL's t → z): exact tail matching (as [`t_to_z_exact`]) except
/// for large |t| (|t| ≥ 7.5 at ν ≥ 15; ln p < −14.5 below), where z comes from the normal
/// tail's asymptotic form ln p = −z²/2 − ln z − ½ ln 2π + ln(1 − 1/z² + 3/z⁴), solved by three
/// fixed-point steps from √(−2 ln p). There it exceeds the exact z by up to ~1e−4 (t 7.6,
/// ν 20: 5.15403 against 5.15393).
pub fn t_to_z_fsl(t: f64, dof: f64) -> f64 {
    let ln_p = student_t::log_sf(t.abs(), dof);
    let series = if dof >= FSL_SERIES_DOF { t.abs() >= FSL_SERIES_T } else { ln_p < FSL_SERIES_LN_P };
    if !series || t.is_nan() {
        return signed_z(t, ln_p);
    }
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let mut z = (-2.0 * ln_p).sqrt();
    for _ in 0..FSL_Z_STEPS {
        let z2 = z * z;
        let correction = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2);
        z = (-2.0 * (ln_p + z.ln() + half_ln_2pi - correction.ln())).sqrt();
    }
    t.signum() * z
}

/// [`t_to_z`] at one dof, its constants computed once: for a map of t values.
#[derive(Clone, Copy, Debug)]
pub struct TToZ(student_t::TailAt);

impl TToZ {
    /// The transform for `dof` degrees of freedom.
    pub fn new(dof: f64) -> TToZ {
        TToZ(student_t::TailAt::new(dof))
    }

    /// [`t_to_z`]`(t, dof)`.
    pub fn z(&self, t: f64) -> f64 {
        signed_z(t, self.0.log_sf_nimare(t.abs()).min(0.0))
    }

    /// ([`t_to_z`]`(t, dof)`, [`t_to_nlogp`]`(t, dof, Tail::Two)`) from one tail evaluation.
    pub fn z_and_two_sided_nlogp(&self, t: f64) -> (f64, f64) {
        let l = self.0.log_sf_nimare(t.abs());
        (signed_z(t, l.min(0.0)), (LN_2 + l).min(0.0))
    }
}

/// sign(t)·max(0, −Φ⁻¹(e^l)) for l = ln T̄(|t|).
fn signed_z(t: f64, log_tail: f64) -> f64 {
    if t.is_nan() || t == 0.0 {
        return t + 0.0;
    }
    // `+ 0.0` turns a −0.0 into +0.0, as NiMARE does.
    t.signum() * nlogp_to_z(log_tail, Tail::One) + 0.0
}

/// t with `dof` degrees of freedom from a z statistic (inverse of [`t_to_z`], sign kept).
pub fn z_to_t(z: f64, dof: f64) -> f64 {
    if z.is_nan() {
        return z;
    }
    if z == 0.0 {
        return 0.0;
    }
    z.signum() * student_t::isf_log(normal::log_sf(z.abs()), dof) + 0.0
}

/// ln p of a z statistic (NiMARE `z_to_nlogp`); two-sided is capped at 0.
pub fn z_to_nlogp(z: f64, tail: Tail) -> f64 {
    match tail {
        // `f64::min` would turn a NaN into 0 (p = 1); NaN stays NaN, as in NumPy.
        Tail::Two if z.is_nan() => z,
        Tail::Two => (LN_2 + normal::log_cdf(-z.abs())).min(0.0),
        Tail::One => normal::log_cdf(-z),
    }
}

/// ln p of a t statistic on NiMARE's t tail; two-sided is capped at 0; NaN t gives NaN.
pub fn t_to_nlogp(t: f64, dof: f64, tail: Tail) -> f64 {
    match tail {
        Tail::Two if t.is_nan() => t,
        Tail::Two => (LN_2 + student_t::log_sf_nimare(t.abs(), dof)).min(0.0),
        Tail::One => student_t::log_sf_nimare(t, dof),
    }
}

/// Unsigned z from ln p (two-sided: −Φ⁻¹(p/2) + 0; one-sided: max(0, −Φ⁻¹(p))).
pub fn nlogp_to_z(nlogp: f64, tail: Tail) -> f64 {
    match tail {
        Tail::Two => -normal::ndtri_exp(nlogp - LN_2) + 0.0,
        // `f64::max` would drop a NaN; keep it.
        Tail::One => {
            let z = -normal::ndtri_exp(nlogp);
            if z.is_nan() {
                z
            } else {
                z.max(0.0)
            }
        }
    }
}

/// Unsigned z from p (NiMARE `p_to_z`), p clipped to [smallest subnormal, 1].
pub fn p_to_z(p: f64, tail: Tail) -> f64 {
    if p.is_nan() {
        return p;
    }
    nlogp_to_z(p.clamp(P_FLOOR, 1.0).ln(), tail)
}
