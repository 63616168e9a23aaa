//! The PyMARE regression estimators as NiMARE 0.22.1 wraps them: WeightedLeastSquares,
//! DerSimonianLaird, Hedges, VarianceBasedLikelihood, SampleSizeBasedLikelihood and
//! FixedEffectsHedges (docs/estimators.md). One type each; they share one fitting routine.
//!
//! Examples, on the example dataset (8 studies, 216 voxels, the first 108 with a true effect
//! of 0.8 and τ² = 0.04). NiMARE `WeightedLeastSquares(tau2=0.04)`:
//!
//! ```
//! use ibma::estimators::WeightedLeastSquares;
//! use ibma::{maps::Map, tol, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let result = WeightedLeastSquares { tau2: 0.04, ..Default::default() }.fit_dataset(&dataset)?;
//! let (est, se, z) = (result.map(Map::Est).unwrap(), result.map(Map::Se).unwrap(), result.map(Map::Z).unwrap());
//! // Wald inference, NiMARE's default for this estimator: z = est / se.
//! assert!((0..est.len()).all(|v| tol::close(z[v], est[v] / se[v], tol::SUMMATION_ORDER_RTOL, 0.0)));
//! assert!(result.map(Map::Tau2).is_none()); // a fixed τ² is a parameter, not a map (as in NiMARE)
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! NiMARE `DerSimonianLaird(small_sample_correction="wald")` (NiMARE 0.3–0.20's inference)
//! against the default Knapp–Hartung:
//!
//! ```
//! use ibma::estimators::DerSimonianLaird;
//! use ibma::glm::SmallSampleCorrection;
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let knapp_hartung = DerSimonianLaird::default().fit_dataset(&dataset)?;
//! let dl = DerSimonianLaird { small_sample_correction: SmallSampleCorrection::Wald, ..Default::default() };
//! let wald = dl.fit_dataset(&dataset)?;
//! // The correction changes the inference, not the estimates.
//! assert_eq!(wald.map(Map::Tau2), knapp_hartung.map(Map::Tau2));
//! assert_eq!(wald.map(Map::Est), knapp_hartung.map(Map::Est));
//! assert!(wald.map(Map::Tau2).unwrap().iter().all(|&t| t >= 0.0));
//! // Heterogeneity maps (an ibma addition): I² is a percentage.
//! assert!(wald.map(Map::I2).unwrap().iter().all(|i2| (0.0..=100.0).contains(i2)));
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! NiMARE `Hedges(small_sample_correction="knapp-hartung-conservative")`, whose rescaling
//! factor is never below 1, so its SE is never below the Wald SE:
//!
//! ```
//! use ibma::estimators::Hedges;
//! use ibma::glm::SmallSampleCorrection::{KnappHartungConservative, Wald};
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let fit = |small_sample_correction| Hedges { small_sample_correction, ..Default::default() }.fit_dataset(&dataset);
//! let (conservative, wald) = (fit(KnappHartungConservative)?, fit(Wald)?);
//! let (se_c, se_w) = (conservative.map(Map::Se).unwrap(), wald.map(Map::Se).unwrap());
//! assert!(se_c.iter().zip(se_w).all(|(c, w)| c >= w));
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! NiMARE `VarianceBasedLikelihood(method="reml")` and `SampleSizeBasedLikelihood(method="reml")`:
//!
//! ```
//! use ibma::estimators::{SampleSizeBasedLikelihood, VarianceBasedLikelihood};
//! use ibma::glm::likelihood::Method;
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let vbl = VarianceBasedLikelihood { method: Method::Reml, ..Default::default() }.fit_dataset(&dataset)?;
//! assert!(vbl.map(Map::Tau2).unwrap().iter().all(|&tau2| tau2 >= 0.0));
//! let ssbl = SampleSizeBasedLikelihood { method: Method::Reml, ..Default::default() }.fit_dataset(&dataset)?;
//! let (tau2, sigma2) = (ssbl.map(Map::Tau2).unwrap(), ssbl.map(Map::Sigma2).unwrap());
//! // Between- and within-study variance: neither negative, not both zero.
//! assert!(tau2.iter().zip(sigma2).all(|(&t, &s)| t >= 0.0 && s >= 0.0 && t + s > 0.0));
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! NiMARE `FixedEffectsHedges(tau2=0)`: Hedges' g from the t maps (derived here from con and
//! varcope) and the sample sizes, so `est` is in standardised units:
//!
//! ```
//! use ibma::estimators::FixedEffectsHedges;
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let result = FixedEffectsHedges::default().fit_dataset(&dataset)?;
//! let (g, z) = (result.map(Map::Est).unwrap(), result.map(Map::Z).unwrap());
//! assert!(g.iter().zip(z).all(|(g, z)| g.signum() == z.signum()));
//! assert!(g[..108].iter().all(|&g| g > 0.1));
//! # Ok::<(), ibma::Error>(())
//! ```

use super::{AnyEstimator, Capabilities, Estimator, Permutation};
use crate::dependence::{describe, models, unsupported};
use crate::design::DesignSpec;
use crate::inputs::{Block, Needs};
use crate::options::{named, InputOptions, WorkingModel};
use crate::{Error, MetaResult, Result};
use ibma_glm::heterogeneity::{heterogeneity, heterogeneity_design};
use ibma_glm::likelihood::{
    sample_size_based_likelihood, variance_based_likelihood, variance_based_likelihood_design, Method,
};
use ibma_glm::metareg::{meta_regression, Tau2};
use ibma_glm::robust::likelihood::{grouped_sample_size_likelihood, grouped_variance_likelihood};
use ibma_glm::robust::{grouped_moments, GroupedFit};
use ibma_glm::{hedges_fe, moments, wls, RegressionMaps, SmallSampleCorrection};
use ibma_io::MapType;
use ibma_stats::bags::bags;
use ibma_stats::{StudyVoxels, Tail};
use serde::{Deserialize, Serialize};

/// Weighted least squares with a fixed τ² and Wald inference (NiMARE `WeightedLeastSquares`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `tau2` | 0 | the between-study variance, fixed |
/// | `small_sample_correction` | `wald` | inference on the pooled estimate |
/// | `moderators`, `contrast` | one-sample | meta-regression on study covariates ([`DesignSpec`]) |
/// | `weight_scheme`, `rho` | `rescale`, 0.8 | working model with dependence groups ([`WorkingModel`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, z, p, logp, dof and the heterogeneity maps q, q_p, q_logp, i2, h.
///
/// # Errors
/// Fewer than two usable studies; a negative or non-finite `tau2`; a design the studies'
/// covariates cannot fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct WeightedLeastSquares {
    /// Fixed τ².
    pub tau2: f64,
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for WeightedLeastSquares {
    fn default() -> Self {
        WeightedLeastSquares {
            tau2: 0.0,
            small_sample_correction: SmallSampleCorrection::Wald,
            working: WorkingModel::default(),
            design: DesignSpec::default(),
            inputs: InputOptions::default(),
        }
    }
}

/// Random effects with the DerSimonian–Laird moment τ² and Knapp–Hartung inference (NiMARE
/// `DerSimonianLaird`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `small_sample_correction` | `knapp-hartung` | inference on the pooled estimate |
/// | `moderators`, `contrast` | one-sample | meta-regression on study covariates ([`DesignSpec`]) |
/// | `weight_scheme`, `rho` | `rescale`, 0.8 | working model with dependence groups ([`WorkingModel`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, tau2, z, p, logp, dof and the heterogeneity maps.
///
/// # Errors
/// Fewer than two usable studies; a design the studies' covariates cannot fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct DerSimonianLaird {
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for DerSimonianLaird {
    fn default() -> Self {
        DerSimonianLaird {
            small_sample_correction: SmallSampleCorrection::KnappHartung,
            working: WorkingModel::default(),
            design: DesignSpec::default(),
            inputs: InputOptions::default(),
        }
    }
}

/// Random effects with Hedges' τ² and Knapp–Hartung inference (NiMARE `Hedges`).
///
/// Parameters and maps as [`DerSimonianLaird`].
///
/// # Errors
/// As [`DerSimonianLaird`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct Hedges {
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for Hedges {
    fn default() -> Self {
        Hedges {
            small_sample_correction: SmallSampleCorrection::KnappHartung,
            working: WorkingModel::default(),
            design: DesignSpec::default(),
            inputs: InputOptions::default(),
        }
    }
}

/// Random effects with an ML or REML τ² from con and varcope (NiMARE
/// `VarianceBasedLikelihood`): each coverage pattern's voxels are searched in lock-step, as
/// NiMARE's PyMARE does, which reproduces its numbers.
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `method` | `ml` | maximum or restricted maximum likelihood |
/// | `small_sample_correction` | `knapp-hartung` | inference on the pooled estimate |
/// | `moderators`, `contrast` | one-sample | meta-regression on study covariates ([`DesignSpec`]) |
/// | `weight_scheme`, `rho` | `rescale`, 0.8 | working model with dependence groups ([`WorkingModel`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, tau2, z, p, logp, dof and the heterogeneity maps.
///
/// # Errors
/// As [`DerSimonianLaird`]; an F contrast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct VarianceBasedLikelihood {
    /// ML or REML.
    #[serde(with = "named")]
    pub method: Method,
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for VarianceBasedLikelihood {
    fn default() -> Self {
        VarianceBasedLikelihood {
            method: Method::Ml,
            small_sample_correction: SmallSampleCorrection::KnappHartung,
            working: WorkingModel::default(),
            design: DesignSpec::default(),
            inputs: InputOptions::default(),
        }
    }
}

/// Random effects with ML or REML τ² and σ² from con and sample sizes (NiMARE
/// `SampleSizeBasedLikelihood`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `method` | `ml` | maximum or restricted maximum likelihood |
/// | `small_sample_correction` | `knapp-hartung` | inference on the pooled estimate |
/// | `nimare_strict` | false | fail the whole fit on a coverage pattern whose studies all share one sample size, as NiMARE does (default: NaN there, with a warning) |
/// | `weight_scheme`, `rho` | `rescale`, 0.8 | working model with dependence groups ([`WorkingModel`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, tau2, sigma2, z, p, logp, dof and the heterogeneity maps.
///
/// # Errors
/// Fewer than two usable studies with sample sizes; with `nimare_strict=true`, a coverage
/// pattern whose sample sizes are all equal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct SampleSizeBasedLikelihood {
    /// ML or REML.
    #[serde(with = "named")]
    pub method: Method,
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Reproduce NiMARE's whole-fit failure.
    pub nimare_strict: bool,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for SampleSizeBasedLikelihood {
    fn default() -> Self {
        SampleSizeBasedLikelihood {
            method: Method::Ml,
            small_sample_correction: SmallSampleCorrection::KnappHartung,
            working: WorkingModel::default(),
            nimare_strict: false,
            inputs: InputOptions::default(),
        }
    }
}

/// Hedges' g from t maps and sample sizes, fixed τ², Wald inference (NiMARE
/// `FixedEffectsHedges`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `tau2` | 0 | the between-study variance, fixed |
/// | `small_sample_correction` | `wald` | inference on the pooled estimate |
/// | `weight_scheme`, `rho` | `rescale`, 0.8 | working model with dependence groups ([`WorkingModel`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est (g), se, z, p, logp, dof and the heterogeneity maps.
///
/// # Errors
/// Fewer than two usable studies; a sample size ≤ 3 (Hedges' g variance is undefined).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct FixedEffectsHedges {
    /// Fixed τ².
    pub tau2: f64,
    /// Inference on the pooled estimate (models without dependence).
    #[serde(with = "named")]
    pub small_sample_correction: SmallSampleCorrection,
    /// Weight scheme and ρ of models with dependence groups.
    #[serde(flatten)]
    pub working: WorkingModel,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for FixedEffectsHedges {
    fn default() -> Self {
        FixedEffectsHedges {
            tau2: 0.0,
            small_sample_correction: SmallSampleCorrection::Wald,
            working: WorkingModel::default(),
            inputs: InputOptions::default(),
        }
    }
}

/// What sets one regression estimator apart in the shared fit.
#[derive(Clone, Copy, Debug)]
enum Model {
    Wls(f64),
    DerSimonianLaird,
    Hedges,
    Vbl(Method),
    Ssbl { method: Method, strict: bool },
    Feh(f64),
}

const CON_VARCOPE: &[MapType] = &[MapType::Con, MapType::Varcope];

/// Every regression estimator is voxelwise but the likelihood ones, whose searches run a
/// coverage pattern's voxels in lock-step (NiMARE's convergence rule).
fn capabilities(voxelwise: bool) -> Capabilities {
    Capabilities { tail: Tail::Two, voxelwise, permutation: Permutation::Refit }
}

fn check_tau2(estimator: &str, tau2: f64) -> Result<()> {
    if tau2.is_finite() && tau2 >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(estimator, "tau2", &tau2.to_string(), "a finite number >= 0"))
    }
}

