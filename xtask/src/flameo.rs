//! ibma's FLAME against FSL 5.0.9 flameo's own outputs on nidm_pain21, one-sample
//! (`../shared/data/reference_outputs/fsl-5.0.9`): `optimizer=fsl` reproduces flameo's τ² and z,
//! the global optimiser's REML energy is never above flameo's, the `fe` and `ols` faces give
//! flameo's cope and t to float32 rounding, FSL's t → z reproduces flameo's z, and ibma's GRF
//! smoothness and cluster tables equal FSL `smoothest`'s and `cluster`'s. Voxels: flameo's mask
//! (every study valid), which is ibma's aggressive mask.

use crate::{compare_with, Row};
use ibma::glm::design::{Contrast, Design};
use ibma::glm::flame::{flame, reml_energy, FlameMaps, Optimizer, RunMode};
use ibma::inputs::Needs;
use ibma::io::MapType;
use ibma::options::{Derive, InputOptions};
use ibma::{tol, Dataset};
use ibma_cli::run::{fit, FitRequest};
use std::path::Path;

/// The rows (see the module documentation).
pub fn rows(shared: &Path) -> Result<Vec<Row>, String> {
    let ds = Dataset::load(&shared.join("nidm_pain21")).map_err(|e| e.to_string())?;
    let options = InputOptions { derive: Derive::Always, aggressive_mask: true, ..InputOptions::default() };
    let needs = Needs::new("mfx-glm", &[MapType::Con, MapType::Varcope], false, &options);
    let inputs = ds.inputs(&needs).and_then(|i| i.prepare(&needs)).map_err(|e| e.to_string())?.whole();
    let (con, var) = (inputs.map(MapType::Con), inputs.map(MapType::Varcope));
    let fsl = shared.join("reference_outputs/fsl-5.0.9/nidm_pain21-onesample");
    let read = |run: &str, map: &str| -> Result<Vec<f64>, String> {
        let path = fsl.join(run).join("stats").join(format!("{map}.nii.gz"));
        let vol = ibma::io::read_volume(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ds.mask.indices.iter().map(|&i| vol.data[i]).collect())
    };
    let in_mask: Vec<bool> = read("flame1", "mask")?.iter().map(|&m| m > 0.0).collect();
    let ours: Vec<bool> = (0..con.n_voxels()).map(|v| con.voxel(v).iter().all(|c| !c.is_nan())).collect();
    let mask_mismatch = in_mask.iter().zip(&ours).filter(|(a, b)| a != b).count();
    let k = con.n_studies();
    let fit = |mode: RunMode| flame(con, var, &Design::intercept(k), &Contrast::unit(1, 0), &mode);
    let (fsl_fit, global) = (fit(RunMode::Flame1(Optimizer::Fsl)), fit(RunMode::Flame1(Optimizer::Global)));
    let (tau2, z) = (read("flame1", "mean_random_effects_var1")?, read("flame1", "zstat1")?);
    let voxels: Vec<usize> = (0..con.n_voxels()).filter(|&v| in_mask[v]).collect();
    let n = voxels.len();

    // optimizer=fsl: τ² within 1e−3 relative and |Δz| ≤ 1e−3 in ≥ 99.9 % of the voxels.
    let tau2_ok =
        voxels.iter().filter(|&&v| tol::close(fsl_fit.tau2[0][v], tau2[v], tol::FLAMEO_TAU2_RTOL, 0.0)).count();
    let z_ok = voxels.iter().filter(|&&v| (fsl_fit.z[v] - z[v]).abs() <= tol::FLAMEO_Z_ATOL).count();
    let pct = |c: usize| 100.0 * c as f64 / n as f64;
    let enough = |c: usize| c as f64 >= tol::FLAMEO_AGREE_FRACTION * n as f64;
    let mut rows = vec![Row {
        what: "nidm_pain21 vs FSL 5.0.9 flameo flame1: mask, optimizer=fsl tau2 and z".into(),
        nan_mismatch: mask_mismatch,
        max_abs: 0.0,
        max_rel: 0.0,
        failures: usize::from(!enough(tau2_ok)) + usize::from(!enough(z_ok)),
        note: Some(format!(
            "{n} voxels: tau2 within 1e-3 in {:.3} %, |dz| <= 1e-3 in {:.3} % (want >= {} %)",
            pct(tau2_ok),
            pct(z_ok),
            100.0 * tol::FLAMEO_AGREE_FRACTION
        )),
    }];
    rows.push(energy_vs_flameo(con, var, &global, &tau2, &z, &voxels));
    for (run, mode) in [("fe", RunMode::Fe { study_dof: Vec::new() }), ("ols", RunMode::Ols)] {
        let m = fit(mode);
        for (map, ours) in [("cope1", &m.est), ("tstat1", &m.stat)] {
            let reference = read(run, map)?;
            let pick = |x: &[f64]| voxels.iter().map(|&v| x[v]).collect::<Vec<f64>>();
            rows.push(compare_with(
                &pick(&reference),
                &pick(ours),
                format!("nidm_pain21 vs FSL 5.0.9 flameo {run}: {map}"),
                |t, r, _| tol::close(t, r, tol::MAP_RTOL, tol::MAP_ATOL),
            ));
        }
    }
    rows.extend(grf_rows(shared, &fsl_fit, &voxels)?);
    Ok(rows)
}

