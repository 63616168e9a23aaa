//! The estimator catalogue: command names, NiMARE class names, and what is built so far.

mod fishers;
mod glm;
mod regression;
mod stouffers;

pub use fishers::Fishers;
pub use glm::{Glm, GlmKind, TToZ};
pub use regression::{Kind, Regression};
pub use stouffers::{Inference, Stouffers};

use crate::estimator::Estimator;
use crate::{Error, Result};

/// (command name, NiMARE class name, what it needs) for every estimator ibma will offer.
pub const CATALOGUE: [(&str, &str, &str); 13] = [
    ("stouffers", "Stouffers", "z"),
    ("weighted-stouffers", "WeightedStouffers", "z, sample_size"),
    ("fishers", "Fishers", "z"),
    ("rfx-glm", "RFX_GLM", "con"),
    ("ffx-glm", "FFX_GLM", "con, varcope (sample_size for its DOF)"),
    ("mfx-glm", "MFX_GLM", "con, varcope"),
    ("weighted-least-squares", "WeightedLeastSquares", "con, varcope"),
    ("dersimonian-laird", "DerSimonianLaird", "con, varcope"),
    ("hedges", "Hedges", "con, varcope"),
    ("variance-based-likelihood", "VarianceBasedLikelihood", "con, varcope"),
    ("sample-size-based-likelihood", "SampleSizeBasedLikelihood", "con, sample_size"),
    ("permuted-ols", "PermutedOLS", "con"),
    ("fixed-effects-hedges", "FixedEffectsHedges", "t, sample_size"),
];

/// Command names of the estimators built in this version.
pub fn available() -> Vec<&'static str> {
    CATALOGUE.iter().map(|c| c.0).filter(|n| build(n).is_some()).collect()
}

fn build(name: &str) -> Option<Box<dyn Estimator>> {
    match name {
        "stouffers" => Some(Box::new(Stouffers::default())),
        "weighted-stouffers" => Some(Box::new(Stouffers::weighted())),
        "fishers" => Some(Box::new(Fishers::default())),
        "weighted-least-squares" => Some(Box::new(Regression::new(Kind::WeightedLeastSquares))),
        "dersimonian-laird" => Some(Box::new(Regression::new(Kind::DerSimonianLaird))),
        "hedges" => Some(Box::new(Regression::new(Kind::Hedges))),
        "variance-based-likelihood" => Some(Box::new(Regression::new(Kind::VarianceBasedLikelihood))),
        "sample-size-based-likelihood" => Some(Box::new(Regression::new(Kind::SampleSizeBasedLikelihood))),
        "fixed-effects-hedges" => Some(Box::new(Regression::new(Kind::FixedEffectsHedges))),
        "permuted-ols" => Some(Box::new(Glm::new(GlmKind::PermutedOls))),
        "rfx-glm" => Some(Box::new(Glm::new(GlmKind::RfxGlm))),
        "ffx-glm" => Some(Box::new(Glm::new(GlmKind::FfxGlm))),
        "mfx-glm" => Some(Box::new(Glm::new(GlmKind::MfxGlm))),
        _ => None,
    }
}

/// An estimator with default parameters, by command name or NiMARE class name.
pub fn by_name(name: &str) -> Result<Box<dyn Estimator>> {
    let entry = CATALOGUE.iter().find(|c| c.0 == name || c.1 == name);
    match entry {
        Some(c) => build(c.0).ok_or_else(|| {
            Error::Invalid(format!(
                "estimator {name:?} is not available yet in ibma {}; available: {}",
                env!("CARGO_PKG_VERSION"),
                available().join(", ")
            ))
        }),
        None => {
            let known: Vec<&str> = CATALOGUE.iter().map(|c| c.0).collect();
            Err(Error::Invalid(format!("unknown estimator {name:?}; known estimators: {}", known.join(", "))))
        }
    }
}

/// The text of `ibma estimators`: every estimator, its parameters and defaults, its inputs.
pub fn describe_all() -> String {
    let mut s = String::new();
    for (cmd, class, inputs) in CATALOGUE {
        match build(cmd) {
            Some(est) => {
                s += &format!("{cmd} (NiMARE {class}); needs {inputs}\n");
                for p in est.get_params() {
                    let value = p.value.as_str().map_or_else(|| p.value.to_string(), str::to_string);
                    s += &format!("    {:<24} = {value:<6} [{}] {}\n", p.name, p.choices, p.help);
                }
            }
            None => s += &format!("{cmd} (NiMARE {class}); needs {inputs}; not available yet\n"),
        }
    }
    s
}