/// The shared fit: the model's maps, then the heterogeneity maps (of the design's residuals
/// for a meta-regression, df = K − P); with dependence groups, [`fit_grouped`].
fn fit(
    estimator: AnyEstimator,
    model: Model,
    correction: SmallSampleCorrection,
    working: WorkingModel,
    design: Option<&DesignSpec>,
    block: &Block,
) -> Result<MetaResult> {
    let name = estimator.name();
    let mut result = MetaResult::of_block(estimator, block);
    let design_spec = design.filter(|d| !d.is_one_sample());
    if block.grouping.has_dependence() {
        if design_spec.is_some() {
            return Err(unsupported(name, "a meta-regression (moderators, contrast)", &block.grouping));
        }
        fit_grouped(&mut result, model, correction, working, block)?;
        return Ok(result);
    }
    let design = match design_spec {
        Some(spec) => {
            let design = spec.build(name, None, &block.studies)?;
            if design.contrast.len() != 1 {
                return Err(Error::Invalid(format!("{name}: F contrasts need mfx-glm, ffx-glm or rfx-glm")));
            }
            result.diagnostics.design_columns = Some(design.columns.clone());
            Some(design)
        }
        None => None,
    };
    let con_var = || (block.map(MapType::Con), block.map(MapType::Varcope));
    // (effects, within-study variances) for the heterogeneity maps, at τ² = 0.
    let mut het_inputs: Option<(StudyVoxels, StudyVoxels)> = None;
    let maps: RegressionMaps = match (model, &design) {
        (Model::Vbl(method), Some(d)) => {
            let (con, var) = con_var();
            variance_based_likelihood_design(con, var, &d.matrix, &d.contrast[0], &bags(con, 2), method, correction)
        }
        (Model::Wls(_) | Model::DerSimonianLaird | Model::Hedges, Some(d)) => {
            let tau2 = match model {
                Model::Wls(t) => Tau2::Fixed(t),
                Model::DerSimonianLaird => Tau2::DerSimonianLaird,
                _ => Tau2::Hedges,
            };
            let (con, var) = con_var();
            meta_regression(con, var, &d.matrix, &d.contrast[0], tau2, correction)
        }
        (Model::Wls(tau2), _) => {
            let (con, var) = con_var();
            wls::weighted_least_squares(con, var, tau2, correction)
        }
        (Model::DerSimonianLaird, _) => {
            let (con, var) = con_var();
            moments::dersimonian_laird(con, var, correction)
        }
        (Model::Hedges, _) => {
            let (con, var) = con_var();
            moments::hedges(con, var, correction)
        }
        (Model::Vbl(method), None) => {
            let (con, var) = con_var();
            variance_based_likelihood(con, var, &bags(con, 2), method, correction)
        }
        (Model::Ssbl { method, strict }, _) => {
            let con = block.map(MapType::Con);
            let models = bags(con, 2);
            let (maps, degenerate) =
                sample_size_based_likelihood(con, &block.sample_sizes(), &models, method, correction);
            all_equal_sample_sizes(&mut result, &degenerate, &models, strict)?;
            // SSBL's within-study variances are σ̂²/n_k at each voxel.
            let n = block.sample_sizes();
            let var: Vec<f64> = con
                .voxels()
                .zip(&maps.sigma2)
                .flat_map(|(c, s2)| c.iter().zip(&n).map(move |(ck, nk)| if ck.is_nan() { f64::NAN } else { s2 / nk }))
                .collect();
            het_inputs = Some((con.clone(), StudyVoxels::new(con.n_studies(), var)));
            maps
        }
        (Model::Feh(tau2), _) => {
            let (g, var) = hedges_g(name, block)?;
            let maps = hedges_fe::fixed_effects_hedges(&g, &var, tau2, correction);
            het_inputs = Some((g, var));
            maps
        }
    };
    let het = match (&design, &het_inputs) {
        (Some(d), _) => {
            let (con, var) = con_var();
            heterogeneity_design(con, var, &d.matrix)
        }
        (None, Some((y, v))) => heterogeneity(y, v),
        (None, None) => {
            let (con, var) = con_var();
            heterogeneity(con, var)
        }
    };
    result.insert_regression(maps);
    result.insert_heterogeneity(het);
    Ok(result)
}

