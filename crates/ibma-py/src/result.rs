//! Fitting, and what a fit returns: the library's `MetaResult` with what a later permutation
//! correction or jackknife needs to refit (the inputs, or where to read them again).

use crate::data::{NativeInputs, NativeMask};
use crate::errors::IntoPy;
use crate::estimator::NativeEstimator;
use crate::run::run;
use ibma::correct::Corrections;
use ibma::dataset::LoadOptions;
use ibma::estimators::AnyEstimator;
use ibma::io::Manifest;
use ibma::jackknife::{jackknife, JackknifeOptions};
use ibma::maps::{Map, Method};
use ibma::options::Flips;
use ibma::persist::{FitSource, SavedResult};
use ibma::progress::Progress;
use ibma::{Dataset, Error, Estimator, Inputs, MetaResult};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fitted result, and the data a refit needs.
#[pyclass(module = "ibma._ibma")]
#[derive(Clone)]
pub struct NativeResult {
    result: MetaResult,
    /// The inputs of the fit (kept for permutations and the jackknife).
    inputs: Option<Arc<Inputs>>,
    /// Where the data came from, when a dataset path was fitted (saved with the result, so a
    /// loaded result can read them again).
    source: Option<FitSource>,
    /// Corrections applied so far.
    corrections: Corrections,
}

/// Where [`fit_path`] reads from.
enum Source {
    /// A dataset folder, manifest or NiMARE JSON file.
    Path(PathBuf),
    /// NiMARE's dataset JSON as text (a NiMARE `Dataset` object's tables).
    NimareJson(String),
}

/// Fit `estimator` on a dataset on disk: `path` (an ibma-dataset folder or manifest, or NiMARE's
/// dataset JSON) or `nimare_json` (the text of NiMARE's dataset JSON, image paths absolute),
/// with `mask` (default: the manifest's, or the union of usable voxels).
#[pyfunction]
#[pyo3(signature = (estimator, path, nimare_json, mask, drop_invalid, threads))]
pub fn fit_path(
    py: Python<'_>,
    estimator: &NativeEstimator,
    path: Option<PathBuf>,
    nimare_json: Option<String>,
    mask: Option<PyRef<'_, NativeMask>>,
    drop_invalid: bool,
    threads: Option<usize>,
) -> PyResult<NativeResult> {
    let source = match (path, nimare_json) {
        (Some(p), None) => Source::Path(p),
        (None, Some(text)) => Source::NimareJson(text),
        _ => return Err(PyValueError::new_err("give a dataset path or NiMARE JSON text")),
    };
    let est = estimator.inner.clone();
    est.validate().py()?;
    let (mask, mask_path) = match mask {
        Some(m) => (Some(m.mask.clone()), m.path.clone()),
        None => (None, None),
    };
    run(py, threads, move |progress| {
        let (dataset, fit_source) = match source {
            Source::Path(path) => {
                let load = LoadOptions { mask: mask_path.clone(), ..LoadOptions::default() };
                let dataset = match (&mask, &mask_path) {
                    (Some(m), None) => Dataset { manifest: Manifest::load(&path)?, mask: m.clone() },
                    _ => Dataset::load_with(&path, &load)?,
                };
                // A mask held only in memory cannot be read again: no source then.
                let source = (mask.is_none() || mask_path.is_some()).then(|| FitSource {
                    dataset: absolute(&dataset.manifest.path),
                    mask: mask_path.clone(),
                    treat_as_independent: false,
                    corrections: Corrections::default(),
                });
                (dataset, source)
            }
            Source::NimareJson(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("NiMARE dataset: {e}")))?;
                let manifest = ibma::io::nimare_json::convert(&value, Path::new("NiMARE Dataset"), Path::new(""))?;
                let mask = mask.ok_or_else(|| Error::Invalid("NiMARE Dataset: no mask".into()))?;
                (Dataset { manifest, mask }, None)
            }
        };
        let inputs = dataset.inputs(&est.needs())?;
        fit_inputs_with(est, inputs.into(), drop_invalid, fit_source, progress)
    })
}

