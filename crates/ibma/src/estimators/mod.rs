//! The estimators: one type each, with NiMARE 0.22.1's parameter names and defaults, and
//! [`AnyEstimator`], the catalogue of all of them (by command name or NiMARE class name), which
//! results and saved files record.

mod combination;
mod glm;
mod regression;

pub use combination::{Fishers, Inference, Stouffers, WeightedStouffers};
pub use glm::{FfxGlm, MfxGlm, PermutedOls, RfxGlm};
pub use regression::{
    DerSimonianLaird, FixedEffectsHedges, Hedges, SampleSizeBasedLikelihood, VarianceBasedLikelihood,
    WeightedLeastSquares,
};

use crate::estimator::{Capabilities, Estimator};
use crate::inputs::{Block, Needs, Prepared};
use crate::{Error, MetaResult, Result};
use serde::{Deserialize, Serialize};

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
