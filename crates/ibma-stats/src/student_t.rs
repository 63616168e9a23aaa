//! Student t distribution in log space.

/// ln T̄_ν(t), the log survival function; never underflows for finite t.
pub fn log_sf(t: f64, dof: f64) -> f64 {
    unimplemented!("{t} {dof}")
}
