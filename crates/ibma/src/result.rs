//! `MetaResult`: the named maps of a fit (NiMARE 0.22.1 names), its parameters and provenance.

use crate::{Error, Result};
use ibma_io::{MapMeta, Mask};
use ibma_stats::correct::Correction;
use ibma_stats::pmaps::{logp_from_nlogp, nlogp_for_correction, p_from_nlogp};
use ibma_stats::transform::nlogp_to_z;
use ibma_stats::{Tail, TestMaps};
use rayon::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The outcome of a fit: maps over the mask voxels (NaN where a voxel could not be estimated).
/// Serialises for saved results ([`crate::persist`]): maps as float32, as they are written.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MetaResult {
    /// Estimator command name.
    pub estimator: String,
    /// Parameter values used.
    pub params: Vec<(String, Value)>,
    /// Ids of the studies that entered the fit.
    pub studies: Vec<String>,
    /// Warnings raised while fitting.
    pub warnings: Vec<String>,
    /// The mask the maps live on.
    pub mask: Mask,
    /// Facts about the fit for result.json (bags fitted, voxels left NaN and why, ...).
    pub diagnostics: serde_json::Map<String, Value>,
    #[serde(with = "crate::persist::f32_maps")]
    maps: Vec<(String, Vec<f64>)>,
    /// 4-D maps: one masked vector per study (e.g. `weights`).
    #[serde(with = "crate::persist::f32_volumes")]
    per_study: Vec<(String, Vec<Vec<f64>>)>,
    /// Text tables written beside the maps: (file name, content), e.g. `clusters.tsv`.
    pub tables: Vec<(String, String)>,
}

