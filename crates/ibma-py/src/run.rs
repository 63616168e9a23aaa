//! Running library work from Python: off the GIL, on a pool of the requested size, stopped by
//! Ctrl-C, with a panic turned into an exception instead of an abort.
//!
//! Python runs signal handlers only on its main thread, and the library's loops run on rayon's
//! workers, so the calling thread does the watching: the work runs on a thread of its own, and
//! the caller waits for it in slices of [`POLL`], re-acquiring the GIL between slices to run
//! `PyErr_CheckSignals`. When a handler raises (Ctrl-C: `KeyboardInterrupt`), the caller sets
//! the flag that [`Interruptible::cancelled`] reports to the library and raises at once; the
//! work ends at the library's next cancellation check ([`ibma::Error::Cancelled`], discarded),
//! or when it finishes, and its result is dropped.

use crate::errors::to_py;
use ibma::progress::Progress;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How often the waiting caller checks for signals (Ctrl-C is raised within this).
const POLL: Duration = Duration::from_millis(50);

/// The library's [`Progress`]: reports nothing, cancelled once the caller saw a signal.
pub struct Interruptible {
    stop: Arc<AtomicBool>,
}

impl Progress for Interruptible {
    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Run `work` without the GIL, on a rayon pool of `threads` threads (None: the global pool,
/// one thread per core), raising Python's exception for a signal (Ctrl-C) as soon as it
/// arrives, the library's error as [`to_py`] says, and `RuntimeError` for a panic.
///
/// # Errors
/// As above; a pool that cannot be built is `ValueError`.
pub fn run<T, W>(py: Python<'_>, threads: Option<usize>, work: W) -> PyResult<T>
where
    T: Send + 'static,
    W: FnOnce(&dyn Progress) -> ibma::Result<T> + Send + 'static,
{
    let pool = match threads {
        None => None,
        Some(0) => return Err(pyo3::exceptions::PyValueError::new_err("n_cores must be at least 1")),
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))?,
        ),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Interruptible { stop: Arc::clone(&stop) };
    let (done, outcome) = mpsc::channel();
    std::thread::Builder::new()
        .name("ibma".into())
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| match &pool {
                Some(pool) => pool.install(|| work(&progress)),
                None => work(&progress),
            }));
            // The caller may have gone (Ctrl-C): nobody to tell.
            let _ = done.send(result);
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    let mut outcome = outcome;
    loop {
        // The receiver goes into the GIL-free closure and comes back out (it is not `Sync`).
        let received;
        (outcome, received) = py.detach(move || {
            let received = outcome.recv_timeout(POLL);
            (outcome, received)
        });
        match received {
            Ok(Ok(result)) => return result.map_err(to_py),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown panic");
                return Err(PyRuntimeError::new_err(format!("ibma: internal error (please report): {what}")));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(signal) = py.check_signals() {
                    stop.store(true, Ordering::Relaxed);
                    return Err(signal);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("ibma: internal error (please report): the worker thread vanished"))
            }
        }
    }
}
