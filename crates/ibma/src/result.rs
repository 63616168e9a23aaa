//! `MetaResult`: the maps of a fit (named by [`Map`]), the estimator that made them, the
//! studies used and typed diagnostics.

use crate::estimators::AnyEstimator;
use crate::maps::{Intent, Map, Method, PerStudyMap, Stat};
use crate::{Error, Estimator, Result};
use ibma_io::{MapMeta, Mask};
use ibma_stats::correct::Correction;
use ibma_stats::pmaps::{logp_from_nlogp, nlogp_for_correction, p_from_nlogp};
use ibma_stats::transform::nlogp_to_z;
use ibma_stats::{Tail, TestMaps};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The outcome of a fit: maps over the mask voxels (NaN where a voxel could not be estimated).
/// Serialises for saved results ([`crate::persist`]): maps as float32, as they are written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaResult {
    /// The estimator that produced it, with its parameters.
    pub estimator: AnyEstimator,
    /// Ids of the studies that entered the fit.
    pub studies: Vec<String>,
    /// Warnings raised while fitting.
    pub warnings: Vec<String>,
    /// The mask the maps live on.
    pub mask: Mask,
    /// Facts about the fit (bags fitted, voxels left NaN and why, nulls, ...).
    pub diagnostics: Diagnostics,
    #[serde(with = "crate::persist::f32_maps")]
    maps: Vec<(Map, Vec<f64>)>,
    #[serde(with = "crate::persist::f32_volumes")]
    per_study: Vec<(PerStudyMap, Vec<Vec<f64>>)>,
    /// Text tables written beside the maps (e.g. `clusters.tsv`).
    pub tables: Vec<Table>,
}

/// A text table written beside the maps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// File name, e.g. `clusters.tsv`.
    pub file: String,
    /// Tab-separated content.
    pub text: String,
}

/// What a fit found out besides its maps. Every field but the coverage facts is present only
/// where it applies; `result.json` shows them under `diagnostics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Diagnostics {
    /// Coverage patterns (bags) with at least two studies, each fitted on its own studies.
    pub bags_fitted: usize,
    /// Voxels in the largest bag.
    pub voxels_in_largest_bag: usize,
    /// Voxels left NaN because fewer than two studies cover them.
    pub voxels_nan_fewer_than_2_studies: usize,
    /// Design columns of a meta-regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub design_columns: Option<Vec<String>>,
    /// SampleSizeBasedLikelihood: bags whose studies all share one sample size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bags_all_equal_sample_size: Option<usize>,
    /// SampleSizeBasedLikelihood: voxels NaN for that reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voxels_nan_all_equal_sample_size: Option<usize>,
    /// FFX_GLM: the DOF used because some study has no sample size (flameo's without `--dvc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ffx_dof_without_sample_sizes: Option<f64>,
    /// GRF cluster inference (FFX/MFX_GLM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grf: Option<GrfFacts>,
    /// Monte-Carlo FWE: the flips used and the null of the maximum |z|.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub montecarlo: Option<MontecarloFacts>,
    /// Sign flips of an empirical voxelwise null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empirical_null_n_iters: Option<usize>,
    /// Permutation cluster inference: threshold and nulls of the maxima.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permutation_clusters: Option<ClusterNullFacts>,
    /// Dependence groups, when some group holds several images (docs/dependence.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependence: Option<DependenceFacts>,
}

/// The dependence groups of a fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DependenceFacts {
    /// Independent groups among the images.
    pub n_groups: usize,
    /// Each image's group label (`groupby`), in the order of the result's studies.
    pub group_labels: Vec<String>,
    /// The estimated null correlation between the images' z maps (Stouffers, Fishers), row by
    /// row in the order of the studies (NiMARE `inputs_["corr_matrix"]`); absent where not
    /// estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_correlation: Option<Vec<Vec<f64>>>,
}

