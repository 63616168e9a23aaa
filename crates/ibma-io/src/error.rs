//! The one error type of ibma-io. Every variant names the file it is about.

use std::path::PathBuf;

/// Result alias of ibma-io.
pub type Result<T> = std::result::Result<T, Error>;

/// A problem with an input or output file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a NIfTI-1 image ibma can read (bad magic, truncated, unsupported type).
    #[error("{}: {msg}", path.display())]
    Nifti {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// An image's grid differs from the mask's.
    #[error(
        "{}: grid {found} differs from the mask grid {expected}; --set resample=linear (or nearest) puts it onto the mask grid",
        path.display()
    )]
    GridMismatch {
        /// The image.
        path: PathBuf,
        /// Its grid.
        found: String,
        /// The mask's grid.
        expected: String,
    },
    /// An output folder cannot take the result (it holds other files, is locked, ...).
    #[error("{}: {msg}", path.display())]
    Output {
        /// The output folder or file.
        path: PathBuf,
        /// What is wrong, and what to do.
        msg: String,
    },
    /// `dataset.json` is malformed; `field` names the study and key (e.g. `studies[3] (pain_04).maps.con`).
    #[error("{}: {field}: {msg}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Where in the manifest.
        field: String,
        /// What is wrong.
        msg: String,
    },
}
