//! Combination tests of z maps: NiMARE 0.22.1's `Stouffers` and `Fishers`, and the seed era's
//! `WeightedStouffers`.

use super::{AnyEstimator, Capabilities, Estimator, Permutation};
use crate::dependence::{describe, models, unsupported};
use crate::inference::empirical_t;
use crate::inputs::{Block, Needs};
use crate::maps::Map;
use crate::options::{named, two_sided, Flips, InputOptions, Null};
use crate::{Error, MetaResult, Result};
use ibma_combine::grouped::{combine_grouped, Test};
use ibma_combine::{fishers, stouffers, Direction, FisherMode};
use ibma_io::MapType;
use ibma_stats::ttest::one_sample_t;
use ibma_stats::Tail;
use serde::{Deserialize, Serialize};

/// How Stouffer's estimator draws inference (the seed API's `inference`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inference {
    /// Fixed effects: Stouffer's Z (NiMARE 0.22.1).
    #[default]
    Ffx,
    /// Random effects (NiMARE 0.0.1): a one-sample t-test of the z maps against t(K − 1).
    Rfx,
}

impl crate::options::Named for Inference {
    const NAMES: &'static [(Self, &'static str)] = &[(Inference::Ffx, "ffx"), (Inference::Rfx, "rfx")];
}

