//! The tiny dataset every documentation example and many tests fit.

use crate::Rng;
use ibma_io::{Grid, MapMeta};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Grid of the example dataset (6×6×6 voxels of 2 mm).
const DIMS: [usize; 3] = [6, 6, 6];
/// Studies in the example dataset.
const N_STUDIES: usize = 8;
/// Seed of its noise.
const SEED: u64 = 9;
/// True effect in the half of the grid with i < 3 (0 in the other half).
const EFFECT: f64 = 1.0;
/// True between-study variance τ² where the effect is present.
const TAU2: f64 = 0.04;

/// Write a tiny synthetic `ibma-dataset` under `dir` and return its manifest's path: 8 studies
/// on a 6×6×6 grid (216 voxels, all in the mask), each with `con` and `varcope` maps (the other
/// map types are derived when an estimator needs them), distinct sample sizes 12, 16, …, 40,
/// and two covariates, `age` (a number) and `site` (`A` or `B`, alternating).
///
/// The true effect is 1.0 with τ² = 0.04 in the half of the grid with i < 3, which is the
/// first 108 mask voxels (mask order is C order, i slowest), and 0 in the other half;
/// within-study noise has SD 1.5–2.5 per subject. Deterministic (fixed seed).
///
/// # Errors
/// A file cannot be written under `dir`.
pub fn example_dataset(dir: &Path) -> ibma_io::Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| ibma_io::Error::Io { path: dir.to_path_buf(), source })?;
    let affine = [[2.0, 0.0, 0.0, -6.0], [0.0, 2.0, 0.0, -6.0], [0.0, 0.0, 2.0, -6.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine(DIMS, affine);
    let n_voxels = grid.n_voxels();
    let write = |name: &str, values: &[f64]| {
        let data: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let meta = MapMeta { descrip: format!("ibma example {name}"), ..MapMeta::default() };
        ibma_io::write_map(&dir.join(name), &grid, &data, &meta)
    };
    write("mask.nii.gz", &vec![1.0; n_voxels])?;
    let mut rng = Rng::new(SEED);
    let mut studies = Vec::with_capacity(N_STUDIES);
    for k in 0..N_STUDIES {
        let n = 12 + 4 * k;
        let sd = rng.between(1.5, 2.5);
        let varcope = sd * sd / n as f64;
        let con: Vec<f64> = (0..n_voxels)
            .map(|v| {
                let i = v / (DIMS[1] * DIMS[2]);
                let theta = if i < 3 { EFFECT + TAU2.sqrt() * rng.normal() } else { 0.0 };
                theta + varcope.sqrt() * rng.normal()
            })
            .collect();
        let id = format!("study_{}", k + 1);
        let (con_file, var_file) = (format!("{id}_con.nii.gz"), format!("{id}_varcope.nii.gz"));
        write(&con_file, &con)?;
        write(&var_file, &vec![varcope; n_voxels])?;
        studies.push(json!({
            "id": id,
            "sample_size": n,
            "maps": {"con": con_file, "varcope": var_file},
            "covariates": {"age": 24.0 + 2.5 * k as f64, "site": if k % 2 == 0 { "A" } else { "B" }},
        }));
    }
    let manifest = json!({
        "format": "ibma-dataset",
        "format_version": 1,
        "name": "ibma-example",
        "description": "ibma's documentation examples: effect 1.0 (tau2 0.04) where i < 3, 0 elsewhere",
        "mask": "mask.nii.gz",
        "studies": studies,
    });
    let path = dir.join("dataset.json");
    ibma_io::atomic::write_json(&path, &manifest)?;
    Ok(path)
}
