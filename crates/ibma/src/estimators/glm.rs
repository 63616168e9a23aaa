//! GLM estimators: NiMARE 0.22.1's PermutedOLS statistic and the seed era's RFX_GLM, FFX_GLM
//! and MFX_GLM, the last three as the `ols`, `fe` and `flame1` faces of one native FLAME
//! function (`ibma_glm::flame`, docs/flame1.md), with designs from study covariates.
//!
//! Examples, on the example dataset (8 studies with sample sizes 12, 16, …, 40; 216 voxels,
//! the first 108 with a true effect). NiMARE `PermutedOLS(use_sample_size=True)`:
//!
//! ```
//! use ibma::estimators::PermutedOls;
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let result = PermutedOls { use_sample_size: true, ..Default::default() }.fit_dataset(&dataset)?;
//! // Satterthwaite dof: K − 1 = 7 only for equal weights, fewer for unequal ones.
//! assert!(result.map(Map::Dof).unwrap().iter().all(|&dof| dof >= 1.0 && dof < 7.0));
//! let (t, z) = (result.map(Map::T).unwrap(), result.map(Map::Z).unwrap());
//! assert!(t.iter().zip(z).all(|(t, z)| t.signum() == z.signum() && z.abs() <= t.abs()));
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! The seed's `RFX_GLM(null="empirical")`: with K = 8 studies all 2⁸ − 1 sign flips can be
//! enumerated (`exact_flips`), which makes p the exact permutation p-value:
//!
//! ```
//! use ibma::estimators::RfxGlm;
//! use ibma::options::{Flips, Null};
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let flips = Flips { n_iters: 255, exact_flips: true, ..Flips::default() };
//! let result = RfxGlm { null: Null::Empirical, flips, ..Default::default() }.fit_dataset(&dataset)?;
//! // Flipping every sign ties the observed |t|, so p ≥ 2/2⁸ at every voxel.
//! assert!(result.map(Map::P).unwrap().iter().all(|&p| p >= 2.0 / 256.0 && p <= 1.0));
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! The seed's `FFX_GLM(cdt=0.001)`: flameo's fixed-effects DOF, min(Σ(n_k − 1), 1000) − 1, and
//! GRF cluster inference at the cluster-forming threshold:
//!
//! ```
//! use ibma::estimators::FfxGlm;
//! use ibma::maps::{Map, Method, Stat};
//! use ibma::options::ClusterOptions;
//! use ibma::{Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let ffx = FfxGlm { clusters: ClusterOptions { cdt: 0.001, ..Default::default() }, ..Default::default() };
//! let result = ffx.fit_dataset(&dataset)?;
//! let total_dof: f64 = (0..8).map(|k| (12 + 4 * k - 1) as f64).sum(); // 200
//! assert!(result.map(Map::Dof).unwrap().iter().all(|&dof| dof == total_dof.min(1000.0) - 1.0));
//! assert!(result.map(Map::Corrected(Stat::Z, Method::Grf)).is_some());
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! The seed's `MFX_GLM()` (native FLAME1, no FSL), then with one between-study variance per
//! `site` (an ibma extension: FLAME variance groups from a study covariate):
//!
//! ```
//! use ibma::estimators::MfxGlm;
//! use ibma::{maps::Map, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap())?;
//! let result = MfxGlm::default().fit_dataset(&dataset)?;
//! assert!(result.map(Map::Tau2).unwrap().iter().all(|&tau2| tau2 >= 0.0));
//! assert!(result.map(Map::Z).unwrap()[..108].iter().all(|&z| z > 0.0));
//!
//! let by_site = MfxGlm { groups: Some("site".into()), ..Default::default() }; // site A − site B
//! let result = by_site.fit_dataset(&dataset)?;
//! assert!(result.map(Map::Tau2Group(1)).is_some() && result.map(Map::Tau2Group(2)).is_some());
//! # Ok::<(), ibma::Error>(())
//! ```

