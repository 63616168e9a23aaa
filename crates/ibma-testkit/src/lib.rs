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

#[cfg(test)]
mod tests {
    use super::shared_data;
    use std::path::Path;

    /// Where the reference data are (CI), a missing data set fails its test; where they are
    /// not (a bare clone), the test skips.
    #[test]
    fn a_missing_data_set_fails_only_where_the_reference_data_are() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let missing = std::panic::catch_unwind(|| shared_data("no-such-data-set"));
        if root.is_dir() {
            assert!(missing.is_err(), "{} exists: a missing data set must panic", root.display());
        } else {
            assert!(matches!(missing, Ok(None)));
        }
    }
}
