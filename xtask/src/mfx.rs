//! MFX_GLM against NiMARE's VarianceBasedLikelihood(method="reml") by the energy criterion of
//! docs/flame1.md (The test of MFX against NiMARE's REML), and the null calibration of MFX_GLM,
//! DL + Knapp–Hartung and the ols t-test (docs/flame1.md, Calibration).

use crate::rng::Rng;
use crate::Row;
use ibma::glm::design::{Contrast, Design};
use ibma::glm::flame::{flame, reference_min, reml_energy, Optimizer, RunMode};
use ibma::glm::{moments, SmallSampleCorrection};
use ibma::inputs::Needs;
use ibma::io::MapType;
use ibma::options::{Derive, InputOptions};
use ibma::stats::StudyVoxels;
use ibma::{tol, Dataset};
use std::path::Path;

/// One energy-criterion row: every voxel where all studies are valid.
pub fn energy_row(dataset_dir: &Path, reference: &Path, what: String) -> Result<Row, String> {
    let ds = Dataset::load(dataset_dir).map_err(|e| e.to_string())?;
    let options = InputOptions { derive: Derive::Always, aggressive_mask: true, ..InputOptions::default() };
    let needs = Needs::new("mfx-glm", &[MapType::Con, MapType::Varcope], false, &options);
    let inputs = ds.inputs(&needs).and_then(|i| i.prepare(&needs)).map_err(|e| e.to_string())?.whole();
    let (con, var) = (inputs.map(MapType::Con), inputs.map(MapType::Varcope));
    let k = con.n_studies();
    let fit = flame(con, var, &Design::intercept(k), &Contrast::unit(1, 0), &RunMode::Flame1(Optimizer::Global));
    let read = |m: &str| -> Result<Vec<f64>, String> {
        let vol = ibma::io::read_volume(&reference.join(format!("{m}.nii.gz"))).map_err(|e| e.to_string())?;
        Ok(ds.mask.indices.iter().map(|&i| vol.data[i]).collect())
    };
    let (ref_tau2, ref_est, ref_se) = (read("tau2")?, read("est")?, read("se")?);
    let (mut better, mut agree, mut boundary, mut violations, mut disagree) = (0, 0, 0, 0, 0);
    let ones = vec![1.0; k];
    for v in 0..con.n_voxels() {
        let (y, s) = (con.voxel(v), var.voxel(v));
        if y.iter().any(|x| x.is_nan()) || ref_tau2[v].is_nan() {
            continue; // not an all-study voxel
        }
        let mean = y.iter().sum::<f64>() / k as f64;
        let s_hat2 = y.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (k as f64 - 1.0);
        let (t_mfx, t_ref) = (fit.tau2[0][v], ref_tau2[v]);
        let at_boundary = |t: f64| t <= tol::BOUNDARY_ATOL_PER_VAR * s_hat2;
        if at_boundary(t_mfx) && at_boundary(t_ref) {
            boundary += 1;
            continue;
        }
        let (e_mfx, e_ref) = (reml_energy(y, s, &ones, 1, t_mfx), reml_energy(y, s, &ones, 1, t_ref));
        if e_mfx > e_ref + tol::ENERGY_RTOL * (1.0 + e_ref.abs()) {
            violations += 1;
        } else if (e_mfx - e_ref).abs() <= tol::ENERGY_AGREE_ATOL {
            agree += 1;
            let w_rss: f64 = y.iter().zip(s).map(|(y, s)| (y - fit.est[v]).powi(2) / (s + t_mfx)).sum();
            let se_kh = fit.se[v] * (w_rss / (k as f64 - 1.0)).sqrt();
            let checks = [
                tol::close(t_mfx, t_ref, tol::FLAME_VS_NIMARE_RTOL, 0.0),
                // est near zero is judged on the scale of its se (docs/validation.md §3, the est rule).
                (fit.est[v] - ref_est[v]).abs() <= tol::FLAME_VS_NIMARE_RTOL * ref_est[v].abs().max(ref_se[v]),
                tol::close(se_kh, ref_se[v], tol::FLAME_VS_NIMARE_RTOL, 0.0),
            ];
            disagree += usize::from(checks.contains(&false));
        } else {
            better += 1;
        }
    }
    // docs/flame1.md, The test of MFX against NiMARE's REML: no energy above NiMARE's; same
    // optimum ⇒ same τ², est, KH se at ≥ 99.99 %.
    let agree_ok = (disagree as f64) <= (1.0 - tol::FLAME_AGREE_FRACTION) * agree.max(1) as f64;
    Ok(Row {
        what,
        nan_mismatch: 0,
        max_abs: 0.0,
        max_rel: 0.0,
        failures: violations + usize::from(!agree_ok),
        note: Some(format!(
            "energy: {better} voxels strictly lower than NiMARE, {agree} same optimum ({disagree} differ > 1e-4), {boundary} at tau2 = 0, {violations} above"
        )),
    })
}

