//! `cargo xtask validate` and `cargo xtask bench` (see the `bench` module).
//!
//! `validate`: run ibma on the shared reference datasets and compare every map
//! with NiMARE 0.22.1's (`../shared/data/reference_outputs/nimare-0.22.1`), with the
//! tolerances of `ibma::tol` (`docs/validation.md` §3); the rows of NiMARE's
//! multi-contrast fixture (several images per study, `groupby`) come last (`dependence`).

mod bench;
mod dependence;
mod flameo;
mod floor;
mod fuzz;
mod fwe_calibration;
mod large;
mod median;
mod mfx;
mod python_bench;
mod rng;

use ibma::tol;
use ibma_cli::run::{fit, FitRequest};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// (label, estimator, --set pairs) as `docs/dataset-format.md` §7 maps them.
/// Later issues add rows here as estimators land.
const LABELS: &[Label] = &[
    Label::new("Fishers", "fishers", &[]),
    Label::new("Stouffers", "stouffers", &[]),
    Label::new("Stouffers_weighted", "stouffers", &[("use_sample_size", "true")]),
    Label::new("WeightedLeastSquares", "weighted-least-squares", &[("tau2", "0")]),
    Label::new("DerSimonianLaird", "dersimonian-laird", &[]),
    Label::new("Hedges", "hedges", &[]),
    Label::likelihood("VarianceBasedLikelihood_ML", "variance-based-likelihood", &[("method", "ml")]),
    Label::likelihood("VarianceBasedLikelihood_REML", "variance-based-likelihood", &[("method", "reml")]),
    Label::likelihood("SampleSizeBasedLikelihood_ML", "sample-size-based-likelihood", &[("method", "ml")]),
    Label::likelihood("SampleSizeBasedLikelihood_REML", "sample-size-based-likelihood", &[("method", "reml")]),
    // `--correct montecarlo --n-iters 1000 --seed 42`, as the references were made.
    Label { montecarlo: true, ..Label::new("PermutedOLS", "permuted-ols", &[]) },
    Label::new("FixedEffectsHedges", "fixed-effects-hedges", &[("tau2", "0")]),
];

/// A reference label and the `ibma fit` arguments that reproduce it.
struct Label {
    name: &'static str,
    estimator: &'static str,
    sets: &'static [(&'static str, &'static str)],
    /// τ²/σ²/est compared with the likelihood rule of docs/validation.md §3.
    likelihood: bool,
    /// Reference maps (by name fragment) that this version does not produce yet.
    not_yet: &'static [&'static str],
    /// Also `--correct montecarlo`.
    montecarlo: bool,
}

impl Label {
    /// The `ibma fit` of this label on `dataset` into `out`, with `extra` parameters after the
    /// label's own: FDR always, Monte-Carlo FWE (1000 flips, seed 42) where the label asks.
    fn request(&self, dataset: PathBuf, out: &Path, extra: &[(&str, &str)]) -> FitRequest {
        let sets = self.sets.iter().chain(extra).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut corrections = vec!["fdr-indep".to_string()];
        if self.montecarlo {
            corrections.push("montecarlo".into());
        }
        FitRequest {
            dataset,
            estimator: self.estimator.into(),
            out: out.to_path_buf(),
            sets,
            corrections,
            n_iters: 1000,
            seed: 42,
            threads: None,
            force: true,
            load: Default::default(),
        }
    }
}

impl Label {
    const fn new(name: &'static str, estimator: &'static str, sets: &'static [(&'static str, &'static str)]) -> Label {
        Label { name, estimator, sets, likelihood: false, not_yet: &[], montecarlo: false }
    }

    const fn likelihood(
        name: &'static str,
        estimator: &'static str,
        sets: &'static [(&'static str, &'static str)],
    ) -> Label {
        Label { likelihood: true, ..Label::new(name, estimator, sets) }
    }
}

/// (dataset folder, reference variant, aggressive_mask).
const RUNS: &[(&str, &str, bool)] = &[
    ("nimare_test_pain_10x10x10", "default", false),
    ("nimare_test_pain_10x10x10", "aggressive_mask", true),
    ("nidm_pain21", "default", false),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("validate") => validate(),
        Some("validate-dependence") => dependence::rows(&project_root()).and_then(|rows| report(&rows)),
        Some("bench") if args.iter().any(|a| a == "--python") => python_bench::run(&project_root(), &args[1..]),
        Some("bench") => bench::run(&project_root(), &args[1..]),
        Some("fuzz") => fuzz::run(&project_root(), &args[1..]),
        _ => Err("usage: cargo xtask validate | validate-dependence | bench [--reps N] [--vs-nimare | --reuse-nimare] [--perm-flips N] [--large [K]] | bench --python [--reps N] | fuzz [--seconds N] [--target nifti|gzip|manifest|all]"
            .to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// One compared map.
pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) nan_mismatch: usize,
    pub(crate) max_abs: f64,
    pub(crate) max_rel: f64,
    /// Voxels outside the map's rule.
    pub(crate) failures: usize,
    /// A note shown instead of the numbers (e.g. a skipped map).
    pub(crate) note: Option<String>,
}

