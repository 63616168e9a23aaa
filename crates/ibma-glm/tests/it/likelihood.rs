//! VarianceBasedLikelihood and SampleSizeBasedLikelihood (docs/estimators.md §7–8): against R metafor
//! 4.6.0, against NiMARE 0.22.1 golden values, and the lock-step / determinism properties.

use crate::{design, design_from_rows, design_with_moderators, metafor_dir};
use ibma_glm::design::Design;
use ibma_glm::likelihood::{
    sample_size_based_likelihood, variance_based_likelihood, variance_based_likelihood_design, Method,
};
use ibma_glm::{RegressionMaps, SmallSampleCorrection};
use ibma_stats::bags::{bags, Bag};
use ibma_stats::{tol, StudyVoxels};
use ibma_testkit::Rng;
use std::path::Path;

/// One voxel holding all studies, as one model.
fn single_voxel(values: &[f64]) -> (StudyVoxels, Vec<Bag>) {
    let k = values.len();
    (StudyVoxels::new(k, values.to_vec()), vec![Bag { studies: (0..k).collect(), voxels: vec![0] }])
}

fn rel(a: f64, b: f64) -> f64 {
    if b.abs() > 0.0 {
        ((a - b) / b).abs()
    } else {
        a.abs()
    }
}

#[test]
fn vbl_intercept_only_matches_metafor() {
    let Some(dir) = metafor_dir() else { return };
    // Reference values: metafor 4.6.0, rma.uni(y, v, method = ML|REML, test = z|knha)
    // (metafor_reference.json, copied from PyMARE 0.0.13's test data).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metafor_reference.json")).unwrap()).unwrap();
    let (mut checked, mut worst) = (0, 0.0f64);
    for case in json["cases"].as_array().unwrap() {
        let (method, test) = (case["method"].as_str().unwrap(), case["test"].as_str().unwrap());
        if case["model"] != "intercept" || !["ML", "REML"].contains(&method) || !["z", "knha"].contains(&test) {
            continue;
        }
        let (y, v) = design(&dir, case["design"].as_str().unwrap());
        let (con, models) = single_voxel(&y);
        let (var, _) = single_voxel(&v);
        let m = if method == "ML" { Method::Ml } else { Method::Reml };
        let correction = if test == "z" { SmallSampleCorrection::Wald } else { SmallSampleCorrection::KnappHartung };
        let fit = variance_based_likelihood(&con, &var, &models, m, correction);
        let expect = |key: &str| case[key].as_f64().or_else(|| case[key][0].as_f64()).unwrap();
        let what = format!("{} {method} {test}", case["design"]);
        let (beta, se) = (expect("beta"), expect("se"));
        let mut pairs = vec![
            ("tau2", fit.tau2[0], expect("tau2")),
            ("beta", fit.est[0], beta),
            ("se", fit.se[0], se),
            ("p", fit.test.nlogp[0].exp(), expect("pval")),
        ];
        if test == "z" {
            pairs.push(("z", fit.test.z[0], beta / se));
        }
        for (name, got, want) in pairs {
            worst = worst.max(rel(got, want));
            assert!(tol::close(got, want, tol::METAFOR_ITERATIVE_RTOL, 0.0), "{what} {name}: {got} vs metafor {want}");
        }
        assert!(tol::close(fit.test.dof[0], (y.len() - 1) as f64, 0.0, 0.0));
        checked += 1;
    }
    eprintln!("VBL vs metafor: max relative difference {worst:.3e}");
    assert_eq!(checked, 4 * 2 * 2, "every design x method x test was checked");
}

/// The one cell where metafor's ML search stops at a local optimum: on `extreme_k10` with one
/// moderator the ML profile likelihood has a local minimum at the boundary τ² = 0, where
/// metafor stops, and a lower one near τ² = 0.0114, which the scan of the bounded search
/// finds. PyMARE's own metafor tests exclude exactly this cell (`ML_BOUNDARY_CASE` in
/// PyMARE's `test_metafor_random_effects.py`: "metafor reports 0 and PyMARE 0.0114").
const ML_LOCAL_OPTIMUM_CASE: (&str, &str, &str) = ("extreme_k10", "one", "ML");

