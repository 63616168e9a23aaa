//! t/p/z transforms exactly as NiMARE 0.22.1 (`nimare/transforms.py`), carried in log space.

/// Which tail(s) a p-value refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// One-sided (upper tail).
    One,
    /// Two-sided.
    Two,
}

/// z from a t statistic with `dof` degrees of freedom by exact tail matching (no cap).
pub fn t_to_z(t: f64, dof: f64) -> f64 {
    unimplemented!("{t} {dof}")
}

/// t with `dof` degrees of freedom from a z statistic (inverse of [`t_to_z`]).
pub fn z_to_t(z: f64, dof: f64) -> f64 {
    unimplemented!("{z} {dof}")
}

/// ln p of a z statistic (NiMARE `z_to_nlogp`); two-sided is capped at 0.
pub fn z_to_nlogp(z: f64, tail: Tail) -> f64 {
    unimplemented!("{z} {tail:?}")
}

/// Unsigned z from ln p (two-sided: −Φ⁻¹(p/2) + 0; one-sided: max(0, −Φ⁻¹(p))).
pub fn nlogp_to_z(nlogp: f64, tail: Tail) -> f64 {
    unimplemented!("{nlogp} {tail:?}")
}

/// Unsigned z from p (NiMARE `p_to_z`), p clipped to [smallest subnormal, 1].
pub fn p_to_z(p: f64, tail: Tail) -> f64 {
    unimplemented!("{p} {tail:?}")
}
