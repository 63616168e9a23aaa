//! Every numerical tolerance used by ibma's tests and by `cargo xtask validate`, in one place.
//!
//! Each constant says why it has its value. A bare literal tolerance in a test is a bug.

/// Relative tolerance of map comparisons against NiMARE 0.22.1 reference maps
/// (`docs/validation.md` §3: float32 maps, computed in f64, rounded at the end).
pub const MAP_RTOL: f64 = 1e-5;
/// Absolute tolerance paired with [`MAP_RTOL`]; covers p values below the float32 normal range.
pub const MAP_ATOL: f64 = 1e-6;
/// Golden single-voxel values are printed to 6 significant digits (docs/estimators.md §12),
/// so a faithful value can differ by half a unit in the 6th digit.
pub const GOLDEN_6_DIGITS_RTOL: f64 = 6e-6;
/// Log-space tail functions against mpmath/scipy reference values (issue: z up to 38,
/// ln p down to −1e5).
pub const TAIL_RTOL: f64 = 1e-12;
/// Two NIfTI affines describe the same grid if every entry agrees to this many mm
/// (docs/dataset-format.md §6).
pub const AFFINE_ATOL_MM: f64 = 1e-4;

/// `|a − b| ≤ atol + rtol·|b|`, NaN equal to NaN (numpy `allclose(equal_nan=True)` semantics).
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a.to_bits() == b.to_bits();
    }
    (a - b).abs() <= atol + rtol * b.abs()
}

/// Results that differ only in the order of a floating-point sum (e.g. studies listed in
/// another order) agree to a few ulps of f64.
pub const SUMMATION_ORDER_RTOL: f64 = 1e-12;

/// Likelihood estimators' τ²/σ² against NiMARE (docs/validation.md §3): the bounded search stops on
/// a tolerance, so where the objective is flat τ² is weakly identified. At least this fraction of
/// voxels must pass [`MAP_RTOL`] ...
pub const LIKELIHOOD_PASS_FRACTION: f64 = 0.999;
/// ... and every voxel must pass this relative tolerance (with [`MAP_ATOL`]).
pub const LIKELIHOOD_LOOSE_RTOL: f64 = 1e-2;

/// Closed-form estimators against an independent double-precision implementation (R metafor):
/// only summation order and the t/normal tail routines differ.
pub const REFERENCE_RTOL: f64 = 1e-10;
/// Absolute floor for [`REFERENCE_RTOL`] comparisons of quantities that are exactly 0 (τ² at
/// the boundary).
pub const REFERENCE_ATOL: f64 = 1e-14;

/// Iterative (ML/REML) fits against R metafor: metafor stops when τ² changes by less than 1e−5,
/// so its τ² and everything derived from it carry ~1e−5 relative error (measured max 1.8e−5).
pub const METAFOR_ITERATIVE_RTOL: f64 = 5e-5;

// FLAME1 against metafor and the tables of docs/flame1.md, Reference cases.

/// metafor stops when τ² changes by < 1e−5 relative; its τ² is good to 3e−5 relative
/// (docs/flame1.md, Reference cases: metafor's convergence tolerance, measured max 2.6e−5).
pub const METAFOR_TAU2_RTOL: f64 = 3e-5;
/// β and se inherit that error damped by the weights: docs/flame1.md, Reference cases, states
/// ≤ 1e−5 relative (measured max 4.2e−6 and 9.9e−6).
pub const METAFOR_COEF_RTOL: f64 = 1e-5;
/// docs/flame1.md, Reference cases, prints t and z with 5 decimals: half a unit in the 5th decimal,
/// plus a hair for values that sit on a rounding boundary.
pub const FIVE_DECIMALS_ATOL: f64 = 5.1e-6;
/// docs/flame1.md, Reference cases, prints the boundary σ̂² as 8.36e−11: half a unit in the 3rd digit.
pub const THREE_DIGITS_RTOL: f64 = 6e-4;
/// `optimizer = fsl` against FSL 5.0.9 flameo (docs/flame1.md, Reproducing flameo): τ² within this
/// relative tolerance (flameo's Brent stops anywhere on a float32 energy plateau) ...
pub const FLAMEO_TAU2_RTOL: f64 = 1e-3;
/// ... and z within this absolute tolerance (|Δz| ≤ 1e−3), in at least [`FLAMEO_AGREE_FRACTION`]
/// of the voxels.
pub const FLAMEO_Z_ATOL: f64 = 1e-3;
/// Fraction of voxels that must meet [`FLAMEO_TAU2_RTOL`] and [`FLAMEO_Z_ATOL`].
pub const FLAMEO_AGREE_FRACTION: f64 = 0.999;
/// `t_to_z_fsl` against FSL's z above |t| = 7.5: flameo writes float32 (5e−7 at z ≈ 6), and FSL
/// evaluates ln p its own way there (measured: ≤ 2e−6 on nidm_pain21's 295 voxels, DOF 20).
pub const FSL_TTOZ_ATOL: f64 = 5e-6;
/// flameo keeps the REML energy in float32 (and so does `optimizer = fsl`): its Brent search
/// stops anywhere on the float32 plateau of the optimum, whose energies agree with the optimum's
/// to two float32 ulps (2·2⁻²³ relative).
pub const F32_ENERGY_RTOL: f64 = 2.4e-7;
/// An energy counts as not above another within 1e−9·(1 + |E|) (docs/flame1.md, The test of MFX
/// against NiMARE's REML, part i).
pub const ENERGY_RTOL: f64 = 1e-9;
/// flameo's floor on σ̂² in normalised units: an optimum at σ² = 0 is reported as 1e−10·ŝ²;
/// tests compare such values with 1e−9·ŝ² absolute (docs/flame1.md, Per-voxel estimation).
pub const BOUNDARY_ATOL_PER_VAR: f64 = 1e-9;