/// ML negative log-likelihood of a two-column design at τ², β profiled out (independent 2 × 2
/// algebra, for the local-optimum check).
fn ml_nll_two_columns(y: &[f64], v: &[f64], x: &[f64], tau2: f64) -> f64 {
    let (mut a, mut b, mut c, mut r0, mut r1, mut slog) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for k in 0..y.len() {
        let (w, x1) = (1.0 / (v[k] + tau2), x[2 * k + 1]);
        (a, b, c) = (a + w, b + w * x1, c + w * x1 * x1);
        (r0, r1) = (r0 + w * y[k], r1 + w * x1 * y[k]);
        slog += (v[k] + tau2).ln();
    }
    let det = a * c - b * b;
    let (b0, b1) = ((c * r0 - b * r1) / det, (a * r1 - b * r0) / det);
    let rss: f64 = (0..y.len()).map(|k| (y[k] - b0 - b1 * x[2 * k + 1]).powi(2) / (v[k] + tau2)).sum();
    0.5 * (slog + rss)
}

#[test]
fn vbl_meta_regression_matches_metafor() {
    let Some(dir) = metafor_dir() else { return };
    // Reference values: metafor 4.6.0, rma.uni(y, v, mods = ~ mod1 [+ mod2], method = ML|REML,
    // test = z|knha) (metafor_reference.json, copied from PyMARE 0.0.13's test data).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metafor_reference.json")).unwrap()).unwrap();
    let (mut checked, mut local_optimum) = (0, 0);
    let mut worst = [("tau2", 0.0f64), ("beta", 0.0), ("se", 0.0), ("p", 0.0), ("ln p", 0.0)];
    for case in json["cases"].as_array().unwrap() {
        let (method, test) = (case["method"].as_str().unwrap(), case["test"].as_str().unwrap());
        let moderators = match case["model"].as_str().unwrap() {
            "one" => 1,
            "two" => 2,
            _ => continue,
        };
        if !["ML", "REML"].contains(&method) || !["z", "knha"].contains(&test) {
            continue;
        }
        let p = moderators + 1;
        let design_name = case["design"].as_str().unwrap();
        let (y, v, x) = design_with_moderators(&dir, design_name, moderators);
        let (con, models) = single_voxel(&y);
        let (var, _) = single_voxel(&v);
        let m = if method == "ML" { Method::Ml } else { Method::Reml };
        let correction = if test == "z" { SmallSampleCorrection::Wald } else { SmallSampleCorrection::KnappHartung };
        let what = format!("{design_name} {} {method} {test}", case["model"]);
        let want_tau2 = case["tau2"].as_f64().unwrap();
        let fit_unit = |j: usize| {
            let mut c = vec![0.0; p];
            c[j] = 1.0;
            variance_based_likelihood_design(&con, &var, &design_from_rows(&x, p), &c, &models, m, correction)
        };
        if (design_name, case["model"].as_str().unwrap(), method) == ML_LOCAL_OPTIMUM_CASE {
            // Check the reason rather than the numbers: metafor's answer is the τ² = 0 fit, and
            // ours is a different optimum with a strictly lower ML objective.
            let tau2 = fit_unit(0).tau2[0];
            assert!(want_tau2 == 0.0 && tau2 > 0.01, "{what}: metafor {want_tau2}, here {tau2}");
            let rows = ibma_glm::metareg::Rows { y: &y, v: &v, x: &x, p };
            let at_zero = ibma_glm::metareg::contrast_stats(&rows, &[1.0, 0.0], 0.0, correction);
            assert!(tol::close(at_zero.est, case["beta"][0].as_f64().unwrap(), tol::REFERENCE_RTOL, 0.0), "{what}");
            let (nll_here, nll_zero) = (ml_nll_two_columns(&y, &v, &x, tau2), ml_nll_two_columns(&y, &v, &x, 0.0));
            assert!(nll_here < nll_zero - 0.1, "{what}: ML nll {nll_here} at {tau2} vs {nll_zero} at 0");
            local_optimum += 1;
            continue;
        }
        // Every coefficient, one unit contrast at a time.
        for j in 0..p {
            let fit = fit_unit(j);
            let want = |key: &str| case[key][j].as_f64().unwrap();
            let (got_p, want_p) = (fit.test.nlogp[0], want("pval"));
            let atol_tau2 = if want_tau2 < tol::METAFOR_TAU2_THRESHOLD { tol::METAFOR_TAU2_THRESHOLD } else { 0.0 };
            // τ² carries metafor's stopping error, and p inherits it through z amplified by the
            // tail: rel(p) ≈ |d ln p/dz|·Δz ≈ 2|ln p|·rel(z), up to 9e−4 for the Wald p of
            // 2.6e−20 here. So p is compared as ln p (relative error ≈ 2 rel(z) in the tail),
            // with the same absolute floor where ln p is near 0.
            let checks = [
                (0, fit.tau2[0], want_tau2, atol_tau2),
                (1, fit.est[0], want("beta"), 0.0),
                (2, fit.se[0], want("se"), 0.0),
                (4, got_p, want_p.ln(), tol::METAFOR_ITERATIVE_RTOL),
            ];
            for (i, got, want, atol) in checks {
                if want.abs() > atol {
                    worst[i].1 = worst[i].1.max(rel(got, want));
                }
                let name = worst[i].0;
                assert!(
                    tol::close(got, want, tol::METAFOR_ITERATIVE_RTOL, atol),
                    "{what} {name}[{j}]: {got} vs metafor {want}"
                );
            }
            worst[3].1 = worst[3].1.max(rel(got_p.exp(), want_p));
            assert!(tol::close(fit.test.dof[0], (y.len() - p) as f64, 0.0, 0.0));
        }
        checked += 1;
    }
    eprintln!("VBL meta-regression vs metafor: max relative difference {worst:?} (p: reported, asserted as ln p; τ² at the boundary not included)");
    assert_eq!(local_optimum, 2, "the local-optimum cell, z and knha");
    assert_eq!(checked, 4 * 2 * 2 * 2 - 2, "every other design x model x method x test was checked");
}

