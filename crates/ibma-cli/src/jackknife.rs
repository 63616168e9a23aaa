//! `ibma jackknife`: the command around [`ibma::jackknife`]: parse the request, run the
//! diagnostic, write its tables, label maps and summary into `--out`.

use ibma::estimators::AnyEstimator;
use ibma::jackknife::{jackknife, Jackknife, JackknifeOptions, CLUSTERS_FILE, JSON_FILE, TSV_FILE};
use ibma::maps::{Map, Method};
use ibma::{params, Dataset, Error, Estimator, Result};
use ibma_io::out_folder::{Mode, OutFolder};
use ibma_io::MapMeta;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything `ibma jackknife` takes.
#[derive(Clone, Debug)]
pub struct JackknifeRequest {
    /// Dataset directory or `dataset.json`.
    pub dataset: PathBuf,
    /// Estimator command or NiMARE class name.
    pub estimator: String,
    /// Output directory.
    pub out: PathBuf,
    /// `--set key=value` pairs: the jackknife's own (`threshold`, `target_image`,
    /// `cluster_threshold`) and the estimator's.
    pub sets: Vec<(String, String)>,
    /// `--correct` voxel corrections of the full fit.
    pub corrections: Vec<String>,
    /// Replace an earlier jackknife in `out`.
    pub force: bool,
    /// How to read the dataset.
    pub load: ibma::dataset::LoadOptions,
}

/// What `ibma jackknife` produced.
#[derive(Debug)]
pub struct JackknifeReport {
    /// The diagnostic.
    pub jackknife: Jackknife,
    /// The options used.
    pub options: JackknifeOptions,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Seconds spent reading and fitting.
    pub seconds: f64,
}

