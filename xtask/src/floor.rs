//! The inflate floor of a bench case: the CPU seconds libdeflate takes to inflate, once each,
//! the gzip files `ibma fit` reads for it (the mask and the maps its estimator reads), timed in
//! the bench's own process on one thread with the files already in memory and one output buffer
//! reused. A reader that inflates its inputs cannot spend less CPU; it is what the closed-form
//! estimators' run time is set against.

use ibma::estimators::AnyEstimator;
use ibma::Estimator;
use std::path::{Path, PathBuf};

/// The files `ibma fit --estimator <estimator> --set <sets>` reads from `dataset`, as
/// `ibma::Dataset::files_read` lists them.
pub(crate) fn files_read(dataset: &Path, estimator: &str, sets: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut est = AnyEstimator::by_name(estimator).map_err(|e| e.to_string())?;
    for set in sets {
        let (key, value) = set.split_once('=').ok_or(format!("--set {set}: not key=value"))?;
        ibma::params::set(&mut est, key, value).map_err(|e| e.to_string())?;
    }
    let dataset = ibma::Dataset::load(dataset).map_err(|e| e.to_string())?;
    Ok(dataset.files_read(&est.needs()))
}

/// Gzip files in memory, each with the size it inflates to (its trailer's ISIZE: one member,
/// as ibma, nibabel and FSL write them). Files that are not gzip inflate nothing and are left out.
pub(crate) struct Gzipped(Vec<(Vec<u8>, usize)>);

impl Gzipped {
    pub(crate) fn read(paths: &[PathBuf]) -> Result<Gzipped, String> {
        let mut files = Vec::new();
        for path in paths {
            let gz = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if gz.starts_with(&[0x1f, 0x8b]) && gz.len() >= 18 {
                let isize =
                    u32::from_le_bytes([gz[gz.len() - 4], gz[gz.len() - 3], gz[gz.len() - 2], gz[gz.len() - 1]]);
                files.push((gz, isize as usize));
            }
        }
        Ok(Gzipped(files))
    }

    /// How many gzip files.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Median over `reps` of this thread's CPU seconds to inflate every file once with
    /// libdeflate (one `gzip_decompress` each, which also checks the CRC).
    pub(crate) fn libdeflate_cpu(&self, reps: usize) -> Result<f64, String> {
        let mut inflater = libdeflater::Decompressor::new();
        self.median_cpu(reps, |gz, out| match inflater.gzip_decompress(gz, out) {
            Ok(n) if n == out.len() => Ok(()),
            Ok(n) => Err(format!("inflates to {n} bytes, not the {} its trailer says", out.len())),
            Err(e) => Err(e.to_string()),
        })
    }

    /// As [`Gzipped::libdeflate_cpu`], through the inflater ibma reads with
    /// (`ibma_io::gz::inflate_exact`, which also finds where the member ends).
    pub(crate) fn ibma_io_cpu(&self, reps: usize) -> Result<f64, String> {
        self.median_cpu(reps, |gz, out| ibma::io::gz::inflate_exact(gz, out).map_err(|e| e.to_string()))
    }

    fn median_cpu(
        &self,
        reps: usize,
        mut inflate: impl FnMut(&[u8], &mut [u8]) -> Result<(), String>,
    ) -> Result<f64, String> {
        let mut out = vec![0u8; self.0.iter().map(|f| f.1).max().unwrap_or(0)];
        let mut seconds = Vec::new();
        for _ in 0..reps.max(1) {
            let start = thread_cpu_seconds()?;
            for (i, (gz, n)) in self.0.iter().enumerate() {
                inflate(gz, &mut out[..*n]).map_err(|e| format!("inflating gzip file {i} of the case: {e}"))?;
            }
            seconds.push(thread_cpu_seconds()? - start);
        }
        Ok(crate::median::median(&mut seconds))
    }
}

/// CPU seconds this thread has run (Linux `/proc/thread-self/schedstat`, in nanoseconds: the
/// clock-tick counts of `/proc/self/stat` are too coarse for a tenth of a second).
fn thread_cpu_seconds() -> Result<f64, String> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("/proc/thread-self/schedstat (the floor's CPU clock, Linux only): {e}"))?;
    let ns: f64 = text.split_whitespace().next().and_then(|n| n.parse().ok()).ok_or("unreadable schedstat")?;
    Ok(ns * 1e-9)
}
