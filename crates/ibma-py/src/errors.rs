//! The library's errors as Python exceptions, each carrying the one line the `ibma` command
//! prints after `ibma: error: `.

use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyTypeError, PyValueError,
};
use pyo3::PyErr;
use std::io::ErrorKind;

/// The exception for `e`: a missing file is `FileNotFoundError`, an unreadable or unwritable
/// one `OSError` (or `PermissionError`), an unknown keyword `TypeError` (as Python and NiMARE
/// raise for an unexpected keyword argument), cancellation `KeyboardInterrupt`, and every other
/// bad request or bad content `ValueError`.
pub fn to_py(e: ibma::Error) -> PyErr {
    let msg = e.to_string();
    match &e {
        ibma::Error::Io(io) => match io {
            ibma_io::Error::Io { source, .. } => match source.kind() {
                ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
                ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
                _ => PyOSError::new_err(msg),
            },
            ibma_io::Error::Manifest { msg: what, .. } if what.starts_with("file not found") => {
                PyFileNotFoundError::new_err(msg)
            }
            ibma_io::Error::Output { .. } => PyOSError::new_err(msg),
            _ => PyValueError::new_err(msg),
        },
        ibma::Error::Param { msg: what, .. } if what.starts_with("unknown parameter") => PyTypeError::new_err(msg),
        ibma::Error::Invalid(what) if what.ends_with(": file not found") => PyFileNotFoundError::new_err(msg),
        ibma::Error::Cancelled => PyKeyboardInterrupt::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// `Result` of the library to `PyResult`.
pub trait IntoPy<T> {
    /// Convert the error with [`to_py`].
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for ibma::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}

impl<T> IntoPy<T> for ibma_io::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
