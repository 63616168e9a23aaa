//! Smoothness from residuals, FSL `smoothest` semantics (cluster-inference.md §2).

use super::grf::dof_correction;
use super::{Grid, Mode};
use crate::StudyVoxels;
use std::f64::consts::LN_2;

/// Lag-1 correlations at or above this fraction of 1 are "extremely smooth" (§2 step 3) ...
const EXTREME_RHO: f64 = 0.999_999_99;
/// ... and are replaced by this one.
const EXTREME_RHO_CAP: f64 = 0.99999;

/// What `smoothest` reports (cluster-inference.md §2 step 7).
#[derive(Clone, Debug, PartialEq)]
pub struct Smoothness {
    /// DLH = DLH_raw · c(ν) (no correction for a single volume).
    pub dlh: f64,
    /// (σ²_x σ²_y σ²_z)^(−1/2)·8^(−1/2) before the DOF correction.
    pub dlh_raw: f64,
    /// The DOF correction factor c(ν) applied (1 for a single volume).
    pub dof_correction: f64,
    /// VOLUME: mask voxels kept (those with non-zero residual variance when T > 2).
    pub volume: usize,
    /// RESELS: voxels per resel, FWHM_x·FWHM_y·FWHM_z (FWHM_x·FWHM_y on a single slice).
    pub resels: f64,
    /// σ²_d = −1/(4 ln ρ_d) in voxel² (z is NaN on a single slice: not estimated).
    pub sigma_sq: [f64; 3],
    /// FWHM per axis in voxels, √(8 ln 2 σ²_d).
    pub fwhm_voxels: [f64; 3],
    /// FWHM per axis in mm.
    pub fwhm_mm: [f64; 3],
    /// Axes whose lag-1 correlation was capped (FSL's "extremely smooth" warning).
    pub extreme: [bool; 3],
}

/// Estimate smoothness from T residual volumes (`residuals`: one "study" per volume, one voxel
/// per mask voxel; NaN counts as 0) with residual DOF `dof` (ignored when T = 1, i.e. a single
/// z image). `voxel_size` in mm. `mode` selects the DOF-correction interpolation (§2 step 6).
#[track_caller]
pub fn smoothness(grid: &Grid, residuals: &StudyVoxels, dof: f64, voxel_size: [f64; 3], mode: Mode) -> Smoothness {
    let n = grid.n_voxels();
    assert_eq!(residuals.n_voxels(), n, "one residual vector per mask voxel");
    let t = residuals.n_studies();
    let mut kept = vec![true; n];
    let mut r: Vec<f64> = residuals.voxels().flatten().map(|&x| if x.is_nan() { 0.0 } else { x }).collect();
    if t > 2 {
        for (m, rv) in r.chunks_exact_mut(t).enumerate() {
            let (s, ss) = rv.iter().fold((0.0, 0.0), |(s, ss), &x| (s + x, ss + x * x));
            let var = (ss - s * s / t as f64) / (t - 1) as f64;
            if var <= 0.0 {
                kept[m] = false;
                continue;
            }
            let (mean, sd) = (s / t as f64, var.sqrt());
            rv.iter_mut().for_each(|x| *x = (*x - mean) / sd);
        }
    }
    let volume = kept.iter().filter(|&&k| k).count();

    let n_axes = if grid.is_2d() { 2 } else { 3 };
    let offs: Vec<isize> = (0..n_axes).map(|d| grid.axis_offset(d)).collect();
    let (mut ss, mut s2) = ([0.0f64; 3], [0.0f64; 3]);
    let mut prev = [0usize; 3];
    'voxel: for m in (0..n).filter(|&m| kept[m]) {
        // v − e_d must be in the (reduced) mask for every axis, not just the one summed.
        for d in 0..n_axes {
            match grid.neighbour(m, offs[d]) {
                Some(p) if kept[p] => prev[d] = p,
                _ => continue 'voxel,
            }
        }
        let rv = &r[m * t..(m + 1) * t];
        for d in 0..n_axes {
            let rp = &r[prev[d] * t..(prev[d] + 1) * t];
            for (a, b) in rv.iter().zip(rp) {
                ss[d] += a * b;
                s2[d] += 0.5 * (a * a + b * b);
            }
        }
    }

    let (mut sigma_sq, mut extreme) = ([f64::NAN; 3], [false; 3]);
    for d in 0..n_axes {
        if ss[d] >= EXTREME_RHO * s2[d] {
            ss[d] = EXTREME_RHO_CAP * s2[d];
            extreme[d] = true;
        }
        sigma_sq[d] = -1.0 / (4.0 * (ss[d] / s2[d]).abs().ln());
    }
    let dlh_raw = if n_axes == 3 {
        (sigma_sq[0] * sigma_sq[1] * sigma_sq[2]).sqrt().recip() / 8f64.sqrt()
    } else {
        (sigma_sq[0] * sigma_sq[1]).sqrt().recip() / 2.0
    };
    let c = if t > 1 { dof_correction(dof, mode) } else { 1.0 };
    let fwhm_voxels = sigma_sq.map(|s| (8.0 * LN_2 * s).sqrt());
    let fwhm_mm = [0, 1, 2].map(|d| fwhm_voxels[d] * voxel_size[d]);
    let resels = fwhm_voxels[..n_axes].iter().product();
    Smoothness { dlh: dlh_raw * c, dlh_raw, dof_correction: c, volume, resels, sigma_sq, fwhm_voxels, fwhm_mm, extreme }
}