use super::{AnyEstimator, Capabilities, Estimator, Permutation};
use crate::dependence::{models, unsupported};
use crate::design::DesignSpec;
use crate::inference::empirical_t;
use crate::inputs::{Block, Needs, Prepared};
use crate::maps::{Map, PerStudyMap};
use crate::options::{named, two_sided, ClusterOptions, Flips, InputOptions, Null, TToZ};
use crate::{Error, MetaResult, Result};
use ibma_glm::flame::{flame, Optimizer, RunMode};
use ibma_glm::ols::{permuted_ols, permuted_ols_grouped, permuted_ols_weighted};
use ibma_io::MapType;
use ibma_stats::bags::Bag;
use ibma_stats::cluster::Mode;
use ibma_stats::groups::DependenceWarning;
use ibma_stats::transform::t_to_nlogp;
use ibma_stats::ttest::{mean_and_se, standardize};
use ibma_stats::{StudyVoxels, Tail};
use serde::{Deserialize, Serialize};

/// The one-sample t of the con maps (NiMARE `PermutedOLS`'s statistic; its permutation FWE is
/// `--correct montecarlo`).
///
/// | parameter | default (NiMARE 0.22.1) | meaning |
/// |---|---|---|
/// | `two_sided` | true | two- or upper-tailed p |
/// | `use_sample_size` | false | CR2 weights n, Satterthwaite dof |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: t, z, p, logp, dof.
///
/// # Errors
/// Fewer than two usable studies (with sample sizes, if weighted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct PermutedOls {
    /// Two- or upper-tailed p.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// CR2-weighted t with sample sizes.
    pub use_sample_size: bool,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// The seed's `RFX_GLM`: the one-sample t of the con maps against t(K − 1) (FLAME's `ols`
/// face with a design).
///
/// | parameter | default | meaning |
/// |---|---|---|
/// | `two_sided` | true | two- or upper-tailed p |
/// | `standardize` | false | legacy: divide each con map by its across-voxel SD (NiMARE 0.0.1 always did) |
/// | `null` | `theoretical` | `empirical`: a voxelwise sign-flip null ([`Flips`]: `n_iters`, `seed`, `exact_flips`) |
/// | `t_to_z` | `exact` | `fsl`: FSL's asymptotic t → z above \|t\| = 7.5, to reproduce FSL tables ([`TToZ`]) |
/// | `moderators`, `contrast` | one-sample | design from study covariates ([`DesignSpec`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, t, z, p, logp, dof (`f` instead of est, se, t for an F contrast).
///
/// # Errors
/// Fewer than two usable studies; `null=empirical` with a design.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct RfxGlm {
    /// Two- or upper-tailed p.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// NiMARE 0.0.1's per-map standardisation.
    pub standardize: bool,
    /// Theoretical or empirical null.
    pub null: Null,
    /// t → z of the theoretical null.
    #[serde(with = "named")]
    pub t_to_z: TToZ,
    /// Flips of the empirical null.
    #[serde(flatten)]
    pub flips: Flips,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// The seed's `FFX_GLM`: inverse-variance fixed effects with flameo's `fe` DOF (Σ (n − 1) over