/// Fit `estimator` on in-memory inputs.
#[pyfunction]
#[pyo3(signature = (estimator, inputs, drop_invalid, threads))]
pub fn fit_inputs(
    py: Python<'_>,
    estimator: &NativeEstimator,
    inputs: &NativeInputs,
    drop_invalid: bool,
    threads: Option<usize>,
) -> PyResult<NativeResult> {
    let est = estimator.inner.clone();
    est.validate().py()?;
    let inputs = Arc::clone(&inputs.inputs);
    run(py, threads, move |progress| fit_inputs_with(est, inputs, drop_invalid, None, progress))
}

/// Prepare and fit as `ibma fit` does; with `drop_invalid=false` a study without usable data
/// is an error instead of a warning.
fn fit_inputs_with(
    est: AnyEstimator,
    inputs: Arc<Inputs>,
    drop_invalid: bool,
    source: Option<FitSource>,
    progress: &dyn Progress,
) -> ibma::Result<NativeResult> {
    let prepared = inputs.prepare(&est.needs())?;
    if !drop_invalid && prepared.n_studies() < inputs.studies().len() {
        let kept: Vec<&str> = prepared.studies().iter().map(|s| s.id.as_str()).collect();
        let dropped: Vec<&str> =
            inputs.studies().iter().map(|s| s.id.as_str()).filter(|id| !kept.contains(id)).collect();
        let why: Vec<&str> = prepared
            .warnings()
            .iter()
            .filter(|w| w.contains("dropping study"))
            .map(|w| w.split_once("dropping study ").map_or(w.as_str(), |(_, why)| why))
            .collect();
        return Err(Error::Invalid(format!(
            "{}: drop_invalid=False, but {} of {} studies have no usable data for it: {}",
            est.name(),
            dropped.len(),
            inputs.studies().len(),
            why.join("; ")
        )));
    }
    let result = est.fit_prepared(&prepared, progress)?;
    Ok(NativeResult { result, inputs: Some(inputs), source, corrections: Corrections::default() })
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A map name of the result, or `ValueError` naming the maps it has.
fn map_of(result: &MetaResult, name: &str) -> PyResult<Map> {
    match name.parse::<Map>() {
        Ok(map) if result.map(map).is_some() => Ok(map),
        _ => {
            let names: Vec<String> = result.maps().map(|(m, _)| m.to_string()).collect();
            Err(PyValueError::new_err(format!("No map with name '{name}' found; this result has {}", names.join(", "))))
        }
    }
}

#[pymethods]
impl NativeResult {
    /// Names of the maps, in the order they were made.
    fn map_names(&self) -> Vec<String> {
        self.result.maps().map(|(m, _)| m.to_string()).collect()
    }

    /// Names of the 4-D maps (one volume per study).
    fn per_study_names(&self) -> Vec<String> {
        self.result.per_study_maps().map(|(m, _)| m.to_string()).collect()
    }

    /// A map over the mask voxels, as float32 (the precision of the written maps).
    fn map<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let values = self.result.map(map_of(&self.result, name)?).unwrap_or_default();
        Ok(values.iter().map(|&x| x as f32).collect::<Vec<f32>>().into_pyarray(py))
    }

    /// A 4-D map as a studies × mask-voxels float32 array.
    fn per_study<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (_, volumes) = self
            .result
            .per_study_maps()
            .find(|(m, _)| m.to_string() == name)
            .ok_or_else(|| PyValueError::new_err(format!("No 4-D map with name '{name}' found")))?;
        let v = self.result.mask.len();
        let data: Vec<f32> = volumes.iter().flatten().map(|&x| x as f32).collect();
        let array =
            Array2::from_shape_vec((volumes.len(), v), data).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    /// The mask the maps live on.
    fn mask(&self) -> NativeMask {
        NativeMask::of(self.result.mask.clone())
    }

    /// The estimator that made it, with its parameters.
    fn estimator(&self) -> NativeEstimator {
        NativeEstimator { inner: self.result.estimator.clone() }
    }

    /// Ids of the studies that entered the fit.
    #[getter]
    fn studies(&self) -> Vec<String> {
        self.result.studies.clone()
    }

    /// Warnings raised while fitting.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.result.warnings.clone()
    }

    /// The fit's diagnostics (coverage, nulls, ...) as JSON text.
    fn diagnostics_json(&self) -> String {
        serde_json::to_string(&self.result.diagnostics).unwrap_or_default()
    }

    /// Text tables: (file name, tab-separated text).
    fn tables(&self) -> Vec<(String, String)> {
        self.result.tables.iter().map(|t| (t.file.clone(), t.text.clone())).collect()
    }

    /// An independent copy (sharing the read-only inputs).
    fn copy(&self) -> Self {
        self.clone()
    }

    /// A copy with the FDR or Bonferroni maps of `method` (`fdr-indep`, `fdr-negcorr`,
    /// `bonferroni`) added.
    fn correct(&self, method: &str) -> PyResult<Self> {
        let m = Method::parse(method).py()?;
        let correction = m.voxel().ok_or_else(|| PyValueError::new_err(format!("{method} needs permutations")))?;
        let mut out = self.clone();
        out.result.correct(correction).py()?;
        out.record(m);
        Ok(out)
    }

    /// A copy with the voxel-level Monte-Carlo FWE maps added (`n_iters` sign flips from
    /// `seed`), on `threads` threads.
    #[pyo3(signature = (n_iters, seed, threads))]
    fn montecarlo(&self, py: Python<'_>, n_iters: usize, seed: u64, threads: Option<usize>) -> PyResult<Self> {
        let corrections = Corrections {
            methods: vec![Method::Montecarlo],
            flips: Flips { n_iters, seed, exact_flips: false },
            ..Corrections::default()
        };
        corrections.validate().py()?;
        let mut out = self.clone();
        let refit = self.refit_data()?;
        let corrected = run(py, threads, move |progress| {
            let est = out.result.estimator.clone();
            let inputs = refit.inputs(&est)?;
            let prepared = inputs.prepare(&est.needs())?;
            corrections.apply(&est, &prepared, &mut out.result, progress)?;
            out.inputs = Some(inputs);
            out.record(Method::Montecarlo);
            out.corrections.flips = corrections.flips;
            Ok(out)
        })?;
        Ok(corrected)
    }

    /// The jackknife of the fit: each study left out in turn. Returns the tables
    /// (contributions, clusters; tab-separated) and the label map of each tail that has
    /// clusters: (tail, one label per mask voxel).
    #[pyo3(signature = (target_image, threshold, cluster_threshold, threads))]
    #[allow(clippy::type_complexity)]
    fn jackknife<'py>(
        &self,
        py: Python<'py>,
        target_image: &str,
        threshold: Option<f64>,
        cluster_threshold: usize,
        threads: Option<usize>,
    ) -> PyResult<(String, String, Vec<(&'static str, Bound<'py, PyArray1<f32>>)>)> {
        let target =
            target_image.parse::<Map>().map_err(|e| PyValueError::new_err(format!("jackknife: target_image: {e}")))?;
        // The voxel corrections the result has, so that a corrected map can be the target.
        let corrections = self.corrections.methods.iter().filter_map(|m| m.voxel()).collect();
        let options = JackknifeOptions { target_image: target, threshold, cluster_threshold, corrections };
        let refit = self.refit_data()?;
        let est = self.result.estimator.clone();
        let (jk, n) = run(py, threads, move |progress| {
            let inputs = refit.inputs(&est)?;
            let jk = jackknife(&est, &inputs, &options, progress)?;
            Ok((jk, inputs.mask().len()))
        })?;
        let mut labels = Vec::new();
        for (sign, tail) in [(1i8, "positive"), (-1, "negative")] {
            let mut values = vec![0.0f32; n];
            let mut rank = 0.0;
            for c in jk.clusters.iter().filter(|c| c.sign == sign) {
                rank += 1.0;
                c.voxels.iter().for_each(|&v| values[v] = rank);
            }
            if rank > 0.0 {
                labels.push((tail, values.into_pyarray(py)));
            }
        }
        Ok((jk.contributions_tsv(), jk.clusters_tsv(), labels))
    }

    /// Write the result to `path` in ibma's saved format (with where its data came from, when
    /// a dataset path was fitted), gzip-compressed if `compress`.
    fn save(&self, py: Python<'_>, path: PathBuf, compress: bool) -> PyResult<()> {
        let source = self.source.clone().map(|s| FitSource { corrections: self.corrections.clone(), ..s });
        let result = self.result.clone();
        run(py, None, move |_| SavedResult { result, source }.save(&path, compress))
    }

    /// Read a result written by `save` or by `ibma fit` (its `result.ibma.json.gz`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf, compressed: bool) -> PyResult<Self> {
        run(py, None, move |_| {
            let saved = SavedResult::load(&path, compressed)?;
            let corrections = saved.source.as_ref().map(|s| s.corrections.clone()).unwrap_or_default();
            Ok(NativeResult { result: saved.result, inputs: None, source: saved.source, corrections })
        })
    }

    /// Write the maps (all, or those named) as `<dir>/<prefix><map>.nii.gz` and the tables
    /// beside them, as `ibma fit` writes them; returns the paths.
    #[pyo3(signature = (dir, prefix, names))]
    fn save_maps(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        prefix: String,
        names: Option<Vec<String>>,
    ) -> PyResult<Vec<PathBuf>> {
        let result = match names {
            None => self.result.clone(),
            Some(names) => {
                let mut subset = MetaResult::new(self.result.estimator.clone(), self.result.mask.clone());
                for name in &names {
                    let map = map_of(&self.result, name)?;
                    subset.insert(map, self.result.map(map).unwrap_or_default().to_vec());
                }
                subset
            }
        };
        run(py, None, move |_| result.save_maps_prefixed(&dir, &prefix))
    }
}