/// Set the jackknife's own `key` (`target_image`, `threshold` or NiMARE's `target_threshold`,
/// `cluster_threshold`); `Ok(false)` for any other key (an estimator parameter).
fn set_option(options: &mut JackknifeOptions, key: &str, value: &str) -> Result<bool> {
    let bad =
        |valid: &str| Error::Invalid(format!("jackknife: --set {key}={value}: invalid value; valid values: {valid}"));
    match key {
        "target_image" => {
            options.target_image = value.parse::<Map>().map_err(|_| bad("a map name of the fit, e.g. z"))?
        }
        "threshold" | "target_threshold" => {
            let t = value.parse::<f64>().ok().filter(|t| t.is_finite() && *t >= 0.0);
            options.threshold = Some(t.ok_or_else(|| bad("a finite number >= 0, e.g. 3.1"))?);
        }
        "cluster_threshold" => {
            options.cluster_threshold = value.parse().map_err(|_| bad("a whole number of voxels >= 0"))?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Run `ibma jackknife`: check the request, fit, refit without each study, write
/// [`TSV_FILE`], [`CLUSTERS_FILE`], the cluster label maps and [`JSON_FILE`] into `out`.
pub fn run(req: &JackknifeRequest) -> Result<JackknifeReport> {
    let mut estimator = AnyEstimator::by_name(&req.estimator)?;
    let mut options = JackknifeOptions::default();
    for (k, v) in &req.sets {
        if !set_option(&mut options, k, v)? {
            params::set(&mut estimator, k, v)?;
        }
    }
    for c in &req.corrections {
        match Method::parse(c)?.voxel() {
            Some(c) => options.corrections.push(c),
            None => {
                return Err(Error::Invalid(format!(
                    "jackknife: --correct {c}: only fdr-indep, fdr-negcorr and bonferroni (voxel corrections of the full fit) apply here"
                )))
            }
        }
    }
    if options.threshold.is_none() {
        // Checked again by `jackknife`, but before any data is read.
        return Err(Error::Invalid(
            "jackknife: --set threshold=VALUE is required (cluster-forming threshold on the target map, e.g. 3.1)"
                .into(),
        ));
    }
    let mut out = OutFolder::open(&req.out, Mode::Fresh { force: req.force })?;
    let start = Instant::now();
    let dataset = Dataset::load_with(&req.dataset, &req.load)?;
    out.keep(crate::run::input_files(&dataset).iter().map(std::path::PathBuf::as_path));
    estimator.validate()?;
    let inputs = dataset.inputs(&estimator.needs())?;
    let jk = jackknife(&estimator, &inputs, &options, &crate::progress::Bars::default())?;
    let seconds = start.elapsed().as_secs_f64();
    for (name, text) in [(TSV_FILE, jk.contributions_tsv()), (CLUSTERS_FILE, jk.clusters_tsv())] {
        ibma_io::atomic::write_bytes(&out.path(name), text.as_bytes())?;
    }
    let labels = write_label_maps(out.staging(), &jk, options.target_image)?;
    let summary = summary_json(req, &dataset, &jk, &options, &labels, seconds);
    ibma_io::atomic::write_json(&out.path(JSON_FILE), &summary)?;
    let written = out.commit()?;
    Ok(JackknifeReport { jackknife: jk, options, written, seconds })
}

/// `label<image>_tail-<positive|negative>.nii.gz` (NiMARE's names): each cluster's voxels hold
/// its number within the tail, everything else 0.
fn write_label_maps(out: &Path, jk: &Jackknife, target_image: Map) -> Result<Vec<PathBuf>> {
    let rest = target_image.to_string().split('_').skip(1).collect::<Vec<_>>().join("_");
    let image = if rest.is_empty() { String::new() } else { format!("_{rest}") };
    let mut written = Vec::new();
    for (sign, tail) in [(1i8, "positive"), (-1, "negative")] {
        let mut labels = vec![0.0; jk.result.mask.len()];
        let mut any = false;
        for (rank, c) in jk.clusters.iter().filter(|c| c.sign == sign).enumerate() {
            any = true;
            for &v in &c.voxels {
                labels[v] = (rank + 1) as f64;
            }
        }
        if !any {
            continue;
        }
        let path = out.join(format!("label{image}_tail-{tail}.nii.gz"));
        let meta = MapMeta {
            intent_code: 1002, // NIFTI_INTENT_LABEL
            intent_p1: 0.0,
            descrip: format!("ibma {} jackknife clusters of {target_image}", env!("CARGO_PKG_VERSION")),
        };
        ibma_io::write_map(&path, &jk.result.mask.grid, &jk.result.mask.unmask(&labels), &meta)?;
        written.push(path);
    }
    Ok(written)
}

fn summary_json(
    req: &JackknifeRequest,
    dataset: &Dataset,
    jk: &Jackknife,
    options: &JackknifeOptions,
    labels: &[PathBuf],
    seconds: f64,
) -> Value {
    let params: serde_json::Map<String, Value> = params::params(&jk.result.estimator).into_iter().collect();
    let clusters: Vec<Value> = jk
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let per_study: serde_json::Map<String, Value> =
                jk.studies.iter().zip(&jk.contributions).map(|(s, row)| (s.clone(), json!(row[i]))).collect();
            json!({
                "id": c.id,
                "sign": c.sign,
                "n_voxels": c.voxels.len(),
                "volume_mm3": c.volume_mm3,
                "peak_stat": c.peak,
                "peak_mm": c.peak_mm,
                "contributions": per_study,
            })
        })
        .collect();
    let file_name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    json!({
        "software": {"name": "ibma", "version": env!("CARGO_PKG_VERSION")},
        "diagnostic": "jackknife",
        "estimator": jk.result.estimator.name(),
        "estimator_requested": req.estimator,
        "parameters": params,
        "target_image": options.target_image,
        "threshold": options.threshold,
        "cluster_threshold": options.cluster_threshold,
        "corrections": req.corrections,
        "two_sided": jk.two_sided,
        "value_map": jk.value_map,
        "contribution": format!("mean over the cluster of 1 - {0}_without_study / {0}_all_studies", jk.value_map),
        "dataset": std::fs::canonicalize(&dataset.manifest.path).unwrap_or_else(|_| dataset.manifest.path.clone()).to_string_lossy(),
        "n_studies": jk.studies.len(),
        "studies": jk.studies,
        "clusters": clusters,
        "files": {"contributions": TSV_FILE, "clusters": CLUSTERS_FILE, "label_maps": labels.iter().filter_map(file_name).collect::<Vec<_>>()},
        "warnings": jk.result.warnings,
        "timings": {"read_and_fit_seconds": seconds},
    })
}
