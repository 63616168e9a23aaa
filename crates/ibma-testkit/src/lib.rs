//! What ibma's tests, benches, documentation examples and `cargo xtask` share: one
//! deterministic random generator ([`Rng`]), small synthetic datasets ([`example_dataset`]),
//! and the rule for tests that need the reference data in `../shared/data` ([`shared_data`]).
//! Not published; nothing of the product depends on it.

mod example;
mod rng;

pub use example::example_dataset;
pub use rng::Rng;

use std::path::{Path, PathBuf};

/// `../shared/data/<name>` (beside the repository) if it is there.
///
/// Where `../shared/data` itself is missing (a clone without the reference data) the test
/// skips: it prints why to stderr (`cargo test -- --nocapture 2>&1 | grep skipping` lists
/// them) and this returns None. Where `../shared/data` exists but `<name>` does not, the data
/// are broken, so this panics and the test fails.
#[track_caller]
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let path = root.join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(!root.is_dir(), "{} is missing although {} exists", path.display(), root.display());
    eprintln!("skipping: {} not found", path.display());
    None
}
