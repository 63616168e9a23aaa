//! Gaussian-random-field cluster p-values (docs/inference.md §4) and the DOF correction of
//! the smoothness estimate (§2 step 6).

use super::Mode;
use crate::normal;
use std::f64::consts::{LN_10, PI};

/// DOF-correction table of `smoothest` (§2 step 6): (ν, r(ν)).
const DOF_TABLE: [(f64, f64); 29] = [
    (5.0, 1.5423138),
    (6.0, 1.3757105),
    (7.0, 1.2842680),
    (8.0, 1.2272151),
    (9.0, 1.1885232),
    (10.0, 1.1606988),
    (11.0, 1.1398000),
    (12.0, 1.1235677),
    (13.0, 1.1106196),
    (14.0, 1.1000651),
    (15.0, 1.0913060),
    (16.0, 1.0839261),
    (17.0, 1.0776276),
    (18.0, 1.0721920),
    (19.0, 1.0674553),
    (20.0, 1.0632924),
    (25.0, 1.0483053),
    (30.0, 1.0390117),
    (40.0, 1.0281339),
    (50.0, 1.0219834),
    (60.0, 1.0180339),
    (70.0, 1.0152850),
    (80.0, 1.0132621),
    (90.0, 1.0117115),
    (100.0, 1.0104851),
    (150.0, 1.0068808),
    (200.0, 1.0051200),
    (300.0, 1.0033865),
    (500.0, 1.0020191),
];
/// Below this ν the correction is the plain factor [`SMALL_DOF_FACTOR`] (both modes).
const SMALL_DOF: f64 = 6.0;
const SMALL_DOF_FACTOR: f64 = 1.1;
/// Above the table: c = √(1 + LARGE_DOF_COEF/ν).
const LARGE_DOF_COEF: f64 = 1.0321;
/// Γ(5/2) = 3√π/4 (D = 3); Γ(2) = 1 (D = 2).
const GAMMA_5_2: f64 = 1.329_340_388_179_137;
/// FSL's float32 branches (§4): E[m] = 0 from this |u| ...
const FSL_ZERO_EM_U: f64 = 13.0;
/// ... the asymptotic φ/Φ̄ ratio from this |u| ...
const FSL_ASYMPTOTIC_U: f64 = 8.0;
/// ... and the log-space / "product" branches beyond this exponent.
const FSL_EXP_LIMIT: f32 = 80.0;
/// (4 ln 2)^{3/2}/(2π)² as printed in FSL `ptoz` (§4, voxelwise GRF).
const PTOZ_EC_COEF: f64 = 0.11694;

/// The smoothness DOF correction c(ν) that multiplies DLH_raw (§2 step 6).
///
/// [`Mode::Correct`] interpolates the table linearly; [`Mode::FslCompat`] reproduces FSL's line
/// anchored at the upper node, in float32 (e.g. c(13)² = 1.0976715 instead of 1.1106196).
pub fn dof_correction(nu: f64, mode: Mode) -> f64 {
    if nu.is_nan() {
        return nu;
    }
    if nu < SMALL_DOF {
        return SMALL_DOF_FACTOR;
    }
    match mode {
        Mode::Correct => {
            if nu > 500.0 {
                return (1.0 + LARGE_DOF_COEF / nu).sqrt();
            }
            let j = DOF_TABLE.iter().position(|&(x, _)| x >= nu).expect("ν ≤ 500");
            let ((xi, li), (xj, lj)) = (DOF_TABLE[j - 1], DOF_TABLE[j]);
            (li + (lj - li) * (nu - xi) / (xj - xi)).sqrt()
        }
        Mode::FslCompat => {
            let nu32 = nu as f32;
            if nu.floor() > 500.0 {
                return f64::from((1.0 + LARGE_DOF_COEF as f32 / nu32).sqrt());
            }
            // j = first node ≥ ⌊ν⌋ (⌊ν⌋ ≥ 6, so j ≥ 1), line through (i, L_i), (j, L_j) but
            // shifted to pass through L_j at ν = i.
            let j = DOF_TABLE.iter().position(|&(x, _)| x >= nu.floor()).expect("⌊ν⌋ ≤ 500");
            let ((xi, li), (xj, lj)) = (DOF_TABLE[j - 1], DOF_TABLE[j]);
            let (xi, li, xj, lj) = (xi as f32, li as f32, xj as f32, lj as f32);
            let r = (lj - li) / (xj - xi) * (nu32 - xi) + lj;
            f64::from(r.sqrt())
        }
    }
}

/// A cluster's FWE p-value with its natural log (exact where p underflows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusterP {
    /// p.
    pub p: f64,
    /// ln p.
    pub ln_p: f64,
}

impl ClusterP {
    /// −log10 p (the `log10p` column and `logp_level-cluster` map).
    pub fn log10p(&self) -> f64 {
        -self.ln_p / LN_10 + 0.0
    }
}

/// GRF cluster-size inference at threshold u for a search volume V (voxels) of smoothness DLH.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grf {
    u: f64,
    dim: u8,
    mode: Mode,
    em: f64,
    ln_em: f64,
    beta: f64,
}

