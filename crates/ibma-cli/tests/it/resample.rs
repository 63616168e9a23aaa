//! Studies on other grids than the mask: `--set resample=linear|nearest` puts them onto the mask
//! grid (ibma-io's resampling, itself checked against nilearn in ibma-io's tests); without it
//! the command stops with one line naming the file and the fix.

use crate::cli::{assert_bad_input, ibma};
use ibma::estimators::AnyEstimator;
use ibma::io::resample::resample;
use ibma::io::{read_volume, write_map, Grid, Interpolation, MapMeta};
use ibma::maps::Map;
use ibma::{tol, Dataset, Estimator};
use std::path::Path;

/// The mask grid: 12x14x10 voxels of 2 mm, world x in [-12, 10], y in [-14, 12], z in [-10, 8].
fn mask_grid() -> Grid {
    Grid::from_affine([12, 14, 10], affine(&ROT0, 2.0, [-12.0, -14.0, -10.0]))
}

const ROT0: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn affine(rotation: &[[f64; 3]; 3], voxel: f64, origin: [f64; 3]) -> [[f64; 4]; 4] {
    let mut a = [[0.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4], [0.0, 0.0, 0.0, 1.0]];
    for r in 0..3 {
        for c in 0..3 {
            a[r][c] = rotation[r][c] * voxel;
        }
        a[r][3] = origin[r];
    }
    a
}

/// 15 degrees about z after 5 degrees about x.
fn rotation() -> [[f64; 3]; 3] {
    let (cz, sz) = (15f64.to_radians().cos(), 15f64.to_radians().sin());
    let (cx, sx) = (5f64.to_radians().cos(), 5f64.to_radians().sin());
    [[cz, -sz * cx, sz * sx], [sz, cz * cx, -cz * sx], [0.0, sx, cx]]
}

/// The studies' grids: the mask's, a sub-voxel shift, a rotated 3 mm grid that misses the mask's
/// corners, and a 4 mm grid.
fn study_grids() -> [(&'static str, Grid); 4] {
    let rot = rotation();
    // Rotated about the mask's centre (-1, -1, -1).
    let half = [4.5 * 3.0, 5.0 * 3.0, 4.0 * 3.0];
    let origin: [f64; 3] = std::array::from_fn(|r| -1.0 - (0..3).map(|c| rot[r][c] * half[c]).sum::<f64>());
    [
        ("native", mask_grid()),
        ("shifted", Grid::from_affine([13, 15, 11], affine(&ROT0, 2.0, [-13.3, -14.9, -10.7]))),
        ("rotated", Grid::from_affine([10, 11, 9], affine(&rot, 3.0, origin))),
        ("coarse", Grid::from_affine([7, 8, 6], affine(&ROT0, 4.0, [-13.0, -15.0, -11.0]))),
    ]
}

/// Study k's z at world point `w`: affine in world coordinates, so linear interpolation
/// reproduces it exactly; between 1 and 4 over every grid here.
fn field(k: usize, w: [f64; 3]) -> f64 {
    2.5 + 0.03 * w[0] - 0.02 * w[1] + 0.015 * w[2] + 0.1 * k as f64
}

fn world(grid: &Grid, v: usize) -> [f64; 3] {
    let [_, ny, nz] = grid.dims;
    let o = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
    std::array::from_fn(|r| (0..3).map(|c| grid.affine[r][c] * o[c]).sum::<f64>() + grid.affine[r][3])
}

/// A dataset under `dir` whose studies lie on [`study_grids`]; the coarse study is 0 (no data)
/// on its first x slab. `mask` false leaves the manifest without a mask.
fn write_dataset(dir: &Path, mask: bool) {
    let meta = MapMeta::default();
    let grid = mask_grid();
    write_map(&dir.join("mask.nii.gz"), &grid, &vec![1.0; grid.n_voxels()], &meta).unwrap();
    let mut studies = Vec::new();
    for (k, (name, grid)) in study_grids().into_iter().enumerate() {
        let [_, ny, nz] = grid.dims;
        let values: Vec<f32> = (0..grid.n_voxels())
            .map(|v| if name == "coarse" && v < ny * nz { 0.0 } else { field(k, world(&grid, v)) as f32 })
            .collect();
        let file = format!("{name}_z.nii.gz");
        write_map(&dir.join(&file), &grid, &values, &meta).unwrap();
        studies.push(serde_json::json!({"id": name, "sample_size": 20, "maps": {"z": file}}));
    }
    let mut manifest = serde_json::json!({"format": "ibma-dataset", "format_version": 1, "studies": studies});
    if mask {
        manifest["mask"] = "mask.nii.gz".into();
    }
    std::fs::write(dir.join("dataset.json"), manifest.to_string()).unwrap();
}

fn stouffers(sets: &[(&str, &str)]) -> AnyEstimator {
    crate::estimator("stouffers", sets)
}

#[test]
fn linear_resampling_reproduces_a_world_affine_field() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), true);
    let ds = Dataset::load(dir.path()).unwrap();
    // Directed Stouffer: z = Σ z_k / √n over the studies with data at the voxel.
    let z = stouffers(&[("resample", "linear"), ("two_sided", "false")])
        .fit_dataset(&ds)
        .unwrap()
        .map(Map::Z)
        .unwrap()
        .to_vec();
    // Which studies have data at each mask voxel, as ibma-io's resampling says.
    let valid: Vec<Vec<bool>> = study_grids()
        .iter()
        .map(|(name, _)| {
            let source = read_volume(&dir.path().join(format!("{name}_z.nii.gz"))).unwrap();
            let on_mask = resample(&source, &ds.mask.grid, Interpolation::Linear).unwrap();
            ds.mask.indices.iter().map(|&v| !on_mask.data[v].is_nan()).collect()
        })
        .collect();
    let mut by_count = [0usize; 5];
    for (m, &v) in ds.mask.indices.iter().enumerate() {
        let ks: Vec<usize> = (0..4).filter(|&k| valid[k][m]).collect();
        by_count[ks.len()] += 1;
        if ks.len() < 2 {
            assert!(z[m].is_nan(), "voxel {v}: {} studies, z {}", ks.len(), z[m]);
            continue;
        }
        let w = world(&ds.mask.grid, v);
        let want = ks.iter().map(|&k| field(k, w)).sum::<f64>() / (ks.len() as f64).sqrt();
        assert!(tol::close(z[m], want, tol::RESAMPLED_F32_FIELD_RTOL, 0.0), "voxel {v}: z {} vs {want}", z[m]);
    }
    // Every study covers most of the mask; the rotated grid's corners and the coarse study's
    // zero slab leave some voxels with fewer studies.
    assert!(by_count[4] > ds.mask.len() / 2 && by_count[3] > 0, "voxels by number of studies: {by_count:?}");
}

