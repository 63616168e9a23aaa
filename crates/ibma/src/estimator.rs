//! The estimator interface: NiMARE-named parameters settable by name, and `fit`.

use crate::dataset::{CompactInputs, InputOptions, Inputs, Needs};
use crate::{Dataset, Error, MetaResult, Result};
use serde_json::Value;

/// A meta-analytic estimator, configured by NiMARE's parameter names.
pub trait Estimator: Send + Sync {
    /// The ibma command name, e.g. `stouffers`.
    fn name(&self) -> &'static str;
    /// What it reads from a dataset.
    fn needs(&self) -> Needs;
    /// Every parameter with its current value, in a stable order (NiMARE `get_params`).
    fn get_params(&self) -> Vec<Param>;
    /// Set one parameter from its text form (NiMARE `set_params`); an unknown key or bad value
    /// is an error listing the valid ones.
    fn set_param(&mut self, key: &str, value: &str) -> Result<()>;
    /// The options every estimator shares.
    fn common(&self) -> &Common;
    /// The same, to set `--n-iters` and `--seed`.
    fn common_mut(&mut self) -> &mut Common;
    /// Reject parameter combinations the estimator cannot fit, before any data is read.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Fit on inputs already read from `dataset` (the permutation engine refits through here).
    fn fit_inputs(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult>;

    /// True if a voxel's maps depend on that voxel's data alone, so that a large dataset can be
    /// fitted in voxel blocks ([`crate::blocks`]); whole-map steps then run in [`Estimator::finish`].
    fn voxelwise(&self) -> bool {
        false
    }
    /// The voxelwise part of [`Estimator::fit_inputs`], for one block of voxels (`dataset`'s mask
    /// is the block's).
    fn fit_voxels(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        self.fit_inputs(dataset, inputs)
    }
    /// Whole-map steps after a blockwise fit (GRF clusters of FFX/MFX_GLM).
    fn finish(&self, _dataset: &Dataset, _inputs: &CompactInputs, _result: &mut MetaResult) -> Result<()> {
        Ok(())
    }

    /// Fit on a dataset: check the parameters, read the inputs, fit (in voxel blocks when the
    /// dataset is large and the estimator allows it).
    fn fit(&self, dataset: &Dataset) -> Result<MetaResult> {
        self.validate()?;
        let inputs = self.common().compact_inputs(self.name(), self.needs(), dataset)?;
        crate::blocks::fit(self, dataset, &inputs, &crate::progress::Quiet)
    }

    /// Set several parameters.
    fn set_params(&mut self, pairs: &[(String, String)]) -> Result<()> {
        pairs.iter().try_for_each(|(k, v)| self.set_param(k, v))
    }
}

/// One parameter: name, current value and a one-line description.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// NiMARE's name.
    pub name: &'static str,
    /// Current value.
    pub value: Value,
    /// Allowed values, e.g. `true|false`.
    pub choices: &'static str,
    /// What it does.
    pub help: &'static str,
}

/// Options every estimator shares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Common {
    /// NiMARE `aggressive_mask` (default false: liberal per-pattern bags).
    pub aggressive_mask: bool,
    /// Derive missing map types; None: true for ibma-dataset input, false for NiMARE JSON.
    pub derive: Option<bool>,
    /// Sign-flip iterations of an empirical null (`--n-iters`, NiMARE's default 5000).
    pub n_iters: usize,
    /// Seed of the sign flips (`--seed`, NiMARE's default 42).
    pub seed: u64,
    /// Cluster-forming threshold and connectivity (GRF and permutation cluster inference).
    pub clusters: crate::clusters::ClusterOptions,
    /// Enumerate all 2^K sign flips when that is no more than `n_iters`.
    pub exact_flips: bool,
    /// Resample maps on another grid onto the mask grid (None: such a map is an error).
    pub resample: Option<ibma_io::Interpolation>,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            aggressive_mask: false,
            derive: None,
            n_iters: 5000,
            seed: 42,
            clusters: Default::default(),
            exact_flips: false,
            resample: None,
        }
    }
}

impl Common {
    /// The shared parameters.
    pub fn params(&self) -> Vec<Param> {
        vec![
            Param {
                name: "aggressive_mask",
                value: self.aggressive_mask.into(),
                choices: "true|false",
                help: "keep only voxels covered by every study (false: fit each coverage pattern on its own studies)",
            },
            Param {
                name: "derive",
                value: self.derive.map_or_else(|| "auto".into(), Value::from),
                choices: "auto|true|false",
                help:
                    "derive missing map types (se, varcope, t, z, con); auto: yes for ibma-dataset, no for NiMARE JSON",
            },
            Param {
                name: "resample",
                value: self.resample.map_or("none", ibma_io::Interpolation::name).into(),
                choices: "none|linear|nearest",
                help: "interpolate maps on another grid onto the mask grid (a value drawing on a 0, NaN or outside voxel is missing); none: such a map is an error. NiMARE resamples always (resample__interpolation, linear)",
            },
        ]
    }

