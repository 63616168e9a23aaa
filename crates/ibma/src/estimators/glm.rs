//! GLM estimators: NiMARE 0.22.1's PermutedOLS statistic and the seed era's RFX_GLM, FFX_GLM
//! and MFX_GLM, the last three as the `ols`, `fe` and `flame1` faces of one native FLAME
//! function (`ibma_glm::flame`, flame1.md), with designs from study covariates.

use crate::dataset::{CompactInputs, Inputs, Needs, StudyValues};
use crate::design::DesignSpec;
use crate::estimator::{bad_choice, parse_bool, parse_f64, unknown_param, Common, Estimator, Param};
use crate::inference::{empirical_t, Null};
use crate::{Dataset, Error, MetaResult, Result};
use ibma_glm::flame::{flame, Optimizer, RunMode};
use ibma_glm::ols::{permuted_ols, permuted_ols_weighted};
use ibma_io::MapType;
use ibma_stats::cluster::Mode;
use ibma_stats::transform::{t_to_nlogp, t_to_z_fsl};
use ibma_stats::{StudyVoxels, Tail};

/// How the FLAME faces (RFX/FFX/MFX_GLM) turn t into z.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TToZ {
    /// Tail matching (NiMARE's transform).
    Exact,
    /// FSL 5.0.9's: its asymptotic form above |t| = 7.5 (`ibma_stats::transform::t_to_z_fsl`).
    Fsl,
}

/// Which one-sample GLM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlmKind {
    /// NiMARE `PermutedOLS`: the one-sample t of the con maps (unweighted or CR2-weighted).
    PermutedOls,
    /// Seed `RFX_GLM`: the one-sample t of the con maps, theoretical t null.
    RfxGlm,
    /// Seed `FFX_GLM`: inverse-variance fixed effects with flameo `fe` DOF.
    FfxGlm,
    /// Seed `MFX_GLM`: native FLAME1 mixed effects (REML τ² per variance group).
    MfxGlm,
}