/// Points of the reference search's log grid over flameo's 20 decades, 1e−10·ŝ² … 1e10·ŝ²
/// (20 per decade; every local minimum among them is refined).
const REFERENCE_POINTS: usize = 401;

/// The nidm_pain21 designs of the reference rows. The shared FSL outputs hold the one-sample
/// run only, so the other two are made from what dataset.json has: the sample size (centred)
/// as covariate, and two variance groups pain_01–11 / pain_12–21.
const DESIGNS: [&str; 3] = ["one-sample", "covariate sample_size", "two groups pain_01-11 / pain_12-21"];

/// Rows of the global-optimum criterion (docs/flame1.md, The σ² search): in every voxel
/// (listwise, default mask) and variance group of each design, MFX_GLM's REML energy is not
/// above that of [`reference_min`]'s dense search over flameo's range (to 1e−9·(1 + |E|)).
pub fn reference_rows(dataset_dir: &Path) -> Result<Vec<Row>, String> {
    let ds = Dataset::load(dataset_dir).map_err(|e| e.to_string())?;
    let options = InputOptions { derive: Derive::Always, ..InputOptions::default() };
    let needs = Needs::new("mfx-glm", &[MapType::Con, MapType::Varcope], true, &options);
    let inputs = ds.inputs(&needs).and_then(|i| i.prepare(&needs)).map_err(|e| e.to_string())?.whole();
    let (con, var) = (inputs.map(MapType::Con), inputs.map(MapType::Varcope));
    let k = con.n_studies();
    let n = inputs.sample_sizes();
    let mut rows = Vec::new();
    for name in DESIGNS {
        let (design, contrast, groups) = reference_design(name, &n)?;
        let fit = flame(con, var, &design, &contrast, &RunMode::Flame1(Optimizer::Global));
        let p = design.n_columns();
        // Per voxel and group: (checked, strictly lower than the reference, above it); voxel
        // ranges on all cores (integer counts: the sum does not depend on the split).
        let count = |v: usize| -> [usize; 3] {
            let (y, s) = (con.voxel(v), var.voxel(v));
            let valid: Vec<f64> = y.iter().copied().filter(|y| !y.is_nan()).collect();
            let m = valid.len() as f64;
            let mean = valid.iter().sum::<f64>() / m;
            let s2hat = valid.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (m - 1.0);
            let mut c = [0; 3];
            for (g, tau2) in fit.tau2.iter().enumerate() {
                if tau2[v].is_nan() || s2hat.is_nan() || s2hat <= 0.0 {
                    continue;
                }
                let rows: Vec<usize> = (0..k).filter(|&r| groups[r] == g && !y[r].is_nan()).collect();
                let cols: Vec<usize> = (0..p).filter(|&j| rows.iter().any(|&r| design.row(r)[j] != 0.0)).collect();
                let (yg, sg): (Vec<f64>, Vec<f64>) = rows.iter().map(|&r| (y[r], s[r])).unzip();
                let (d, cols) = (&design, &cols);
                let xg: Vec<f64> = rows.iter().flat_map(|&r| cols.iter().map(move |&j| d.row(r)[j])).collect();
                let e = reml_energy(&yg, &sg, &xg, cols.len(), tau2[v]);
                let (_, e_ref) =
                    reference_min(&yg, &sg, &xg, cols.len(), 1e-10 * s2hat, 1e10 * s2hat, REFERENCE_POINTS);
                let slack = tol::ENERGY_RTOL * (1.0 + e_ref.abs());
                c[0] += 1;
                c[1] += usize::from(e < e_ref - slack);
                c[2] += usize::from(e > e_ref + slack);
            }
            c
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = con.n_voxels().div_ceil(threads);
        let counts: Vec<[usize; 3]> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let count = &count;
                    scope.spawn(move || {
                        let range = t * chunk..((t + 1) * chunk).min(con.n_voxels());
                        range.map(count).fold([0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or([0, 0, usize::MAX])).collect()
        });
        let total = counts.iter().fold([0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]]);
        rows.push(Row {
            what: format!("nidm_pain21: MFX_GLM global optimum vs dense search, {name}"),
            nan_mismatch: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            failures: total[2],
            note: Some(format!(
                "{} voxel-groups: {} above the dense search, {} strictly below it, the rest equal",
                total[0], total[2], total[1]
            )),
        });
    }
    Ok(rows)
}

/// (design, contrast, group of each study) of one of [`DESIGNS`].
fn reference_design(name: &str, n: &[f64]) -> Result<(Design, Contrast, Vec<usize>), String> {
    let k = n.len();
    let bad = |e: ibma::glm::design::DesignError| e.to_string();
    Ok(match name {
        "one-sample" => (Design::intercept(k), Contrast::unit(1, 0), vec![0; k]),
        "covariate sample_size" => {
            let mean = n.iter().sum::<f64>() / k as f64;
            let centred = n.iter().map(|n| n - mean).collect();
            (Design::new(vec![vec![1.0; k], centred], None).map_err(bad)?, Contrast::unit(2, 0), vec![0; k])
        }
        _ => {
            let groups: Vec<usize> = (0..k).map(|r| usize::from(r >= 11)).collect();
            let column = |g: usize| groups.iter().map(|&x| if x == g { 1.0 } else { 0.0 }).collect();
            let design = Design::new(vec![column(0), column(1)], Some(groups.clone())).map_err(bad)?;
            (design, Contrast::new(vec![vec![1.0, -1.0]]).map_err(bad)?, groups)
        }
    })
}

/// Null calibration (issue: K = 20, ≥ 100,000 voxels, homogeneous and heterogeneous
/// within-study variances, α = 0.05 and 0.001, 99 % binomial intervals). A report, except that
/// the ols t-test must lie inside its interval where its assumptions hold (homogeneous).
pub fn calibration_rows() -> Vec<Row> {
    const K: usize = 20;
    const V: usize = 100_000;
    let mut rows = Vec::new();
    for (scenario, heterogeneous) in [("homogeneous", false), ("heterogeneous", true)] {
        let mut rng = Rng(if heterogeneous { 2 } else { 1 });
        let (mut con, mut var) = (Vec::with_capacity(K * V), Vec::with_capacity(K * V));
        for _ in 0..V {
            for k in 0..K {
                // Within-study variances over two orders of magnitude, plus τ² = 0.5.
                let v = if heterogeneous { 0.1 * 100f64.powf(k as f64 / (K - 1) as f64) } else { 1.0 };
                var.push(v);
                con.push((v + 0.5f64).sqrt() * rng.normal());
            }
        }
        let (con, var) = (StudyVoxels::new(K, con), StudyVoxels::new(K, var));
        let (design, contrast) = (Design::intercept(K), Contrast::unit(1, 0));
        let methods: [(&str, Vec<f64>); 3] = [
            ("mfx-glm", flame(&con, &var, &design, &contrast, &RunMode::Flame1(Optimizer::Global)).nlogp),
            (
                "dersimonian-laird (KH)",
                moments::dersimonian_laird(&con, &var, SmallSampleCorrection::KnappHartung).test.nlogp,
            ),
            ("ols t-test", flame(&con, &var, &design, &contrast, &RunMode::Ols).nlogp),
        ];
        for (name, nlogp) in methods {
            for alpha in [0.05, 0.001] {
                let n = nlogp.iter().filter(|l| l.is_finite()).count() as f64;
                let hits = nlogp.iter().filter(|l| l.is_finite() && l.exp() < alpha).count() as f64;
                let rate = hits / n;
                let half = 2.575_829_303_549 * (alpha * (1.0 - alpha) / n).sqrt(); // 99 % normal interval
                let inside = (rate - alpha).abs() <= half;
                let must_pass = name == "ols t-test" && !heterogeneous;
                rows.push(Row {
                    what: format!("calibration {scenario} K={K} V={V}: {name} at alpha {alpha}"),
                    nan_mismatch: 0,
                    max_abs: 0.0,
                    max_rel: 0.0,
                    failures: usize::from(must_pass && !inside),
                    note: Some(format!(
                        "FPR {rate:.5} (99% interval {:.5}..{:.5}){}",
                        alpha - half,
                        alpha + half,
                        if must_pass { "" } else { " report only" }
                    )),
                });
            }
        }
    }
    rows
}
