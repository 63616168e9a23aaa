//! Progress on stderr for long work: drawn only when stderr is a terminal and `--quiet` is off.
//! [`Bars`] draws the library's [`Progress`] reports; [`spinner`] covers steps without units.

use ibma::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// The library's progress reports as bars on stderr, one step at a time. A step still running
/// after a few seconds also gets one line with its estimated time left, terminal or not (a
/// cluster job's log shows it), unless `--quiet`.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<Step>>,
}

/// The step being shown.
struct Step {
    bar: ProgressBar,
    what: String,
    total: usize,
    done: usize,
    started: Instant,
    estimated: bool,
}

/// A step is estimated once it has run this long.
const ESTIMATE_AFTER: Duration = Duration::from_secs(3);

impl Bars {
    fn with(&self, f: impl FnOnce(&mut Option<Step>)) {
        f(&mut self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: usize) {
        let step = Step {
            bar: bar(total, what),
            what: what.into(),
            total,
            done: 0,
            started: Instant::now(),
            estimated: false,
        };
        self.with(|current| *current = Some(step));
    }
    fn advance(&self, n: usize) {
        self.with(|current| {
            let Some(step) = current else { return };
            step.bar.inc(n as u64);
            step.done += n;
            let elapsed = step.started.elapsed();
            if !step.estimated && elapsed >= ESTIMATE_AFTER && step.done > 0 && !QUIET.load(Ordering::Relaxed) {
                step.estimated = true;
                let left = elapsed.as_secs_f64() * (step.total - step.done.min(step.total)) as f64 / step.done as f64;
                if left > 10.0 {
                    step.bar.suspend(|| {
                        eprintln!(
                            "ibma: {}: {} of {} done in {}, about {} to go",
                            step.what,
                            step.done,
                            step.total,
                            duration(elapsed.as_secs_f64()),
                            duration(left)
                        )
                    });
                }
            }
        });
    }
    fn finish(&self) {
        self.with(|current| current.take().iter().for_each(|s| s.bar.finish_and_clear()));
    }
}

/// Seconds in words a person reads at a glance: "45 s", "12 min", "3.5 h", "2.1 days".
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 90.0 * 60.0 => format!("{:.0} min", s / 60.0),
        s if s < 48.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        s if s < 2.0 * 365.0 * 86400.0 => format!("{:.1} days", s / 86400.0),
        s => format!("{:.0} years", s / (365.0 * 86400.0)),
    }
}

/// Print `msg` as a warning on stderr, once per process (a warning given up front is not
/// repeated with the result's warnings at the end).
pub fn warn(msg: &str) {
    static SHOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut shown = SHOWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !shown.iter().any(|s| s == msg) {
        eprintln!("ibma: warning: {msg}");
        shown.push(msg.to_string());
    }
}