/// A one-sample GLM estimator.
///
/// | parameter | default | estimators | meaning |
/// |---|---|---|---|
/// | `two_sided` | true | all | two- or upper-tailed p (FFX_GLM's p is always two-tailed, as the seed's) |
/// | `use_sample_size` | false | PermutedOLS | CR2 weights n, Satterthwaite dof |
/// | `standardize` | false | RFX_GLM | legacy: divide each con map by its across-voxel SD (NiMARE 0.0.1 always did) |
/// | `q`, `fsl_compat` | 0.05, false | FFX_GLM, MFX_GLM | GRF cluster q, FSL's quirks (cluster-inference.md); `cdt`, `cdt_tail`, `connectivity` are shared by every estimator |
/// | `optimizer` | `global` | MFX_GLM | `global`: the certified global REML optimum; `fsl`: flameo's own search (its τ² and z to 1e−3) |
/// | `t_to_z` | `exact` | RFX/FFX/MFX_GLM | `exact` tail matching, or `fsl`: FSL's asymptotic z above \|t\| = 7.5 (to reproduce FSL tables) |
/// | `moderators`, `groups`, `contrast` | one-sample | RFX/FFX/MFX_GLM | design from study covariates (docs/dataset-covariates.md); `groups` for MFX_GLM |
///
/// Maps: PermutedOLS t, z, p, logp, dof; RFX_GLM adds est and se; FFX_GLM and MFX_GLM est, se,
/// varcope, t, z, p, logp, dof (MFX_GLM also tau2, or tau2_g1, tau2_g2, … with groups) and the
/// heterogeneity maps for the one-sample design. An F contrast writes `f` instead of est/se/t.
///
/// # Errors
/// Fewer than two usable studies; a `cdt` or `q` outside its range.
///
/// # Examples
///
/// One per estimator, on the [example dataset](crate::docs::example_dataset) (8 studies with
/// sample sizes 12, 16, …, 40; 216 voxels, the first 108 with a true effect).
///
/// NiMARE `PermutedOLS(use_sample_size=True)`:
///
/// ```
/// use ibma::estimators::{Glm, GlmKind};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut ols = Glm::new(GlmKind::PermutedOls);
/// ols.set_param("use_sample_size", "true")?;
/// let result = ols.fit(&dataset)?;
/// // Satterthwaite dof: K − 1 = 7 only for equal weights, fewer for unequal ones.
/// assert!(result.map("dof").unwrap().iter().all(|&dof| dof >= 1.0 && dof < 7.0));
/// let (t, z) = (result.map("t").unwrap(), result.map("z").unwrap());
/// assert!(t.iter().zip(z).all(|(t, z)| t.signum() == z.signum() && z.abs() <= t.abs()));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// The seed's `RFX_GLM(null="empirical")`: with K = 8 studies all 2⁸ − 1 sign flips can be
/// enumerated (`exact_flips`), which makes p the exact permutation p-value:
///
/// ```
/// use ibma::estimators::{Glm, GlmKind};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut rfx = Glm::new(GlmKind::RfxGlm);
/// rfx.set_param("null", "empirical")?;
/// rfx.set_param("exact_flips", "true")?;
/// rfx.common_mut().n_iters = 255; // `--n-iters 255`
/// let result = rfx.fit(&dataset)?;
/// let p = result.map("p").unwrap();
/// // Flipping every sign ties the observed |t|, so p ≥ 2/2⁸ at every voxel.
/// assert!(p.iter().all(|&p| p >= 2.0 / 256.0 && p <= 1.0));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// The seed's `FFX_GLM(cdt=0.001)`: flameo's fixed-effects DOF, min(Σ(n_k − 1), 1000) − 1,
/// and GRF cluster inference at the cluster-forming threshold:
///
/// ```
/// use ibma::estimators::{Glm, GlmKind};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut ffx = Glm::new(GlmKind::FfxGlm);
/// ffx.set_param("cdt", "0.001")?;
/// let result = ffx.fit(&dataset)?;
/// let total_dof: f64 = (0..8).map(|k| (12 + 4 * k - 1) as f64).sum(); // 200
/// assert!(result.map("dof").unwrap().iter().all(|&dof| dof == total_dof.min(1000.0) - 1.0));
/// assert!(result.map("z_level-cluster_corr-FWE_method-grf").is_some());
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// The seed's `MFX_GLM()` (native FLAME1, no FSL), then with one between-study variance per
/// `site` (an ibma extension: FLAME variance groups from a study covariate):
///
/// ```
/// use ibma::estimators::{Glm, GlmKind};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let result = Glm::new(GlmKind::MfxGlm).fit(&dataset)?;
/// assert!(result.map("tau2").unwrap().iter().all(|&tau2| tau2 >= 0.0));
/// assert!(result.map("z").unwrap()[..108].iter().all(|&z| z > 0.0));
///
/// let mut by_site = Glm::new(GlmKind::MfxGlm);
/// by_site.set_param("groups", "site")?; // default contrast: site A − site B
/// let result = by_site.fit(&dataset)?;
/// assert!(result.map("tau2_g1").is_some() && result.map("tau2_g2").is_some());
/// # Ok::<(), ibma::Error>(())
/// ```
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
    /// RFX_GLM's null.
    pub null: Null,
    /// FFX_GLM cluster-level q.
    pub q: f64,
    /// MFX_GLM's σ̂² search.
    pub optimizer: Optimizer,
    /// How RFX/FFX/MFX_GLM turn t into z.
    pub t_to_z: TToZ,
    /// Write the 4-D `weights` map (FFX/MFX_GLM).
    pub write_weights: bool,
    /// GRF with FSL's float32 and DOF-correction quirks (FFX/MFX_GLM).
    pub fsl_compat: bool,
    /// Moderators, groups and contrast.
    pub design: DesignSpec,
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
            null: Null::Theoretical,
            q: 0.05,
            optimizer: Optimizer::Global,
            t_to_z: TToZ::Exact,
            write_weights: false,
            fsl_compat: false,
            design: DesignSpec::default(),
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
            GlmKind::MfxGlm => "mfx-glm",
        }
    }

    fn needs(&self) -> Needs {
        match self.kind {
            GlmKind::PermutedOls => Needs { maps: &[MapType::Con], sample_size: self.use_sample_size },
            GlmKind::RfxGlm => Needs { maps: &[MapType::Con], sample_size: false },
            // Without sample sizes, flameo's fixed-effects DOF (1000).
            GlmKind::FfxGlm => Needs { maps: &[MapType::Con, MapType::Varcope], sample_size: false },
            GlmKind::MfxGlm => Needs { maps: &[MapType::Con, MapType::Varcope], sample_size: false },
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
            GlmKind::RfxGlm => {
                p.push(Param::bool(
                    "standardize",
                    self.standardize,
                    "legacy (NiMARE 0.0.1): divide each con map by its SD over the mask before the t-test",
                ));
                p.push(Param::choice(
                    "null",
                    self.null.name(),
                    "theoretical|empirical",
                    "t null, or a voxelwise sign-flip null (--n-iters, --seed)",
                ));
            }
            GlmKind::FfxGlm | GlmKind::MfxGlm => {
                p.push(Param::number("q", self.q, "(0, 1)", "GRF cluster-level family-wise error rate"));
                p.push(Param::bool(
                    "fsl_compat",
                    self.fsl_compat,
                    "GRF with FSL's smoothness correction and float32 p-values",
                ));
            }
        }
        if self.kind == GlmKind::MfxGlm {
            let o = if self.optimizer == Optimizer::Global { "global" } else { "fsl" };
            p.push(Param::choice(
                "optimizer",
                o,
                "global|fsl",
                "REML search: global (Brent + scan, lower energy) or flameo's Brent",
            ));
        }
        if self.kind != GlmKind::PermutedOls {
            let v = if self.t_to_z == TToZ::Fsl { "fsl" } else { "exact" };
            p.push(Param::choice(
                "t_to_z",
                v,
                "exact|fsl",
                "t -> z: exact tail matching, or FSL's (asymptotic above |t| = 7.5)",
            ));
        }
        if matches!(self.kind, GlmKind::FfxGlm | GlmKind::MfxGlm) {
            p.push(Param::bool(
                "write_weights",
                self.write_weights,
                "also write weights.nii.gz: 1/(varcope + tau2) per study (4-D)",
            ));
        }
        if self.kind != GlmKind::PermutedOls {
            let (moderators, groups, contrast) = self.design.describe();
            p.push(Param::choice(
                "moderators",
                &moderators,
                "covariate names, comma-separated",
                "design columns from study covariates",
            ));
            if self.kind == GlmKind::MfxGlm {
                p.push(Param::choice("groups", &groups, "a label covariate", "one mean and one variance per group"));
            }
            p.push(Param::choice(
                "contrast",
                &contrast,
                "weights per column; rows split by ';' give F",
                "default: the intercept",
            ));
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
            ("null", GlmKind::RfxGlm) => self.null = Null::parse(name, value)?,
            ("write_weights", GlmKind::FfxGlm | GlmKind::MfxGlm) => self.write_weights = parse_bool(name, key, value)?,
            ("optimizer", GlmKind::MfxGlm) => {
                self.optimizer = match value {
                    "global" => Optimizer::Global,
                    "fsl" => Optimizer::Fsl,
                    _ => return Err(bad_choice(name, key, value, "global, fsl")),
                }
            }
            ("t_to_z", GlmKind::FfxGlm | GlmKind::MfxGlm | GlmKind::RfxGlm) => {
                self.t_to_z = match value {
                    "exact" => TToZ::Exact,
                    "fsl" => TToZ::Fsl,
                    _ => return Err(bad_choice(name, key, value, "exact, fsl")),
                }
            }
            ("missing", GlmKind::FfxGlm | GlmKind::MfxGlm | GlmKind::RfxGlm) => {
                // flame1.md §2: `fsl` drops a voxel missing in any study, NiMARE's aggressive mask.
                self.common.aggressive_mask = match value {
                    "listwise" => false,
                    "fsl" => true,
                    _ => return Err(bad_choice(name, key, value, "listwise, fsl")),
                }
            }
            ("groups", GlmKind::MfxGlm)
            | ("moderators" | "contrast", GlmKind::RfxGlm | GlmKind::FfxGlm | GlmKind::MfxGlm) => {
                self.design.set(name, key, value)?;
            }
            ("fsl_compat", GlmKind::FfxGlm | GlmKind::MfxGlm) => self.fsl_compat = parse_bool(name, key, value)?,
            ("q", GlmKind::FfxGlm | GlmKind::MfxGlm) => {
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

    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn validate(&self) -> Result<()> {
        if self.null == Null::Empirical && !self.design.is_one_sample() {
            return Err(bad_choice(
                self.name(),
                "null",
                "empirical",
                "theoretical with a design (the empirical null is one-sample)",
            ));
        }
        Ok(())
    }

    fn fit_inputs(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        let mut result = self.fit_voxels(dataset, inputs)?;
        self.grf(dataset, &inputs.maps[&MapType::Con], &mut result)?;
        Ok(result)
    }

    fn voxelwise(&self) -> bool {
        self.null == Null::Theoretical
    }

    fn finish(&self, dataset: &Dataset, inputs: &CompactInputs, result: &mut MetaResult) -> Result<()> {
        self.grf(dataset, &inputs.maps[&MapType::Con], result)
    }

    fn fit_voxels(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        let mut result = MetaResult::from_inputs(self, dataset, inputs);
        let con = &inputs.maps[&MapType::Con];
        let n: Vec<f64> = inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN)).collect();
        match self.kind {
            GlmKind::PermutedOls | GlmKind::RfxGlm if self.design.is_one_sample() => {
                let standardized;
                let x = if self.standardize {
                    standardized = standardize(con);
                    &standardized
                } else {
                    con
                };
                if self.kind == GlmKind::RfxGlm {
                    let (est, se) = mean_and_se(x);
                    result.insert("est", est);
                    result.insert("se", se);
                }
                if self.null == Null::Empirical {
                    empirical_t(x, self.tail(), &crate::inference::flips_for(self, x.n_studies())?, &mut result)?;
                } else {
                    let out = if self.use_sample_size {
                        permuted_ols_weighted(x, &n, self.tail())
                    } else {
                        permuted_ols(x, self.tail())
                    };
                    result.insert("t", out.t);
                    result.insert_test(out.test);
                }
            }
            _ => self.fit_flame(dataset, inputs, &n, &mut result)?,
        }
        Ok(result)
    }
}

