//! NiMARE 0.22.1's dependence handling (several images per study, `groupby`) on its
//! multi-contrast fixture, through `ibma fit` as a user runs it: the NiMARE JSON read by the
//! facade, every estimator of [`crate::LABELS`] × grouping (study, none) × mask, every map
//! compared (FDR and Monte-Carlo FWE maps included), and from NiMARE's `diagnostics.json` the
//! null correlation the combination tests use and PermutedOLS's FWE null. Part of
//! `cargo xtask validate`; `cargo xtask validate-dependence` runs these rows alone.

use crate::{compare_dir, compare_with, Row, LABELS};
use ibma::tol;
use ibma_cli::run::fit;
use serde_json::Value;
use std::path::Path;

/// The fixture, its mask and the reference folder (relative to `../shared/data`).
const JSON: &str = "nimare_test_pain_10x10x10/nimare_test_pain_dataset_multiple_contrasts.json";
const MASK: &str = "nimare_test_pain_10x10x10/mask.nii.gz";
const REFS: &str = "reference_outputs/nimare-0.22.1/nimare_test_pain_multiple_contrasts";

/// (reference variant, groupby, aggressive_mask).
const VARIANTS: &[(&str, &str, bool)] = &[
    ("default", "study", false),
    ("aggressive_mask", "study", true),
    ("groupby_false", "none", false),
    ("groupby_false_aggressive_mask", "none", true),
];

/// Every row of the multi-contrast fixture: estimator × grouping × mask, every map.
pub(crate) fn rows(root: &Path) -> Result<Vec<Row>, String> {
    let shared = root.join("../shared/data");
    let out_root = root.join("target/validate/nimare_test_pain_multiple_contrasts");
    let mut rows = Vec::new();
    for &(variant, groupby, aggressive) in VARIANTS {
        for label in LABELS {
            let what = format!("multiple_contrasts/{variant}/{}", label.name);
            let out = out_root.join(variant).join(label.name);
            let extra = [("aggressive_mask", aggressive.to_string()), ("groupby", groupby.to_string())];
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut req = label.request(shared.join(JSON), &out, &extra);
            req.load.mask = Some(shared.join(MASK));
            let report = fit(&req).map_err(|e| format!("{what}: {e}"))?;
            let ref_dir = shared.join(REFS).join(variant).join(label.name);
            let mut compared = compare_dir(&ref_dir, &out, &what, label)?;
            if let (Some(first), false) = (compared.first_mut(), report.result.warnings.is_empty()) {
                first.note = Some(format!("warnings: {}", report.result.warnings.join("; ")));
            }
            rows.extend(compared);
            let diagnostics = read_json(&ref_dir.join("diagnostics.json"))?;
            let d = &report.result.diagnostics;
            let corr = d.dependence.as_ref().and_then(|dep| dep.null_correlation.as_ref());
            rows.extend(compare_corr(&diagnostics, corr, &what));
            if let Some(montecarlo) = &d.montecarlo {
                let reference = numbers(&diagnostics["fwe_null_max_z"])
                    .ok_or(format!("{what}: diagnostics.json has no fwe_null_max_z"))?;
                let null: Vec<f64> =
                    montecarlo.montecarlo_null_max_z.iter().map(|z| z.unwrap_or(f64::NEG_INFINITY)).collect();
                // The max-z null (not rounded to float32): only the t tail routines differ.
                rows.push(compare_with(
                    &reference,
                    &null,
                    format!("{what}/fwe_null_max_z (diagnostics.json)"),
                    |t, r, _| tol::close(t, r, tol::REFERENCE_RTOL, 0.0),
                ));
            }
        }
    }
    Ok(rows)
}

/// A JSON array of numbers (null → NaN).
fn numbers(value: &Value) -> Option<Vec<f64>> {
    Some(value.as_array()?.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
}

/// The null correlation against the one NiMARE handed PyMARE (`diagnostics.json`
/// `corr_matrix`); no row where NiMARE computed none, a failure where only one side has it.
fn compare_corr(diagnostics: &Value, corr: Option<&Vec<Vec<f64>>>, what: &str) -> Option<Row> {
    let reference: Vec<f64> = diagnostics["corr_matrix"]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| numbers(row).unwrap_or_default())
        .collect();
    let what = format!("{what}/corr_matrix (diagnostics.json)");
    let test: Option<Vec<f64>> = corr.map(|rows| rows.iter().flatten().copied().collect());
    match (test, reference.is_empty()) {
        (None, true) => None,
        (Some(c), false) if c.len() == reference.len() => {
            // Only summation order differs from NiMARE's matrix products.
            Some(compare_with(&reference, &c, what, |t, r, _| {
                tol::close(t, r, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL)
            }))
        }
        _ => Some(Row {
            what,
            nan_mismatch: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            failures: 1,
            note: Some("null correlation present on one side only".into()),
        }),
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