/// Stouffer's Z over the studies' z maps (NiMARE `Stouffers`, PyMARE `StoufferCombinationTest`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `use_sample_size` | false | weight each z by √n |
/// | `two_sided` | true ([`Tail::Two`]) | concordant test (both directions, p doubled); false: upper tail only |
/// | `inference` | `ffx` | `ffx`: Stouffer's Z; `rfx`: one-sample t-test of the z maps (seed API), maps t, z, p, logp, dof |
/// | `null` | `theoretical` | with `inference=rfx`: `empirical` refers t to a voxelwise sign-flip null |
/// | `n_iters`, `seed`, `exact_flips` | 5000, 42, false | the flips of the empirical null ([`Flips`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: z, p, logp, dof (and t with `inference=rfx`).
///
/// # Errors
/// Fewer than two studies with a z map (derivable or stored) and, if weighted, a sample size;
/// `null=empirical` without `inference=rfx`; `use_sample_size` with `inference=rfx` (the
/// t-test is unweighted).
///
/// # Example
///
/// NiMARE `FDRCorrector(method="indep").transform(Stouffers(two_sided=False).fit(dset))`, on
/// the example dataset (8 studies; its first 108 voxels hold the effect):
///
/// ```
/// use ibma::estimators::Stouffers;
/// use ibma::maps::{Map, Method, Stat};
/// use ibma::stats::{correct::Correction, Tail};
/// use ibma::{Dataset, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
/// let stouffers = Stouffers { two_sided: Tail::One, ..Stouffers::default() }; // upper tail only
/// let mut result = stouffers.fit_dataset(&dataset)?;
/// result.correct(Correction::FdrIndep)?;
/// let (z, p) = (result.map(Map::Z).unwrap(), result.map(Map::P).unwrap());
/// assert!(z.iter().zip(p).all(|(&z, &p)| (z > 0.0) == (p < 0.5))); // p = Φ̄(z)
/// let p_fdr = result.map(Map::Corrected(Stat::P, Method::FdrIndep)).unwrap();
/// let significant = |p: &[f64]| p.iter().filter(|&&p| p < 0.05).count();
/// assert!(significant(p_fdr) <= significant(p)); // FDR never finds more
/// assert!(p_fdr[..108].iter().all(|&p| p < 0.05)); // every effect voxel survives
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct Stouffers {
    /// Weight each z by √n.
    pub use_sample_size: bool,
    /// Two-sided (concordant) or upper-tail test.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// Fixed or random effects.
    #[serde(with = "named")]
    pub inference: Inference,
    /// The null of the rfx t-test.
    pub null: Null,
    /// Flips of the empirical null.
    #[serde(flatten)]
    pub flips: Flips,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// The seed's `WeightedStouffers`: Stouffer's Z with each z weighted by √n (NiMARE 0.22.1
/// `Stouffers(use_sample_size=True)`).
///
/// | parameter | default | meaning |
/// |---|---|---|
/// | `two_sided` | true | concordant test; false: upper tail only |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// # Errors
/// Fewer than two studies with a z map and a sample size.
///
/// # Example
///
/// ```
/// use ibma::estimators::WeightedStouffers;
/// use ibma::{maps::Map, Dataset, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
/// let result = WeightedStouffers::default().fit_dataset(&dataset)?;
/// assert_eq!(result.studies.len(), 8);
/// assert!(result.map(Map::Dof).unwrap().iter().all(|&dof| dof == 7.0)); // K − 1, every voxel
/// assert!(result.map(Map::Z).unwrap()[..108].iter().all(|&z| z > 3.0));
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct WeightedStouffers {
    /// Two-sided (concordant) or upper-tail test.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// Fisher's combination of the studies' z maps (NiMARE `Fishers`, PyMARE
/// `FisherCombinationTest`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `use_sample_size` | false | weight each study by n (scaled χ², PyMARE) |
/// | `two_sided` | true | concordant test (both directions, p doubled); false: upper tail only |
/// | `legacy_undirected` | false | NiMARE 0.0.1's −2 Σ ln(2Φ̄(\|z\|)) on χ²(2K); legacy, not NiMARE 0.22.1 |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: z, p, logp, dof.
///
/// # Errors
/// Fewer than two studies with a z map and, if weighted, a sample size; `legacy_undirected`
/// together with `use_sample_size` or `two_sided=false` (the seed's statistic has neither).
///
/// # Example
///
/// NiMARE `Fishers(use_sample_size=True)`:
///
/// ```
/// use ibma::estimators::Fishers;
/// use ibma::{maps::Map, tol, Dataset, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
/// let fishers = Fishers { use_sample_size: true, ..Fishers::default() }; // weights n: scaled χ²
/// let result = fishers.fit_dataset(&dataset)?;
/// let names: Vec<String> = result.maps().map(|(m, _)| m.to_string()).collect();
/// assert_eq!(names, ["p", "logp", "z", "dof"]);
/// let (p, logp) = (result.map(Map::P).unwrap(), result.map(Map::Logp).unwrap());
/// assert!(p.iter().all(|&p| p > 0.0 && p <= 1.0));
/// assert!(p.iter().zip(logp).all(|(&p, &l)| tol::close(l, -p.log10(), tol::MAP_RTOL, tol::MAP_ATOL)));
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct Fishers {
    /// Weight each study by n.
    pub use_sample_size: bool,
    /// Two-sided (concordant) or upper-tail test.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// NiMARE 0.0.1's undirected statistic.
    pub legacy_undirected: bool,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// The combination tests' direction for a test tail.
fn direction(tail: Tail) -> Direction {
    match tail {
        Tail::Two => Direction::Concordant,
        Tail::One => Direction::Directed,
    }
}

/// √n per study (NaN without a sample size).
fn sqrt_sample_sizes(block: &Block) -> Vec<f64> {
    block.sample_sizes().iter().map(|n| n.sqrt()).collect()
}

/// Stouffer's or Fisher's test on images with dependence groups (NiMARE 0.22.1 with PyMARE
/// 0.0.13: the group-level Stouffer and Brown's Fisher, docs/dependence.md), per model, with the
/// null correlation of the prepared images; `weighted`: by the images' sample sizes.
fn grouped(test: Test, block: &Block, weighted: bool, tail: Tail, result: &mut MetaResult) {
    let z = block.map(MapType::Z);
    let n = weighted.then(|| block.sample_sizes());
    let corr = block.null_correlation.as_ref();
    let fit = combine_grouped(test, z, &block.grouping, corr, &models(z), n.as_deref(), direction(tail));
    result.insert_test(fit.maps);
    result.warnings.extend(fit.warnings.iter().map(|w| describe(w, &block.studies, &block.grouping)));
}

fn combination_capabilities(tail: Tail) -> Capabilities {
    Capabilities { tail, voxelwise: true, permutation: Permutation::Refit }
}

impl Estimator for Stouffers {
    fn name(&self) -> &'static str {
        "stouffers"
    }

    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Z], self.use_sample_size, &self.inputs).with_null_correlation()
    }

    fn validate(&self) -> Result<()> {
        if self.null == Null::Empirical && self.inference == Inference::Ffx {
            return Err(Error::param(self.name(), "null", "empirical", "empirical only with inference=rfx"));
        }
        if self.use_sample_size && self.inference == Inference::Rfx {
            return Err(Error::param(
                self.name(),
                "use_sample_size",
                "true",
                "false with inference=rfx (the t-test is unweighted)",
            ));
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        let empirical = self.null == Null::Empirical;
        Capabilities {
            voxelwise: !empirical,
            permutation: if empirical { Permutation::Nested } else { Permutation::Refit },
            ..combination_capabilities(self.two_sided)
        }
    }

    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        let z = block.map(MapType::Z);
        let mut result = MetaResult::of_block(self.catalogued(), block);
        if block.grouping.has_dependence() {
            if self.inference == Inference::Rfx {
                return Err(unsupported(self.name(), "inference=rfx", &block.grouping));
            }
            grouped(Test::Stouffer, block, self.use_sample_size, self.two_sided, &mut result);
            return Ok(result);
        }
        match (self.inference, self.null) {
            (Inference::Ffx, _) => {
                let weights = if self.use_sample_size { sqrt_sample_sizes(block) } else { vec![1.0; z.n_studies()] };
                result.insert_test(stouffers(z, &weights, direction(self.two_sided)));
            }
            (Inference::Rfx, Null::Empirical) => empirical_t(z, self.two_sided, &self.flips, &mut result)?,
            (Inference::Rfx, Null::Theoretical) => {
                let out = one_sample_t(z, self.two_sided);
                result.insert(Map::T, out.t);
                result.insert_test(out.test);
            }
        }
        Ok(result)
    }

    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::Stouffers(self.clone())
    }
}

