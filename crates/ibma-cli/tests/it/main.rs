//! End-to-end tests of the library, the report and the `ibma` command: NiMARE golden values, the `ibma` command contract, determinism.

mod bad_input;
mod cli;
mod demo;
mod dependence;
mod derivation;
mod design;
mod golden;
mod inference;
mod jackknife;
mod nimare_json;
mod out_folders;
mod persist;
mod properties;
mod report;
mod resample;
mod usage;

pub use ibma_testkit::shared_data;

/// A map by its NiMARE name.
pub fn map(name: &str) -> ibma::maps::Map {
    name.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// An estimator by name with `--set`-style parameters.
pub fn estimator(name: &str, sets: &[(&str, &str)]) -> ibma::estimators::AnyEstimator {
    let mut est = ibma::estimators::AnyEstimator::by_name(name).unwrap();
    for (k, v) in sets {
        ibma::params::set(&mut est, k, v).unwrap_or_else(|e| panic!("{e}"));
    }
    est
}