/// GRF facts of a fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrfFacts {
    /// Cluster-forming z threshold.
    pub u: f64,
    /// Smoothness: |Λ|^(−1/2).
    pub dlh: f64,
    /// Search volume in voxels.
    pub volume: usize,
    /// Resels.
    pub resels: f64,
    /// Estimated FWHM per axis in mm.
    pub fwhm_mm: [f64; 3],
    /// Degrees of freedom of the residuals.
    pub dof: f64,
    /// `one` or `two`.
    pub tail: String,
    /// Cluster-level FWE rate.
    pub q: f64,
    /// `correct` or `fsl_compat`.
    pub mode: String,
    /// Clusters with p < q.
    pub clusters_surviving: usize,
}

/// Monte-Carlo FWE facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MontecarloFacts {
    /// Flips used (all 2^K − 1 when enumerated).
    pub montecarlo_n_iters: usize,
    /// Flips asked for.
    pub montecarlo_requested_n_iters: usize,
    /// Seed of the flips.
    pub montecarlo_seed: u64,
    /// Maximum |z| (or z, one-sided) of each flip; None where not finite.
    pub montecarlo_null_max_z: Vec<Option<f64>>,
}

/// Permutation cluster facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterNullFacts {
    /// Cluster-forming z threshold.
    pub u: f64,
    /// 6, 18 or 26.
    pub connectivity: usize,
    /// Flips used.
    pub n_iters: usize,
    /// Their seed.
    pub seed: u64,
    /// Largest cluster size of each flip.
    pub null_max_size: Vec<usize>,
    /// Largest cluster mass of each flip.
    pub null_max_mass: Vec<f64>,
    /// Largest TFCE score of each flip (empty without TFCE).
    pub null_max_tfce: Vec<f64>,
}