/// the studies, capped at 1000; 1000 when a study has no sample size, as flameo without `--dvc`,
/// with a warning), and GRF cluster inference of the one-sample z map.
///
/// | parameter | default | meaning |
/// |---|---|---|
/// | `two_sided` | true | two- or upper-tailed p of the GRF clusters (the z map's p is always two-tailed, as the seed's) |
/// | `q` | 0.05 | GRF cluster-level FWE rate |
/// | `fsl_compat` | false | GRF with FSL's smoothness correction and float32 p-values |
/// | `write_weights` | false | also write `weights`: 1/(varcope + τ²) per study (4-D) |
/// | `t_to_z` | `exact` | `fsl`: FSL's asymptotic t → z above \|t\| = 7.5, to reproduce FSL tables ([`TToZ`]) |
/// | `cdt`, `cdt_tail`, `connectivity` | 0.01, two, 26 | cluster forming ([`ClusterOptions`]) |
/// | `moderators`, `contrast` | one-sample | design from study covariates ([`DesignSpec`]) |
/// | `aggressive_mask`, `derive`, `resample`, `groupby` | false, auto, none, study | [`InputOptions`] |
///
/// Maps: est, se, varcope, t, z, p, logp, dof, the heterogeneity maps, and for the one-sample
/// design `z_level-cluster_corr-FWE_method-grf`, `logp_level-cluster_corr-FWE_method-grf` and
/// the table `clusters.tsv`.
///
/// # Errors
/// Fewer than two usable studies; `cdt` or `q` out of range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct FfxGlm {
    /// Two- or upper-tailed p.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// GRF cluster-level q.
    pub q: f64,
    /// GRF with FSL's quirks.
    pub fsl_compat: bool,
    /// Write the 4-D weights.
    pub write_weights: bool,
    /// t → z.
    #[serde(with = "named")]
    pub t_to_z: TToZ,
    /// GRF cluster forming.
    #[serde(flatten)]
    pub clusters: ClusterOptions,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

/// The seed's `MFX_GLM` as native FLAME1: mixed effects with a REML τ² per variance group
/// (no FSL needed), and GRF cluster inference of the one-sample z map.
///
/// | parameter | default | meaning |
/// |---|---|---|
/// | `optimizer` | `global` | `global`: the certified global REML optimum; `fsl`: flameo's own search (its τ² and z to 1e−3; docs/flame1.md, Reproducing flameo) |
/// | `groups` | none | a label covariate: one mean and one τ² per level |
///
/// and the parameters of [`FfxGlm`]. Maps as [`FfxGlm`] plus tau2 (or tau2_g1, tau2_g2, …
/// with groups).
///
/// # Errors
/// As [`FfxGlm`] (sample sizes are not needed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[must_use]
pub struct MfxGlm {
    /// Two- or upper-tailed p.
    #[serde(with = "two_sided")]
    pub two_sided: Tail,
    /// GRF cluster-level q.
    pub q: f64,
    /// GRF with FSL's quirks.
    pub fsl_compat: bool,
    /// Write the 4-D weights.
    pub write_weights: bool,
    /// t → z.
    #[serde(with = "named")]
    pub t_to_z: TToZ,
    /// The σ̂² search.
    #[serde(with = "named")]
    pub optimizer: Optimizer,
    /// Variance groups from a label covariate.
    #[serde(with = "optional_name")]
    pub groups: Option<String>,
    /// GRF cluster forming.
    #[serde(flatten)]
    pub clusters: ClusterOptions,
    /// Moderators and contrast.
    #[serde(flatten)]
    pub design: DesignSpec,
    /// Masking, derivation, resampling.
    #[serde(flatten)]
    pub inputs: InputOptions,
}

impl Default for FfxGlm {
    fn default() -> Self {
        FfxGlm {
            two_sided: Tail::Two,
            q: 0.05,
            fsl_compat: false,
            write_weights: false,
            t_to_z: TToZ::Exact,
            clusters: ClusterOptions::default(),
            design: DesignSpec::default(),
            inputs: InputOptions::default(),
        }
    }
}

impl Default for MfxGlm {
    fn default() -> Self {
        let FfxGlm { two_sided, q, fsl_compat, write_weights, t_to_z, clusters, design, inputs } = FfxGlm::default();
        MfxGlm {
            two_sided,
            q,
            fsl_compat,
            write_weights,
            t_to_z,
            optimizer: Optimizer::Global,
            groups: None,
            clusters,
            design,
            inputs,
        }
    }
}

/// `groups` written as the covariate name (empty: none).
mod optional_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(name: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name.as_deref().unwrap_or(""))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Some(String::deserialize(d)?.trim().to_string()).filter(|s| !s.is_empty()))
    }
}

