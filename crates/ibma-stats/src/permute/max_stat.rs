//! The max statistic and the generic Monte-Carlo max-statistic null of any estimator.

use super::FlipMatrix;
use crate::transform::Tail;
use rayon::prelude::*;

/// The statistic whose maximum forms the null: |x| two-sided, x one-sided.
pub(super) fn directed(x: f64, tail: Tail) -> f64 {
    match tail {
        Tail::Two => x.abs(),
        Tail::One => x,
    }
}

/// Max over `z` of |z| (two-sided) or z (one-sided), NaN ignored; −∞ if every value is NaN.
pub fn max_statistic(z: &[f64], tail: Tail) -> f64 {
    z.iter().map(|&v| directed(v, tail)).filter(|v| !v.is_nan()).fold(f64::NEG_INFINITY, f64::max)
}

/// The generic Monte-Carlo max-statistic null (§9, "Monte-Carlo FWE for other estimators").
///
/// For every iteration i, `stat_for_flip(signs_i, z)` writes the estimator's z map of the
/// flipped data (x_k → F_ik·x_k) into `z` (length `n_voxels`, NaN on entry); h0\[i\] is
/// [`max_statistic`] of it. Iterations run in parallel, each thread reusing its own buffer;
/// h0 is in iteration order, identical for any thread count if `stat_for_flip` is deterministic.
pub fn max_null_by<F>(flips: &FlipMatrix, n_voxels: usize, tail: Tail, stat_for_flip: F) -> Vec<f64>
where
    F: Fn(&[f64], &mut [f64]) + Sync,
{
    max_null_by_init(flips, n_voxels, tail, || (), |_, signs, z| stat_for_flip(signs, z))
}

/// [`max_null_by`] with per-thread scratch: `init` builds a workspace that `stat_for_flip` may
/// reuse across the iterations one worker runs (it must not carry results between them).
pub fn max_null_by_init<T, I, F>(flips: &FlipMatrix, n_voxels: usize, tail: Tail, init: I, stat_for_flip: F) -> Vec<f64>
where
    I: Fn() -> T + Sync + Send,
    F: Fn(&mut T, &[f64], &mut [f64]) + Sync,
{
    (0..flips.n_iters())
        .into_par_iter()
        .map_init(
            || (init(), vec![f64::NAN; n_voxels]),
            |(scratch, z), i| {
                z.fill(f64::NAN);
                stat_for_flip(scratch, flips.row(i), z);
                max_statistic(z, tail)
            },
        )
        .collect()
}
