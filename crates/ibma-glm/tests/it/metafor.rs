//! Intercept-only fixed-effects, DerSimonian–Laird and Hedges fits against R metafor 4.6.0
//! (`rma.uni(y, v, method = FE|DL|HE, test = z|knha)`, `../shared/data/pymare_metafor_reference/`,
//! copied from PyMARE 0.0.13's test data).

use crate::{design, design_with_moderators, metafor_dir};
use ibma_glm::moments::{dersimonian_laird_tau2, hedges_tau2, Mean};
use ibma_glm::wls::fe_stats;
use ibma_glm::SmallSampleCorrection;
use ibma_glm::{heterogeneity, metareg};
use ibma_stats::tol;

#[test]
fn meta_regression_matches_metafor() {
    let Some(dir) = metafor_dir() else { return };
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metafor_reference.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in json["cases"].as_array().unwrap() {
        let (method, test) = (case["method"].as_str().unwrap(), case["test"].as_str().unwrap());
        let moderators = match case["model"].as_str().unwrap() {
            "intercept" => 0,
            "one" => 1,
            _ => 2,
        };
        if !["FE", "DL", "HE"].contains(&method) || !["z", "knha"].contains(&test) {
            continue;
        }
        let (y, v, x) = design_with_moderators(&dir, case["design"].as_str().unwrap(), moderators);
        let rows = metareg::Rows { y: &y, v: &v, x: &x, p: moderators + 1 };
        let tau2 = match method {
            "FE" => 0.0,
            "DL" => dersimonian_laird_tau2(&y, &v, Mean::Design { x: &x, p: moderators + 1 }),
            _ => metareg::hedges_tau2(&rows).unwrap(),
        };
        let what = format!("{} {} {method} {test}", case["design"], case["model"]);
        // Residual heterogeneity QE of the fixed-effects fit, df = K − P (metafor QE, QEp).
        let (q, df) = metareg::residual_q(&rows).unwrap();
        let [_, q_nlogp, _, _] = heterogeneity::from_q(q, df);
        assert!(tol::close(q, case["QE"].as_f64().unwrap(), tol::REFERENCE_RTOL, 0.0), "{what} QE");
        assert!(tol::close(q_nlogp.exp(), case["QEp"].as_f64().unwrap(), tol::REFERENCE_RTOL, 0.0), "{what} QEp");
        let want_tau2 = case["tau2"].as_f64().unwrap();
        assert!(
            tol::close(tau2, want_tau2, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL),
            "{what} tau2 {tau2} vs {want_tau2}"
        );
        let correction = if test == "z" { SmallSampleCorrection::Wald } else { SmallSampleCorrection::KnappHartung };
        // Every coefficient, one contrast at a time.
        for j in 0..=moderators {
            let mut c = vec![0.0; moderators + 1];
            c[j] = 1.0;
            let fit = metareg::contrast_stats(&rows, &c, tau2, correction);
            let (beta, se, p) =
                (case["beta"][j].as_f64().unwrap(), case["se"][j].as_f64().unwrap(), case["pval"][j].as_f64().unwrap());
            assert!(tol::close(fit.est, beta, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL), "{what} beta[{j}]");
            assert!(tol::close(fit.se, se, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL), "{what} se[{j}]");
            assert!(tol::close(fit.nlogp.exp(), p, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL), "{what} p[{j}]");
        }
        checked += 1;
    }
    assert_eq!(checked, 4 * 3 * 3 * 2, "every design x model x method x test was checked");
}

#[test]
fn intercept_only_moment_estimators_match_metafor() {
    let Some(dir) = metafor_dir() else { return };
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
            "DL" => dersimonian_laird_tau2(&y, &v, Mean::Intercept),
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
