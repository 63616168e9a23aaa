//! Regression and GLM meta-analysis estimators on study-by-voxel arrays: weighted least
//! squares and its inference ([`wls`]), the τ² moment estimators ([`moments`]: DerSimonian-Laird,
//! Hedges), the likelihood estimators ([`likelihood`]: variance- and sample-size-based, ML and
//! REML), FixedEffectsHedges ([`hedges_fe`]), PermutedOLS's t ([`ols`]), native FLAME
//! ([`flame`]: the seed era's MFX/FFX/RFX GLMs as flameo's `flame1`, `fe` and `ols` modes, with
//! designs, variance groups and t/F contrasts from [`design`]), meta-regression ([`metareg`]),
//! heterogeneity maps ([`heterogeneity`]), the estimators with dependence groups (several images
//! per study: [`robust`], `docs/dependence.md`) and small p × p solvers ([`linalg`]). Numbers follow
//! NiMARE 0.22.1 / PyMARE 0.0.13 (`docs/estimators.md` §5–9) and FSL flameo
//! (`docs/flame1.md`).
//!
//! Never touches files or NIfTI. Inputs are [`ibma_stats::StudyVoxels`] with NaN where a
//! study is not valid; each voxel is fitted on its valid studies (its bag), and a voxel that
//! cannot be estimated is NaN.

pub mod design;
pub mod flame;
pub mod hedges_fe;
pub mod heterogeneity;
pub mod likelihood;
pub mod linalg;
pub mod metareg;
pub mod moments;
pub mod ols;
pub mod robust;
mod rows;
pub mod wls;

use ibma_stats::TestMaps;

/// Inference on the pooled estimate (PyMARE `small_sample_correction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallSampleCorrection {
    /// Wald z against the normal.
    Wald,
    /// Knapp–Hartung: se scaled by the weighted residual variance, t with K − 1 dof.
    KnappHartung,
    /// Knapp–Hartung with the scale factor floored at 1.
    KnappHartungConservative,
}

/// The maps of a random- or fixed-effects regression fit, one value per voxel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegressionMaps {
    /// Pooled estimate β̂.
    pub est: Vec<f64>,
    /// Its standard error (Knapp–Hartung-scaled where that correction is used).
    pub se: Vec<f64>,
    /// Between-study variance τ² used (empty for estimators that have no τ² map).
    pub tau2: Vec<f64>,
    /// Within-study variance σ² (SampleSizeBasedLikelihood only; empty otherwise).
    pub sigma2: Vec<f64>,
    /// z, ln p, dof.
    pub test: TestMaps,
}

/// One voxel's fit, gathered into [`RegressionMaps`] by [`collect`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelFit {
    /// β̂.
    pub est: f64,
    /// se.
    pub se: f64,
    /// τ².
    pub tau2: f64,
    /// σ² (NaN where not applicable).
    pub sigma2: f64,
    /// z.
    pub z: f64,
    /// ln p.
    pub nlogp: f64,
    /// dof.
    pub dof: f64,
}

impl VoxelFit {
    /// A voxel that cannot be estimated.
    pub const NAN: VoxelFit = VoxelFit {
        est: f64::NAN,
        se: f64::NAN,
        tau2: f64::NAN,
        sigma2: f64::NAN,
        z: f64::NAN,
        nlogp: f64::NAN,
        dof: f64::NAN,
    };
}

/// Gather per-voxel fits; `with_tau2` / `with_sigma2` say which optional maps to fill.
pub fn collect(fits: &[VoxelFit], with_tau2: bool, with_sigma2: bool) -> RegressionMaps {
    let pick = |f: fn(&VoxelFit) -> f64| fits.iter().map(f).collect::<Vec<f64>>();
    RegressionMaps {
        est: pick(|f| f.est),
        se: pick(|f| f.se),
        tau2: if with_tau2 { pick(|f| f.tau2) } else { Vec::new() },
        sigma2: if with_sigma2 { pick(|f| f.sigma2) } else { Vec::new() },
        test: TestMaps { z: pick(|f| f.z), nlogp: pick(|f| f.nlogp), dof: pick(|f| f.dof) },
    }
}

/// The valid (non-NaN in both) study values at one voxel, copied into `y` and `v`.
pub fn valid_pairs(con: &[f64], var: &[f64], y: &mut Vec<f64>, v: &mut Vec<f64>) {
    y.clear();
    v.clear();
    for (&c, &s) in con.iter().zip(var) {
        if !c.is_nan() && !s.is_nan() {
            y.push(c);
            v.push(s);
        }
    }
}
