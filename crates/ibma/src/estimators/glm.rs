//! One-sample GLM estimators: NiMARE 0.22.1's PermutedOLS statistic and the seed era's
//! RFX_GLM and FFX_GLM (flameo's `ols` and `fe` modes, flame1.md §5).

use crate::dataset::Needs;
use crate::estimator::{bad_choice, parse_bool, parse_f64, unknown_param, Common, Estimator, Param};
use crate::{Dataset, MetaResult, Result};
use ibma_glm::ols::{ffx_glm, permuted_ols, permuted_ols_weighted};
use ibma_io::MapType;
use ibma_stats::{StudyVoxels, Tail};

/// Which one-sample GLM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlmKind {
    /// NiMARE `PermutedOLS`: the one-sample t of the con maps (unweighted or CR2-weighted).
    PermutedOls,
    /// Seed `RFX_GLM`: the one-sample t of the con maps, theoretical t null.
    RfxGlm,
    /// Seed `FFX_GLM`: inverse-variance fixed effects with flameo `fe` DOF.
    FfxGlm,
}

/// A one-sample GLM estimator.
///
/// | parameter | default | estimators | meaning |
/// |---|---|---|---|
/// | `two_sided` | true | all | two- or upper-tailed p (FFX_GLM's p is always two-tailed, as the seed's) |
/// | `use_sample_size` | false | PermutedOLS | CR2 weights n, Satterthwaite dof |
/// | `standardize` | false | RFX_GLM | legacy: divide each con map by its across-voxel SD (NiMARE 0.0.1 always did) |
/// | `cdt`, `q` | 0.01, 0.05 | FFX_GLM | cluster-defining threshold and cluster q (the thresholded map arrives with the inference issue) |
///
/// Maps: t, z, p, logp, dof (and est, se for FFX_GLM).
///
/// # Errors
/// Fewer than two usable studies; a `cdt` or `q` outside its range.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Glm {
    /// Which estimator.
    pub kind: GlmKind,
    /// Two-sided p.
    pub two_sided: bool,
    /// PermutedOLS weights.
    pub use_sample_size: bool,
    /// RFX_GLM legacy standardisation.
    pub standardize: bool,
    /// FFX_GLM cluster-defining threshold (p if < 1, z if ≥ 1).
    pub cdt: f64,
    /// FFX_GLM cluster-level q.
    pub q: f64,
    /// Shared options.
    pub common: Common,
}

impl Glm {
    /// An estimator of `kind` with its defaults.
    pub fn new(kind: GlmKind) -> Glm {
        Glm {
            kind,
            two_sided: true,
            use_sample_size: false,
            standardize: false,
            cdt: 0.01,
            q: 0.05,
            common: Common::default(),
        }
    }

    fn tail(&self) -> Tail {
        if self.two_sided {
            Tail::Two
        } else {
            Tail::One
        }
    }
}

impl Estimator for Glm {
    fn name(&self) -> &'static str {
        match self.kind {
            GlmKind::PermutedOls => "permuted-ols",
            GlmKind::RfxGlm => "rfx-glm",
            GlmKind::FfxGlm => "ffx-glm",
        }
    }

    fn needs(&self) -> Needs {
        match self.kind {
            GlmKind::PermutedOls => Needs { maps: &[MapType::Con], sample_size: self.use_sample_size },
            GlmKind::RfxGlm => Needs { maps: &[MapType::Con], sample_size: false },
            GlmKind::FfxGlm => Needs { maps: &[MapType::Con, MapType::Varcope], sample_size: true },
        }
    }

    fn get_params(&self) -> Vec<Param> {
        let mut p = vec![Param::bool("two_sided", self.two_sided, "two-sided (true) or upper-tail (false) p values")];
        match self.kind {
            GlmKind::PermutedOls => p.push(Param::bool(
                "use_sample_size",
                self.use_sample_size,
                "weight studies by sample size (CR2 t, Satterthwaite dof)",
            )),
            GlmKind::RfxGlm => p.push(Param::bool(
                "standardize",
                self.standardize,
                "legacy (NiMARE 0.0.1): divide each con map by its SD over the mask before the t-test",
            )),
            GlmKind::FfxGlm => {
                p.push(Param::number("cdt", self.cdt, "(0, 1) as p, or >= 1 as z", "cluster-defining threshold"));
                p.push(Param::number("q", self.q, "(0, 1)", "cluster-level family-wise error rate"));
            }
        }
        p.extend(self.common.params());
        p
    }

    fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        let name = self.name();
        match (key, self.kind) {
            ("two_sided", _) => self.two_sided = parse_bool(name, key, value)?,
            ("use_sample_size", GlmKind::PermutedOls) => self.use_sample_size = parse_bool(name, key, value)?,
            ("standardize", GlmKind::RfxGlm) => self.standardize = parse_bool(name, key, value)?,
            ("cdt", GlmKind::FfxGlm) => {
                self.cdt = parse_f64(name, key, value, 0.0).and_then(|x| {
                    if x > 0.0 {
                        Ok(x)
                    } else {
                        Err(bad_choice(name, key, value, "a p in (0, 1) or a z >= 1"))
                    }
                })?
            }
            ("q", GlmKind::FfxGlm) => {
                self.q = parse_f64(name, key, value, 0.0)
                    .ok()
                    .filter(|q| *q > 0.0 && *q < 1.0)
                    .ok_or_else(|| bad_choice(name, key, value, "a number in (0, 1)"))?
            }
            _ if self.common.set(name, key, value)? => {}
            _ => return Err(unknown_param(self, key)),
        }
        Ok(())
    }

    fn fit(&self, dataset: &Dataset) -> Result<MetaResult> {
        let inputs = self.common.inputs(self.name(), self.needs(), dataset)?;
        let mut result = MetaResult::from_inputs(self, dataset, &inputs);
        let con = &inputs.maps[&MapType::Con];
        let n: Vec<f64> = inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN)).collect();
        match self.kind {
            GlmKind::PermutedOls | GlmKind::RfxGlm => {
                let standardized;
                let x = if self.standardize {
                    standardized = standardize(con);
                    &standardized
                } else {
                    con
                };
                let out = if self.use_sample_size {
                    permuted_ols_weighted(x, &n, self.tail())
                } else {
                    permuted_ols(x, self.tail())
                };
                result.insert("t", out.t);
                result.insert_test(out.test);
            }
            GlmKind::FfxGlm => {
                let var = &inputs.maps[&MapType::Varcope];
                let (est, se, t, test) = ffx_glm(con, var, &n);
                result.insert("est", est);
                result.insert("se", se);
                result.insert("t", t);
                result.insert_test(test);
                result.insert_heterogeneity(ibma_glm::heterogeneity::heterogeneity(con, var));
            }
        }
        Ok(result)
    }
}

/// NiMARE 0.0.1's per-map standardisation: con_k / SD_v(con_k), SD over every mask voxel with
/// divisor V and missing values counted as the zeros they were in the seed's inputs.
fn standardize(con: &StudyVoxels) -> StudyVoxels {
    let (k, v) = (con.n_studies(), con.n_voxels());
    let sd: Vec<f64> = (0..k)
        .map(|s| {
            let values = || con.voxels().map(|x| if x[s].is_nan() { 0.0 } else { x[s] });
            let mean = values().sum::<f64>() / v as f64;
            (values().map(|x| (x - mean).powi(2)).sum::<f64>() / v as f64).sqrt()
        })
        .collect();
    let data = con.voxels().flat_map(|x| x.iter().zip(&sd).map(|(c, s)| c / s).collect::<Vec<_>>()).collect();
    StudyVoxels::new(k, data)
}
