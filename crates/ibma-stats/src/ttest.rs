//! The one-sample t-test per voxel, over the studies usable there (NaN = not usable).

use crate::transform::{t_to_nlogp, t_to_z, Tail};
use crate::{StudyVoxels, TestMaps};
use rayon::prelude::*;

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
/// With m studies, S = Σx and SS = Σx²: t = S·√(m − 1)/√max(m·SS − S², 0) (NiMARE
/// `_permuted_ols`, equal to the textbook mean/(sd/√m)); dof = m − 1; z = t_to_z(t, dof) (signed,
/// the same for either tail); ln p two-sided or upper-tail. Fewer than two values or zero spread
/// is NaN (dof is still reported).
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

/// Per voxel, the mean of the usable values and its standard error sd/√m (the one-sample
/// t's numerator and denominator); NaN with fewer than two values.
pub fn mean_and_se(x: &StudyVoxels) -> (Vec<f64>, Vec<f64>) {
    x.voxels()
        .map(|xs| {
            let valid = || xs.iter().filter(|v| !v.is_nan());
            let m = valid().count() as f64;
            if m < 2.0 {
                return (f64::NAN, f64::NAN);
            }
            let mean = valid().sum::<f64>() / m;
            let var = valid().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
            (mean, (var / m).sqrt())
        })
        .unzip()
}

/// NiMARE 0.0.1's per-map standardisation: study k's values divided by their SD over every
/// voxel (divisor V, missing values counted as the zeros they were in the seed's inputs).
pub fn standardize(x: &StudyVoxels) -> StudyVoxels {
    let (k, v) = (x.n_studies(), x.n_voxels());
    let sd: Vec<f64> = (0..k)
        .map(|s| {
            let values = || x.voxels().map(|xs| if xs[s].is_nan() { 0.0 } else { xs[s] });
            let mean = values().sum::<f64>() / v as f64;
            (values().map(|y| (y - mean).powi(2)).sum::<f64>() / v as f64).sqrt()
        })
        .collect();
    let data = x.voxels().flat_map(|xs| xs.iter().zip(&sd).map(|(c, s)| c / s).collect::<Vec<_>>()).collect();
    StudyVoxels::new(k, data)
}

fn voxel(xs: &[f64], tail: Tail) -> [f64; 4] {
    match t_statistic(xs) {
        (_, dof) if dof.is_nan() => [f64::NAN; 4],
        (t, dof) if t.is_nan() => [f64::NAN, f64::NAN, f64::NAN, dof],
        (t, dof) => [t, t_to_z(t, dof), t_to_nlogp(t, dof, tail), dof],
    }
}

/// The one-sample t and its dof m − 1 over the non-NaN values of `xs` (see [`one_sample_t`]):
/// (NaN, NaN) with fewer than two values, t NaN with zero spread.
pub fn t_statistic(xs: &[f64]) -> (f64, f64) {
    let (mut m, mut s, mut ss) = (0usize, 0.0, 0.0);
    for &x in xs.iter().filter(|x| !x.is_nan()) {
        m += 1;
        s += x;
        ss += x * x;
    }
    if m < 2 {
        return (f64::NAN, f64::NAN);
    }
    let m = m as f64;
    let dof = m - 1.0;
    let t = s * dof.sqrt() / (m * ss - s * s).max(0.0).sqrt();
    (if t.is_finite() { t } else { f64::NAN }, dof)
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
