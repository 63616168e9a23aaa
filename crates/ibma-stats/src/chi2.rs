//! Chi-square distribution in log space.

/// ln Q_f(x), the log survival function; never underflows for finite x.
pub fn log_sf(x: f64, dof: f64) -> f64 {
    unimplemented!("{x} {dof}")
}