/// What a refit reads: the kept inputs, or the dataset to read again.
enum RefitData {
    Kept(Arc<Inputs>),
    Read(Box<FitSource>),
}

impl RefitData {
    /// The inputs `estimator` was fitted on.
    fn inputs(self, estimator: &AnyEstimator) -> ibma::Result<Arc<Inputs>> {
        match self {
            RefitData::Kept(inputs) => Ok(inputs),
            RefitData::Read(source) => {
                let load = LoadOptions { mask: source.mask, treat_as_independent: source.treat_as_independent };
                let dataset = Dataset::load_with(&source.dataset, &load)?;
                Ok(Arc::new(dataset.inputs(&estimator.needs())?))
            }
        }
    }
}

impl NativeResult {
    fn refit_data(&self) -> PyResult<RefitData> {
        match (&self.inputs, &self.source) {
            (Some(inputs), _) => Ok(RefitData::Kept(Arc::clone(inputs))),
            (None, Some(source)) => {
                if !source.dataset.exists() {
                    return Err(PyValueError::new_err(format!(
                        "the dataset this result was fitted on, {}, is not there any more; fit it again",
                        source.dataset.display()
                    )));
                }
                Ok(RefitData::Read(Box::new(source.clone())))
            }
            (None, None) => Err(PyValueError::new_err(
                "this result was loaded from a file and was not fitted on a dataset path, so its inputs are not available for a refit; fit the estimator again",
            )),
        }
    }

    fn record(&mut self, method: Method) {
        if !self.corrections.methods.contains(&method) {
            self.corrections.methods.push(method);
        }
    }
}