/// The regression estimators with dependence groups (NiMARE 0.22.1 with PyMARE 0.0.13,
/// docs/dependence.md): per model, the working model's weights and τ², CR2 standard errors and
/// Satterthwaite dof where a group repeats, the ordinary estimator where none does. No
/// heterogeneity maps: Q and I² assume independent images.
fn fit_grouped(
    result: &mut MetaResult,
    model: Model,
    correction: SmallSampleCorrection,
    working: WorkingModel,
    block: &Block,
) -> Result<()> {
    let (grouping, working) = (&block.grouping, working.working());
    let moments = |y: &StudyVoxels, v: &StudyVoxels, tau2: Tau2| {
        grouped_moments(y, v, grouping, &models(y), tau2, working, correction)
    };
    let fit: GroupedFit = match model {
        Model::Wls(tau2) => moments(block.map(MapType::Con), block.map(MapType::Varcope), Tau2::Fixed(tau2)),
        Model::DerSimonianLaird => {
            moments(block.map(MapType::Con), block.map(MapType::Varcope), Tau2::DerSimonianLaird)
        }
        Model::Hedges => moments(block.map(MapType::Con), block.map(MapType::Varcope), Tau2::Hedges),
        Model::Vbl(method) => {
            let con = block.map(MapType::Con);
            grouped_variance_likelihood(
                con,
                block.map(MapType::Varcope),
                grouping,
                &models(con),
                method,
                working,
                correction,
            )
        }
        Model::Ssbl { method, strict } => {
            let con = block.map(MapType::Con);
            let models = models(con);
            let (fit, degenerate) = grouped_sample_size_likelihood(
                con,
                &block.sample_sizes(),
                grouping,
                &models,
                method,
                working,
                correction,
            );
            all_equal_sample_sizes(result, &degenerate, &models, strict)?;
            fit
        }
        Model::Feh(tau2) => {
            let (g, var) = hedges_g(result.estimator.name(), block)?;
            moments(&g, &var, Tau2::Fixed(tau2))
        }
    };
    result.insert_regression(fit.maps);
    result.warnings.extend(fit.warnings.iter().map(|w| describe(w, &block.studies, grouping)));
    Ok(())
}

