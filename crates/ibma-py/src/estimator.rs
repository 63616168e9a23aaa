//! An estimator of the library's catalogue, configured by keyword arguments through
//! `ibma::params` (the table the command line's `--set` goes through too).

use crate::errors::IntoPy;
use ibma::estimators::AnyEstimator;
use ibma::persist::SaveEstimator;
use ibma::{params, Estimator};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// One estimator with its parameters (NiMARE's names and defaults).
#[pyclass(module = "ibma._ibma")]
#[derive(Clone)]
pub struct NativeEstimator {
    pub(crate) inner: AnyEstimator,
}

#[pymethods]
impl NativeEstimator {
    /// The estimator named `name` (command name or NiMARE class name) with NiMARE's defaults.
    #[new]
    fn new(name: &str) -> PyResult<Self> {
        Ok(NativeEstimator { inner: AnyEstimator::by_name(name).py()? })
    }

    /// Command name, e.g. `dersimonian-laird`.
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// The parameters in declaration order, as the JSON text of `[[name, value], ...]`.
    fn params_json(&self) -> String {
        serde_json::to_string(&params::params(&self.inner)).unwrap_or_default()
    }

    /// Set parameter `key` to the JSON value `value` (a keyword argument's value).
    fn set_json(&mut self, key: &str, value: &str) -> PyResult<()> {
        let value: serde_json::Value =
            serde_json::from_str(value).map_err(|e| PyValueError::new_err(format!("{key}: not a JSON value ({e})")))?;
        params::set_value(&mut self.inner, key, value).py()
    }

    /// Set parameter `key` from its text form, as `--set key=text` does.
    fn set_text(&mut self, key: &str, text: &str) -> PyResult<()> {
        params::set(&mut self.inner, key, text).py()
    }

    /// Reject parameter combinations it cannot fit.
    fn validate(&self) -> PyResult<()> {
        self.inner.validate().py()
    }

    /// Write the estimator to `path` (ibma's saved format), gzip-compressed if `compress`.
    fn save(&self, py: Python<'_>, path: PathBuf, compress: bool) -> PyResult<()> {
        py.detach(|| self.inner.save(&path, compress)).py()
    }

    /// Read an estimator written by `save` (or by the library).
    #[staticmethod]
    fn load(path: PathBuf, compressed: bool) -> PyResult<Self> {
        Ok(NativeEstimator { inner: ibma::persist::load_estimator(&path, compressed).py()? })
    }

    /// The catalogue: (command name, NiMARE class name, map types read) of every estimator.
    #[staticmethod]
    fn catalogue() -> Vec<(&'static str, &'static str, &'static str)> {
        ibma::estimators::CATALOGUE.to_vec()
    }

    /// What each parameter name means: (name, accepted values, description), as
    /// `ibma estimators` prints it.
    #[staticmethod]
    fn help() -> Vec<(&'static str, &'static str, &'static str)> {
        params::HELP.to_vec()
    }

    /// An independent copy.
    fn copy(&self) -> Self {
        self.clone()
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }
}