impl Estimator for WeightedStouffers {
    fn name(&self) -> &'static str {
        "weighted-stouffers"
    }

    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Z], true, &self.inputs).with_null_correlation()
    }

    fn capabilities(&self) -> Capabilities {
        combination_capabilities(self.two_sided)
    }

    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        let mut result = MetaResult::of_block(self.catalogued(), block);
        if block.grouping.has_dependence() {
            grouped(Test::Stouffer, block, true, self.two_sided, &mut result);
        } else {
            result.insert_test(stouffers(block.map(MapType::Z), &sqrt_sample_sizes(block), direction(self.two_sided)));
        }
        Ok(result)
    }

    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::WeightedStouffers(self.clone())
    }
}

impl Estimator for Fishers {
    fn name(&self) -> &'static str {
        "fishers"
    }

    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Z], self.use_sample_size, &self.inputs).with_null_correlation()
    }

    fn validate(&self) -> Result<()> {
        if self.legacy_undirected && (self.use_sample_size || self.two_sided == Tail::One) {
            return Err(Error::param(
                self.name(),
                "legacy_undirected",
                "true",
                "true only with use_sample_size=false and two_sided=true",
            ));
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        combination_capabilities(self.two_sided)
    }

    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        let z = block.map(MapType::Z);
        if block.grouping.has_dependence() {
            if self.legacy_undirected {
                return Err(unsupported(self.name(), "legacy_undirected", &block.grouping));
            }
            let mut result = MetaResult::of_block(self.catalogued(), block);
            grouped(Test::Fisher, block, self.use_sample_size, self.two_sided, &mut result);
            return Ok(result);
        }
        let weights = if self.use_sample_size { block.sample_sizes() } else { vec![1.0; z.n_studies()] };
        let mode = if self.legacy_undirected { FisherMode::LegacyUndirected } else { FisherMode::Modern };
        let mut result = MetaResult::of_block(self.catalogued(), block);
        result.insert_test(fishers(z, &weights, direction(self.two_sided), mode));
        Ok(result)
    }

    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::Fishers(self.clone())
    }
}
