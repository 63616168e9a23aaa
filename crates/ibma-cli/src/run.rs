//! The `ibma fit` command as a library call: parse the request, fit, write maps and
//! `result.json`. The binary and `cargo xtask validate` both go through here.

use ibma::{estimators, Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::out_folder::{Mode, OutFolder};
use ibma_stats::correct::Correction;
use serde_json::{json, Map, Value};
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

/// Parse a `key=value` argument of `--set`.
pub fn parse_set(arg: &str) -> Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(Error::Invalid(format!("--set {arg:?}: expected key=value, e.g. --set two_sided=false"))),
    }
}

/// A requested `--correct` method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// FDR or Bonferroni on the p map.
    Voxel(Correction),
    /// Voxel-level max-statistic FWE by sign flips (`--n-iters`, `--seed`).
    MonteCarlo,
    /// Permutation cluster-size FWE.
    ClusterSize,
    /// Permutation cluster-mass FWE.
    ClusterMass,
    /// TFCE with permutation FWE.
    Tfce,
}

/// Parse a `--correct` method name.
pub fn parse_correction(name: &str) -> Result<Requested> {
    match name {
        "fdr-indep" | "fdr" => Ok(Requested::Voxel(Correction::FdrIndep)),
        "fdr-negcorr" => Ok(Requested::Voxel(Correction::FdrNegcorr)),
        "bonferroni" => Ok(Requested::Voxel(Correction::Bonferroni)),
        "montecarlo" => Ok(Requested::MonteCarlo),
        "cluster-size" => Ok(Requested::ClusterSize),
        "cluster-mass" => Ok(Requested::ClusterMass),
        "tfce" => Ok(Requested::Tfce),
        _ => Err(Error::Invalid(format!(
            "--correct {name:?}: unknown method; valid methods: fdr-indep, fdr-negcorr, bonferroni, montecarlo, cluster-size, cluster-mass, tfce"
        ))),
    }
}

/// Run `ibma fit`: check the whole request first, then fit, then write the maps and
/// `result.json` (each file appears under its final name only when complete).
pub fn fit(req: &FitRequest) -> Result<FitReport> {
    let (estimator, corrections) = configure(req)?;
    let out = OutFolder::open(&req.out, Mode::Fresh { force: req.force })?;
    let report = fit_into(req, estimator.as_ref(), &corrections, &out)?;
    Ok(FitReport { written: out.commit()?, ..report })
}

/// The estimator and corrections a request asks for, checked before any data is read.
fn configure(req: &FitRequest) -> Result<(Box<dyn Estimator>, Vec<Requested>)> {
    let mut estimator = estimators::by_name(&req.estimator)?;
    estimator.set_params(&req.sets)?;
    estimator.common_mut().n_iters = req.n_iters;
    estimator.common_mut().seed = req.seed;
    let corrections = req.corrections.iter().map(|c| parse_correction(c)).collect::<Result<Vec<_>>>()?;
    if req.n_iters == 0 {
        return Err(Error::Invalid("--n-iters must be at least 1".into()));
    }
    Ok((estimator, corrections))
}

/// The work of [`fit`] once the request is checked: fit and write every file into `out`'s
/// staging folder (the caller commits).
fn fit_into(
    req: &FitRequest,
    estimator: &dyn Estimator,
    corrections: &[Requested],
    out: &OutFolder,
) -> Result<FitReport> {
    let start = Instant::now();
    let spinner = crate::progress::spinner(&format!("{}: reading and fitting", estimator.name()));
    let dataset = Dataset::load_with(&req.dataset, &req.load)?;
    estimator.validate()?;
    let compact = estimator.common().compact_inputs(estimator.name(), estimator.needs(), &dataset)?;
    spinner.finish_and_clear();
    let mut result = ibma::blocks::fit(estimator, &dataset, &compact, &crate::progress::Bars::default())?;
    // Permutations refit every voxel at once: they need the whole float64 inputs.
    let permuted = corrections.iter().any(|c| !matches!(c, Requested::Voxel(_)));
    let inputs = if permuted { Some(compact.to_inputs()) } else { None };
    drop(compact);
    for c in corrections {
        match (c, &inputs) {
            (Requested::Voxel(c), _) => result.correct(*c)?,
            (Requested::MonteCarlo, Some(inputs)) => ibma::inference::montecarlo(
                estimator,
                &dataset,
                inputs,
                &mut result,
                &crate::progress::Bars::default(),
            )?,
            _ => {}
        }
    }
    // The cluster statistics share one pass over the permutations.
    let clusters = ibma::clusters::ClusterRequests {
        size: corrections.contains(&Requested::ClusterSize),
        mass: corrections.contains(&Requested::ClusterMass),
        tfce: corrections.contains(&Requested::Tfce),
    };
    if let (true, Some(inputs)) = (clusters.any(), &inputs) {
        let options = estimator.common().clusters;
        ibma::clusters::permutation_clusters(
            estimator,
            &dataset,
            inputs,
            &mut result,
            clusters,
            &options,
            &crate::progress::Bars::default(),
        )?;
    }
    let fit_seconds = start.elapsed().as_secs_f64();
    let write_start = Instant::now();
    // The saved result is compressed on one thread: overlap it with the maps, written in parallel.
    let (written, saved) =
        rayon::join(|| result.save_maps(out.staging()), || save_fit(req, &dataset, estimator, &result, out));
    let (mut written, saved) = (written?, saved?);
    written.push(saved);
    let write_seconds = write_start.elapsed().as_secs_f64();
    let summary = result_json(req, &dataset, &result, fit_seconds, write_seconds);
    ibma_io::atomic::write_json(&out.path("result.json"), &summary)?;
    Ok(FitReport { result, written, fit_seconds })
}

