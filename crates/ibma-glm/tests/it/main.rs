//! Integration tests of ibma-glm, one module per topic.

mod basins;
mod dependence;
mod dependence_data;
mod flame;
mod flips;
mod likelihood;
mod metafor;

use ibma_glm::design::Design;
use std::path::{Path, PathBuf};

/// The R metafor 4.6.0 cases (`pymare_metafor_reference` of the reference data), or None where
/// the reference data are absent (the test kit's rule: [`ibma_testkit::shared_data`]).
#[track_caller]
pub fn metafor_dir() -> Option<PathBuf> {
    ibma_testkit::shared_data("pymare_metafor_reference")
}

/// (y, v) of one design of `metafor_small_sample.csv`.
pub fn design(dir: &Path, name: &str) -> (Vec<f64>, Vec<f64>) {
    let (y, v, _) = design_with_moderators(dir, name, 0);
    (y, v)
}

/// A design from its rows (row-major, `p` columns), one variance group.
pub fn design_from_rows(x: &[f64], p: usize) -> Design {
    Design::new((0..p).map(|j| x.iter().skip(j).step_by(p).copied().collect()).collect(), None).unwrap()
}

/// (y, v, X) of one design with X = [1, mod1, …] (row-major, 1 + `moderators` columns).
pub fn design_with_moderators(dir: &Path, name: &str, moderators: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(dir.join("metafor_small_sample.csv")).unwrap();
    let (mut y, mut v, mut x) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == name {
            y.push(f[1].parse().unwrap());
            v.push(f[2].parse().unwrap());
            x.push(1.0);
            x.extend(f[3..3 + moderators].iter().map(|m| m.parse::<f64>().unwrap()));
        }
    }
    (y, v, x)
}