/// FSL's printed tables (`smoothest`, `cluster --mm`) give 3 to 6 significant digits: a value
/// agrees if within half a unit of the 3rd significant digit (5e−3 relative).
const THREE_SIGNIFICANT_RTOL: f64 = 5e-3;

/// ibma's GRF on the FLAME1 run (MFX_GLM with flameo's optimiser and t → z, FSL's smoothness
/// quirks, flameo's mask) against FSL 5.0.9 `smoothest` on flameo's res4d and `cluster` on its
/// zstat1 at z > 2.3 and 3.1, 26-connectivity: smoothness (DLH, volume, resels) and every
/// cluster's size, p, peak and centre of gravity. Also: z with FSL's t → z against flameo's.
// Voxel counts and peak coordinates (integers, exact in both tables) are compared exactly.
#[allow(clippy::float_cmp)]
fn grf_rows(shared: &Path, fsl_fit: &FlameMaps, voxels: &[usize]) -> Result<Vec<Row>, String> {
    let dir = shared.join("reference_outputs/fsl-5.0.9/nidm_pain21-onesample/flame1");
    let text = |name: &str| -> Result<String, String> {
        std::fs::read_to_string(dir.join("smoothest_cluster").join(name)).map_err(|e| format!("{name}: {e}"))
    };
    let ds = Dataset::load(&shared.join("nidm_pain21")).map_err(|e| e.to_string())?;
    let read = |name: &str| -> Result<Vec<f64>, String> {
        let vol = ibma::io::read_volume(&dir.join("stats").join(name)).map_err(|e| e.to_string())?;
        Ok(ds.mask.indices.iter().map(|&i| vol.data[i]).collect())
    };
    let (z_ref, t_ref) = (read("zstat1.nii.gz")?, read("tstat1.nii.gz")?);
    // The conversion alone, on flameo's own t where |t| ≥ 7.5 (FSL's large-t range).
    let large: Vec<usize> = voxels.iter().copied().filter(|&v| t_ref[v].abs() >= 7.5).collect();
    let max_dz = |z: &dyn Fn(f64) -> f64| large.iter().map(|&v| (z(t_ref[v]) - z_ref[v]).abs()).fold(0.0f64, f64::max);
    let dof = fsl_fit.dof.iter().copied().find(|d| d.is_finite()).unwrap_or(f64::NAN);
    let dz = max_dz(&|t| ibma::stats::transform::t_to_z_fsl(t, dof));
    let dz_exact = max_dz(&|t| ibma::stats::transform::t_to_z_exact(t, dof));
    let mut rows = vec![Row {
        what: "nidm_pain21 vs FSL 5.0.9 flameo flame1: t_to_z_fsl of flameo's t at |t| >= 7.5".into(),
        nan_mismatch: 0,
        max_abs: dz,
        max_rel: 0.0,
        failures: usize::from(dz > tol::FSL_TTOZ_ATOL),
        note: Some(format!("{} voxels: max |dz| {dz:.1e} (exact t -> z: {dz_exact:.1e})", large.len())),
    }];
    let smooth: Vec<f64> =
        text("smoothest_res4d.txt")?.lines().filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect();
    for cdt in ["2.3", "3.1"] {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/validate/fsl-grf").join(cdt);
        let sets = [
            ("aggressive_mask", "true"),
            ("optimizer", "fsl"),
            ("t_to_z", "fsl"),
            ("fsl_compat", "true"),
            ("cdt", cdt),
            ("cdt_tail", "one"),
            ("two_sided", "false"),
        ];
        let req = FitRequest {
            dataset: shared.join("nidm_pain21"),
            estimator: "mfx-glm".into(),
            out,
            sets: sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            corrections: Vec::new(),
            n_iters: 1,
            seed: 42,
            threads: None,
            force: true,
            load: Default::default(),
        };
        let result = fit(&req).map_err(|e| format!("GRF fit at z > {cdt}: {e}"))?.result;
        let grf = result.diagnostics.grf.as_ref().ok_or("the FLAME1 fit has no GRF facts")?;
        let ours_smooth = [grf.dlh, grf.volume as f64, grf.resels];
        let smooth_bad = ours_smooth
            .iter()
            .zip(&smooth)
            .filter(|(o, f)| !tol::close(**o, **f, tol::GOLDEN_6_DIGITS_RTOL, 0.0))
            .count();
        let table = result.tables.iter().find(|t| t.file == "clusters.tsv").map(|t| t.text.clone()).unwrap_or_default();
        let ours: Vec<Vec<f64>> =
            table.lines().skip(1).map(|l| l.split('\t').filter_map(|c| c.parse().ok()).collect()).collect();
        let theirs: Vec<Vec<f64>> = text(&format!("cluster_z{cdt}_mm.txt"))?
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().filter_map(|c| c.parse().ok()).collect())
            .collect();
        // FSL columns: index, voxels, P, -log10 P, MAX, MAX x y z, COG x y z; ibma's: id, sign,
        // voxels, mm³, p, -log10 p, z max, its x y z, COG x y z.
        let mut bad = usize::from(ours.len() != theirs.len());
        for (o, f) in ours.iter().zip(&theirs) {
            let close = |a: f64, b: f64| (a - b).abs() <= THREE_SIGNIFICANT_RTOL * b.abs() + 5e-4;
            let same = o.len() >= 13
                && f.len() >= 11
                && o[2] == f[1]
                && close(o[5], f[3])
                && close(o[6], f[4])
                && o[7..10] == f[5..8]
                && (0..3).all(|i| close(o[10 + i], f[8 + i]));
            bad += usize::from(!same);
        }
        rows.push(Row {
            what: format!("nidm_pain21 vs FSL 5.0.9 smoothest + cluster: GRF at z > {cdt}"),
            nan_mismatch: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            failures: smooth_bad + bad,
            note: Some(format!(
                "DLH {:.7}, resels {:.3} (FSL {}, {}); {} clusters (FSL {}), {bad} differ in size, p, peak or COG",
                ours_smooth[0],
                ours_smooth[2],
                smooth.first().copied().unwrap_or(f64::NAN),
                smooth.get(2).copied().unwrap_or(f64::NAN),
                ours.len(),
                theirs.len()
            )),
        });
    }
    Ok(rows)
}