impl Row {
    fn ok(&self) -> bool {
        self.nan_mismatch == 0 && self.failures == 0
    }
}

fn validate() -> Result<(), String> {
    let root = project_root();
    let shared = root.join("../shared/data");
    let refs = shared.join("reference_outputs/nimare-0.22.1");
    if !shared.is_dir() || !refs.is_dir() {
        return Err(format!(
            "reference data not found at {} — cargo xtask validate needs ../shared/data",
            shared.display()
        ));
    }
    // Scratch output of this run only: start from nothing, so no earlier run's files interfere.
    let out_root = root.join("target/validate");
    let _ = std::fs::remove_dir_all(&out_root);
    let mut rows = Vec::new();

    for &(dataset, variant, aggressive) in RUNS {
        for label in LABELS {
            let what = format!("{dataset}/{variant}/{}", label.name);
            let out = out_root.join(dataset).join(variant).join(label.name);
            let req = label.request(shared.join(dataset), &out, &[("aggressive_mask", &aggressive.to_string())]);
            let report = fit(&req).map_err(|e| format!("{what}: {e}"))?;
            let ref_dir = refs.join(dataset).join(variant).join(label.name);
            if ref_dir.is_dir() {
                rows.extend(compare_dir(&ref_dir, &out, &what, label)?);
            } else if label.estimator == "sample-size-based-likelihood" && dataset == "nidm_pain21" {
                rows.push(check_ssbl_pain21(&report.result, what));
            } else {
                return Err(format!("missing reference folder {}", ref_dir.display()));
            }
        }
    }
    for dataset in ["nimare_test_pain_10x10x10", "nidm_pain21"] {
        let reference = refs.join(dataset).join("default/VarianceBasedLikelihood_REML");
        rows.push(mfx::energy_row(
            &shared.join(dataset),
            &reference,
            format!("{dataset}: MFX_GLM vs NiMARE VBL-REML (all-study voxels)"),
        )?);
    }
    rows.extend(mfx::reference_rows(&shared.join("nidm_pain21"))?);
    rows.extend(flameo::rows(&shared)?);
    rows.extend(mfx::calibration_rows());
    rows.extend(fwe_calibration::rows());
    rows.extend(dependence::rows(&root)?);
    report(&rows)
}

/// Print the rows as a table; an error if any is outside its tolerance.
fn report(rows: &[Row]) -> Result<(), String> {
    println!("{:<78} {:>6} {:>11} {:>11} {:>6}  note", "map", "NaN≠", "max abs", "max rel", "status");
    let mut failed = 0;
    for r in rows {
        failed += usize::from(!r.ok());
        let status = if r.ok() { "ok" } else { "FAIL" };
        println!(
            "{:<78} {:>6} {:>11.3e} {:>11.3e} {status:>6}  {}",
            r.what,
            r.nan_mismatch,
            r.max_abs,
            r.max_rel,
            r.note.as_deref().unwrap_or("")
        );
    }
    println!("validate: {} rows, {failed} failed (rtol {}, atol {})", rows.len(), tol::MAP_RTOL, tol::MAP_ATOL);
    if failed > 0 {
        return Err(format!("{failed} rows outside the validation tolerances"));
    }
    Ok(())
}

/// NiMARE has no SampleSizeBasedLikelihood reference on nidm_pain21 (it fails the whole fit):
/// check instead that exactly the bags whose studies share one sample size are NaN
/// (docs/validation.md §5: 24 bags, 62 voxels).
fn check_ssbl_pain21(result: &ibma::MetaResult, what: String) -> Row {
    let d = &result.diagnostics;
    let bags = d.bags_all_equal_sample_size.unwrap_or(0);
    let voxels = d.voxels_nan_all_equal_sample_size.unwrap_or(0);
    let ok = bags == 24 && voxels == 62;
    Row {
        what: format!("{what} (all-equal-n bags NaN)"),
        nan_mismatch: 0,
        max_abs: 0.0,
        max_rel: 0.0,
        failures: usize::from(!ok),
        note: Some(format!("{bags} bags, {voxels} voxels (want 24, 62)")),
    }
}

