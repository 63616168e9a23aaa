//! Smoothness from residuals, FSL `smoothest` semantics (docs/inference.md §2).

use super::grf::dof_correction;
use super::{Grid, Mode};
use crate::StudyVoxels;
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// Lag-1 correlations at or above this fraction of 1 are "extremely smooth" (§2 step 3) ...
const EXTREME_RHO: f64 = 0.999_999_99;
/// ... and are replaced by this one.
const EXTREME_RHO_CAP: f64 = 0.99999;

/// Smallest FWHM, in voxels along any estimated axis, below which a map counts as too rough for
/// random field theory: its Euler-characteristic results describe a field that is smooth against
/// the voxel lattice, and on rougher maps GRF cluster p-values stop being trustworthy (single
/// voxels survive). Nichols & Hayasaka 2003 (Stat. Methods Med. Res. 12:419) compare RFT with
/// permutation as smoothness falls; "about two voxels" is the floor used here.
pub const RFT_MIN_FWHM_VOXELS: f64 = 2.0;

/// What `smoothest` reports (docs/inference.md §2 step 7).
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

impl Smoothness {
    /// The smallest FWHM in voxels over the estimated axes (x and y only on a single slice);
    /// NaN if none was estimated.
    pub fn min_fwhm_voxels(&self) -> f64 {
        self.fwhm_voxels.iter().copied().filter(|f| !f.is_nan()).fold(f64::NAN, f64::min)
    }

    /// Whether the field is too rough for random field theory ([`RFT_MIN_FWHM_VOXELS`]).
    pub fn too_rough_for_rft(&self) -> bool {
        self.min_fwhm_voxels() < RFT_MIN_FWHM_VOXELS
    }
}

/// Estimate smoothness from T residual volumes (`residuals`: one "study" per volume, one voxel
/// per mask voxel; NaN counts as 0) with residual DOF `dof` (ignored when T = 1, i.e. a single
/// z image). `voxel_size` in mm. `mode` selects the DOF-correction interpolation (§2 step 6).
#[track_caller]
pub fn smoothness(grid: &Grid, residuals: &StudyVoxels, dof: f64, voxel_size: [f64; 3], mode: Mode) -> Smoothness {
    assert_eq!(residuals.n_voxels(), grid.n_voxels(), "one residual vector per mask voxel");
    let volume = |t: usize, out: &mut [f64]| {
        out.iter_mut().zip(residuals.voxels()).for_each(|(o, r)| *o = r[t]);
    };
    smoothness_by_volume(grid, residuals.n_studies(), &volume, dof, voxel_size, mode)
}

/// [`smoothness`] with the T residual volumes produced one at a time by `volume(t, out)` (one
/// value per mask voxel), so that no T×V matrix need exist: memory is a few V-vectors.
pub fn smoothness_by_volume(
    grid: &Grid,
    t: usize,
    volume: &(dyn Fn(usize, &mut [f64]) + Sync),
    dof: f64,
    voxel_size: [f64; 3],
    mode: Mode,
) -> Smoothness {
    let n = grid.n_voxels();
    let mut buf = vec![0.0; n];
    let read = |i: usize, buf: &mut [f64]| {
        volume(i, buf);
        buf.iter_mut().filter(|x| x.is_nan()).for_each(|x| *x = 0.0);
    };
    // Pass 1: each voxel's residual mean and sd over the volumes (for T > 2 every voxel's
    // series is standardised, and a voxel without variance leaves the mask).
    let (mut mean, mut sd) = (vec![0.0; n], vec![1.0; n]);
    let mut kept = vec![true; n];
    if t > 2 {
        let mut ss = vec![0.0; n];
        for i in 0..t {
            read(i, &mut buf);
            for ((s, q), &x) in mean.iter_mut().zip(&mut ss).zip(&buf) {
                *s += x;
                *q += x * x;
            }
        }
        for m in 0..n {
            let var = (ss[m] - mean[m] * mean[m] / t as f64) / (t - 1) as f64;
            kept[m] = var > 0.0;
            (mean[m], sd[m]) = (mean[m] / t as f64, var.sqrt());
        }
    }
    let volume_kept = kept.iter().filter(|&&k| k).count();

    // Voxels whose backward neighbour along every axis is in the (reduced) mask.
    let n_axes = if grid.is_2d() { 2 } else { 3 };
    let offs: Vec<isize> = (0..n_axes).map(|d| grid.axis_offset(d)).collect();
    let pairs: Vec<(usize, [usize; 3])> = (0..n)
        .filter(|&m| kept[m])
        .filter_map(|m| {
            let mut prev = [0usize; 3];
            for d in 0..n_axes {
                prev[d] = grid.neighbour(m, offs[d]).filter(|&p| kept[p])?;
            }
            Some((m, prev))
        })
        .collect();
    // Pass 2: lag-1 products per voxel and axis, summed over volumes in volume order.
    let mut acc = vec![[[0.0f64; 2]; 3]; pairs.len()];
    for i in 0..t {
        read(i, &mut buf);
        buf.iter_mut().zip(mean.iter().zip(&sd)).for_each(|(x, (m, s))| *x = (*x - m) / s);
        let buf = &buf;
        pairs.par_iter().zip(acc.par_iter_mut()).for_each(|((m, prev), a)| {
            let r = buf[*m];
            for d in 0..n_axes {
                let p = buf[prev[d]];
                a[d][0] += r * p;
                a[d][1] += 0.5 * (r * r + p * p);
            }
        });
    }
    let (mut ss, mut s2) = ([0.0f64; 3], [0.0f64; 3]);
    for a in &acc {
        for d in 0..n_axes {
            ss[d] += a[d][0];
            s2[d] += a[d][1];
        }
    }
    let volume = volume_kept;

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
