//! `ibma._ibma`: the native half of the `ibma` Python package. A thin edge over the `ibma`
//! library, as the `ibma` command line is: every number comes from the library; this crate
//! converts arguments (NumPy arrays, JSON values of keyword arguments, paths), runs the work
//! without the GIL on a pool of the requested size, turns Ctrl-C into the library's
//! cancellation and the library's errors into Python exceptions. The NiMARE-shaped classes
//! are Python code in `python/ibma/`, built on the classes here.

mod data;
mod errors;
mod estimator;
mod result;
mod run;

use pyo3::prelude::*;

/// Native part of ibma: estimators, inputs and results of the `ibma` library.
#[pymodule]
mod _ibma {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::estimator::NativeEstimator;

    #[pymodule_export]
    use crate::data::{masked_volumes, NativeInputs, NativeMask};

    #[pymodule_export]
    use crate::result::{fit_inputs, fit_path, NativeResult};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("tolerances", super::tolerances(m.py())?)?;
        Ok(())
    }
}

/// The map-comparison tolerances of `ibma::tol` that the Python tests use (one source for
/// the numbers: the Rust constants).
fn tolerances(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    use ibma::tol;
    let d = pyo3::types::PyDict::new(py);
    for (name, value) in [
        ("MAP_RTOL", tol::MAP_RTOL),
        ("MAP_ATOL", tol::MAP_ATOL),
        ("LIKELIHOOD_PASS_FRACTION", tol::LIKELIHOOD_PASS_FRACTION),
        ("LIKELIHOOD_LOOSE_RTOL", tol::LIKELIHOOD_LOOSE_RTOL),
        ("GOLDEN_6_DIGITS_RTOL", tol::GOLDEN_6_DIGITS_RTOL),
        ("AFFINE_ATOL_MM", tol::AFFINE_ATOL_MM),
    ] {
        d.set_item(name, value)?;
    }
    Ok(d)
}
