//! `cargo xtask validate`: run ibma on the shared reference datasets and compare every map
//! with NiMARE 0.22.1's (`../shared/data/reference_outputs/nimare-0.22.1`), with the
//! tolerances of `ibma::tol` (`../shared/docs/validation.md` §3).

use ibma::run::{fit, FitRequest};
use ibma::tol;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// (label, estimator, --set pairs) as `../shared/docs/dataset-format.md` §7 maps them.
/// Later issues add rows here as estimators land.
const LABELS: &[Label] = &[
    Label { name: "Fishers", estimator: "fishers", sets: &[] },
    Label { name: "Stouffers", estimator: "stouffers", sets: &[] },
    Label { name: "Stouffers_weighted", estimator: "stouffers", sets: &[("use_sample_size", "true")] },
];

/// A reference label and the `ibma fit` arguments that reproduce it.
struct Label {
    name: &'static str,
    estimator: &'static str,
    sets: &'static [(&'static str, &'static str)],
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
        _ => Err("usage: cargo xtask validate".to_string()),
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
struct Row {
    what: String,
    nan_mismatch: usize,
    max_abs: f64,
    max_rel: f64,
    failures: usize,
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
    let out_root = root.join("target/validate");
    let mut rows = Vec::new();
    for &(dataset, variant, aggressive) in RUNS {
        for &Label { name: label, estimator, sets } in LABELS {
            let ref_dir = refs.join(dataset).join(variant).join(label);
            if !ref_dir.is_dir() {
                return Err(format!("missing reference folder {}", ref_dir.display()));
            }
            let out = out_root.join(dataset).join(variant).join(label);
            let mut sets: Vec<(String, String)> = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            sets.push(("aggressive_mask".into(), aggressive.to_string()));
            let req = FitRequest {
                dataset: shared.join(dataset),
                estimator: estimator.into(),
                out: out.clone(),
                sets,
                corrections: vec!["fdr-indep".into()],
                n_iters: 1000,
                seed: 42,
                threads: None,
            };
            fit(&req).map_err(|e| format!("{dataset}/{variant}/{label}: {e}"))?;
            rows.extend(compare_dir(&ref_dir, &out, &format!("{dataset}/{variant}/{label}"))?);
        }
    }
    println!("{:<72} {:>6} {:>11} {:>11} {:>6}", "map", "NaN≠", "max abs", "max rel", "status");
    let mut failed = 0;
    for r in &rows {
        let ok = r.nan_mismatch == 0 && r.failures == 0;
        failed += usize::from(!ok);
        println!(
            "{:<72} {:>6} {:>11.3e} {:>11.3e} {:>6}",
            r.what,
            r.nan_mismatch,
            r.max_abs,
            r.max_rel,
            if ok { "ok" } else { "FAIL" }
        );
    }
    println!(
        "validate: {} maps compared, {failed} failed (rtol {}, atol {})",
        rows.len(),
        tol::MAP_RTOL,
        tol::MAP_ATOL
    );
    if failed > 0 {
        return Err(format!("{failed} maps outside the validation tolerances"));
    }
    Ok(())
}

/// Compare every reference map in `ref_dir` with its counterpart in `test_dir`.
fn compare_dir(ref_dir: &Path, test_dir: &Path, what: &str) -> Result<Vec<Row>, String> {
    let mut names: Vec<String> = std::fs::read_dir(ref_dir)
        .map_err(|e| format!("{}: {e}", ref_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".nii.gz"))
        .collect();
    names.sort();
    let mut rows = Vec::new();
    for name in names {
        let reference = ibma::io::read_volume(&ref_dir.join(&name)).map_err(|e| e.to_string())?;
        let test_path = test_dir.join(&name);
        if !test_path.is_file() {
            return Err(format!("{what}/{name}: MISSING in {}", test_dir.display()));
        }
        let test = ibma::io::read_volume(&test_path).map_err(|e| e.to_string())?;
        if !test.grid.same_as(&reference.grid) {
            return Err(format!(
                "{what}/{name}: grid {} differs from the reference {}",
                test.grid.describe(),
                reference.grid.describe()
            ));
        }
        rows.push(compare(&reference.data, &test.data, format!("{what}/{name}")));
    }
    Ok(rows)
}

/// Over voxels where either map is non-zero or NaN: NaN-pattern mismatches, max errors, and
/// how many voxels fail `|t − r| ≤ atol + rtol·|r|`.
fn compare(reference: &[f64], test: &[f64], what: String) -> Row {
    let mut row = Row { what, nan_mismatch: 0, max_abs: 0.0, max_rel: 0.0, failures: 0 };
    for (&r, &t) in reference.iter().zip(test) {
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
        row.failures += usize::from(!tol::close(t, r, tol::MAP_RTOL, tol::MAP_ATOL));
    }
    row
}