fn read(dir: &Path, name: &str, what: &str) -> Result<Vec<f64>, String> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(format!("{what}/{name}: MISSING in {}", dir.display()));
    }
    Ok(ibma::io::read_volume(&path).map_err(|e| e.to_string())?.data)
}

/// Compare every reference map in `ref_dir` with its counterpart in `test_dir`.
fn compare_dir(ref_dir: &Path, test_dir: &Path, what: &str, label: &Label) -> Result<Vec<Row>, String> {
    let mut names: Vec<String> = std::fs::read_dir(ref_dir)
        .map_err(|e| format!("{}: {e}", ref_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".nii.gz"))
        .collect();
    names.sort();
    let mut rows = Vec::new();
    for name in names {
        let map = name.trim_end_matches(".nii.gz");
        if label.not_yet.iter().any(|frag| map.contains(frag)) {
            rows.push(Row {
                what: format!("{what}/{name}"),
                nan_mismatch: 0,
                max_abs: 0.0,
                max_rel: 0.0,
                failures: 0,
                note: Some("skipped: not produced yet".into()),
            });
            continue;
        }
        let (reference, test) = (read(ref_dir, &name, what)?, read(test_dir, &name, what)?);
        let row_what = format!("{what}/{name}");
        let row = match map {
            "tau2" | "sigma2" if label.likelihood => {
                // Every estimated voxel has a positive se: that is the denominator of the fraction.
                let estimated = read(ref_dir, "se.nii.gz", what)?.iter().filter(|s| s.is_finite() && **s > 0.0).count();
                compare_likelihood_variance(&reference, &test, row_what, estimated)
            }
            "est" if label.likelihood => {
                let se = read(ref_dir, "se.nii.gz", what)?;
                compare_with(&reference, &test, row_what, |t, r, v| {
                    (t - r).abs() <= tol::MAP_ATOL + tol::MAP_RTOL * r.abs().max(se[v])
                })
            }
            _ => compare_with(&reference, &test, row_what, |t, r, _| tol::close(t, r, tol::MAP_RTOL, tol::MAP_ATOL)),
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Over voxels where either map is non-zero or NaN: NaN-pattern mismatches, max errors, and
/// how many voxels fail `passes(test, reference, voxel)`.
fn compare_with(reference: &[f64], test: &[f64], what: String, passes: impl Fn(f64, f64, usize) -> bool) -> Row {
    let mut row = Row { what, nan_mismatch: 0, max_abs: 0.0, max_rel: 0.0, failures: 0, note: None };
    for (v, (&r, &t)) in reference.iter().zip(test).enumerate() {
        let relevant = r.is_nan() || t.is_nan() || r != 0.0 || t != 0.0;
        if !relevant {
            continue;
        }
        if r.is_nan() != t.is_nan() {
            row.nan_mismatch += 1;
            continue;
        }
        if r.is_nan() {
            continue;
        }
        let abs = (t - r).abs();
        row.max_abs = row.max_abs.max(abs);
        if r != 0.0 {
            row.max_rel = row.max_rel.max(abs / r.abs());
        }
        row.failures += usize::from(!passes(t, r, v));
    }
    row
}

/// τ²/σ² of the likelihood estimators (docs/validation.md §3): ≥ 99.9 % of voxels within the
/// default tolerance and all within rtol 1e−2 (z and se are checked on their own rows).
fn compare_likelihood_variance(reference: &[f64], test: &[f64], what: String, estimated: usize) -> Row {
    let strict = compare_with(reference, test, what.clone(), |t, r, _| tol::close(t, r, tol::MAP_RTOL, tol::MAP_ATOL));
    let loose =
        compare_with(reference, test, what, |t, r, _| tol::close(t, r, tol::LIKELIHOOD_LOOSE_RTOL, tol::MAP_ATOL));
    let strict_ok = (strict.failures as f64) <= (1.0 - tol::LIKELIHOOD_PASS_FRACTION) * estimated as f64;
    let note = format!(
        "likelihood rule: {} of {estimated} voxels outside rtol {:e} (at most {:.1}% allowed), {} outside rtol {:e}",
        strict.failures,
        tol::MAP_RTOL,
        100.0 * (1.0 - tol::LIKELIHOOD_PASS_FRACTION),
        loose.failures,
        tol::LIKELIHOOD_LOOSE_RTOL
    );
    Row { failures: if strict_ok { loose.failures } else { strict.failures }, note: Some(note), ..loose }
}
