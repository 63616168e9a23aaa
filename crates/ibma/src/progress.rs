//! How long work tells its caller how far it is, and learns that it should stop. The library
//! never draws anything: the `ibma` command line draws bars from these calls, and the Python
//! module checks for Ctrl-C.

/// An observer of long work (voxel blocks, sign flips, jackknife refits). Every method has a
/// do-nothing default; [`Quiet`] is the observer that ignores everything.
pub trait Progress: Sync {
    /// A step of `total` units begins, described by `what` (e.g. "mfx-glm sign flips").
    fn start(&self, what: &str, total: usize) {
        let _ = (what, total);
    }
    /// `n` more units of the current step are done (called from any thread).
    fn advance(&self, n: usize) {
        let _ = n;
    }
    /// The current step is done.
    fn finish(&self) {}
    /// True once the caller wants the work stopped; long loops then end with
    /// [`crate::Error::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing and never cancels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}
