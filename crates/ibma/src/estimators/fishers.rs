//! Fisher's combination test (NiMARE 0.22.1 `Fishers`).

use crate::dataset::{Inputs, Needs};
use crate::estimator::{parse_bool, unknown_param, Common, Estimator, Param};
use crate::{Dataset, MetaResult, Result};
use ibma_combine::{fishers, Direction, FisherMode};
use ibma_io::MapType;

/// Fisher's combination of the studies' z maps (NiMARE `Fishers`, PyMARE
/// `FisherCombinationTest`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `use_sample_size` | false | weight each study by n (scaled χ², PyMARE) |
/// | `two_sided` | true | concordant test (both directions, p doubled); false: upper tail only |
/// | `legacy_undirected` | false | NiMARE 0.0.1's −2 Σ ln(2Φ̄(\|z\|)) on χ²(2K); legacy, not NiMARE 0.22.1 |
/// | `aggressive_mask` | false | see [`Common`] |
///
/// Maps: z, p, logp, dof.
///
/// # Errors
/// Fewer than two studies with a z map and, if weighted, a sample size; `legacy_undirected`
/// together with `use_sample_size` or `two_sided=false` (the seed's statistic has neither).
///
/// # Example
///
/// NiMARE `Fishers(use_sample_size=True)`, on the [example dataset](crate::docs::example_dataset):
///
/// ```
/// use ibma::estimators::Fishers;
/// use ibma::{tol, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut fishers = Fishers::default();
/// fishers.set_param("use_sample_size", "true")?; // weights n (not √n): scaled χ²
/// let result = fishers.fit(&dataset)?;
/// let mut names: Vec<&str> = result.map_names().collect();
/// names.sort_unstable();
/// assert_eq!(names, ["dof", "logp", "p", "z"]);
/// let (p, logp) = (result.map("p").unwrap(), result.map("logp").unwrap());
/// assert!(p.iter().all(|&p| p > 0.0 && p <= 1.0));
/// assert!(p.iter().zip(logp).all(|(&p, &l)| tol::close(l, -p.log10(), tol::MAP_RTOL, tol::MAP_ATOL)));
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Fishers {
    /// Weight by n.
    pub use_sample_size: bool,
    /// The alternative.
    pub direction: Direction,
    /// Modern or the seed's undirected statistic.
    pub mode: FisherMode,
    /// Shared options.
    pub common: Common,
}

impl Estimator for Fishers {
    fn name(&self) -> &'static str {
        "fishers"
    }

    fn needs(&self) -> Needs {
        Needs { maps: &[MapType::Z], sample_size: self.use_sample_size }
    }

    fn get_params(&self) -> Vec<Param> {
        let mut p = vec![
            Param::bool(
                "use_sample_size",
                self.use_sample_size,
                "weight each study by its sample size n (scaled chi-square)",
            ),
            Param::two_sided(self.direction),
            Param {
                name: "legacy_undirected",
                value: (self.mode == FisherMode::LegacyUndirected).into(),
                choices: "true|false",
                help: "NiMARE 0.0.1's undirected statistic -2 sum ln(2 Phi-bar(|z|)) (legacy)",
            },
        ];
        p.extend(self.common.params());
        p
    }

    fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "use_sample_size" => self.use_sample_size = parse_bool(self.name(), key, value)?,
            "two_sided" => self.direction = Param::parse_two_sided(self.name(), value)?,
            "legacy_undirected" => {
                self.mode =
                    if parse_bool(self.name(), key, value)? { FisherMode::LegacyUndirected } else { FisherMode::Modern }
            }
            _ if self.common.set(self.name(), key, value)? => {}
            _ => return Err(unknown_param(self, key)),
        }
        Ok(())
    }

    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn validate(&self) -> Result<()> {
        if self.mode == FisherMode::LegacyUndirected && (self.use_sample_size || self.direction == Direction::Directed)
        {
            return Err(crate::estimator::bad_choice(
                self.name(),
                "legacy_undirected",
                "true",
                "true only with use_sample_size=false and two_sided=true",
            ));
        }
        Ok(())
    }

    fn voxelwise(&self) -> bool {
        true
    }

    fn fit_inputs(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        let z = &inputs.maps[&MapType::Z];
        let weights: Vec<f64> = if self.use_sample_size {
            inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN)).collect()
        } else {
            vec![1.0; z.n_studies()]
        };
        let mut result = MetaResult::from_inputs(self, dataset, inputs);
        result.insert_test(fishers(z, &weights, self.direction, self.mode));
        Ok(result)
    }
}
