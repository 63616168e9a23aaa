//! The estimators: the [`Estimator`] interface, one type per estimator with NiMARE 0.22.1's
//! parameter names and defaults, and [`AnyEstimator`], the catalogue of all of them (by command
//! name or NiMARE class name), which results and saved files record.

mod combination;
mod glm;
mod regression;

pub use combination::{Fishers, Inference, Stouffers, WeightedStouffers};
pub use glm::{FfxGlm, MfxGlm, PermutedOls, RfxGlm};
pub use regression::{
    DerSimonianLaird, FixedEffectsHedges, Hedges, SampleSizeBasedLikelihood, VarianceBasedLikelihood,
    WeightedLeastSquares,
};

use crate::inputs::{Block, Inputs, Needs, Prepared};
use crate::progress::{Progress, Quiet};
use crate::{Dataset, Error, MetaResult, Result};
use ibma_stats::Tail;
use serde::{Deserialize, Serialize};

/// A meta-analytic estimator: a configuration (its fields, NiMARE's defaults) that fits
/// [`Inputs`] into a [`MetaResult`].
pub trait Estimator: Send + Sync + std::fmt::Debug {
    /// Command name, e.g. `dersimonian-laird` (`ibma estimators` lists them).
    fn name(&self) -> &'static str;

    /// The map types it reads, whether it needs sample sizes, and how inputs are read.
    fn needs(&self) -> Needs;

    /// Reject parameter values and combinations it cannot fit, before any data is read.
    ///
    /// # Errors
    /// [`crate::Error::Param`] naming the parameter.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// What block fitting and permutation inference need to know about it.
    fn capabilities(&self) -> Capabilities;

    /// Fit the voxels of `block`: all of them, or one block of a voxelwise estimator.
    ///
    /// # Errors
    /// A request that cannot be fitted as a whole (a design that does not fit the studies, ...).
    fn fit_block(&self, block: &Block) -> Result<MetaResult>;

    /// Whole-map steps once every voxel is fitted (GRF clusters of FFX/MFX_GLM).
    ///
    /// # Errors
    /// As [`Estimator::fit_block`].
    fn finish(&self, inputs: &Prepared, result: &mut MetaResult) -> Result<()> {
        let _ = (inputs, result);
        Ok(())
    }

    /// The estimator as a catalogue entry (what results and saved files record).
    fn catalogued(&self) -> AnyEstimator;

    /// Fit `inputs` (NiMARE `fit`): check the parameters, prepare the inputs, fit (in voxel
    /// blocks when they are large and the estimator allows it).
    ///
    /// # Errors
    /// Bad parameters, fewer than two usable studies, or what [`Estimator::fit_block`] rejects.
    fn fit(&self, inputs: &Inputs) -> Result<MetaResult> {
        self.fit_with(inputs, &Quiet)
    }

    /// [`Estimator::fit`], reporting progress to (and cancelled by) `progress`.
    ///
    /// # Errors
    /// As [`Estimator::fit`], and [`crate::Error::Cancelled`].
    fn fit_with(&self, inputs: &Inputs, progress: &dyn Progress) -> Result<MetaResult> {
        self.validate()?;
        self.fit_prepared(&inputs.prepare(&self.needs())?, progress)
    }

    /// Fit inputs already [prepared](Inputs::prepare) for this estimator, reporting progress to
    /// `progress` (voxel blocks when the inputs are large and the estimator allows it).
    ///
    /// # Errors
    /// What [`Estimator::fit_block`] rejects, and [`crate::Error::Cancelled`].
    fn fit_prepared(&self, inputs: &Prepared, progress: &dyn Progress) -> Result<MetaResult> {
        crate::blocks::fit(self, inputs, progress)
    }

    /// Read what it needs from `dataset` and fit it.
    ///
    /// # Errors
    /// As [`Estimator::fit`], and unreadable maps.
    fn fit_dataset(&self, dataset: &Dataset) -> Result<MetaResult> {
        self.validate()?;
        self.fit(&dataset.inputs(&self.needs())?)
    }
}

/// What the fitting and inference code needs to know about an estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The tail of its test: two-sided unless `two_sided=false`.
    pub tail: Tail,
    /// A voxel's maps depend on that voxel's data alone: large inputs can be fitted in voxel
    /// blocks and the results joined.
    pub voxelwise: bool,
    /// How a sign-flip null is computed.
    pub permutation: Permutation,
}

