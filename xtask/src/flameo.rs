//! ibma's FLAME against FSL 5.0.9 flameo's own outputs on nidm_pain21, one-sample
//! (`../shared/data/reference_outputs/fsl-5.0.9`): `optimizer=fsl` reproduces flameo's τ² and z,
//! the global optimiser's REML energy is never above flameo's, and the `fe` and `ols` faces give
//! flameo's cope and t to float32 rounding. Voxels: flameo's mask (every study valid), which is
//! ibma's aggressive mask.

use crate::{compare_with, Row};
use ibma::dataset::{InputOptions, Needs};
use ibma::glm::design::{Contrast, Design};
use ibma::glm::flame::{flame, reml_energy, FlameMaps, Optimizer, RunMode};
use ibma::io::MapType;
use ibma::{tol, Dataset};
use std::path::Path;

/// The rows (see the module documentation).
pub fn rows(shared: &Path) -> Result<Vec<Row>, String> {
    let ds = Dataset::load(&shared.join("nidm_pain21")).map_err(|e| e.to_string())?;
    let needs = Needs { maps: &[MapType::Con, MapType::Varcope], sample_size: false };
    let inputs = ds
        .inputs("mfx-glm", needs, InputOptions { derive: true, aggressive_mask: true, resample: None })
        .map_err(|e| e.to_string())?;
    let (con, var) = (&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope]);
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