/// SampleSizeBasedLikelihood's models whose (fitted) sample sizes are all equal: NaN there with a
/// warning, or with `strict` NiMARE's whole-fit failure.
fn all_equal_sample_sizes(
    result: &mut MetaResult,
    degenerate: &[usize],
    models: &[ibma_stats::bags::Bag],
    strict: bool,
) -> Result<()> {
    if degenerate.is_empty() {
        return Ok(());
    }
    let name = result.estimator.name();
    let voxels: usize = degenerate.iter().map(|&b| models[b].voxels.len()).sum();
    if strict {
        return Err(Error::Invalid(format!(
            "{name}: Sample size-based likelihood estimator cannot work with all-equal sample sizes, and {} of {} parallel datasets have them (nimare_strict=true)",
            degenerate.len(),
            models.len()
        )));
    }
    result.warnings.push(format!(
        "{} bags ({voxels} voxels) have studies that all share one sample size; tau2 and sigma2 are not identifiable there and those voxels are NaN (NiMARE fails the whole fit; --set nimare_strict=true reproduces that)",
        degenerate.len()
    ));
    result.diagnostics.bags_all_equal_sample_size = Some(degenerate.len());
    result.diagnostics.voxels_nan_all_equal_sample_size = Some(voxels);
    Ok(())
}

