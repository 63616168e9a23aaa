//! The `ibma fit`, `correct`, `report` and `convert-dataset` commands as library calls: read
//! the request's text, run the library, write into the output folder. The binary and
//! `cargo xtask validate` both go through here.

use crate::progress::Bars;
use ibma::correct::Corrections;
use ibma::estimators::AnyEstimator;
use ibma::maps::Method;
use ibma::options::Flips;
use ibma::persist::{FitSource, SavedResult, RESULT_FILE};
use ibma::{params, Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::out_folder::{Mode, OutFolder};
use ibma_io::summary::{MapSummary, ResultSummary, Timings, SUMMARY_FILE};
use ibma_io::GzipLevel;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything `ibma fit` takes.
#[derive(Clone, Debug)]
pub struct FitRequest {
    /// Dataset directory or `dataset.json`.
    pub dataset: PathBuf,
    /// Estimator command or NiMARE class name.
    pub estimator: String,
    /// Output directory.
    pub out: PathBuf,
    /// `--set key=value` pairs, in order.
    pub sets: Vec<(String, String)>,
    /// `--correct` methods, in order.
    pub corrections: Vec<String>,
    /// `--n-iters` (permutation-based methods).
    pub n_iters: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--threads` (None: all cores).
    pub threads: Option<usize>,
    /// Replace an earlier result in `out` (`--force`).
    pub force: bool,
    /// How to read the dataset (`--mask`, `--treat-as-independent`).
    pub load: ibma::dataset::LoadOptions,
}

/// What a fit produced, for the caller to report.
#[derive(Debug)]
pub struct FitReport {
    /// The fitted result.
    pub result: MetaResult,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Seconds spent reading and fitting.
    pub fit_seconds: f64,
}

/// A fit once its text is read: what to fit, how to correct it, where the data are.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) estimator: AnyEstimator,
    pub(crate) corrections: Corrections,
    /// The estimator name as the user wrote it.
    pub(crate) requested: String,
    pub(crate) dataset: PathBuf,
    pub(crate) load: ibma::dataset::LoadOptions,
}

/// Parse a `key=value` argument of `--set`.
///
/// # Errors
/// No `=`, or nothing before it.
pub fn parse_set(arg: &str) -> Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(Error::Invalid(format!("--set {arg:?}: expected key=value, e.g. --set two_sided=false"))),
    }
}

/// Options of the corrections that `--set` reaches (besides `--n-iters` and `--seed`).
const CLUSTER_KEYS: [&str; 3] = ["cdt", "cdt_tail", "connectivity"];

/// The estimator and corrections a request asks for, checked before any data is read.
/// `--set` keys go to the estimator's parameters; `cdt`, `cdt_tail`, `connectivity` also to the
/// cluster corrections and `exact_flips` to the sign-flip corrections, when asked for. A key
/// nothing takes is an error.
pub(crate) fn configure(req: &FitRequest) -> Result<Job> {
    let mut estimator = AnyEstimator::by_name(&req.estimator)?;
    let mut corrections = Corrections {
        methods: req.corrections.iter().map(|c| Method::parse(c)).collect::<Result<_>>()?,
        flips: Flips { n_iters: req.n_iters, seed: req.seed, exact_flips: false },
        ..Corrections::default()
    };
    for key in ["n_iters", "seed"] {
        if params::has(&estimator, key) {
            let value = if key == "n_iters" { req.n_iters.to_string() } else { req.seed.to_string() };
            params::set(&mut estimator, key, &value)?;
        }
    }
    for (key, value) in &req.sets {
        let to_clusters = CLUSTER_KEYS.contains(&key.as_str()) && corrections.clusters_asked();
        let to_flips = key == "exact_flips" && corrections.permutes();
        if to_clusters {
            params::set_field(&mut corrections.clusters, "--correct", key, value)?;
        }
        if to_flips {
            params::set_field(&mut corrections.flips, "--correct", key, value)?;
        }
        if params::has(&estimator, key) || !(to_clusters || to_flips) {
            params::set(&mut estimator, key, value).map_err(|e| with_hint(e, key))?;
        }
    }
    estimator.validate()?;
    corrections.validate()?;
    if let Some(w) = corrections.permutes().then(|| corrections.flips.too_few()).flatten() {
        crate::progress::warn(&w);
    }
    Ok(Job {
        estimator,
        corrections,
        requested: req.estimator.clone(),
        dataset: req.dataset.clone(),
        load: req.load.clone(),
    })
}

/// Say where the options that belong to corrections apply.
fn with_hint(e: Error, key: &str) -> Error {
    match (e, key) {
        (Error::Param { estimator, key, msg }, "cdt" | "cdt_tail" | "connectivity" | "exact_flips") => Error::Param {
            msg: format!("{msg} ({key} applies with --correct cluster-size, cluster-mass or tfce, exact_flips with any sign-flip --correct, and GRF clusters are ffx-glm's and mfx-glm's)"),
            estimator,
            key,
        },
        (e, _) => e,
    }
}

/// Run `ibma fit`: check the whole request first, then fit, then write the maps,
/// `result.json` and the saved result into `--out`, all at once ([`OutFolder`]).
///
/// # Errors
/// A bad request, an output folder that cannot take the result, what the fit rejects.
pub fn fit(req: &FitRequest) -> Result<FitReport> {
    fit_at(req, GzipLevel::DEFAULT)
}

/// [`fit`] writing the maps at gzip compression `level` (`--compress-level`).
///
/// # Errors
/// As [`fit`].
pub fn fit_at(req: &FitRequest, level: GzipLevel) -> Result<FitReport> {
    let job = configure(req)?;
    let mut out = OutFolder::open(&req.out, Mode::Fresh { force: req.force })?;
    let report = fit_into(&job, &mut out, level)?;
    Ok(FitReport { written: out.commit()?, ..report })
}

/// The work of [`fit`] once the request is checked: fit and write every file into `out`'s
/// staging folder (the caller commits).
fn fit_into(job: &Job, out: &mut OutFolder, level: GzipLevel) -> Result<FitReport> {
    let start = Instant::now();
    let estimator = &job.estimator;
    let spinner = crate::progress::spinner(&format!("{}: reading and fitting", estimator.name()));
    let dataset = Dataset::load_with(&job.dataset, &job.load)?;
    out.keep(input_files(&dataset).iter().map(PathBuf::as_path));
    if !job.corrections.permutes() && ibma::stage::worthwhile(estimator, &dataset)? {
        // Inputs too large to hold: through a scratch file in the staging folder, block by block.
        spinner.finish_and_clear();
        let mut result = ibma::stage::fit(estimator, &dataset, out.staging(), &Bars::default())?;
        job.corrections.apply_nulls(estimator, &mut result, &ibma::correct::Nulls::default())?;
        let fit_seconds = start.elapsed().as_secs_f64();
        let (source, phases) = (job.source(&dataset), Phases::total(fit_seconds));
        let written = write_result(&job.requested, &source, dataset.mask.len(), &result, out, phases, level)?;
        return Ok(FitReport { result, written, fit_seconds });
    }
    let needs = estimator.needs();
    // Read study by study: only the prepared float32 inputs are held, never a second copy.
    let inputs = dataset.prepare_voxels(&needs, 0..dataset.mask.len())?;
    spinner.finish_and_clear();
    let read_seconds = start.elapsed().as_secs_f64();
    permutations_fit_in_memory(job, inputs.n_studies())?;
    let fit_start = Instant::now();
    let mut result = estimator.fit_prepared(&inputs, &Bars::default())?;
    let fit_alone = fit_start.elapsed().as_secs_f64();
    if job.corrections.permutes() {
        permutations_finish_in_time(job, inputs.n_studies(), fit_alone)?;
    }
    let correct_start = Instant::now();
    job.corrections.apply(estimator, &inputs, &mut result, &Bars::default())?;
    let correct_seconds = correct_start.elapsed().as_secs_f64();
    drop(inputs);
    let fit_seconds = start.elapsed().as_secs_f64();
    let source = job.source(&dataset);
    let phases = Phases { read_and_fit: fit_seconds, read: read_seconds, fit: fit_alone, correct: correct_seconds };
    let written = write_result(&job.requested, &source, dataset.mask.len(), &result, out, phases, level)?;
    Ok(FitReport { result, written, fit_seconds })
}

impl Job {
    /// Where the data come from, as the saved result records it.
    pub(crate) fn source(&self, dataset: &Dataset) -> FitSource {
        FitSource {
            dataset: absolute(&dataset.manifest.path),
            mask: self.load.mask.as_deref().map(absolute),
            treat_as_independent: self.load.treat_as_independent,
            corrections: self.corrections.clone(),
        }
    }
}

/// Seconds of a fit's phases, as `result.json` reports them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phases {
    /// Reading, fitting and correcting.
    pub(crate) read_and_fit: f64,
    /// Of that: reading, the estimator's fit alone, the corrections (0 where not measured
    /// apart: a fit through a scratch file, a merge of shards).
    pub(crate) read: f64,
    pub(crate) fit: f64,
    pub(crate) correct: f64,
}

impl Phases {
    /// Only the total is known.
    pub(crate) fn total(read_and_fit: f64) -> Phases {
        Phases { read_and_fit, read: 0.0, fit: 0.0, correct: 0.0 }
    }
}

/// Write a fitted `result` into `out`'s staging folder as `ibma fit` does: the maps (at gzip
/// `level`), the saved result and `result.json`. Returns the files written (`result.json` aside).
pub(crate) fn write_result(
    requested: &str,
    source: &FitSource,
    mask_voxels: usize,
    result: &MetaResult,
    out: &OutFolder,
    phases: Phases,
    level: GzipLevel,
) -> Result<Vec<PathBuf>> {
    let write_start = Instant::now();
    // The saved result is compressed on one thread: overlap it with the maps, written in parallel.
    let saved = out.path(RESULT_FILE);
    let (written, stored) = rayon::join(
        || result.save_maps_at(out.staging(), "", level),
        || ibma::persist::save_fit(&saved, result, Some(source)),
    );
    let (mut written, ()) = (written?, stored?);
    written.push(saved);
    let timings = Timings {
        read_and_fit_seconds: phases.read_and_fit,
        read_seconds: phases.read,
        fit_seconds: phases.fit,
        correct_seconds: phases.correct,
        write_seconds: write_start.elapsed().as_secs_f64(),
        cpu_seconds: crate::process::cpu_seconds(),
        peak_rss_mb: crate::process::peak_rss_mb(),
    };
    summary(requested, source, mask_voxels, result, timings).write(&out.path(SUMMARY_FILE))?;
    Ok(written)
}

/// Bytes a permutation run keeps per sign flip: the nulls of the maxima (z, cluster size,
/// mass, TFCE) and their text in `result.json` and the saved result.
const BYTES_PER_FLIP: f64 = 100.0;
/// Longest permutation run ibma starts.
const LONGEST_RUN_SECONDS: f64 = 365.0 * 86400.0;

/// Refuse sign flips whose nulls (corrections) or whose flip matrix (an estimator's own
/// empirical null) would not fit in half the available memory.
pub(crate) fn permutations_fit_in_memory(job: &Job, n_studies: usize) -> Result<()> {
    let nested = job.estimator.capabilities().permutation == ibma::estimators::Permutation::Nested;
    let own = params::params(&job.estimator).into_iter().find(|(k, _)| k == "n_iters").and_then(|(_, v)| v.as_u64());
    let (n_iters, bytes_per_flip) = match (job.corrections.permutes(), nested, own) {
        (true, _, _) => (job.corrections.flips.n_iters, BYTES_PER_FLIP),
        (false, true, Some(n)) => (usize::try_from(n).unwrap_or(usize::MAX), 8.0 * n_studies as f64),
        _ => return Ok(()),
    };
    let memory = n_iters as f64 * bytes_per_flip;
    let gb = |bytes: f64| format!("{:.1} GB", bytes / 1e9);
    match crate::process::available_memory_bytes().filter(|&a| memory > a / 2.0) {
        Some(available) => Err(Error::Invalid(format!(
            "--n-iters {n_iters}: the sign flips need about {} of memory, more than half of the {} available; use at most {:.0} flips (or run them in shards on several machines)",
            gb(memory),
            gb(available),
            available / 2.0 / bytes_per_flip
        ))),
        None => Ok(()),
    }
}

/// Refuse a permutation run that would take more than a year (refits × the time of the fit
/// just done ÷ threads); say how long a long one will take.
pub(crate) fn permutations_finish_in_time(job: &Job, n_studies: usize, seconds_per_fit: f64) -> Result<()> {
    if job.estimator.capabilities().permutation != ibma::estimators::Permutation::Refit {
        return Ok(()); // the one-sample t engine is far faster than a refit: the progress line estimates it
    }
    let flips = &job.corrections.flips;
    let rows = flips.stream(n_studies)?.n_iters();
    let threads = rayon::current_num_threads();
    let seconds = seconds_per_fit * rows as f64 / threads as f64;
    if seconds > LONGEST_RUN_SECONDS {
        return Err(Error::Invalid(format!(
            "--n-iters {}: about {} at {seconds_per_fit:.2} s per refit on {threads} threads; use fewer flips",
            flips.n_iters,
            crate::progress::duration(seconds)
        )));
    }
    if seconds > 60.0 {
        eprintln!(
            "ibma: {rows} sign flips of {}: about {} ({seconds_per_fit:.2} s per refit on {threads} threads)",
            job.estimator.name(),
            crate::progress::duration(seconds)
        );
    }
    Ok(())
}

/// `result.json` of a fit.
fn summary(
    requested: &str,
    source: &FitSource,
    mask_voxels: usize,
    result: &MetaResult,
    timings: Timings,
) -> ResultSummary {
    let mut maps: std::collections::BTreeMap<String, MapSummary> = result
        .maps()
        .map(|(map, values)| {
            let (finite, nan) = MetaResult::counts(values);
            (map.to_string(), MapSummary { file: format!("{map}.nii.gz"), volumes: None, finite, nan })
        })
        .collect();
    for (map, volumes) in result.per_study_maps() {
        let all: Vec<f64> = volumes.iter().flatten().copied().collect();
        let (finite, nan) = MetaResult::counts(&all);
        maps.insert(
            map.to_string(),
            MapSummary { file: format!("{map}.nii.gz"), volumes: Some(volumes.len()), finite, nan },
        );
    }
    let corrections = &source.corrections;
    ResultSummary {
        estimator: result.estimator.name().to_string(),
        estimator_requested: requested.to_string(),
        parameters: params::params(&result.estimator).into_iter().collect(),
        corrections: corrections.methods.iter().map(|m| m.command_name().to_string()).collect(),
        correction_options: corrections.permutes().then(|| serde_json::to_value(corrections).unwrap_or_default()),
        n_iters: corrections.flips.n_iters,
        seed: corrections.flips.seed,
        threads: rayon::current_num_threads(),
        dataset: source.dataset.clone(),
        mask_voxels,
        n_studies: result.studies.len(),
        studies: result.studies.clone(),
        maps,
        tables: result.tables.iter().map(|t| t.file.clone()).collect(),
        saved_result: RESULT_FILE.into(),
        diagnostics: serde_json::to_value(&result.diagnostics).unwrap_or_default(),
        warnings: result.warnings.clone(),
        timings,
        ..ResultSummary::default()
    }
}

/// The files a run reads: the manifest, the mask, every study map (for [`OutFolder::keep`]).
pub(crate) fn input_files(dataset: &Dataset) -> Vec<PathBuf> {
    let manifest = &dataset.manifest;
    let maps = manifest.studies.iter().flat_map(|s| s.maps.values().cloned());
    std::iter::once(manifest.path.clone()).chain(manifest.mask.clone()).chain(maps).collect()
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `ibma convert-dataset`: write an `ibma-dataset` manifest for any readable dataset (NiMARE's
/// JSON or a NIMADS studyset in particular) into `out/dataset.json`, with absolute paths to the
/// original images (version 2 when a study has several images).
///
/// # Errors
/// An unreadable dataset, or an output folder that cannot take the manifest.
pub fn convert_dataset(input: &Path, out: &Path, load: &ibma::dataset::LoadOptions, force: bool) -> Result<usize> {
    let mut folder = OutFolder::open(out, Mode::Fresh { force })?;
    let dataset = Dataset::load_with(input, load)?;
    folder.keep(input_files(&dataset).iter().map(PathBuf::as_path));
    let mut manifest = dataset.manifest.clone();
    for study in &mut manifest.studies {
        study.maps.values_mut().for_each(|p| *p = absolute(p));
    }
    manifest.mask = manifest.mask.as_deref().map(absolute);
    let provenance = serde_json::json!({"converted_from": absolute(&manifest.path).to_string_lossy(), "by": format!("ibma {}", env!("CARGO_PKG_VERSION"))});
    manifest.write(&folder.path("dataset.json"), [("provenance".to_string(), provenance)].into_iter().collect())?;
    folder.commit()?;
    Ok(manifest.studies.len())
}

/// `ibma report`: draw the report of the fit in `out` and add it to that folder (replacing an
/// earlier report ibma wrote there, never other files). `summary`: the dataset, if already read.
///
/// # Errors
/// A folder without an ibma result, a bad option, an unreadable map.
pub fn report(
    out: &Path,
    options: &ibma_report::ReportOptions,
    summary: Option<&ibma_report::DatasetSummary>,
) -> Result<ibma_report::ReportOutput> {
    let folder = OutFolder::open(out, Mode::Extend)?;
    let staged = ibma_report::write_with(out, folder.staging(), options, summary)?;
    folder.commit()?;
    let moved = |p: &Path| out.join(p.file_name().unwrap_or_default());
    Ok(ibma_report::ReportOutput {
        html: moved(&staged.html),
        figures: staged.figures.iter().map(|p| moved(p)).collect(),
        tables: staged.tables.iter().map(|p| moved(p)).collect(),
        notes: staged.notes,
    })
}

/// Everything `ibma correct` takes.
#[derive(Clone, Debug)]
pub struct CorrectRequest {
    /// Output folder of an earlier `ibma fit` (holding `result.ibma.json.gz`).
    pub result_dir: PathBuf,
    /// `--correct` methods to add, in order.
    pub corrections: Vec<String>,
    /// `--dataset`: where the dataset is now, if it moved since the fit (permutations only).
    pub dataset: Option<PathBuf>,
    /// `--n-iters` / `--seed` for permutations (None: the fit's).
    pub n_iters: Option<usize>,
    /// See `n_iters`.
    pub seed: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
}

/// Run `ibma correct`: add corrections to a saved result. FDR and Bonferroni are applied to
/// the saved maps (no refit); a permutation method refits on the dataset the result names,
/// with every correction so far plus the new ones. Returns the files written.
///
/// # Errors
/// No saved result, a dataset that moved, bad methods, what the refit rejects.
pub fn correct(req: &CorrectRequest) -> Result<Vec<PathBuf>> {
    let requested = req.corrections.iter().map(|c| Method::parse(c)).collect::<Result<Vec<_>>>()?;
    if requested.is_empty() {
        return Err(Error::Invalid("--correct: give at least one method, e.g. --correct fdr-indep".into()));
    }
    let file = req.result_dir.join(RESULT_FILE);
    if !file.is_file() {
        return Err(Error::Invalid(format!(
            "{}: not found; `ibma fit --out {}` writes it",
            file.display(),
            req.result_dir.display()
        )));
    }
    let mut saved = SavedResult::load(&file, true)?;
    // Adds to the result in place: its other files (a report, the user's own) stay.
    let mut out = OutFolder::open(&req.result_dir, Mode::Extend)?;
    let mut corrections = saved.source.as_ref().map(|s| s.corrections.clone()).unwrap_or_default();
    for m in &requested {
        if !corrections.methods.contains(m) {
            corrections.methods.push(*m);
        }
    }
    corrections.flips.n_iters = req.n_iters.unwrap_or(corrections.flips.n_iters);
    corrections.flips.seed = req.seed.unwrap_or(corrections.flips.seed);
    corrections.validate()?;
    if requested.iter().all(|m| m.voxel().is_some()) {
        let mut added = MetaResult::new(saved.result.estimator.clone(), saved.result.mask.clone());
        for m in &requested {
            let Some(c) = m.voxel() else { continue };
            saved.result.correct(c)?;
            for map in ibma::maps::Map::corrected(*m) {
                if let Some(values) = saved.result.map(map) {
                    added.insert(map, values.to_vec());
                }
            }
        }
        added.save_maps(out.staging())?;
        if let Some(source) = &mut saved.source {
            source.corrections = corrections.clone();
        }
        ibma::persist::save_fit(&out.path(RESULT_FILE), &saved.result, saved.source.as_ref())?;
        let mut summary = ResultSummary::read(&req.result_dir)?;
        for (map, values) in added.maps() {
            let (finite, nan) = MetaResult::counts(values);
            summary
                .maps
                .insert(map.to_string(), MapSummary { file: format!("{map}.nii.gz"), volumes: None, finite, nan });
        }
        summary.corrections = corrections.methods.iter().map(|m| m.command_name().to_string()).collect();
        summary.write(&out.path(SUMMARY_FILE))?;
        return Ok(out.commit()?);
    }
    // Permutations need the data: refit exactly as `ibma fit` did.
    let Some(source) = &saved.source else {
        return Err(Error::Invalid(format!(
            "{}: saved without its dataset; permutation corrections need `ibma fit`",
            file.display()
        )));
    };
    let dataset = req.dataset.clone().unwrap_or_else(|| source.dataset.clone());
    if !dataset.exists() {
        return Err(Error::Invalid(format!(
            "{}: the dataset it was fitted on, {}, is not there any more; pass --dataset with its new location",
            file.display(),
            dataset.display()
        )));
    }
    if let Some(mask) = source.mask.as_ref().filter(|m| !m.is_file()) {
        return Err(Error::Invalid(format!("{}: its --mask {} is not there any more", file.display(), mask.display())));
    }
    let job = Job {
        requested: saved.result.estimator.name().to_string(),
        estimator: saved.result.estimator.clone(),
        corrections,
        dataset,
        load: ibma::dataset::LoadOptions {
            mask: source.mask.clone(),
            treat_as_independent: source.treat_as_independent,
        },
    };
    fit_into(&job, &mut out, GzipLevel::DEFAULT)?;
    Ok(out.commit()?)
}
