//! End-to-end tests of the library, the report and the `ibma` command: NiMARE golden values, the `ibma` command contract, determinism.

mod bad_input;
mod blocks;
mod cli;
mod demo;
mod derivation;
mod design;
mod golden;
mod inference;
mod jackknife;
mod nimare_json;
mod persist;
mod properties;
mod report;
mod resample;

use std::path::{Path, PathBuf};

/// `../shared/data/<name>` if present; otherwise print why the test skips.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name);
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return None;
    }
    Some(dir)
}