/// Hedges' g and its variance from the t maps and sample sizes (each above 3).
fn hedges_g(name: &str, block: &Block) -> Result<(StudyVoxels, StudyVoxels)> {
    let n = block.sample_sizes();
    if let Some((s, n)) = block.studies.iter().zip(&n).find(|(_, n)| **n <= 3.0) {
        return Err(Error::Invalid(format!(
            "{name}: study {}: sample_size {n} must be greater than 3 (Hedges' g variance is undefined)",
            s.id
        )));
    }
    Ok(hedges_fe::hedges_g(block.map(MapType::T), &n))
}

impl Estimator for WeightedLeastSquares {
    fn name(&self) -> &'static str {
        "weighted-least-squares"
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), CON_VARCOPE, false, &self.inputs)
    }
    fn validate(&self) -> Result<()> {
        check_tau2(self.name(), self.tau2)?;
        self.working.validate(self.name())
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(true)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        fit(
            self.catalogued(),
            Model::Wls(self.tau2),
            self.small_sample_correction,
            self.working,
            Some(&self.design),
            block,
        )
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::WeightedLeastSquares(self.clone())
    }
}

impl Estimator for DerSimonianLaird {
    fn name(&self) -> &'static str {
        "dersimonian-laird"
    }
    fn validate(&self) -> Result<()> {
        self.working.validate(self.name())
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), CON_VARCOPE, false, &self.inputs)
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(true)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        fit(
            self.catalogued(),
            Model::DerSimonianLaird,
            self.small_sample_correction,
            self.working,
            Some(&self.design),
            block,
        )
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::DerSimonianLaird(self.clone())
    }
}