impl Glm {
    /// RFX (with a design), FFX and MFX_GLM through the native FLAME function.
    fn fit_flame(&self, dataset: &Dataset, inputs: &Inputs, n: &[f64], result: &mut MetaResult) -> Result<()> {
        let con = &inputs.maps[&MapType::Con];
        // The ols face reads no varcope: validity is the con maps' own.
        let ones;
        let var = match inputs.maps.get(&MapType::Varcope) {
            Some(var) => var,
            None => {
                ones = StudyVoxels::new(
                    con.n_studies(),
                    con.voxels().flatten().map(|&c| if c.is_nan() { c } else { 1.0 }).collect(),
                );
                &ones
            }
        };
        let mode = match self.kind {
            GlmKind::MfxGlm => RunMode::Flame1(self.optimizer),
            GlmKind::FfxGlm if n.iter().all(|n| n.is_finite()) => {
                RunMode::Fe { study_dof: n.iter().map(|n| n - 1.0).collect() }
            }
            GlmKind::FfxGlm => {
                let missing = n.iter().filter(|n| !n.is_finite()).count();
                result.warnings.push(format!(
                    "ffx-glm: {missing} of {} studies have no sample_size: DOF = 1000, flameo's default without --dvc",
                    n.len()
                ));
                result.diagnostics.insert("ffx_dof".into(), "1000: sample sizes missing (flameo without --dvc)".into());
                RunMode::Fe { study_dof: Vec::new() }
            }
            _ => RunMode::Ols,
        };
        let spec = self.design.build(self.name(), dataset, &inputs.study_ids)?;
        let p = spec.columns.len();
        let columns: Vec<Vec<f64>> = (0..p).map(|j| spec.x.iter().skip(j).step_by(p).copied().collect()).collect();
        let invalid = |e: ibma_glm::design::DesignError| Error::Invalid(format!("{}: {e}", self.name()));
        let design = ibma_glm::design::Design::new(columns, spec.groups.clone()).map_err(invalid)?;
        let contrast = ibma_glm::design::Contrast::new(spec.contrast.clone()).map_err(invalid)?;
        if !self.design.is_one_sample() {
            result.diagnostics.insert("design_columns".into(), spec.columns.clone().into());
        }
        let maps = flame(con, var, &design, &contrast, &mode);
        let two_sided_t = self.two_sided || contrast.is_f();
        let nlogp = if two_sided_t {
            maps.nlogp
        } else {
            maps.stat.iter().zip(&maps.dof).map(|(&t, &d)| t_to_nlogp(t, d.round(), Tail::One)).collect()
        };
        let z = if self.t_to_z == TToZ::Fsl && !contrast.is_f() {
            // FSL rounds the DOF as flame does: floor(DOF + 0.5).
            maps.stat.iter().zip(&maps.dof).map(|(&t, &d)| t_to_z_fsl(t, (d + 0.5).floor())).collect()
        } else {
            maps.z
        };
        if contrast.is_f() {
            result.insert("f", maps.stat);
        } else {
            result.insert("est", maps.est);
            result.insert("se", maps.se);
            result.insert("varcope", maps.varcope);
            result.insert("t", maps.stat);
        }
        result.insert_test(ibma_stats::TestMaps { z, nlogp, dof: maps.dof });
        if self.write_weights {
            // flame1.md §4: 1/(s_i + σ̂²_g(i)) in original units, NaN where a study is not used.
            let group = |k: usize| spec.groups.as_ref().map_or(0, |g| g[k]);
            let tau2_at = |k: usize, v: usize| maps.tau2.get(group(k)).map_or(0.0, |t| t[v]);
            let weights = (0..con.n_studies())
                .map(|k| (0..con.n_voxels()).map(|v| 1.0 / (var.voxel(v)[k] + tau2_at(k, v))).collect())
                .collect();
            result.insert_per_study("weights", weights);
        }
        match maps.tau2.len() {
            0 => {}
            1 => result.insert("tau2", maps.tau2.into_iter().next().unwrap_or_default()),
            _ => maps.tau2.into_iter().enumerate().for_each(|(g, t)| result.insert(&format!("tau2_g{}", g + 1), t)),
        }
        if self.kind != GlmKind::RfxGlm && !self.design.is_one_sample() {
            let het = ibma_glm::heterogeneity::heterogeneity_design(con, var, &spec.x, spec.columns.len());
            result.insert_heterogeneity(het);
        }
        if self.kind != GlmKind::RfxGlm && self.design.is_one_sample() {
            result.insert_heterogeneity(ibma_glm::heterogeneity::heterogeneity(con, var));
        }
        Ok(())
    }

    /// The seed's FFX/MFX_GLM always thresholded z with GRF clusters (flameo + cluster): for a
    /// one-sample fit, over the whole map once its voxels are fitted.
    fn grf(&self, dataset: &Dataset, con: &dyn StudyValues, result: &mut MetaResult) -> Result<()> {
        if !matches!(self.kind, GlmKind::FfxGlm | GlmKind::MfxGlm) || !self.design.is_one_sample() {
            return Ok(());
        }
        let mode = if self.fsl_compat { Mode::FslCompat } else { Mode::Correct };
        crate::clusters::grf(dataset, con, result, &self.common.clusters, self.q, self.tail(), mode)
    }
}

/// Per voxel, the mean of the valid values and its standard error sd/√m.
fn mean_and_se(x: &StudyVoxels) -> (Vec<f64>, Vec<f64>) {
    x.voxels()
        .map(|xs| {
            let valid = || xs.iter().filter(|v| !v.is_nan());
            let m = valid().count() as f64;
            if m < 2.0 {
                return (f64::NAN, f64::NAN);
            }
            let mean = valid().sum::<f64>() / m;
            let var = valid().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
            (mean, (var / m).sqrt())
        })
        .unzip()
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