/// What the FLAME-based fits share: the face, the design and the GRF options.
struct Flame<'a> {
    mode: RunMode,
    two_sided: Tail,
    t_to_z: TToZ,
    write_weights: bool,
    groups: Option<&'a str>,
    design: &'a DesignSpec,
}

impl Flame<'_> {
    /// RFX (with a design), FFX and MFX_GLM through the native FLAME function.
    fn fit(&self, name: &str, block: &Block, result: &mut MetaResult) -> Result<()> {
        let con = block.map(MapType::Con);
        // The ols face reads no varcope: validity is the con maps' own.
        let ones;
        let var = match block.maps.get(&MapType::Varcope) {
            Some(var) => var,
            None => {
                ones = StudyVoxels::new(
                    con.n_studies(),
                    con.voxels().flatten().map(|&c| if c.is_nan() { c } else { 1.0 }).collect(),
                );
                &ones
            }
        };
        let spec = self.design.build(name, self.groups, &block.studies)?;
        let design = &spec.matrix;
        let contrast = ibma_glm::design::Contrast::new(spec.contrast.clone())
            .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
        let one_sample = self.design.is_one_sample() && self.groups.is_none();
        if !one_sample {
            result.diagnostics.design_columns = Some(spec.columns.clone());
        }
        let maps = flame(con, var, design, &contrast, &self.mode);
        let nlogp = if self.two_sided == Tail::Two || contrast.is_f() {
            maps.nlogp
        } else {
            maps.stat.iter().zip(&maps.dof).map(|(&t, &d)| t_to_nlogp(t, d.round(), Tail::One)).collect()
        };
        let z = if contrast.is_f() { maps.z } else { self.t_to_z.apply(maps.z, &maps.stat, &maps.dof) };
        if contrast.is_f() {
            result.insert(Map::F, maps.stat);
        } else {
            result.insert(Map::Est, maps.est);
            result.insert(Map::Se, maps.se);
            result.insert(Map::Varcope, maps.varcope);
            result.insert(Map::T, maps.stat);
        }
        result.insert_test(ibma_stats::TestMaps { z, nlogp, dof: maps.dof });
        if self.write_weights {
            // 1/(s_i + σ̂²_g(i)) in original units, NaN where a study is not used.
            let tau2_at = |k: usize, v: usize| maps.tau2.get(design.group(k)).map_or(0.0, |t| t[v]);
            let weights = (0..con.n_studies())
                .map(|k| (0..con.n_voxels()).map(|v| 1.0 / (var.voxel(v)[k] + tau2_at(k, v))).collect())
                .collect();
            result.insert_per_study(PerStudyMap::Weights, weights);
        }
        match maps.tau2.len() {
            0 => {}
            1 => result.insert(Map::Tau2, maps.tau2.into_iter().next().unwrap_or_default()),
            _ => maps.tau2.into_iter().zip(1..).for_each(|(t, g)| result.insert(Map::Tau2Group(g), t)),
        }
        if !matches!(self.mode, RunMode::Ols) {
            let het = if one_sample {
                ibma_glm::heterogeneity::heterogeneity(con, var)
            } else {
                ibma_glm::heterogeneity::heterogeneity_design(con, var, design)
            };
            result.insert_heterogeneity(het);
        }
        Ok(())
    }
}

/// The seed's FFX/MFX_GLM always thresholded z with GRF clusters (flameo + cluster): for a
/// one-sample fit, over the whole map once its voxels are fitted.
fn grf(
    inputs: &Prepared,
    result: &mut MetaResult,
    clusters: &ClusterOptions,
    q: f64,
    tail: Tail,
    fsl: bool,
) -> Result<()> {
    let mode = if fsl { Mode::FslCompat } else { Mode::Correct };
    crate::clusters::grf(inputs.study_values(MapType::Con), result, clusters, q, tail, mode)
}

