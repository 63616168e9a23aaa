//! Intercept-only fixed-effects, DerSimonian–Laird and Hedges fits against R metafor 4.6.0
//! (`rma.uni(y, v, method = FE|DL|HE, test = z|knha)`, `../shared/data/pymare_metafor_reference/`,
//! copied from PyMARE 0.0.13's test data).

use ibma_glm::heterogeneity;
use ibma_glm::moments::{dersimonian_laird_tau2, hedges_tau2};
use ibma_glm::wls::fe_stats;
use ibma_glm::SmallSampleCorrection;
use ibma_stats::tol;
use std::path::{Path, PathBuf};

fn reference_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pymare_metafor_reference");
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return None;
    }
    Some(dir)
}

/// (y, v) of one design of `metafor_small_sample.csv`.
fn design(dir: &Path, name: &str) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(dir.join("metafor_small_sample.csv")).unwrap();
    let (mut y, mut v) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == name {
            y.push(f[1].parse().unwrap());
            v.push(f[2].parse().unwrap());
        }
    }
    (y, v)
}

#[test]
fn intercept_only_moment_estimators_match_metafor() {
    let Some(dir) = reference_dir() else { return };
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metafor_reference.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in json["cases"].as_array().unwrap() {
        let (method, test) = (case["method"].as_str().unwrap(), case["test"].as_str().unwrap());
        if case["model"] != "intercept" || !["FE", "DL", "HE"].contains(&method) || !["z", "knha"].contains(&test) {
            continue;
        }
        let (y, v) = design(&dir, case["design"].as_str().unwrap());
        let tau2 = match method {
            "FE" => 0.0,
            "DL" => dersimonian_laird_tau2(&y, &v),
            _ => hedges_tau2(&y, &v),
        };
        let correction = if test == "z" { SmallSampleCorrection::Wald } else { SmallSampleCorrection::KnappHartung };
        let fit = fe_stats(&y, &v, tau2, correction);
        let what = format!("{} {method} {test}", case["design"]);
        let expect = |key: &str| case[key].as_f64().or_else(|| case[key][0].as_f64()).unwrap();
        for (name, got, want) in
            [("tau2", fit.tau2, expect("tau2")), ("beta", fit.est, expect("beta")), ("se", fit.se, expect("se"))]
        {
            assert!(
                tol::close(got, want, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL),
                "{what} {name}: {got} vs metafor {want}"
            );
        }
        let p = fit.nlogp.exp();
        assert!(
            tol::close(p, expect("pval"), tol::REFERENCE_RTOL, tol::REFERENCE_ATOL),
            "{what} p: {p} vs metafor {}",
            expect("pval")
        );
        // Cochran's Q at fixed-effects weights, whatever the τ² method (metafor QE, QEp).
        let [q, q_nlogp, _, _] = heterogeneity::voxel(&y, &v);
        assert!(tol::close(q, expect("QE"), tol::REFERENCE_RTOL, 0.0), "{what} QE: {q} vs {}", expect("QE"));
        assert!(tol::close(q_nlogp.exp(), expect("QEp"), tol::REFERENCE_RTOL, 0.0), "{what} QEp");
        checked += 1;
    }
    assert_eq!(checked, 4 * 3 * 2, "every design x method x test was checked");
}