/// MFX (FLAME1 REML, optimum found to 1e−12 in the search variable) against NiMARE's
/// VarianceBasedLikelihood REML (stops at xtol 1e−6) where both reach the same optimum
/// (issue: "tau2 and est agree to 1e-4").
pub const FLAME_VS_NIMARE_RTOL: f64 = 1e-4;

/// Two REML fits reached the same optimum when their energies differ by at most this much
/// (docs/flame1.md, The test of MFX against NiMARE's REML, part ii).
pub const ENERGY_AGREE_ATOL: f64 = 1e-6;

/// Where MFX and NiMARE reach the same REML optimum (docs/flame1.md, The test of MFX against
/// NiMARE's REML, part ii), τ², est and the Knapp–Hartung-scaled se agree (to
/// [`FLAME_VS_NIMARE_RTOL`]) at no fewer than this fraction of voxels (measured 189,367 of
/// 189,370 on pain21's all-21 bag).
pub const FLAME_AGREE_FRACTION: f64 = 0.9999;

/// metafor's `rma.uni` convergence threshold (`control = list(threshold = 1e-5)`, its default):
/// Fisher scoring stops once τ² changes by less than this, so a reference τ² below it is at the
/// τ² = 0 boundary to metafor's precision (`equal_k5`, two moderators, ML: metafor 1.26e−7,
/// the bounded search exactly 0). Used as an absolute tolerance only for such τ².
pub const METAFOR_TAU2_THRESHOLD: f64 = 1e-5;

// Cluster inference against docs/inference.md §6 and §8.

/// E\[m\] and β are printed with 5 significant digits in docs/inference.md §6: half a unit in
/// the 5th digit of 17.108 is 2.9e-5 relative.
pub const FIVE_DIGITS_RTOL: f64 = 3e-5;
/// FSL's DOF correction is evaluated in float32 (§2 step 6): the node difference L_j − L_i of
/// two float32 values near 1 carries ~1e-7 absolute error, amplified by (ν − i)/(j − i) ≤ ~1.
pub const F32_RTOL: f64 = 5e-7;
/// Smoothness of a synthetic field (§8 test 1): 20 volumes of 48³ voxels estimate the lag-1
/// correlation to ~1e-3; the discrete Gaussian kernel's correlation differs from the continuous
/// exp(−1/(4σ²)) by < 1 % at FWHM 4 voxels. "Within a few percent" per §8.
pub const FWHM_RECOVERY_RTOL: f64 = 0.03;
/// The demo's noise (FWHM 3 voxels) seen through meta-analysis residuals: 20 studies on a 236k
/// voxel ellipsoid; the truncated discrete kernel, mask edges and the fitted mean move the
/// estimate a few percent (5.8 mm against 6 mm).
pub const DEMO_FWHM_RTOL: f64 = 0.1;
/// §2 step 6 quotes the quirk's DLH reductions in percent with 2 decimals.
pub const PERCENT_2_DECIMALS_ATOL: f64 = 0.005;

// Resampling onto the mask grid (docs/resampling.md).

/// Linear resampling reproduces a field affine in world coordinates exactly; stored in float32
/// maps (values in [1, 4]) and float32-rounded again on input, a Stouffer z of such fields is off
/// by at most 2 · 2⁻²⁴ · 4 / 1 ≈ 4.8e-7 relative (crates/ibma/tests/it/resample.rs).
pub const RESAMPLED_F32_FIELD_RTOL: f64 = 1e-6;

/// Analytical derivatives against central differences with step 1e−4·x: the truncation error
/// is ~1e−8 relative and the rounding error ~1e−16/1e−8 = 1e−8 for the second difference.
pub const FINITE_DIFFERENCE_RTOL: f64 = 1e-5;