impl Grf {
    /// `two_d`: the image has a single slice (D = 2). Panics unless u > 1, DLH > 0, V > 0 (the
    /// Euler-characteristic density is meaningless below u = 1).
    #[track_caller]
    pub fn new(u: f64, dlh: f64, volume: f64, two_d: bool, mode: Mode) -> Grf {
        assert!(u > 1.0 && dlh > 0.0 && volume > 0.0, "GRF needs u > 1, DLH > 0, V > 0 (u {u}, DLH {dlh}, V {volume})");
        let dim = if two_d { 2u8 } else { 3 };
        let d = f64::from(dim);
        let gamma = if two_d { 1.0 } else { GAMMA_5_2 };
        match mode {
            Mode::Correct => {
                // Log space throughout, so large u neither underflows E[m] nor Φ(−u).
                let ln_em = volume.ln() + dlh.ln() - 0.5 * (d + 1.0) * (2.0 * PI).ln()
                    + 0.5 * (d - 1.0) * (u * u - 1.0).ln()
                    - 0.5 * u * u;
                let ln_ratio = gamma.ln() + ln_em - volume.ln() - normal::log_sf(u);
                Grf { u, dim, mode, em: ln_em.exp(), ln_em, beta: (2.0 / d * ln_ratio).exp() }
            }
            Mode::FslCompat => {
                let (u32_, dlh, v, d32) = (u as f32, dlh as f32, volume as f32, d as f32);
                let two_pi = 2.0 * std::f32::consts::PI;
                let shape = dlh * two_pi.powf(-(d32 + 1.0) / 2.0) * (u32_ * u32_ - 1.0).powf((d32 - 1.0) / 2.0);
                let em = if u.abs() >= FSL_ZERO_EM_U { 0.0 } else { v * shape * (-u32_ * u32_ / 2.0).exp() };
                // E[m]/(V Φ(−u)) = shape · e^{−u²/2}/Φ(−u).
                let ratio = if u.abs() >= FSL_ASYMPTOTIC_U {
                    let u2 = u32_ * u32_;
                    shape * two_pi.sqrt() * u32_ / (1.0 - 1.0 / u2 + 3.0 / (u2 * u2))
                } else {
                    em / (v * normal::log_sf(u).exp() as f32)
                };
                let beta = (gamma as f32 * ratio).powf(2.0 / d32);
                Grf { u, dim, mode, em: f64::from(em), ln_em: f64::from(em.ln()), beta: f64::from(beta) }
            }
        }
    }

    /// The cluster-forming threshold u.
    pub fn threshold(&self) -> f64 {
        self.u
    }

    /// E\[m\], the expected number of clusters.
    pub fn expected_clusters(&self) -> f64 {
        self.em
    }

    /// β of the cluster-size law P(n ≥ k) = exp(−β k^{2/D}).
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// FWE p of a cluster of `k` voxels: 1 − exp(−E\[m\]·e^{−β k^{2/D}}).
    pub fn cluster_p(&self, k: usize) -> ClusterP {
        let d = f64::from(self.dim);
        match self.mode {
            Mode::Correct => {
                let ln_x = self.ln_em - self.beta * (k as f64).powf(2.0 / d);
                let x = ln_x.exp();
                let p = -(-x).exp_m1();
                let ln_p = if ln_x < -700.0 {
                    // p = x(1 − x/2 + …) with x below the normal range: ln p = ln x.
                    ln_x
                } else if p < 0.5 {
                    p.ln()
                } else {
                    (-(-x).exp()).ln_1p()
                };
                ClusterP { p, ln_p }
            }
            Mode::FslCompat => {
                let (em, beta) = (self.em as f32, self.beta as f32);
                let t = beta * (k as f32).powf(2.0 / d as f32);
                if t.abs() > FSL_EXP_LIMIT {
                    let ln_p = -t + em.ln();
                    return ClusterP { p: f64::from(ln_p.exp()), ln_p: f64::from(ln_p) };
                }
                let x = em * (-t).exp();
                let p = if x > FSL_EXP_LIMIT {
                    x // FSL's branch: p is the (huge) expected count itself
                } else {
                    let p = 1.0 - (-x).exp();
                    if p == 0.0 {
                        x
                    } else {
                        p
                    }
                };
                ClusterP { p: f64::from(p), ln_p: f64::from(p).ln() }
            }
        }
    }

    /// The smallest cluster size with p < `q` (FSL `--minclustersize`), if any k ≤ `max_k`
    /// reaches it.
    pub fn min_significant_size(&self, q: f64, max_k: usize) -> Option<usize> {
        (1..=max_k).find(|&k| self.cluster_p(k).p < q)
    }
}

/// Voxelwise GRF threshold (FEAT "voxel" thresholding, `ptoz p -g R`): the z with
/// R·0.11694·(z² − 1)·e^{−z²/2} = p, R = max(1, ⌊VOLUME/RESELS⌋), by bisection on [2, 100] to
/// 0.001 (the result is clamped to that interval).
pub fn voxel_threshold(p: f64, volume: f64, resels: f64) -> f64 {
    let r = (volume / resels).floor().max(1.0);
    let f = |z: f64| r * PTOZ_EC_COEF * (z * z - 1.0) * (-0.5 * z * z).exp();
    let (mut lo, mut hi) = (2.0, 100.0);
    while hi - lo > 0.001 {
        let mid = 0.5 * (lo + hi);
        // f decreases on [2, 100]: above p, the threshold lies further out.
        if f(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}