    /// Set a shared parameter; `Ok(false)` if `key` is not one.
    pub fn set(&mut self, estimator: &'static str, key: &str, value: &str) -> Result<bool> {
        match key {
            "aggressive_mask" => self.aggressive_mask = parse_bool(estimator, key, value)?,
            "derive" => self.derive = if value == "auto" { None } else { Some(parse_bool(estimator, key, value)?) },
            "exact_flips" => self.exact_flips = parse_bool(estimator, key, value)?,
            // NiMARE's name is accepted too (it forwards resample__* to nilearn's resample_to_img).
            "resample" | "resample__interpolation" => {
                self.resample = match value {
                    "none" => None,
                    _ => Some(
                        ibma_io::Interpolation::parse(value)
                            .ok_or_else(|| bad_choice(estimator, "resample", value, "none, linear, nearest"))?,
                    ),
                }
            }
            _ if self.clusters.set(estimator, key, value)? => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Inputs of `dataset` for an estimator with these options.
    pub fn inputs(&self, name: &str, needs: Needs, dataset: &Dataset) -> Result<Inputs> {
        Ok(self.compact_inputs(name, needs, dataset)?.to_inputs())
    }

    /// [`Common::inputs`], held compactly (float32, study-major) for fitting in voxel blocks.
    pub fn compact_inputs(&self, name: &str, needs: Needs, dataset: &Dataset) -> Result<CompactInputs> {
        let derive = self.derive.unwrap_or(dataset.manifest.source == ibma_io::Source::IbmaDataset);
        let opts = InputOptions { derive, aggressive_mask: self.aggressive_mask, resample: self.resample };
        dataset.compact_inputs(name, needs, opts)
    }
}

/// Parse `true|false` (also `1|0`, `yes|no`).
pub fn parse_bool(estimator: &str, key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad_choice(estimator, key, value, "true, false")),
    }
}

/// The error for a key an estimator does not have, listing the ones it has.
pub fn unknown_param(est: &dyn Estimator, key: &str) -> Error {
    let valid: Vec<&str> = est.get_params().iter().map(|p| p.name).collect();
    Error::Param {
        estimator: est.name().to_string(),
        key: key.to_string(),
        msg: format!("unknown parameter; valid parameters: {}", valid.join(", ")),
    }
}

/// The error for a value outside a parameter's choices.
pub fn bad_choice(estimator: &str, key: &str, value: &str, valid: &str) -> Error {
    Error::Param {
        estimator: estimator.to_string(),
        key: key.to_string(),
        msg: format!("invalid value {value:?}; valid values: {valid}"),
    }
}

/// Parse a finite number ≥ `min`.
pub fn parse_f64(estimator: &str, key: &str, value: &str, min: f64) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= min => Ok(x),
        _ => Err(bad_choice(estimator, key, value, &format!("a finite number >= {min}"))),
    }
}

impl Param {
    /// A `true|false` parameter.
    pub fn bool(name: &'static str, value: bool, help: &'static str) -> Param {
        Param { name, value: value.into(), choices: "true|false", help }
    }

    /// A parameter with named choices.
    pub fn choice(name: &'static str, value: &str, choices: &'static str, help: &'static str) -> Param {
        Param { name, value: value.into(), choices, help }
    }

    /// A combination test's `two_sided` (true: concordant, NiMARE's default).
    pub fn two_sided(direction: ibma_combine::Direction) -> Param {
        Param::bool(
            "two_sided",
            direction == ibma_combine::Direction::Concordant,
            "true: concordant two-sided test (NiMARE); false: directed, upper tail",
        )
    }

    /// Parse `two_sided` into the combination test's alternative.
    pub fn parse_two_sided(estimator: &str, value: &str) -> Result<ibma_combine::Direction> {
        Ok(if parse_bool(estimator, "two_sided", value)? {
            ibma_combine::Direction::Concordant
        } else {
            ibma_combine::Direction::Directed
        })
    }

    /// A numeric parameter.
    pub fn number(name: &'static str, value: f64, choices: &'static str, help: &'static str) -> Param {
        Param { name, value: value.into(), choices, help }
    }
}