/// How a sign-flip (permutation) null of an estimator is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permutation {
    /// Refit the estimator on inputs whose first needed map (con, z or t) is sign-flipped.
    Refit,
    /// The one-sample t of the flipped con maps (PermutedOLS), by NiMARE's blocked engine;
    /// `weighted`: the CR2-weighted t with sample sizes.
    OneSampleT {
        /// With sample-size weights.
        weighted: bool,
    },
    /// One-sample FLAME1 (MFX_GLM) by its sign-flip kernel: each flip's z exactly as a refit
    /// with this optimiser gives it, voxels that cannot raise a flip's maximum skipped.
    Flame1(ibma_glm::flame::Optimizer),
    /// None: the estimator already draws an empirical null, and a permutation of it would
    /// nest permutations.
    Nested,
}

/// Defines [`AnyEstimator`] and [`CATALOGUE`] from one list: variant, type, command name,
/// NiMARE class name, what it reads.
macro_rules! catalogue {
    ($($variant:ident($ty:ty) = $command:literal, $class:literal, $reads:literal;)*) => {
        /// Any estimator of the catalogue. Serialises as its parameters (NiMARE's names) with
        /// an `estimator` field holding the command name.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "estimator")]
        pub enum AnyEstimator {
            $(
                #[doc = concat!("NiMARE `", $class, "`.")]
                #[serde(rename = $command)]
                $variant($ty),
            )*
        }

        /// (command name, NiMARE class name, what it reads) of every estimator.
        pub const CATALOGUE: &[(&str, &str, &str)] = &[$(($command, $class, $reads)),*];

        impl AnyEstimator {
            /// The estimator with NiMARE's defaults, by command name.
            fn default_of(command: &str) -> Option<AnyEstimator> {
                match command {
                    $($command => Some(AnyEstimator::$variant(<$ty>::default())),)*
                    _ => None,
                }
            }

            /// The estimator inside.
            pub fn inner(&self) -> &dyn Estimator {
                match self {
                    $(AnyEstimator::$variant(e) => e,)*
                }
            }
        }
    };
}

catalogue! {
    Stouffers(Stouffers) = "stouffers", "Stouffers", "z";
    WeightedStouffers(WeightedStouffers) = "weighted-stouffers", "WeightedStouffers", "z, sample_size";
    Fishers(Fishers) = "fishers", "Fishers", "z";
    RfxGlm(RfxGlm) = "rfx-glm", "RFX_GLM", "con";
    FfxGlm(FfxGlm) = "ffx-glm", "FFX_GLM", "con, varcope, sample_size";
    MfxGlm(MfxGlm) = "mfx-glm", "MFX_GLM", "con, varcope";
    WeightedLeastSquares(WeightedLeastSquares) = "weighted-least-squares", "WeightedLeastSquares", "con, varcope";
    DerSimonianLaird(DerSimonianLaird) = "dersimonian-laird", "DerSimonianLaird", "con, varcope";
    Hedges(Hedges) = "hedges", "Hedges", "con, varcope";
    VarianceBasedLikelihood(VarianceBasedLikelihood) = "variance-based-likelihood", "VarianceBasedLikelihood", "con, varcope";
    SampleSizeBasedLikelihood(SampleSizeBasedLikelihood) = "sample-size-based-likelihood", "SampleSizeBasedLikelihood", "con, sample_size";
    PermutedOls(PermutedOls) = "permuted-ols", "PermutedOLS", "con";
    FixedEffectsHedges(FixedEffectsHedges) = "fixed-effects-hedges", "FixedEffectsHedges", "t, sample_size";
}

impl AnyEstimator {
    /// An estimator with NiMARE's defaults, by command name or NiMARE class name.
    ///
    /// # Errors
    /// An unknown name, listing the known ones.
    pub fn by_name(name: &str) -> Result<AnyEstimator> {
        CATALOGUE.iter().find(|c| c.0 == name || c.1 == name).and_then(|c| AnyEstimator::default_of(c.0)).ok_or_else(
            || {
                let known: Vec<&str> = CATALOGUE.iter().map(|c| c.0).collect();
                Error::Invalid(format!("unknown estimator {name:?}; known estimators: {}", known.join(", ")))
            },
        )
    }

    /// Command names of every estimator.
    pub fn names() -> impl Iterator<Item = &'static str> {
        CATALOGUE.iter().map(|c| c.0)
    }
}

impl Estimator for AnyEstimator {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn needs(&self) -> Needs {
        self.inner().needs()
    }
    fn validate(&self) -> Result<()> {
        self.inner().validate()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        self.inner().fit_block(block)
    }
    fn finish(&self, inputs: &Prepared, result: &mut MetaResult) -> Result<()> {
        self.inner().finish(inputs, result)
    }
    fn catalogued(&self) -> AnyEstimator {
        self.clone()
    }
}