/// The global optimiser's REML energy against that of flameo's τ² in every voxel: never above
/// (to 1e−9·(1 + |E|)); where lower, flameo stopped in a worse basin.
fn energy_vs_flameo(
    con: &ibma::stats::StudyVoxels,
    var: &ibma::stats::StudyVoxels,
    global: &FlameMaps,
    tau2: &[f64],
    z: &[f64],
    voxels: &[usize],
) -> Row {
    // Report threshold: an energy gap this large is another basin, not a float32 plateau.
    const BASIN_GAP: f64 = 1e-3;
    let ones = vec![1.0; con.n_studies()];
    let (mut lower, mut basin, mut above, mut dz_max) = (0, 0, 0, 0.0f64);
    for &v in voxels {
        let (y, s) = (con.voxel(v), var.voxel(v));
        let (e, e_fsl) = (reml_energy(y, s, &ones, 1, global.tau2[0][v]), reml_energy(y, s, &ones, 1, tau2[v]));
        let slack = tol::ENERGY_RTOL * (1.0 + e_fsl.abs());
        if e > e_fsl + slack {
            above += 1;
        } else if e < e_fsl - tol::ENERGY_AGREE_ATOL {
            lower += 1;
            basin += usize::from(e < e_fsl - BASIN_GAP);
            dz_max = dz_max.max((global.z[v] - z[v]).abs());
        }
    }
    Row {
        what: "nidm_pain21 vs FSL 5.0.9 flameo flame1: optimizer=global REML energy".into(),
        nan_mismatch: 0,
        max_abs: 0.0,
        max_rel: 0.0,
        failures: above,
        note: Some(format!(
            "{} voxels: global above flameo in {above}, lower by > 1e-6 in {lower}, by > 1e-3 (flameo in a worse basin) in {basin}, |dz| up to {dz_max:.2}",
            voxels.len()
        )),
    }
}
