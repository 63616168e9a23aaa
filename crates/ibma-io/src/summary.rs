//! `result.json`: what `ibma fit` writes beside the maps for people and other tools (the
//! saved result, `result.ibma.json.gz`, is for ibma itself). Read back with the same type.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the summary in an output folder.
pub const SUMMARY_FILE: &str = "result.json";

/// The content of `result.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultSummary {
    /// The program that wrote it.
    pub software: Software,
    /// Estimator command name.
    pub estimator: String,
    /// The name the user gave (a command name or NiMARE class name).
    pub estimator_requested: String,
    /// Every parameter with its value (NiMARE's names).
    pub parameters: Map<String, Value>,
    /// `--correct` methods, in order.
    pub corrections: Vec<String>,
    /// Options of the corrections (flips, cluster forming), when any permutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction_options: Option<Value>,
    /// `--n-iters`.
    pub n_iters: usize,
    /// `--seed`.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// The dataset's manifest (absolute path).
    #[serde(with = "crate::path_serde")]
    pub dataset: PathBuf,
    /// Voxels in the analysis mask.
    pub mask_voxels: usize,
    /// Studies that entered the fit.
    pub n_studies: usize,
    /// Their ids.
    pub studies: Vec<String>,
    /// Each map written, by name.
    pub maps: BTreeMap<String, MapSummary>,
    /// Tables written beside the maps.
    pub tables: Vec<String>,
    /// The saved result's file name.
    pub saved_result: String,
    /// Facts about the fit.
    pub diagnostics: Value,
    /// Warnings, in plain words.
    pub warnings: Vec<String>,
    /// How long it took and what it used.
    pub timings: Timings,
}

/// The program that wrote a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// `ibma`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Default for Software {
    fn default() -> Self {
        Software { name: "ibma".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// One map of `result.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapSummary {
    /// File name in the output folder.
    pub file: String,
    /// Volumes of a 4-D map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<usize>,
    /// Finite in-mask values.
    pub finite: usize,
    /// NaN in-mask values (voxels that could not be estimated).
    pub nan: usize,
}

/// Timings and resources of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Reading and fitting (with the corrections).
    pub read_and_fit_seconds: f64,
    /// Of that, reading the dataset and preparing the inputs.
    #[serde(default)]
    pub read_seconds: f64,
    /// Of that, the estimator's fit alone (no reading, corrections or writing).
    #[serde(default)]
    pub fit_seconds: f64,
    /// Of that, the corrections (`--correct`).
    #[serde(default)]
    pub correct_seconds: f64,
    /// Writing the files.
    pub write_seconds: f64,
    /// User + system CPU of the process.
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory.
    pub peak_rss_mb: Option<f64>,
}

impl ResultSummary {
    /// Read `<dir>/result.json`.
    ///
    /// # Errors
    /// A missing or unreadable file, invalid JSON (with line and column), or another shape.
    pub fn read(dir: &Path) -> crate::Result<ResultSummary> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| crate::Error::Io { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|e| crate::Error::Manifest {
            path,
            field: format!("line {} column {}", e.line(), e.column()),
            msg: format!("not an ibma result.json: {e}"),
        })
    }

    /// Write it to `path` atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, path: &Path) -> crate::Result<()> {
        crate::atomic::write_json(path, self)
    }
}
