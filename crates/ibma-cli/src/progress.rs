//! Progress on stderr for long work: drawn only when stderr is a terminal and `--quiet` is off.
//! [`Bars`] draws the library's [`Progress`] reports; [`spinner`] covers steps without units.

use ibma::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: draw nothing.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn shown() -> bool {
    !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A bar of `len` steps (hidden when not shown); `inc` it from any thread.
pub fn bar(len: usize, msg: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64).with_message(msg.to_string());
    pb.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// A spinner with a message (hidden when not shown).
pub fn spinner(msg: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner().with_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The library's progress reports as bars on stderr, one step at a time.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        f(&mut self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: usize) {
        self.with(|current| *current = Some(bar(total, what)));
    }
    fn advance(&self, n: usize) {
        self.with(|current| current.iter().for_each(|b| b.inc(n as u64)));
    }
    fn finish(&self) {
        self.with(|current| current.take().iter().for_each(ProgressBar::finish_and_clear));
    }
}