impl MetaResult {
    /// An empty result on `mask`.
    pub fn new(estimator: &str, params: Vec<(String, Value)>, mask: Mask) -> MetaResult {
        MetaResult {
            estimator: estimator.to_string(),
            params,
            studies: Vec::new(),
            warnings: Vec::new(),
            mask,
            diagnostics: serde_json::Map::new(),
            maps: Vec::new(),
            per_study: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// An empty result of `estimator` on `dataset`'s mask, recording its parameters and the
    /// studies and warnings of `inputs`.
    pub fn from_inputs(
        estimator: &dyn crate::Estimator,
        dataset: &crate::Dataset,
        inputs: &crate::dataset::Inputs,
    ) -> MetaResult {
        let params = estimator.get_params().into_iter().map(|p| (p.name.to_string(), p.value)).collect();
        let mut result = MetaResult::new(estimator.name(), params, dataset.mask.clone());
        result.studies.clone_from(&inputs.study_ids);
        result.warnings.clone_from(&inputs.warnings);
        if let Some(first) = inputs.maps.values().next() {
            let all = ibma_stats::bags::bags(first, 0);
            let (fitted, too_few): (Vec<_>, Vec<_>) = all.iter().partition(|b| b.studies.len() >= 2);
            let d = &mut result.diagnostics;
            d.insert("bags_fitted".into(), fitted.len().into());
            d.insert("voxels_in_largest_bag".into(), fitted.iter().map(|b| b.voxels.len()).max().unwrap_or(0).into());
            d.insert(
                "voxels_nan_fewer_than_2_studies".into(),
                too_few.iter().map(|b| b.voxels.len()).sum::<usize>().into(),
            );
        }
        result
    }

    /// Add the heterogeneity maps `q`, `q_p`, `q_logp`, `i2`, `h` (estimators.md §5b).
    pub fn insert_heterogeneity(&mut self, het: ibma_glm::heterogeneity::HeterogeneityMaps) {
        self.insert("q", het.q);
        self.insert("q_p", het.q_nlogp.iter().map(|&l| p_from_nlogp(l)).collect());
        self.insert("q_logp", het.q_nlogp.iter().map(|&l| logp_from_nlogp(l)).collect());
        self.insert("i2", het.i2);
        self.insert("h", het.h);
    }

    /// Add the maps of a regression fit: est, se, tau2 and sigma2 (when present), z, p, logp, dof.
    pub fn insert_regression(&mut self, maps: ibma_glm::RegressionMaps) {
        self.insert("est", maps.est);
        self.insert("se", maps.se);
        if !maps.tau2.is_empty() {
            self.insert("tau2", maps.tau2);
        }
        if !maps.sigma2.is_empty() {
            self.insert("sigma2", maps.sigma2);
        }
        self.insert_test(maps.test);
    }

    /// Add (or replace) a map of one value per mask voxel.
    #[track_caller]
    pub fn insert(&mut self, name: &str, values: Vec<f64>) {
        assert_eq!(
            values.len(),
            self.mask.len(),
            "map {name} has {} values for {} mask voxels",
            values.len(),
            self.mask.len()
        );
        match self.maps.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = values,
            None => self.maps.push((name.to_string(), values)),
        }
    }

    /// Add the `z`, `p`, `logp` and `dof` maps of a test.
    pub fn insert_test(&mut self, test: TestMaps) {
        self.insert("p", test.nlogp.iter().map(|&l| p_from_nlogp(l)).collect());
        self.insert("logp", test.nlogp.iter().map(|&l| logp_from_nlogp(l)).collect());
        self.insert("z", test.z);
        self.insert("dof", test.dof);
    }

    /// Add a 4-D map: one masked vector per study of the fit, in study order.
    #[track_caller]
    pub fn insert_per_study(&mut self, name: &str, volumes: Vec<Vec<f64>>) {
        assert!(
            volumes.iter().all(|v| v.len() == self.mask.len()),
            "map {name}: every volume needs one value per mask voxel"
        );
        self.per_study.push((name.to_string(), volumes));
    }

    /// The 4-D maps, by name.
    pub fn per_study_maps(&self) -> impl Iterator<Item = (&str, &[Vec<f64>])> {
        self.per_study.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// A map by name.
    pub fn map(&self, name: &str) -> Option<&[f64]> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// Map names in insertion order.
    pub fn map_names(&self) -> impl Iterator<Item = &str> {
        self.maps.iter().map(|(n, _)| n.as_str())
    }

    /// Add `p<sfx>`, `z<sfx>`, `logp<sfx>` for a correction of the `p` map (estimators.md §11):
    /// the family is the non-NaN voxels of the float32 `p` map, the deep tail comes from `logp`
    /// (a result with only a `logp` map is corrected from it).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the result has neither a `p` nor a `logp` map.
    pub fn correct(&mut self, correction: Correction) -> Result<()> {
        let logp = self.map("logp");
        let nlogp: Vec<f64> = match (self.map("p"), logp) {
            (Some(p), _) => {
                p.iter().enumerate().map(|(v, &x)| nlogp_for_correction(x as f32, logp.map(|l| l[v] as f32))).collect()
            }
            (None, Some(l)) => l.iter().map(|&x| -std::f64::consts::LN_10 * f64::from(x as f32)).collect(),
            (None, None) => {
                return Err(Error::Invalid(format!("{}: no p or logp map to correct", self.estimator)));
            }
        };
        let corrected = correction.apply(&nlogp);
        let z = self.map("z").map(<[f64]>::to_vec);
        let sfx = correction.suffix();
        self.insert(&format!("p{sfx}"), corrected.iter().map(|&l| p_from_nlogp(l)).collect());
        if let Some(z) = z {
            let zc = corrected
                .iter()
                .zip(&z)
                .map(|(&l, &zv)| nlogp_to_z(l, Tail::Two) * sign(f64::from(zv as f32)))
                .collect();
            self.insert(&format!("z{sfx}"), zc);
        }
        self.insert(&format!("logp{sfx}"), corrected.iter().map(|&l| logp_from_nlogp(l)).collect());
        Ok(())
    }

    /// Write every map as `<dir>/<map>.nii.gz` (float32, mask grid, NaN kept inside, 0 outside).
    pub fn save_maps(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| ibma_io::Error::Io { path: dir.to_path_buf(), source })?;
        // Maps are independent files: compress them in parallel.
        let mut written: Vec<PathBuf> = self
            .maps
            .par_iter()
            .map(|(name, values)| {
                let path = dir.join(format!("{name}.nii.gz"));
                ibma_io::write_map(&path, &self.mask.grid, &self.mask.unmask(values), &self.header_meta(name))?;
                Ok(path)
            })
            .collect::<Result<_>>()?;
        for (name, volumes) in &self.per_study {
            let path = dir.join(format!("{name}.nii.gz"));
            let full: Vec<Vec<f32>> = volumes.iter().map(|v| self.mask.unmask(v)).collect();
            ibma_io::write_map_4d(&path, &self.mask.grid, &full, &self.header_meta(name))?;
            written.push(path);
        }
        for (name, content) in &self.tables {
            let path = dir.join(name);
            ibma_io::atomic::write_bytes(&path, content.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    /// Finite and NaN counts of a map (for result.json).
    pub fn counts(values: &[f64]) -> (usize, usize) {
        (values.iter().filter(|x| x.is_finite()).count(), values.iter().filter(|x| x.is_nan()).count())
    }

    /// NIfTI intent and description for a map (dataset-format.md §7).
    fn header_meta(&self, name: &str) -> MapMeta {
        let base = name.split('_').next().unwrap_or(name);
        let (intent_code, intent_p1) = match base {
            "z" => (5, 0.0),
            "t" => (3, self.constant_dof().unwrap_or(0.0) as f32),
            "p" => (22, 0.0),
            "est" | "se" | "varcope" | "tau2" | "sigma2" => (1001, 0.0),
            _ => (0, 0.0),
        };
        MapMeta {
            intent_code,
            intent_p1,
            descrip: format!("ibma {} {} {name}", env!("CARGO_PKG_VERSION"), self.estimator),
        }
    }

    fn constant_dof(&self) -> Option<f64> {
        let mut finite = self.map("dof")?.iter().filter(|x| x.is_finite());
        let first = *finite.next()?;
        finite.all(|&d| d.to_bits() == first.to_bits()).then_some(first)
    }
}

/// sign with sign(0) = 0 and NaN kept (numpy `np.sign`).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// A voxelwise multiple-comparison correction as NiMARE's correctors apply it
/// (`FDRCorrector(method="indep").transform(result)` is `Corrector(Correction::FdrIndep).transform(&result)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrector(pub Correction);

impl Corrector {
    /// A copy of `result` with the corrected `p`, `z` and `logp` maps added.
    ///
    /// # Errors
    /// When `result` has neither a `p` nor a `logp` map.
    pub fn transform(&self, result: &MetaResult) -> Result<MetaResult> {
        let mut corrected = result.clone();
        corrected.correct(self.0)?;
        Ok(corrected)
    }
}