fn result_json(req: &FitRequest, dataset: &Dataset, result: &MetaResult, fit_s: f64, write_s: f64) -> Value {
    let params: Map<String, Value> = result.params.iter().cloned().collect();
    let mut maps = Map::new();
    for name in result.map_names() {
        let (finite, nan) = MetaResult::counts(result.map(name).unwrap_or_default());
        maps.insert(name.to_string(), json!({"file": format!("{name}.nii.gz"), "finite": finite, "nan": nan}));
    }
    for (name, volumes) in result.per_study_maps() {
        let all: Vec<f64> = volumes.iter().flatten().copied().collect();
        let (finite, nan) = MetaResult::counts(&all);
        maps.insert(
            name.to_string(),
            json!({"file": format!("{name}.nii.gz"), "volumes": volumes.len(), "finite": finite, "nan": nan}),
        );
    }
    let dataset_path = std::fs::canonicalize(&dataset.manifest.path).unwrap_or_else(|_| dataset.manifest.path.clone());
    json!({
        "software": {"name": "ibma", "version": env!("CARGO_PKG_VERSION")},
        "estimator": result.estimator,
        "estimator_requested": req.estimator,
        "parameters": params,
        "corrections": req.corrections,
        "n_iters": req.n_iters,
        "seed": req.seed,
        "threads": rayon::current_num_threads(),
        "dataset": dataset_path,
        "mask_voxels": dataset.mask.len(),
        "n_studies": result.studies.len(),
        "studies": result.studies,
        "maps": maps,
        "tables": result.tables.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
        "saved_result": ibma::persist::RESULT_FILE,
        "diagnostics": result.diagnostics,
        "warnings": result.warnings,
        "timings": {
            "read_and_fit_seconds": fit_s,
            "write_seconds": write_s,
            "cpu_seconds": process_cpu_seconds(),
            "peak_rss_mb": peak_rss_mb(),
        },
    })
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; None elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Peak resident memory of this process in MB (Linux `VmHWM`; None elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `ibma convert-dataset`: write an `ibma-dataset` manifest for any readable dataset (NiMARE's
/// JSON in particular) into `out/dataset.json`, with absolute paths to the original images.
pub fn convert_dataset(input: &Path, out: &Path, load: &ibma::dataset::LoadOptions, force: bool) -> Result<usize> {
    let folder = OutFolder::open(out, Mode::Fresh { force })?;
    let dataset = Dataset::load_with(input, load)?;
    let m = &dataset.manifest;
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let studies: Vec<Value> = m
        .studies
        .iter()
        .map(|s| {
            let maps: Map<String, Value> = s.maps.iter().map(|(t, p)| (t.name().to_string(), json!(abs(p)))).collect();
            let mut study = json!({"id": s.id, "maps": maps});
            if let Some(n) = s.sample_size {
                study["sample_size"] = json!(n);
            }
            study
        })
        .collect();
    let manifest = json!({
        "format": "ibma-dataset",
        "format_version": 1,
        "name": m.name,
        "mask": m.mask.as_deref().map(abs),
        "provenance": {"converted_from": abs(&m.path), "by": format!("ibma {}", env!("CARGO_PKG_VERSION"))},
        "studies": studies,
    });
    ibma_io::atomic::write_json(&folder.path("dataset.json"), &manifest)?;
    folder.commit()?;
    Ok(m.studies.len())
}

/// Write `<req.out>/result.ibma.json.gz`: the result, its estimator and where the data came from
/// (absolute paths), so `ibma correct` can add corrections later.
fn save_fit(
    req: &FitRequest,
    dataset: &Dataset,
    estimator: &dyn Estimator,
    result: &MetaResult,
    out: &OutFolder,
) -> Result<PathBuf> {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let source = ibma::persist::FitSource {
        dataset: abs(&dataset.manifest.path),
        mask: req.load.mask.as_deref().map(abs),
        treat_as_independent: req.load.treat_as_independent,
        corrections: req.corrections.clone(),
    };
    let path = out.path(ibma::persist::RESULT_FILE);
    ibma::persist::save_fit(&path, result, estimator, &source)?;
    Ok(path)
}

/// `ibma report`: draw the report of the fit in `out` and add it to that folder (replacing an
/// earlier report ibma wrote there, never other files). `summary`: the dataset, if already read.
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
    /// `--n-iters` / `--seed` for permutations (None: the saved estimator's).
    pub n_iters: Option<usize>,
    /// See `n_iters`.
    pub seed: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
}

/// Run `ibma correct`: add corrections to a saved result. FDR and Bonferroni are applied to
/// the saved maps (no refit); a permutation method refits through [`fit`] on the dataset the
/// result names, with every correction so far plus the new ones. Returns the files written.
pub fn correct(req: &CorrectRequest) -> Result<Vec<PathBuf>> {
    let requested = req.corrections.iter().map(|c| parse_correction(c)).collect::<Result<Vec<_>>>()?;
    if requested.is_empty() {
        return Err(Error::Invalid("--correct: give at least one method, e.g. --correct fdr-indep".into()));
    }
    let file = req.result_dir.join(ibma::persist::RESULT_FILE);
    if !file.is_file() {
        return Err(Error::Invalid(format!(
            "{}: not found; `ibma fit --out {}` writes it",
            file.display(),
            req.result_dir.display()
        )));
    }
    let mut saved = ibma::persist::SavedResult::load(&file, true)?;
    // Adds to the result in place: its other files (a report, the user's own) stay.
    let out = OutFolder::open(&req.result_dir, Mode::Extend)?;
    let mut done = saved.source.as_ref().map(|s| s.corrections.clone()).unwrap_or_default();
    for c in &req.corrections {
        if !done.contains(c) {
            done.push(c.clone());
        }
    }
    if requested.iter().all(|c| matches!(c, Requested::Voxel(_))) {
        let mut added =
            MetaResult::new(&saved.result.estimator, saved.result.params.clone(), saved.result.mask.clone());
        for c in &requested {
            let Requested::Voxel(c) = *c else { continue };
            saved.result.correct(c)?;
            for stat in ["p", "z", "logp"] {
                let name = format!("{stat}{}", c.suffix());
                if let Some(values) = saved.result.map(&name) {
                    added.insert(&name, values.to_vec());
                }
            }
        }
        added.save_maps(out.staging())?;
        if let Some(source) = &mut saved.source {
            source.corrections.clone_from(&done);
        }
        saved.save(&out.path(ibma::persist::RESULT_FILE), true)?;
        update_result_json(&req.result_dir, &added, &done, &out)?;
        return Ok(out.commit()?);
    }
    // Permutations need the data: refit exactly as `ibma fit` did.
    let (Some(source), Some(sets)) = (&saved.source, saved.estimator_sets()) else {
        return Err(Error::Invalid(format!(
            "{}: saved without its dataset and estimator; permutation corrections need `ibma fit`",
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
    let common = saved.estimator.as_deref().map(|e| *e.common()).unwrap_or_default();
    let refit = FitRequest {
        dataset,
        estimator: saved.result.estimator.clone(),
        out: req.result_dir.clone(),
        sets,
        corrections: done,
        n_iters: req.n_iters.unwrap_or(common.n_iters),
        seed: req.seed.unwrap_or(common.seed),
        threads: req.threads,
        force: true,
        load: ibma::dataset::LoadOptions {
            mask: source.mask.clone(),
            treat_as_independent: source.treat_as_independent,
        },
    };
    let (estimator, corrections) = configure(&refit)?;
    fit_into(&refit, estimator.as_ref(), &corrections, &out)?;
    Ok(out.commit()?)
}

/// `<dir>/result.json` with `added`'s maps and the corrections so far, written into `out`.
fn update_result_json(dir: &Path, added: &MetaResult, corrections: &[String], out: &OutFolder) -> Result<()> {
    let path = dir.join("result.json");
    let mut summary: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"software": {"name": "ibma", "version": env!("CARGO_PKG_VERSION")}}));
    let mut maps = summary.get("maps").and_then(Value::as_object).cloned().unwrap_or_default();
    for name in added.map_names() {
        let (finite, nan) = MetaResult::counts(added.map(name).unwrap_or_default());
        maps.insert(name.to_string(), json!({"file": format!("{name}.nii.gz"), "finite": finite, "nan": nan}));
    }
    summary["maps"] = Value::Object(maps);
    summary["corrections"] = json!(corrections);
    Ok(ibma_io::atomic::write_json(&out.path("result.json"), &summary)?)
}