#[test]
fn a_resampled_fit_is_the_fit_of_maps_resampled_beforehand() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), true);
    let ds = Dataset::load(dir.path()).unwrap();
    for interpolation in [Interpolation::Linear, Interpolation::Nearest] {
        // The same studies written on the mask grid by ibma-io's resampling (NaN = no data).
        let pre = tempfile::tempdir().unwrap();
        write_dataset(pre.path(), true);
        for (name, _) in study_grids() {
            let file = pre.path().join(format!("{name}_z.nii.gz"));
            let on_mask = resample(&read_volume(&file).unwrap(), &ds.mask.grid, interpolation).unwrap();
            let values: Vec<f32> = on_mask.data.iter().map(|&x| x as f32).collect();
            write_map(&file, &ds.mask.grid, &values, &MapMeta::default()).unwrap();
        }
        let pre_ds = Dataset::load(pre.path()).unwrap();
        let est = stouffers(&[("resample", interpolation.name())]);
        let (a, b) = (est.fit_dataset(&ds).unwrap(), stouffers(&[]).fit_dataset(&pre_ds).unwrap());
        let (za, zb) = (a.map(Map::Z).unwrap(), b.map(Map::Z).unwrap());
        assert!(za.iter().zip(zb).all(|(x, y)| x.to_bits() == y.to_bits()), "{}", interpolation.name());
        assert!(za.iter().filter(|x| x.is_finite()).count() > ds.mask.len() / 2);
    }
}

#[test]
fn resample_parameter_names_and_values() {
    let est = stouffers(&[("resample__interpolation", "nearest")]);
    let value = |e: &AnyEstimator| ibma::params::params(e).into_iter().find(|p| p.0 == "resample").expect("listed").1;
    assert_eq!(value(&est), "nearest");
    assert_eq!(value(&stouffers(&[])), "none");
    let err = ibma::params::set(&mut stouffers(&[]), "resample", "continuous").unwrap_err();
    assert!(err.to_string().contains("none, linear, nearest"), "{err}");
}

#[test]
fn the_command_resamples_when_asked_and_otherwise_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), true);
    let (data, out) = (dir.path().to_str().unwrap(), dir.path().join("out"));
    let fit = |extra: &[&str]| {
        let mut args = vec!["fit", "--dataset", data, "--estimator", "stouffers", "--quiet", "--force"];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        ibma(&args)
    };
    // The first study on another grid is named (studies are checked in dataset order).
    assert_bad_input(&fit(&[]), &["shifted_z.nii.gz", "13x15x11", "12x14x10", "--set resample=linear"]);
    assert!(!out.join("z.nii.gz").exists());
    assert_bad_input(&fit(&["--set", "resample=cubic"]), &["resample", "linear", "nearest"]);
    let o = fit(&["--set", "resample=linear"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let z = read_volume(&out.join("z.nii.gz")).unwrap();
    assert!(z.grid.same_as(&mask_grid()));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["parameters"]["resample"], "linear", "{result}");
    // The report's coverage map reads the study maps as the fit did.
    let o = ibma(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!page.contains("could not be read"), "coverage needs the resampled maps");
    assert!(out.join("report_coverage.png").is_file());
}

#[test]
fn without_a_mask_maps_on_several_grids_ask_for_one() {
    // The union mask needs one grid; which grid to resample onto is the user's choice (--mask).
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), false);
    let out = dir.path().join("out");
    let o = ibma(&[
        "fit",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--estimator",
        "stouffers",
        "--set",
        "resample=linear",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["shifted_z.nii.gz", "--mask", "resample"]);
    // With a mask on the command line the same dataset fits.
    let mask = dir.path().join("mask.nii.gz");
    let mut args = vec!["fit", "--dataset", dir.path().to_str().unwrap(), "--estimator", "stouffers", "--quiet"];
    args.extend(["--set", "resample=linear", "--mask", mask.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let o = ibma(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
