//! `ibma fit --shard I/N` and `ibma merge` (docs/cluster.md): a shard's folder holds its
//! partial result ([`SHARD_FILE`]) and `shard.json`, which says what it is in plain text; `ibma
//! merge` checks that shards belong together and writes what `ibma fit` would have written.

use crate::progress::Bars;
use crate::run::{configure, input_files, permutations_fit_in_memory, write_result, FitReport, FitRequest, Job};
use ibma::shard::{Identity, Shard, ShardSpec, SHARD_FILE};
use ibma::{Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::out_folder::{Mode, OutFolder};
use ibma_io::summary::Timings;
use ibma_io::GzipLevel;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name of a shard's description.
pub const SHARD_SUMMARY: &str = "shard.json";

/// `ibma fit --shard I/N [--stage DIR]`: fit shard `spec` of `req` (reading its inputs from the
/// stage folder `stage` when given) and write its partial result into `--out` (`ibma merge`
/// joins the shards).
///
/// # Errors
/// As [`crate::run::fit`], a shard that cannot split anything, a stage of another fit.
pub fn fit_shard(req: &FitRequest, spec: ShardSpec, stage: Option<&Path>) -> Result<FitReport> {
    let job = configure(req)?;
    ibma::shard::check(&job.estimator, &job.corrections, spec)?;
    let mut out = OutFolder::open(&req.out, Mode::Fresh { force: req.force })?;
    let report = write_shard(&job, spec, stage, &mut out)?;
    Ok(FitReport { written: out.commit()?, ..report })
}

/// Fit shard `spec` of `job` and write it into `out`'s staging folder.
fn write_shard(job: &Job, spec: ShardSpec, stage: Option<&Path>, out: &mut OutFolder) -> Result<FitReport> {
    let start = Instant::now();
    let spinner = crate::progress::spinner(&format!("{}: shard {spec}", job.estimator.name()));
    let dataset = Dataset::load_with(&job.dataset, &job.load)?;
    out.keep(input_files(&dataset).iter().map(PathBuf::as_path));
    let identity = Identity::new(job.estimator.clone(), &job.requested, job.source(&dataset), &dataset)?;
    spinner.finish_and_clear();
    if job.corrections.permutes() {
        // Each shard holds its slice of the nulls; the merged run holds them all.
        permutations_fit_in_memory(job, dataset.manifest.studies.len())?;
    }
    let staged = match stage {
        Some(dir) => {
            let what =
                format!("{}: inputs staged in {} (by this shard or another)", job.estimator.name(), dir.display());
            let spinner = crate::progress::spinner(&what);
            let staged = ibma::shard::stage_in(dir, &identity, &dataset)?;
            spinner.finish_and_clear();
            Some(staged)
        }
        None => None,
    };
    let mut shard = ibma::shard::fit(identity, &dataset, spec, staged.as_ref(), &Bars::default())?;
    if let Some(dir) = stage {
        shard.stage =
            Some(std::fs::canonicalize(dir).map_err(|source| ibma_io::Error::Io { path: dir.into(), source })?);
    }
    let fit_seconds = start.elapsed().as_secs_f64();
    let file = out.path(SHARD_FILE);
    shard.save(&file)?;
    let n_flips = job.corrections.permutes().then(|| shard.flips.clone());
    let description = serde_json::json!({
        "format": "ibma-shard",
        "shard": spec.to_string(),
        "estimator": job.estimator.name(),
        "estimator_requested": job.requested,
        "parameters": ibma::params::params(&job.estimator).into_iter().collect::<serde_json::Map<_, _>>(),
        "corrections": job.corrections,
        "dataset": shard.identity.source.dataset,
        "dataset_digest": shard.identity.dataset_digest,
        "mask_voxels": shard.mask.len(),
        "voxels": [shard.voxels.start, shard.voxels.end],
        "flips": n_flips.map(|r| [r.start, r.end]),
        "stage": shard.stage,
        "file": SHARD_FILE,
        "timings": Timings {
            read_and_fit_seconds: fit_seconds,
            read_seconds: 0.0,
            fit_seconds: 0.0,
            correct_seconds: 0.0,
            write_seconds: start.elapsed().as_secs_f64() - fit_seconds,
            cpu_seconds: crate::process::cpu_seconds(),
            peak_rss_mb: crate::process::peak_rss_mb(),
        },
    });
    let text = serde_json::to_string_pretty(&description).map_err(|e| Error::Invalid(e.to_string()))?;
    ibma_io::atomic::write_with(&out.path(SHARD_SUMMARY), |w| w.write_all(text.as_bytes()))?;
    let result = shard.part.unwrap_or_else(|| MetaResult::new(job.estimator.clone(), shard.mask));
    Ok(FitReport { result, written: vec![file], fit_seconds })
}

/// Everything `ibma merge` takes.
#[derive(Clone, Debug)]
pub struct MergeRequest {
    /// Output directory.
    pub out: PathBuf,
    /// The shards' output folders, in any order.
    pub shards: Vec<PathBuf>,
    /// Replace an earlier result in `out`.
    pub force: bool,
}

/// Run `ibma merge`: read and check every shard, join them, and write what `ibma fit` would
/// have written into `out`. Nothing is written when a shard is wrong.
///
/// # Errors
/// A folder that is not a shard, shards that do not belong together or do not cover the fit
/// (one message naming the shard), what the whole-map steps reject, an output folder that cannot
/// take the result.
pub fn merge(req: &MergeRequest) -> Result<FitReport> {
    let start = Instant::now();
    if req.shards.is_empty() {
        return Err(Error::Invalid("ibma merge: give the shards' folders, e.g. ibma merge --out out shards/*".into()));
    }
    let shards: Vec<(PathBuf, Shard)> = req
        .shards
        .par_iter()
        .map(|dir| {
            let file = dir.join(SHARD_FILE);
            if !file.is_file() {
                return Err(Error::Invalid(format!(
                    "{}: not a shard folder (no {SHARD_FILE}; `ibma fit ... --shard I/N --out {}` writes one)",
                    dir.display(),
                    dir.display()
                )));
            }
            Ok((dir.clone(), Shard::load(&file)?))
        })
        .collect::<Result<_>>()?;
    let identity = shards[0].1.identity.clone();
    let mask_voxels = shards[0].1.mask.len();
    // A temporary stage for whole-map steps, if the shards had none, goes next to the first.
    let result = ibma::shard::merge(shards, &req.shards[0])?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let mut out = OutFolder::open(&req.out, Mode::Fresh { force: req.force })?;
    // The shards (and the dataset, for GRF) are this run's inputs: never replaced.
    let shard_files: Vec<PathBuf> =
        req.shards.iter().flat_map(|d| [d.join(SHARD_FILE), d.join(SHARD_SUMMARY)]).collect();
    out.keep(shard_files.iter().map(PathBuf::as_path));
    let phases = crate::run::Phases::total(fit_seconds);
    write_result(
        &identity.estimator_requested,
        &identity.source,
        mask_voxels,
        &result,
        &out,
        phases,
        GzipLevel::DEFAULT,
    )?;
    Ok(FitReport { result, written: out.commit()?, fit_seconds })
}