fn validate_grf(name: &str, q: f64, clusters: &ClusterOptions) -> Result<()> {
    if !(q > 0.0 && q < 1.0) {
        return Err(Error::param(name, "q", &q.to_string(), "a number in (0, 1)"));
    }
    clusters.validate(name)
}

/// The FLAME estimators (and RFX_GLM's t) treat every image as independent: refuse dependent ones.
fn independent_images(name: &str, block: &Block) -> Result<()> {
    if block.grouping.has_dependence() {
        return Err(unsupported(name, name, &block.grouping));
    }
    Ok(())
}

impl Estimator for PermutedOls {
    fn name(&self) -> &'static str {
        "permuted-ols"
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Con], self.use_sample_size, &self.inputs)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tail: self.two_sided,
            voxelwise: true,
            permutation: Permutation::OneSampleT { weighted: self.use_sample_size },
        }
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        let con = block.map(MapType::Con);
        if block.grouping.has_dependence() {
            // NiMARE 0.22.1: the t over group means (exchangeability blocks), docs/dependence.md.
            let n = self.use_sample_size.then(|| block.sample_sizes());
            let models = models(con);
            let ols = permuted_ols_grouped(con, &block.grouping, &models, n.as_deref(), self.two_sided);
            let mut result = MetaResult::of_block(self.catalogued(), block);
            result.insert(Map::T, ols.maps.t);
            result.insert_test(ols.maps.test);
            let single: Vec<&Bag> =
                models.iter().filter(|m| !block.grouping.in_model(&m.studies).supports_inference()).collect();
            if !single.is_empty() {
                let voxels = single.iter().map(|m| m.voxels.len()).sum();
                result.warnings.push(DependenceWarning::SingleGroup { models: single.len(), voxels }.to_string());
            }
            return Ok(result);
        }
        let out = if self.use_sample_size {
            permuted_ols_weighted(con, &block.sample_sizes(), self.two_sided)
        } else {
            permuted_ols(con, self.two_sided)
        };
        let mut result = MetaResult::of_block(self.catalogued(), block);
        result.insert(Map::T, out.t);
        result.insert_test(out.test);
        Ok(result)
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::PermutedOls(self.clone())
    }
}

impl Estimator for RfxGlm {
    fn name(&self) -> &'static str {
        "rfx-glm"
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Con], false, &self.inputs)
    }
    fn validate(&self) -> Result<()> {
        if self.null == Null::Empirical && !self.design.is_one_sample() {
            return Err(Error::param(
                self.name(),
                "null",
                "empirical",
                "theoretical with a design (the empirical null is one-sample)",
            ));
        }
        Ok(())
    }
    fn capabilities(&self) -> Capabilities {
        let empirical = self.null == Null::Empirical;
        Capabilities {
            tail: self.two_sided,
            voxelwise: !empirical,
            permutation: if empirical { Permutation::Nested } else { Permutation::Refit },
        }
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        independent_images(self.name(), block)?;
        let mut result = MetaResult::of_block(self.catalogued(), block);
        if !self.design.is_one_sample() {
            let flame = Flame {
                mode: RunMode::Ols,
                two_sided: self.two_sided,
                t_to_z: self.t_to_z,
                write_weights: false,
                groups: None,
                design: &self.design,
            };
            flame.fit(self.name(), block, &mut result)?;
            return Ok(result);
        }
        let standardized;
        let x = if self.standardize {
            standardized = standardize(block.map(MapType::Con));
            &standardized
        } else {
            block.map(MapType::Con)
        };
        let (est, se) = mean_and_se(x);
        result.insert(Map::Est, est);
        result.insert(Map::Se, se);
        if self.null == Null::Empirical {
            empirical_t(x, self.two_sided, &self.flips, &mut result)?;
        } else {
            let mut out = permuted_ols(x, self.two_sided);
            out.test.z = self.t_to_z.apply(out.test.z, &out.t, &out.test.dof);
            result.insert(Map::T, out.t);
            result.insert_test(out.test);
        }
        Ok(result)
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::RfxGlm(self.clone())
    }
}