impl MetaResult {
    /// An empty result of `estimator` on `mask`.
    pub fn new(estimator: AnyEstimator, mask: Mask) -> MetaResult {
        MetaResult {
            estimator,
            studies: Vec::new(),
            warnings: Vec::new(),
            mask,
            diagnostics: Diagnostics::default(),
            maps: Vec::new(),
            per_study: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// An empty result of `estimator` on a block: its voxels, studies, warnings and coverage.
    pub fn of_block(estimator: AnyEstimator, block: &crate::inputs::Block) -> MetaResult {
        let mut result = MetaResult::new(estimator, block.mask.clone());
        result.studies = block.study_ids();
        result.warnings.clone_from(&block.warnings);
        if block.grouping.has_dependence() {
            let n = block.studies.len();
            result.diagnostics.dependence = Some(DependenceFacts {
                n_groups: block.grouping.n_groups(),
                group_labels: block.studies.iter().map(|s| s.group.clone()).collect(),
                null_correlation: block
                    .null_correlation
                    .as_ref()
                    .map(|c| c.values().chunks(n).map(<[f64]>::to_vec).collect()),
            });
        }
        if let Some(first) = block.maps.values().next() {
            let all = ibma_stats::bags::bags(first, 0);
            let (fitted, too_few): (Vec<_>, Vec<_>) = all.iter().partition(|b| b.studies.len() >= 2);
            let d = &mut result.diagnostics;
            d.bags_fitted = fitted.len();
            d.voxels_in_largest_bag = fitted.iter().map(|b| b.voxels.len()).max().unwrap_or(0);
            d.voxels_nan_fewer_than_2_studies = too_few.iter().map(|b| b.voxels.len()).sum();
        }
        result
    }

    /// Add (or replace) a map of one value per mask voxel.
    #[track_caller]
    pub fn insert(&mut self, map: Map, values: Vec<f64>) {
        assert_eq!(
            values.len(),
            self.mask.len(),
            "map {map} has {} values for {} mask voxels",
            values.len(),
            self.mask.len()
        );
        match self.maps.iter_mut().find(|(m, _)| *m == map) {
            Some(slot) => slot.1 = values,
            None => self.maps.push((map, values)),
        }
    }

    /// Add the `z`, `p`, `logp` and `dof` maps of a test.
    pub fn insert_test(&mut self, test: TestMaps) {
        self.insert(Map::P, test.nlogp.iter().map(|&l| p_from_nlogp(l)).collect());
        self.insert(Map::Logp, test.nlogp.iter().map(|&l| logp_from_nlogp(l)).collect());
        self.insert(Map::Z, test.z);
        self.insert(Map::Dof, test.dof);
    }

    /// Add the maps of a regression fit: est, se, tau2 and sigma2 (when present), z, p, logp, dof.
    pub fn insert_regression(&mut self, maps: ibma_glm::RegressionMaps) {
        self.insert(Map::Est, maps.est);
        self.insert(Map::Se, maps.se);
        if !maps.tau2.is_empty() {
            self.insert(Map::Tau2, maps.tau2);
        }
        if !maps.sigma2.is_empty() {
            self.insert(Map::Sigma2, maps.sigma2);
        }
        self.insert_test(maps.test);
    }

    /// Add the heterogeneity maps `q`, `q_p`, `q_logp`, `i2`, `h`.
    pub fn insert_heterogeneity(&mut self, het: ibma_glm::heterogeneity::HeterogeneityMaps) {
        self.insert(Map::Q, het.q);
        self.insert(Map::QP, het.q_nlogp.iter().map(|&l| p_from_nlogp(l)).collect());
        self.insert(Map::QLogp, het.q_nlogp.iter().map(|&l| logp_from_nlogp(l)).collect());
        self.insert(Map::I2, het.i2);
        self.insert(Map::H, het.h);
    }

    /// Add the corrected `p`, `z` and `logp` maps of `method`.
    pub(crate) fn insert_corrected(&mut self, method: Method, p: Vec<f64>, z: Vec<f64>, logp: Vec<f64>) {
        self.insert(Map::Corrected(Stat::P, method), p);
        self.insert(Map::Corrected(Stat::Z, method), z);
        self.insert(Map::Corrected(Stat::Logp, method), logp);
    }

    /// Add a 4-D map: one masked vector per study of the fit, in study order.
    #[track_caller]
    pub fn insert_per_study(&mut self, map: PerStudyMap, volumes: Vec<Vec<f64>>) {
        assert!(
            volumes.iter().all(|v| v.len() == self.mask.len()),
            "map {map}: every volume needs one value per mask voxel"
        );
        self.per_study.push((map, volumes));
    }

    /// A map.
    pub fn map(&self, map: Map) -> Option<&[f64]> {
        self.maps.iter().find(|(m, _)| *m == map).map(|(_, v)| v.as_slice())
    }

    /// The maps, in the order they were added.
    pub fn maps(&self) -> impl Iterator<Item = (Map, &[f64])> {
        self.maps.iter().map(|(m, v)| (*m, v.as_slice()))
    }

    /// The 4-D maps.
    pub fn per_study_maps(&self) -> impl Iterator<Item = (PerStudyMap, &[Vec<f64>])> {
        self.per_study.iter().map(|(m, v)| (*m, v.as_slice()))
    }

    /// A text table by file name.
    pub fn table(&self, file: &str) -> Option<&str> {
        self.tables.iter().find(|t| t.file == file).map(|t| t.text.as_str())
    }

    /// Add FDR or Bonferroni maps of the `p` map (corrections of NiMARE's correctors): the
    /// family is the non-NaN voxels of the float32 `p` map, the deep tail comes from `logp`
    /// (a result with only a `logp` map is corrected from it).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the result has neither a `p` nor a `logp` map.
    pub fn correct(&mut self, correction: Correction) -> Result<()> {
        let logp = self.map(Map::Logp);
        let nlogp: Vec<f64> = match (self.map(Map::P), logp) {
            (Some(p), _) => {
                p.iter().enumerate().map(|(v, &x)| nlogp_for_correction(x as f32, logp.map(|l| l[v] as f32))).collect()
            }
            (None, Some(l)) => l.iter().map(|&x| -std::f64::consts::LN_10 * f64::from(x as f32)).collect(),
            (None, None) => {
                return Err(Error::Invalid(format!("{}: no p or logp map to correct", self.estimator.name())));
            }
        };
        let corrected = correction.apply(&nlogp);
        let z: Vec<f64> = match self.map(Map::Z) {
            Some(z) => {
                corrected.iter().zip(z).map(|(&l, &zv)| nlogp_to_z(l, Tail::Two) * sign(f64::from(zv as f32))).collect()
            }
            None => Vec::new(),
        };
        let method = match correction {
            Correction::FdrIndep => Method::FdrIndep,
            Correction::FdrNegcorr => Method::FdrNegcorr,
            Correction::Bonferroni => Method::Bonferroni,
        };
        self.insert(Map::Corrected(Stat::P, method), corrected.iter().map(|&l| p_from_nlogp(l)).collect());
        if !z.is_empty() {
            self.insert(Map::Corrected(Stat::Z, method), z);
        }
        self.insert(Map::Corrected(Stat::Logp, method), corrected.iter().map(|&l| logp_from_nlogp(l)).collect());
        Ok(())
    }

    /// Write every map as `<dir>/<map>.nii.gz` (float32, mask grid, NaN kept inside, 0
    /// outside) and the tables beside them; returns the paths.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save_maps(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.save_maps_prefixed(dir, "")
    }

    /// [`MetaResult::save_maps`] with `prefix` before every file name (NiMARE's
    /// `save_maps(prefix=...)`): `<dir>/<prefix><map>.nii.gz`.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save_maps_prefixed(&self, dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| ibma_io::Error::Io { path: dir.to_path_buf(), source })?;
        // Maps are independent files: compress them in parallel.
        let mut written: Vec<PathBuf> = self
            .maps
            .par_iter()
            .map(|(map, values)| {
                let path = dir.join(format!("{prefix}{map}.nii.gz"));
                ibma_io::write_map(&path, &self.mask.grid, &self.mask.unmask(values), &self.header_meta(*map))?;
                Ok(path)
            })
            .collect::<Result<_>>()?;
        for (map, volumes) in &self.per_study {
            let path = dir.join(format!("{prefix}{map}.nii.gz"));
            let full: Vec<Vec<f32>> = volumes.iter().map(|v| self.mask.unmask(v)).collect();
            let meta = MapMeta { intent_code: 0, intent_p1: 0.0, descrip: self.descrip(&map.to_string()) };
            ibma_io::write_map_4d(&path, &self.mask.grid, &full, &meta)?;
            written.push(path);
        }
        for table in &self.tables {
            let path = dir.join(format!("{prefix}{}", table.file));
            ibma_io::atomic::write_bytes(&path, table.text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    /// Finite and NaN counts of a map.
    pub fn counts(values: &[f64]) -> (usize, usize) {
        (values.iter().filter(|x| x.is_finite()).count(), values.iter().filter(|x| x.is_nan()).count())
    }

    /// NIfTI intent and description of a map.
    fn header_meta(&self, map: Map) -> MapMeta {
        let (intent_code, intent_p1) = match map.intent() {
            Intent::Z => (5, 0.0),
            Intent::T => (3, self.constant_dof().unwrap_or(0.0) as f32),
            Intent::P => (22, 0.0),
            Intent::Estimate => (1001, 0.0),
            Intent::None => (0, 0.0),
        };
        MapMeta { intent_code, intent_p1, descrip: self.descrip(&map.to_string()) }
    }

    fn descrip(&self, name: &str) -> String {
        format!("ibma {} {} {name}", env!("CARGO_PKG_VERSION"), self.estimator.name())
    }

    fn constant_dof(&self) -> Option<f64> {
        let mut finite = self.map(Map::Dof)?.iter().filter(|x| x.is_finite());
        let first = *finite.next()?;
        finite.all(|&d| d.to_bits() == first.to_bits()).then_some(first)
    }
}

/// sign with sign(0) = 0 and NaN kept (numpy `np.sign`).
pub(crate) fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}
