//! The one-sample t-test per voxel, over the studies usable there (NaN = not usable).

use crate::student_t;
use crate::transform::{nlogp_to_z, Tail};
use crate::{StudyVoxels, TestMaps};
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// A one-sample t-test's maps: the t statistic and the test maps derived from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TTestMaps {
    /// t = mean / (sd / √K), sd with divisor K − 1.
    pub t: Vec<f64>,
    /// z (tail-matched from ln p, signed like t), ln p and dof = K − 1.
    pub test: TestMaps,
}

/// t, z, ln p and dof of a one-sample t-test of zero mean at every voxel (NaN entries skipped).
///
/// Two-sided: ln p = min(0, ln 2 + ln T̄(|t|)), z = sign(t)·Φ̄⁻¹(p/2); one-sided (upper):
/// ln p = ln T̄(t), z = −Φ⁻¹(p), i.e. t_to_z(t). Fewer than two values, or zero spread, is NaN.
pub fn one_sample_t(x: &StudyVoxels, tail: Tail) -> TTestMaps {
    let per_voxel: Vec<[f64; 4]> = x.par_voxels().map(|xs| voxel(xs, tail)).collect();
    let mut out = TTestMaps::default();
    for [t, z, l, d] in per_voxel {
        out.t.push(t);
        out.test.z.push(z);
        out.test.nlogp.push(l);
        out.test.dof.push(d);
    }
    out
}

fn voxel(xs: &[f64], tail: Tail) -> [f64; 4] {
    let (mut n, mut sum) = (0usize, 0.0);
    for &x in xs.iter().filter(|x| !x.is_nan()) {
        n += 1;
        sum += x;
    }
    if n < 2 {
        return [f64::NAN; 4];
    }
    let k = n as f64;
    let mean = sum / k;
    let ss: f64 = xs.iter().filter(|x| !x.is_nan()).map(|x| (x - mean).powi(2)).sum();
    let sd = (ss / (k - 1.0)).sqrt();
    let t = mean / (sd / k.sqrt());
    let dof = k - 1.0;
    if !t.is_finite() {
        return [f64::NAN, f64::NAN, f64::NAN, dof];
    }
    let (nlogp, z) = match tail {
        Tail::Two => {
            let l = (LN_2 + student_t::log_sf(t.abs(), dof)).min(0.0);
            (l, nlogp_to_z(l, Tail::Two).copysign(t))
        }
        Tail::One => {
            let l = student_t::log_sf(t, dof);
            (l, -crate::normal::ndtri_exp(l))
        }
    };
    [t, z, nlogp, dof]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol;

    #[test]
    fn matches_the_textbook_statistic() {
        let x = StudyVoxels::new(4, vec![1.0, 2.0, 3.0, 6.0, 1.0, f64::NAN, f64::NAN, 2.0]);
        let out = one_sample_t(&x, Tail::Two);
        // mean 3, sd sqrt(14/3), t = 3 / (sd / 2)
        let expected = 3.0 / ((14.0f64 / 3.0).sqrt() / 2.0);
        assert!(tol::close(out.t[0], expected, tol::TAIL_RTOL, 0.0));
        assert!(tol::close(out.test.dof[0], 3.0, 0.0, 0.0));
        // The second voxel is a bag of two studies.
        assert!(tol::close(out.t[1], 1.5 / (0.5f64.sqrt() / 2f64.sqrt()), tol::TAIL_RTOL, 0.0));
    }

    #[test]
    fn no_spread_is_nan() {
        let out = one_sample_t(&StudyVoxels::new(2, vec![1.0, 1.0]), Tail::Two);
        assert!(out.t[0].is_nan() && out.test.z[0].is_nan());
    }
}
