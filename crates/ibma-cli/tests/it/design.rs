//! Designs from study covariates through the estimators (docs/dataset-covariates.md).

use crate::map;
use crate::shared_data;
use ibma::estimators::AnyEstimator;
use ibma::maps::Map;
use ibma::Estimator;
use ibma::{tol, Dataset};

/// The fixture's dataset.json with a numeric covariate `n` (the sample size) and a label
/// covariate `half` on every study.
pub fn fixture_with_covariates() -> Option<(tempfile::TempDir, Dataset)> {
    let data = shared_data("nimare_test_pain_10x10x10")?;
    let mut full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    for (i, s) in full["studies"].as_array_mut().unwrap().iter_mut().enumerate() {
        for path in s["maps"].as_object_mut().unwrap().values_mut() {
            *path = data.join(path.as_str().unwrap()).to_str().unwrap().into();
        }
        s["covariates"] =
            serde_json::json!({"n": s["sample_size"].clone(), "half": if i < 10 { "first" } else { "second" }});
    }
    full["mask"] = data.join("mask.nii.gz").to_str().unwrap().into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), full.to_string()).unwrap();
    let ds = Dataset::load(dir.path()).unwrap();
    Some((dir, ds))
}

fn fit(name: &str, sets: &[(&str, &str)], ds: &Dataset) -> ibma::Result<ibma::MetaResult> {
    let mut est = AnyEstimator::by_name(name)?;
    for (k, v) in sets {
        ibma::params::set(&mut est, k, v)?;
    }
    est.fit_dataset(ds)
}

#[test]
fn intercept_contrast_reproduces_the_one_sample_fit() {
    let Some((_dir, ds)) = fixture_with_covariates() else { return };
    for name in ["weighted-least-squares", "dersimonian-laird", "hedges", "variance-based-likelihood"] {
        let plain = fit(name, &[], &ds).unwrap();
        let designed = fit(name, &[("contrast", "1")], &ds).unwrap();
        for m in ["est", "se", "z"] {
            for (a, b) in plain.map(crate::map(m)).unwrap().iter().zip(designed.map(crate::map(m)).unwrap()) {
                assert!(tol::close(*a, *b, tol::SUMMATION_ORDER_RTOL, 0.0), "{name} {m}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn moderators_change_the_model_and_bad_designs_say_why() {
    let Some((_dir, ds)) = fixture_with_covariates() else { return };
    let slope = fit("dersimonian-laird", &[("moderators", "n"), ("contrast", "0 1")], &ds).unwrap();
    let intercept = fit("dersimonian-laird", &[("moderators", "n,half")], &ds).unwrap();
    assert_eq!(intercept.diagnostics.design_columns.as_deref().unwrap(), ["intercept", "n", "half=second"]);
    assert_eq!(slope.map(Map::Dof).unwrap()[500].to_bits(), 19f64.to_bits(), "K - P = 21 - 2");
    assert!(slope.map(Map::Z).unwrap()[500].is_finite());
    // Residual heterogeneity of the design: I² from Q with df = K − P = 19.
    let (q, i2) = (slope.map(Map::Q).unwrap()[500], slope.map(Map::I2).unwrap()[500]);
    assert!(tol::close(i2, (100.0 * (q - 19.0) / q).max(0.0), tol::SUMMATION_ORDER_RTOL, 0.0));
    let err = fit("dersimonian-laird", &[("moderators", "n"), ("contrast", "0 1 0")], &ds).unwrap_err().to_string();
    assert!(err.contains("contrast row has 3 weights but the design has 2 columns (intercept, n)"), "{err}");
    let err = fit("dersimonian-laird", &[("moderators", "age")], &ds).unwrap_err().to_string();
    assert!(err.contains("covariate \"age\"") && err.contains("pain_01"), "{err}");
    let err = fit("sample-size-based-likelihood", &[("moderators", "n")], &ds).unwrap_err().to_string();
    assert!(err.contains("no design here"), "{err}");
    let vbl =
        fit("variance-based-likelihood", &[("method", "reml"), ("moderators", "n"), ("contrast", "0 1")], &ds).unwrap();
    assert!(vbl.map(Map::Z).unwrap()[500].is_finite() && vbl.map(Map::Tau2).unwrap()[500] >= 0.0);
}

#[test]
fn mfx_glm_groups_f_contrasts_and_weights() {
    let Some((_dir, ds)) = fixture_with_covariates() else { return };
    let two = fit("mfx-glm", &[("groups", "half"), ("write_weights", "true")], &ds).unwrap();
    // Default contrast with two groups: first minus second, one variance per group.
    assert!(two.map(map("tau2_g1")).is_some() && two.map(map("tau2_g2")).is_some() && two.map(Map::Tau2).is_none());
    assert_eq!(two.map(Map::Dof).unwrap()[500].to_bits(), 9f64.to_bits(), "min(n_g - p_g) = min(10, 11) - 1");
    let (_, weights) = two.per_study_maps().next().unwrap();
    assert_eq!(weights.len(), 21);
    let f = fit("mfx-glm", &[("moderators", "n"), ("contrast", "1 0; 0 1")], &ds).unwrap();
    assert!(f.map(Map::F).is_some() && f.map(Map::T).is_none() && f.map(Map::Est).is_none());
    assert!(f.map(Map::F).unwrap()[500] > 0.0);
    let err = fit("dersimonian-laird", &[("groups", "half")], &ds).unwrap_err().to_string();
    assert!(err.contains("no design here"), "{err}");
}

#[test]
fn designs_through_the_command() {
    let Some((dir, _ds)) = fixture_with_covariates() else { return };
    let out = dir.path().join("out");
    let o = crate::cli::ibma(&[
        "fit",
        "--quiet",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--estimator",
        "mfx-glm",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "moderators=n",
        "--set",
        "contrast=0 1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(json["diagnostics"]["design_columns"], serde_json::json!(["intercept", "n"]));
    assert_eq!(json["parameters"]["contrast"], "0 1");
    assert!(out.join("q.nii.gz").is_file() && out.join("t.nii.gz").is_file());
}
