//! Reading `tests/data/dependence_reference.json` (NiMARE 0.22.1 / PyMARE 0.0.13 on a synthetic
//! multi-contrast dataset, made by `tests/data/make_dependence_reference.py`). Also included by
//! ibma-combine's tests.

use ibma_stats::groups::Grouping;
use ibma_stats::{tol, StudyVoxels};
use serde_json::Value;
use std::path::Path;

/// The reference JSON of a crate's `tests/data`.
pub fn reference(crate_dir: &str) -> Value {
    let path = Path::new(crate_dir).join("tests/data/dependence_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A JSON array of numbers (null = NaN).
pub fn values(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

/// The masked inputs of the synthetic dataset, in NiMARE's image order.
pub struct Inputs<'a>(pub &'a Value);

impl Inputs<'_> {
    /// Study label of every image.
    pub fn studies(&self) -> Vec<&str> {
        self.0["study"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
    }

    /// Sample size of every image.
    pub fn sample_sizes(&self) -> Vec<f64> {
        values(&self.0["sample_sizes"])
    }

    /// NiMARE's grouping: by study, or every image its own group (`groupby=False`).
    pub fn grouping(&self, groupby_false: bool) -> Grouping {
        if groupby_false {
            Grouping::independent(self.studies().len())
        } else {
            Grouping::from_labels(&self.studies())
        }
    }

    /// Map `key` of every image, NaN where any of `inputs` is not usable (finite, non-zero).
    pub fn matrix(&self, key: &str, inputs: &[&str]) -> StudyVoxels {
        let maps = &self.0["maps"];
        let rows = |k: &str| -> Vec<Vec<f64>> { maps[k].as_array().unwrap().iter().map(values).collect() };
        let all: Vec<Vec<Vec<f64>>> = inputs.iter().map(|k| rows(k)).collect();
        let studies: Vec<Vec<f64>> = rows(key)
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                row.into_iter()
                    .enumerate()
                    .map(|(v, x)| if all.iter().all(|m| m[i][v].is_finite() && m[i][v] != 0.0) { x } else { f64::NAN })
                    .collect()
            })
            .collect();
        StudyVoxels::from_studies(&studies)
    }
}

/// Assert `got` matches the reference map `want` at `rtol` (atol [`tol::MAP_ATOL`]), NaN
/// pattern included.
#[track_caller]
pub fn assert_map(what: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (v, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(tol::close(g, w, rtol, tol::MAP_ATOL), "{what} voxel {v}: {g} vs NiMARE {w}");
    }
}