/// `sample_size` of each study in the fixture's `dataset.json` (pain_01..pain_21).
const N_FIXTURE: [f64; 21] = [
    25.0, 25.0, 20.0, 20.0, 9.0, 9.0, 9.0, 12.0, 12.0, 12.0, 12.0, 13.0, 32.0, 24.0, 14.0, 14.0, 12.0, 12.0, 16.0,
    16.0, 16.0,
];
/// Fixture voxel 500 = ijk (5, 0, 0), covered by all 21 studies (docs/estimators.md §12).
const VOXEL_500: usize = 500;

pub fn data_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
}

/// Rows of comma-separated float32 values (shortest repr, parsed exactly as f32 and widened);
/// `#` lines are provenance comments.
pub fn rows(text: &str) -> Vec<Vec<f64>> {
    let parse = |s: &str| f64::from(s.parse::<f32>().unwrap());
    text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(',').map(parse).collect()).collect()
}

/// The 10×10×10 fixture (`tests/data/fixture_10x10x10_con_varcope.csv`, extracted from
/// `../shared/data/nimare_test_pain_10x10x10`; script in its header): con and varcope of the
/// 21 studies at all 1000 voxels, NaN where a study is not valid (value 0 or non-finite, or
/// varcope ≤ the float32 cutoff 5.4210115e-20; docs/estimators.md §2). pain_01–05 have no data at
/// 27 voxels, so NiMARE's default masking forms two bags.
pub fn fixture() -> (StudyVoxels, StudyVoxels) {
    let (mut con, mut var) = (Vec::new(), Vec::new());
    for x in rows(&data_file("fixture_10x10x10_con_varcope.csv")) {
        assert_eq!(x.len(), 42);
        for k in 0..21 {
            let (c, s) = (x[k], x[21 + k]);
            let ok = c.is_finite() && c != 0.0 && s.is_finite() && s != 0.0 && s as f32 > 5.421_011_5e-20_f32;
            con.push(if ok { c } else { f64::NAN });
            var.push(if ok { s } else { f64::NAN });
        }
    }
    assert_eq!(con.len(), 21 * 1000);
    (StudyVoxels::new(21, con), StudyVoxels::new(21, var))
}

