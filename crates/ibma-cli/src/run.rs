//! The `ibma fit` command as a library call: parse the request, fit, write maps and
//! `result.json`. The binary and `cargo xtask validate` both go through here.

use ibma::{estimators, Dataset, Error, Estimator, MetaResult, Result};
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
    let mut estimator = estimators::by_name(&req.estimator)?;
    estimator.set_params(&req.sets)?;
    estimator.common_mut().n_iters = req.n_iters;
    estimator.common_mut().seed = req.seed;
    let corrections = req.corrections.iter().map(|c| parse_correction(c)).collect::<Result<Vec<_>>>()?;
    if req.n_iters == 0 {
        return Err(Error::Invalid("--n-iters must be at least 1".into()));
    }
    let earlier = previous_outputs(&req.out)?;
    if !earlier.is_empty() && !req.force {
        return Err(Error::Invalid(format!(
            "{}: already holds an ibma result (result.json); pass --force to replace it",
            req.out.display()
        )));
    }
    let start = Instant::now();
    let spinner = crate::progress::spinner(&format!("{}: reading and fitting", estimator.name()));
    let dataset = Dataset::load_with(&req.dataset, &req.load)?;
    estimator.validate()?;
    let compact = estimator.common().compact_inputs(estimator.name(), estimator.needs(), &dataset)?;
    spinner.finish_and_clear();
    let mut result = ibma::blocks::fit(estimator.as_ref(), &dataset, &compact, &crate::progress::Bars::default())?;
    // Permutations refit every voxel at once: they need the whole float64 inputs.
    let permuted = corrections.iter().any(|c| !matches!(c, Requested::Voxel(_)));
    let inputs = if permuted { Some(compact.to_inputs()) } else { None };
    drop(compact);
    for c in &corrections {
        match (c, &inputs) {
            (Requested::Voxel(c), _) => result.correct(*c)?,
            (Requested::MonteCarlo, Some(inputs)) => ibma::inference::montecarlo(
                estimator.as_ref(),
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
            estimator.as_ref(),
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
    // Replacing an earlier result: remove its files (only those its result.json lists, and the
    // result.json itself) so no stale map survives; other files in --out are never touched.
    for path in earlier {
        let _ = std::fs::remove_file(path);
    }
    // The saved result is compressed on one thread: overlap it with the maps, written in parallel.
    std::fs::create_dir_all(&req.out).map_err(|source| ibma_io::Error::Io { path: req.out.clone(), source })?;
    let (written, saved) =
        rayon::join(|| result.save_maps(&req.out), || save_fit(req, &dataset, estimator.as_ref(), &result));
    let written = match (written, saved) {
        (Ok(written), Ok(_)) => written,
        (Err(e), saved) => {
            if let Ok(path) = saved {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => return Err(e),
    };
    let write_seconds = write_start.elapsed().as_secs_f64();
    let summary = result_json(req, &dataset, &result, fit_seconds, write_seconds);
    ibma_io::atomic::write_json(&req.out.join("result.json"), &summary)?;
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
pub fn convert_dataset(input: &Path, out: &Path, load: &ibma::dataset::LoadOptions) -> Result<usize> {
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
    std::fs::create_dir_all(out).map_err(|source| ibma_io::Error::Io { path: out.to_path_buf(), source })?;
    ibma_io::atomic::write_json(&out.join("dataset.json"), &manifest)?;
    Ok(m.studies.len())
}

/// The files of an earlier ibma result in `out`: those its `result.json` lists, then itself.
fn previous_outputs(out: &Path) -> Result<Vec<PathBuf>> {
    let json_path = out.join("result.json");
    if !json_path.is_file() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(&json_path).map_err(|source| ibma_io::Error::Io { path: json_path.clone(), source })?;
    let listed: Vec<PathBuf> = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("maps").and_then(Value::as_object).cloned())
        .map(|maps| {
            maps.values()
                .filter_map(|m| m.get("file").and_then(Value::as_str))
                // Only plain file names of our own maps, never a path elsewhere.
                .filter(|f| f.ends_with(".nii.gz") && !f.contains('/') && !f.contains(".."))
                .map(|f| out.join(f))
                .collect()
        })
        .unwrap_or_default();
    let tables: Vec<PathBuf> = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("tables").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .filter(|f| f.ends_with(".tsv") && !f.contains('/') && !f.contains(".."))
        .map(|f| out.join(f))
        .collect();
    // The report drawn from the earlier result (`ibma report`) would describe maps now gone.
    let report: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    name == "report.html" || (name.starts_with("report_") && name.ends_with(".png"))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(listed.into_iter().chain(tables).chain(report).chain([json_path]).collect())
}

/// Write `<req.out>/result.ibma.json.gz`: the result, its estimator and where the data came from
/// (absolute paths), so `ibma correct` can add corrections later.
fn save_fit(req: &FitRequest, dataset: &Dataset, estimator: &dyn Estimator, result: &MetaResult) -> Result<PathBuf> {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let source = ibma::persist::FitSource {
        dataset: abs(&dataset.manifest.path),
        mask: req.load.mask.as_deref().map(abs),
        treat_as_independent: req.load.treat_as_independent,
        corrections: req.corrections.clone(),
    };
    let path = req.out.join(ibma::persist::RESULT_FILE);
    ibma::persist::save_fit(&path, result, estimator, &source)?;
    Ok(path)
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
        let written = added.save_maps(&req.result_dir)?;
        if let Some(source) = &mut saved.source {
            source.corrections.clone_from(&done);
        }
        saved.save(&file, true)?;
        update_result_json(&req.result_dir, &added, &done)?;
        return Ok(written);
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
    let report = fit(&FitRequest {
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
    })?;
    Ok(report.written)
}

/// Add `added`'s maps and the corrections so far to `<dir>/result.json` (created if missing).
fn update_result_json(dir: &Path, added: &MetaResult, corrections: &[String]) -> Result<()> {
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
    Ok(ibma_io::atomic::write_json(&path, &summary)?)
}
