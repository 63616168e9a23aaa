//! Stouffer's combination test (NiMARE 0.22.1 `Stouffers`).

use crate::dataset::Needs;
use crate::estimator::{parse_bool, unknown_param, Common, Estimator, Param};
use crate::{Dataset, MetaResult, Result};
use ibma_combine::{stouffers, Direction};
use ibma_io::MapType;

/// Stouffer's Z over the studies' z maps (NiMARE `Stouffers`, PyMARE `StoufferCombinationTest`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `use_sample_size` | false | weight each z by √n |
/// | `two_sided` | true | concordant test (both directions, p doubled); false: upper tail only |
/// | `aggressive_mask` | false | see [`Common`] |
///
/// # Errors
/// Fewer than two studies with a z map (derivable or stored) and, if weighted, a sample size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Stouffers {
    /// Weight z by √n.
    pub use_sample_size: bool,
    /// The alternative.
    pub direction: Direction,
    /// Shared options.
    pub common: Common,
}

impl Stouffers {
    /// `Stouffers(use_sample_size=True)`, the seed's `WeightedStouffers`.
    pub fn weighted() -> Stouffers {
        Stouffers { use_sample_size: true, ..Stouffers::default() }
    }
}

impl Estimator for Stouffers {
    fn name(&self) -> &'static str {
        "stouffers"
    }

    fn needs(&self) -> Needs {
        Needs { maps: &[MapType::Z], sample_size: self.use_sample_size }
    }

    fn get_params(&self) -> Vec<Param> {
        let mut p = vec![
            Param {
                name: "use_sample_size",
                value: self.use_sample_size.into(),
                choices: "true|false",
                help: "weight each study's z by the square root of its sample size",
            },
            Param {
                name: "two_sided",
                value: (self.direction == Direction::Concordant).into(),
                choices: "true|false",
                help: "true: concordant two-sided test (NiMARE); false: directed, upper tail",
            },
        ];
        p.extend(self.common.params());
        p
    }

    fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "use_sample_size" => self.use_sample_size = parse_bool(self.name(), key, value)?,
            "two_sided" => {
                self.direction = if parse_bool(self.name(), key, value)? { Direction::Concordant } else { Direction::Directed }
            }
            _ if self.common.set(self.name(), key, value)? => {}
            _ => return Err(unknown_param(self, key)),
        }
        Ok(())
    }

    fn fit(&self, dataset: &Dataset) -> Result<MetaResult> {
        let inputs = self.common.inputs(self.name(), self.needs(), dataset)?;
        let weights: Vec<f64> = if self.use_sample_size {
            inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN).sqrt()).collect()
        } else {
            vec![1.0; inputs.study_ids.len()]
        };
        let test = stouffers(&inputs.maps[&MapType::Z], &weights, self.direction);
        let params = self.get_params().into_iter().map(|p| (p.name.to_string(), p.value)).collect();
        let mut result = MetaResult::new(self.name(), params, dataset.mask.clone());
        result.insert_test(test);
        result.studies = inputs.study_ids;
        result.warnings = inputs.warnings;
        Ok(result)
    }
}