/// Compare float32-rounded outputs at one voxel with 6-digit goldens; returns the worst
/// relative difference. A golden 0 must be matched exactly.
fn check_golden(label: &str, maps: &RegressionMaps, v: usize, golden: &[(&str, f64)]) -> f64 {
    let mut worst = 0.0f64;
    for &(name, want) in golden {
        let got = match name {
            "tau2" => maps.tau2[v],
            "sigma2" => maps.sigma2[v],
            "est" => maps.est[v],
            "se" => maps.se[v],
            "z" => maps.test.z[v],
            "p" => maps.test.nlogp[v].exp(),
            "dof" => maps.test.dof[v],
            _ => unreachable!(),
        };
        let got = f64::from(got as f32);
        worst = worst.max(rel(got, want));
        assert!(tol::close(got, want, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "{label} {name}: {got} vs NiMARE {want}");
    }
    worst
}

/// NiMARE fits voxel 500 inside the lock-step model of all voxels of its bag (973 voxels), so
/// the whole fixture is fitted: as a one-voxel model VBL ML's τ² there differs by 2.5e-5.
#[test]
fn likelihood_estimators_match_nimare_goldens_at_fixture_voxel_500() {
    let (con, var) = fixture();
    let models = bags(&con, 2);
    assert!(models.iter().any(|b| b.studies.len() == 21 && b.voxels.len() == 973 && b.voxels.contains(&VOXEL_500)));
    let kh = SmallSampleCorrection::KnappHartung;
    // docs/estimators.md §12a: NiMARE 0.22.1 + PyMARE 0.0.13, default arguments (Knapp–Hartung).
    let vbl_ml = variance_based_likelihood(&con, &var, &models, Method::Ml, kh);
    let vbl_reml = variance_based_likelihood(&con, &var, &models, Method::Reml, kh);
    let (ssbl_ml, bad_ml) = sample_size_based_likelihood(&con, &N_FIXTURE, &models, Method::Ml, kh);
    let (ssbl_reml, bad_reml) = sample_size_based_likelihood(&con, &N_FIXTURE, &models, Method::Reml, kh);
    assert!(bad_ml.is_empty() && bad_reml.is_empty());
    let ssbl_rest = [("tau2", 0.0), ("est", 11.6122), ("se", 11.9273), ("z", 0.950429), ("p", 0.341894), ("dof", 20.0)];
    let worst = [
        check_golden(
            "VBL ML",
            &vbl_ml,
            VOXEL_500,
            &[
                ("tau2", 9.66945e-4),
                ("est", 0.111670),
                ("se", 0.0605284),
                ("z", 1.75120),
                ("p", 0.0799117),
                ("dof", 20.0),
            ],
        ),
        check_golden(
            "VBL REML",
            &vbl_reml,
            VOXEL_500,
            &[
                ("tau2", 6.25352e-3),
                ("est", 0.133042),
                ("se", 0.0916017),
                ("z", 1.39871),
                ("p", 0.161899),
                ("dof", 20.0),
            ],
        ),
        check_golden("SSBL ML", &ssbl_ml, VOXEL_500, &[&[("sigma2", 45252.3)], &ssbl_rest[..]].concat()),
        check_golden("SSBL REML", &ssbl_reml, VOXEL_500, &[&[("sigma2", 47514.9)], &ssbl_rest[..]].concat()),
    ];
    eprintln!("vs NiMARE goldens, max relative difference: VBL ML/REML, SSBL ML/REML {worst:?}");
}

/// All 1000 fixture voxels against NiMARE 0.22.1's VBL maps (`tests/data/fixture_10x10x10_vbl_nimare.csv`,
/// from `../shared/data/reference_outputs/nimare-0.22.1/nimare_test_pain_10x10x10/default/`;
/// script in its header), at the map tolerance of docs/validation.md §3 — stricter than its
/// likelihood acceptance rule, and met everywhere. Fitting every voxel as its own model (no
/// lock-step) must fail it: that is the rule this checks.
#[test]
fn vbl_matches_nimare_maps_on_the_whole_fixture() {
    let (con, var) = fixture();
    let reference = rows(&data_file("fixture_10x10x10_vbl_nimare.csv"));
    assert_eq!(reference.len(), 1000);
    let models = bags(&con, 2);
    let singles: Vec<Bag> = models
        .iter()
        .flat_map(|b| b.voxels.iter().map(|&v| Bag { studies: b.studies.clone(), voxels: vec![v] }))
        .collect();
    let kh = SmallSampleCorrection::KnappHartung;
    for (col, method) in [(0, Method::Ml), (4, Method::Reml)] {
        let maps = variance_based_likelihood(&con, &var, &models, method, kh);
        let alone = variance_based_likelihood(&con, &var, &singles, method, kh);
        let mut worst = [0.0f64; 4];
        let mut alone_fails = 0;
        for (v, r) in reference.iter().enumerate() {
            let pick = |m: &RegressionMaps| [m.tau2[v], m.est[v], m.se[v], m.test.z[v]].map(|x| f64::from(x as f32));
            for (i, (got, want)) in pick(&maps).into_iter().zip(&r[col..col + 4]).enumerate() {
                assert!(
                    tol::close(got, *want, tol::MAP_RTOL, tol::MAP_ATOL),
                    "{method:?} voxel {v} map {i}: {got} vs {want}"
                );
                if want.abs() > tol::MAP_ATOL {
                    worst[i] = worst[i].max(rel(got, *want));
                }
            }
            let got = pick(&alone);
            alone_fails += usize::from(!tol::close(got[0], r[col], tol::MAP_RTOL, tol::MAP_ATOL));
        }
        eprintln!("VBL {method:?} whole fixture: max relative difference tau2/est/se/z {worst:?}; {alone_fails} voxels fail without lock-step");
        assert!(alone_fails > 0, "per-voxel stopping should not reproduce NiMARE");
    }
}

/// With X = 1 and c = [1] the general-design VBL is the intercept-only VBL: same τ² scale,
/// objective and lock-step search (so τ² is bit-identical), and est/se/z/p differ only in the
/// rounding of the p × p inference, on the whole fixture (both bags, every voxel) and on
/// synthetic data split across rayon tasks. (The search amplifies last-bit differences in the
/// scale or objective to ~1e−6 in τ², so this fails unless P = 1 keeps the scalar arithmetic.)
#[test]
fn vbl_design_with_intercept_only_equals_vbl() {
    let (con, var) = fixture();
    let models = bags(&con, 2);
    let (syn_con, syn_var) = synthetic(12, 3000, 11);
    let syn_models = bags(&syn_con, 2);
    let mut worst = 0.0f64;
    for (con, var, models) in [(&con, &var, &models), (&syn_con, &syn_var, &syn_models)] {
        let ones = Design::intercept(con.n_studies());
        for method in [Method::Ml, Method::Reml] {
            for correction in [SmallSampleCorrection::Wald, SmallSampleCorrection::KnappHartung] {
                let a = variance_based_likelihood(con, var, models, method, correction);
                let b = variance_based_likelihood_design(con, var, &ones, &[1.0], models, method, correction);
                assert!(b.sigma2.is_empty() && a.tau2.len() == b.tau2.len());
                // Same scale and objective bits, so the same search trajectory: τ² is identical.
                let bits = |m: &RegressionMaps| m.tau2.iter().map(|t| t.to_bits()).collect::<Vec<u64>>();
                assert!(bits(&a) == bits(&b), "{method:?} {correction:?}: tau2 not bit-identical");
                let maps = |m: &RegressionMaps| {
                    [
                        m.est.clone(),
                        m.se.clone(),
                        m.tau2.clone(),
                        m.test.z.clone(),
                        m.test.nlogp.clone(),
                        m.test.dof.clone(),
                    ]
                };
                for (i, (ma, mb)) in maps(&a).iter().zip(&maps(&b)).enumerate() {
                    for (v, (&x, &y)) in mb.iter().zip(ma).enumerate() {
                        if y.is_finite() && y != 0.0 {
                            worst = worst.max(rel(x, y));
                        }
                        assert!(
                            tol::close(x, y, tol::SUMMATION_ORDER_RTOL, 0.0),
                            "{method:?} {correction:?} map {i} voxel {v}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
    eprintln!("VBL design (X = 1) vs intercept-only VBL: max relative difference {worst:.3e}");
}

#[test]
fn lock_step_rule_changes_a_near_boundary_voxel() {
    // Voxel A: equal variances 1 and y = ±a, so the ML τ² is exactly mean((y − ȳ)²) − 1 = δ.
    // With δ tiny the optimum u* ≈ δ/s lies between the scan points 0 and 1e-6, below their
    // midpoint, so the scan's best point is the end u = 0: alone, A is settled at iteration 0
    // and returns τ² = 0 exactly. Fitted together with voxel B (an interior optimum that needs
    // refinement), A keeps stepping inside its bracket and moves off 0 towards δ.
    let delta: f64 = 4e-7;
    let a = (1.0 + delta).sqrt();
    let con_a = [a, -a, a, -a];
    let con_b = [0.3, -1.2, 2.5, 0.8];
    let var_b = [0.5, 0.7, 0.2, 1.1];
    let con = StudyVoxels::new(4, [con_a, con_b].concat());
    let var = StudyVoxels::new(4, [[1.0; 4], var_b].concat());
    let studies: Vec<usize> = (0..4).collect();
    let together = vec![Bag { studies: studies.clone(), voxels: vec![0, 1] }];
    let apart = vec![Bag { studies: studies.clone(), voxels: vec![0] }, Bag { studies, voxels: vec![1] }];
    let kh = SmallSampleCorrection::KnappHartung;
    let one = variance_based_likelihood(&con, &var, &together, Method::Ml, kh);
    let two = variance_based_likelihood(&con, &var, &apart, Method::Ml, kh);
    assert_eq!(two.tau2[0].to_bits(), 0.0f64.to_bits(), "alone, A stops on the boundary");
    assert!((0.5 * delta..2.0 * delta).contains(&one.tau2[0]), "in lock-step A moves to about δ: {}", one.tau2[0]);
    // B sets the model's iteration count in both cases, so it is unchanged bit for bit.
    assert_eq!(one.tau2[1].to_bits(), two.tau2[1].to_bits());
    assert!(one.tau2[1] > 0.0);
}

/// Synthetic maps: K studies × V voxels, some studies missing on some voxels so that several
/// bags form (one big one, split across rayon tasks).
fn synthetic(k: usize, v: usize, seed: u64) -> (StudyVoxels, StudyVoxels) {
    let mut rng = Rng::new(seed);
    let (mut con, mut var) = (Vec::with_capacity(k * v), Vec::with_capacity(k * v));
    for voxel in 0..v {
        let mu = rng.normal();
        let tau = rng.between(0.0, 2.0);
        for study in 0..k {
            let missing = (voxel % 7 == 3 && study < 3) || (voxel % 11 == 5 && study % 4 == 1);
            let s2 = rng.between(0.1, 3.1);
            let y = mu + tau * rng.normal() + s2.sqrt() * rng.normal();
            con.push(if missing { f64::NAN } else { y });
            var.push(if missing { f64::NAN } else { s2 });
        }
    }
    (StudyVoxels::new(k, con), StudyVoxels::new(k, var))
}

fn same_bits(a: &RegressionMaps, b: &RegressionMaps) -> bool {
    let maps = |m: &RegressionMaps| {
        [&m.est, &m.se, &m.tau2, &m.sigma2, &m.test.z, &m.test.nlogp, &m.test.dof]
            .iter()
            .flat_map(|x| x.iter().map(|v| v.to_bits()))
            .collect::<Vec<u64>>()
    };
    maps(a) == maps(b)
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let (con, var) = synthetic(12, 5000, 7);
    let models = bags(&con, 2);
    assert!(models.len() >= 3 && models.iter().any(|b| b.voxels.len() > 2000));
    let n: Vec<f64> = (0..12).map(|k| 10.0 + (k * 3 % 7) as f64).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let kh = SmallSampleCorrection::KnappHartung;
            let vbl = variance_based_likelihood(&con, &var, &models, Method::Reml, kh);
            let (ssbl, bad) = sample_size_based_likelihood(&con, &n, &models, Method::Ml, kh);
            assert!(bad.is_empty());
            (vbl, ssbl)
        })
    };
    let (vbl1, ssbl1) = run(1);
    let (vbl4, ssbl4) = run(4);
    assert!(same_bits(&vbl1, &vbl4), "VBL differs between 1 and 4 threads");
    assert!(same_bits(&ssbl1, &ssbl4), "SSBL differs between 1 and 4 threads");
    assert!(vbl1.tau2.iter().all(|t| t.is_finite()) && ssbl1.sigma2.iter().all(|s| s.is_finite()));
}

#[test]
fn vbl_design_is_thread_independent_and_nan_where_not_estimable() {
    // Two moderators on synthetic maps with several bags, one of them split across rayon tasks.
    let (con, var) = synthetic(12, 5000, 3);
    let models = bags(&con, 2);
    let rows: Vec<f64> = (0..12).flat_map(|k| [1.0, (k as f64 - 5.5) / 4.0, ((k * 5) % 7) as f64]).collect();
    let design = design_from_rows(&rows, 3);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let kh = SmallSampleCorrection::KnappHartung;
            variance_based_likelihood_design(&con, &var, &design, &[0.0, 1.0, -0.5], &models, Method::Reml, kh)
        })
    };
    let (one, four) = (run(1), run(4));
    assert!(same_bits(&one, &four), "VBL design differs between 1 and 4 threads");
    assert!(one.tau2.iter().chain(&one.test.z).all(|x| x.is_finite()));
    for bag in &models {
        let dof = (bag.studies.len() - 3) as f64;
        assert!(bag.voxels.iter().all(|&v| tol::close(one.test.dof[v], dof, 0.0, 0.0)), "K - P dof on every bag");
    }

    // K = P = 2 studies, and a design whose two columns are equal: both NaN everywhere.
    let con = StudyVoxels::new(2, vec![0.3, -0.4, 1.2, 0.8]);
    let var = StudyVoxels::new(2, vec![0.5, 0.7, 0.2, 1.1]);
    let models = bags(&con, 2);
    let wald = SmallSampleCorrection::Wald;
    let design = design_from_rows(&[1.0, 0.0, 1.0, 1.0], 2);
    let fit = variance_based_likelihood_design(&con, &var, &design, &[1.0, 0.0], &models, Method::Ml, wald);
    assert!(fit.est.iter().chain(&fit.tau2).chain(&fit.test.z).all(|x| x.is_nan()));
    let (con, _) = single_voxel(&[0.3, -1.2, 2.5, 0.8]);
    let (var, models) = single_voxel(&[0.5, 0.7, 0.2, 1.1]);
    let design = design_from_rows(&[1.0; 8], 2);
    let fit = variance_based_likelihood_design(&con, &var, &design, &[1.0, 0.0], &models, Method::Reml, wald);
    assert!(fit.est[0].is_nan() && fit.se[0].is_nan() && fit.test.z[0].is_nan());
}

#[test]
fn ssbl_reports_and_skips_models_with_equal_sample_sizes() {
    // Studies 0 and 1 share n = 12; studies 2 and 3 differ. Voxels 0–1 see only studies 0, 1
    // (degenerate bag); voxels 2–4 see all four.
    let nan = f64::NAN;
    let n = [12.0, 12.0, 20.0, 9.0];
    #[rustfmt::skip]
    let con = StudyVoxels::new(4, vec![
        1.0, 2.0, nan, nan,
        0.5, -1.0, nan, nan,
        1.0, 2.0, 3.0, 0.5,
        -0.4, 0.9, 2.2, 1.3,
        0.1, 0.2, -0.7, 1.9,
    ]);
    let models = bags(&con, 2);
    assert_eq!(models.len(), 2);
    let kh = SmallSampleCorrection::KnappHartung;
    for method in [Method::Ml, Method::Reml] {
        let (maps, bad) = sample_size_based_likelihood(&con, &n, &models, method, kh);
        assert_eq!(bad, vec![0], "the bag of studies 0 and 1 is reported");
        for v in 0..2 {
            assert!(maps.est[v].is_nan() && maps.sigma2[v].is_nan() && maps.test.z[v].is_nan());
        }
        for v in 2..5 {
            // (σ̂² = 0, r̂ = 1, is a legitimate answer on data this small.)
            let finite = [maps.est[v], maps.se[v], maps.tau2[v], maps.sigma2[v]].iter().all(|x| x.is_finite());
            assert!(finite && tol::close(maps.test.dof[v], 3.0, 0.0, 0.0), "voxel {v}");
        }
    }
}
