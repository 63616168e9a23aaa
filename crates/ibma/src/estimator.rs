//! The estimator interface: what every estimator of [`crate::estimators`] offers.

use crate::estimators::AnyEstimator;
use crate::inputs::{Block, Inputs, Needs, Prepared};
use crate::progress::{Progress, Quiet};
use crate::{Dataset, MetaResult, Result};
use ibma_stats::Tail;

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
        crate::blocks::fit(self, &inputs.prepare(&self.needs())?, progress)
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
    /// None: the estimator already draws an empirical null, and a permutation of it would
    /// nest permutations.
    Nested,
}