impl Estimator for FfxGlm {
    fn name(&self) -> &'static str {
        "ffx-glm"
    }
    fn needs(&self) -> Needs {
        // Sample sizes give the DOF when every study has one (else flameo's 1000).
        Needs::new(self.name(), &[MapType::Con, MapType::Varcope], false, &self.inputs)
    }
    fn validate(&self) -> Result<()> {
        validate_grf(self.name(), self.q, &self.clusters)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { tail: self.two_sided, voxelwise: true, permutation: Permutation::Refit }
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        independent_images(self.name(), block)?;
        let mut result = MetaResult::of_block(self.catalogued(), block);
        let n = block.sample_sizes();
        let missing = n.iter().filter(|n| !n.is_finite()).count();
        let study_dof = if missing == 0 {
            n.iter().map(|n| n - 1.0).collect()
        } else {
            result.warnings.push(format!(
                "ffx-glm: {missing} of {} studies have no sample_size: DOF = 1000, as flameo's without --dvc",
                n.len()
            ));
            result.diagnostics.ffx_dof_without_sample_sizes = Some(1000.0);
            Vec::new()
        };
        let flame = Flame {
            mode: RunMode::Fe { study_dof },
            two_sided: self.two_sided,
            t_to_z: self.t_to_z,
            write_weights: self.write_weights,
            groups: None,
            design: &self.design,
        };
        flame.fit(self.name(), block, &mut result)?;
        Ok(result)
    }
    fn finish(&self, inputs: &Prepared, result: &mut MetaResult) -> Result<()> {
        if self.finish_reads_inputs() {
            grf(inputs, result, &self.clusters, self.q, self.two_sided, self.fsl_compat)?;
        }
        Ok(())
    }
    fn finish_reads_inputs(&self) -> bool {
        self.design.is_one_sample()
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::FfxGlm(self.clone())
    }
}

impl Estimator for MfxGlm {
    fn name(&self) -> &'static str {
        "mfx-glm"
    }
    fn needs(&self) -> Needs {
        Needs::new(self.name(), &[MapType::Con, MapType::Varcope], false, &self.inputs)
    }
    fn validate(&self) -> Result<()> {
        validate_grf(self.name(), self.q, &self.clusters)
    }
    fn capabilities(&self) -> Capabilities {
        // One-sample FLAME1 flips go through its sign-flip kernel (exactly the refits' z).
        let one_sample = self.design.is_one_sample() && self.groups.is_none() && self.t_to_z == TToZ::Exact;
        let permutation = if one_sample { Permutation::Flame1(self.optimizer) } else { Permutation::Refit };
        Capabilities { tail: self.two_sided, voxelwise: true, permutation }
    }
    fn fit_block(&self, block: &Block) -> Result<MetaResult> {
        independent_images(self.name(), block)?;
        let mut result = MetaResult::of_block(self.catalogued(), block);
        let flame = Flame {
            mode: RunMode::Flame1(self.optimizer),
            two_sided: self.two_sided,
            t_to_z: self.t_to_z,
            write_weights: self.write_weights,
            groups: self.groups.as_deref(),
            design: &self.design,
        };
        flame.fit(self.name(), block, &mut result)?;
        Ok(result)
    }
    fn finish(&self, inputs: &Prepared, result: &mut MetaResult) -> Result<()> {
        if self.finish_reads_inputs() {
            grf(inputs, result, &self.clusters, self.q, self.two_sided, self.fsl_compat)?;
        }
        Ok(())
    }
    fn finish_reads_inputs(&self) -> bool {
        self.design.is_one_sample() && self.groups.is_none()
    }
    fn catalogued(&self) -> AnyEstimator {
        AnyEstimator::MfxGlm(self.clone())
    }
}
