//! Stouffer's combination test (NiMARE 0.22.1 `Stouffers`).

use crate::dataset::{Inputs, Needs};
use crate::estimator::{parse_bool, unknown_param, Common, Estimator, Param};
use crate::inference::{empirical_t, Null};
use crate::{Dataset, MetaResult, Result};
use ibma_combine::{stouffers, Direction};
use ibma_io::MapType;
use ibma_stats::ttest::one_sample_t;
use ibma_stats::Tail;

/// How Stouffer's estimator draws inference (the seed API's `inference`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inference {
    /// Fixed effects: Stouffer's Z (NiMARE 0.22.1).
    #[default]
    Ffx,
    /// Random effects (NiMARE 0.0.1): a one-sample t-test of the z maps against t(K − 1).
    Rfx,
}

/// Stouffer's Z over the studies' z maps (NiMARE `Stouffers`, PyMARE `StoufferCombinationTest`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `use_sample_size` | false | weight each z by √n |
/// | `two_sided` | true | concordant test (both directions, p doubled); false: upper tail only |
/// | `null` | `theoretical` | with `inference=rfx`: `empirical` refers t to a voxelwise sign-flip null (`--n-iters`, `--seed`) |
/// | `inference` | `ffx` | `ffx`: Stouffer's Z; `rfx`: one-sample t-test of the z maps (seed API), maps t, z, p, logp, dof |
/// | `aggressive_mask` | false | see [`Common`] |
///
/// # Errors
/// Fewer than two studies with a z map (derivable or stored) and, if weighted, a sample size;
/// `use_sample_size` with `inference=rfx` (the t-test is unweighted).
///
/// # Examples
///
/// NiMARE `FDRCorrector(method="indep").transform(Stouffers(two_sided=False).fit(dset))`, on
/// the [example dataset](crate::docs::example_dataset) (its first 108 voxels hold the effect):
///
/// ```
/// use ibma::estimators::Stouffers;
/// use ibma::stats::correct::Correction;
/// use ibma::{Corrector, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut stouffers = Stouffers::default();
/// stouffers.set_param("two_sided", "false")?; // the directed test: upper tail only
/// let result = Corrector(Correction::FdrIndep).transform(&stouffers.fit(&dataset)?)?;
/// let (z, p) = (result.map("z").unwrap(), result.map("p").unwrap());
/// assert!(z.iter().zip(p).all(|(&z, &p)| (z > 0.0) == (p < 0.5))); // p = Φ̄(z)
/// let p_fdr = result.map("p_corr-FDR_method-indep").unwrap();
/// let significant = |p: &[f64]| p.iter().filter(|&&p| p < 0.05).count();
/// assert!(significant(p_fdr) <= significant(p)); // FDR never finds more
/// assert!(p_fdr[..108].iter().all(|&p| p < 0.05)); // every effect voxel survives
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `Stouffers(use_sample_size=True)`, the seed's `WeightedStouffers()`:
///
/// ```
/// use ibma::estimators::Stouffers;
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let result = Stouffers::weighted().fit(&dataset)?; // = set_param("use_sample_size", "true")
/// assert_eq!(result.studies.len(), 8);
/// assert!(result.map("dof").unwrap().iter().all(|&dof| dof == 7.0)); // K − 1, every voxel
/// assert!(result.map("z").unwrap()[..108].iter().all(|&z| z > 3.0));
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Stouffers {
    /// Weight z by √n.
    pub use_sample_size: bool,
    /// The alternative.
    pub direction: Direction,
    /// Fixed or random effects.
    pub inference: Inference,
    /// Null of the rfx t-test.
    pub null: Null,
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
            Param::bool(
                "use_sample_size",
                self.use_sample_size,
                "weight each study's z by the square root of its sample size",
            ),
            Param::two_sided(self.direction),
            Param {
                name: "inference",
                value: match self.inference {
                    Inference::Ffx => "ffx",
                    Inference::Rfx => "rfx",
                }
                .into(),
                choices: "ffx|rfx",
                help: "ffx: Stouffer's Z; rfx: one-sample t-test of the z maps (NiMARE 0.0.1)",
            },
            Param::choice(
                "null",
                self.null.name(),
                "theoretical|empirical",
                "rfx only: t null, or a voxelwise sign-flip null (--n-iters, --seed)",
            ),
        ];
        p.extend(self.common.params());
        p
    }

    fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "use_sample_size" => self.use_sample_size = parse_bool(self.name(), key, value)?,
            "two_sided" => self.direction = Param::parse_two_sided(self.name(), value)?,
            "inference" => {
                self.inference = match value {
                    "ffx" => Inference::Ffx,
                    "rfx" => Inference::Rfx,
                    _ => return Err(crate::estimator::bad_choice(self.name(), key, value, "ffx, rfx")),
                }
            }
            "null" => self.null = Null::parse(self.name(), value)?,
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
        if self.null == Null::Empirical && self.inference == Inference::Ffx {
            return Err(crate::estimator::bad_choice(
                self.name(),
                "null",
                "empirical",
                "empirical only with inference=rfx",
            ));
        }
        if self.use_sample_size && self.inference == Inference::Rfx {
            return Err(crate::estimator::bad_choice(
                self.name(),
                "use_sample_size",
                "true",
                "false with inference=rfx (the t-test is unweighted)",
            ));
        }
        Ok(())
    }

    fn voxelwise(&self) -> bool {
        self.null == Null::Theoretical
    }

    fn fit_inputs(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        let z = &inputs.maps[&MapType::Z];
        let mut result = MetaResult::from_inputs(self, dataset, inputs);
        match self.inference {
            Inference::Ffx => {
                let weights = if self.use_sample_size {
                    sqrt_sample_sizes(&inputs.sample_sizes)
                } else {
                    vec![1.0; z.n_studies()]
                };
                result.insert_test(stouffers(z, &weights, self.direction));
            }
            Inference::Rfx => {
                let tail = if self.direction == Direction::Concordant { Tail::Two } else { Tail::One };
                if self.null == Null::Empirical {
                    empirical_t(z, tail, &crate::inference::flips_for(self, z.n_studies())?, &mut result)?;
                } else {
                    let out = one_sample_t(z, tail);
                    result.insert("t", out.t);
                    result.insert_test(out.test);
                }
            }
        }
        Ok(result)
    }
}

fn sqrt_sample_sizes(n: &[Option<f64>]) -> Vec<f64> {
    n.iter().map(|n| n.unwrap_or(f64::NAN).sqrt()).collect()
}
