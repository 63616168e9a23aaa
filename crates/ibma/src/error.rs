//! The facade's error: anything that fails a whole fit or command.

/// Result alias of the facade.
pub type Result<T> = std::result::Result<T, Error>;

/// A problem that stops a whole fit or command (a voxel that cannot be estimated is NaN instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file problem (reading, grid, manifest, writing).
    #[error(transparent)]
    Io(#[from] ibma_io::Error),
    /// Too few usable studies for the estimator.
    #[error("{estimator} needs at least 2 usable studies, found {found}{detail}")]
    TooFewStudies {
        /// Estimator name.
        estimator: String,
        /// Usable studies.
        found: usize,
        /// Why the others were dropped.
        detail: String,
    },
    /// A bad estimator parameter (`--set key=value`).
    #[error("{estimator}: parameter {key}: {msg}")]
    Param {
        /// Estimator name.
        estimator: String,
        /// Parameter name.
        key: String,
        /// What is wrong, with the valid choices.
        msg: String,
    },
    /// Any other invalid request (unknown estimator, bad option value, ...).
    #[error("{0}")]
    Invalid(String),
    /// The caller stopped the work ([`crate::progress::Progress::cancelled`]).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// A value `value` of parameter `key` that `estimator` does not take; `valid` says what it
    /// takes.
    pub fn param(estimator: &str, key: &str, value: &str, valid: &str) -> Error {
        Error::Param {
            estimator: estimator.to_string(),
            key: key.to_string(),
            msg: format!("invalid value {value:?}; valid values: {valid}"),
        }
    }
}