impl Estimator for Hedges {
    fn name(&self) -> &'static str {
        "hedges"
    }
    fn validate(&self) -> Result<()> {
        self.working.validate(self.name())
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), CON_VARCOPE, false, &self.inputs)
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(true)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        fit(self.catalogued(), Model::Hedges, self.small_sample_correction, self.working, Some(&self.design), block)
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::Hedges(self.clone())
    }
}

impl Estimator for VarianceBasedLikelihood {
    fn name(&self) -> &'static str {
        "variance-based-likelihood"
    }
    fn validate(&self) -> Result<()> {
        self.working.validate(self.name())
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), CON_VARCOPE, false, &self.inputs)
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(false)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        fit(
            self.catalogued(),
            Model::Vbl(self.method),
            self.small_sample_correction,
            self.working,
            Some(&self.design),
            block,
        )
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::VarianceBasedLikelihood(self.clone())
    }
}

impl Estimator for SampleSizeBasedLikelihood {
    fn name(&self) -> &'static str {
        "sample-size-based-likelihood"
    }
    fn validate(&self) -> Result<()> {
        self.working.validate(self.name())
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Con], true, &self.inputs)
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(false)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        let model = Model::Ssbl { method: self.method, strict: self.nimare_strict };
        fit(self.catalogued(), model, self.small_sample_correction, self.working, None, block)
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::SampleSizeBasedLikelihood(self.clone())
    }
}

impl Estimator for FixedEffectsHedges {
    fn name(&self) -> &'static str {
        "fixed-effects-hedges"
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::T], true, &self.inputs)
    }
    fn validate(&self) -> Result<()> {
        check_tau2(self.name(), self.tau2)?;
        self.working.validate(self.name())
    }
    fn capabilities(&self) -> Capabilities {
        capabilities(true)
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        fit(self.catalogued(), Model::Feh(self.tau2), self.small_sample_correction, self.working, None, block)
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::FixedEffectsHedges(self.clone())
    }
}
