//! The `p` and `logp` maps from ln p, with NiMARE 0.22.1's float32 conventions
//! (`docs/estimators.md` §10).

/// Smallest positive float32 (denormal): the floor of every `p` map.
pub const P_FLOOR: f64 = 1.401_298_464_324_817e-45;
const F32_MAX: f64 = 3.402_823_466_385_288_6e38;

/// p = e^nlogp clipped to [1.4e−45, 1]; NaN kept.
pub fn p_from_nlogp(nlogp: f64) -> f64 {
    if nlogp.is_nan() {
        return nlogp;
    }
    nlogp.exp().clamp(P_FLOOR, 1.0)
}

/// logp = −nlogp / ln 10 (+0.0), clipped to [0, f32::MAX]; NaN kept.
pub fn logp_from_nlogp(nlogp: f64) -> f64 {
    if nlogp.is_nan() {
        return nlogp;
    }
    (-nlogp / std::f64::consts::LN_10 + 0.0).clamp(0.0, F32_MAX)
}

/// ln p as NiMARE's correctors see it: from the stored float32 `p` map, except at the floor
/// where the `logp` map carries the tail (docs/estimators.md §11).
pub fn nlogp_for_correction(p_map: f32, logp_map: Option<f32>) -> f64 {
    let p = f64::from(p_map);
    if p.is_nan() {
        return p;
    }
    match logp_map {
        Some(l) if p <= P_FLOOR => -std::f64::consts::LN_10 * f64::from(l),
        _ => p.max(P_FLOOR).ln(),
    }
}
