//! Guides that are documentation only, and the tiny dataset the examples fit.
//!
//! - [`for_nimare_users`]: NiMARE calls (the seed-era 0.0.x API and the 0.22.1 API) side by side
//!   with ibma's library calls and `ibma` commands, and where the numbers differ between NiMARE
//!   versions and why.
//! - [`example_dataset`]: eight synthetic studies on a 6×6×6 grid, written in a fraction of a
//!   second, so that every estimator's example runs as a test.

use crate::{Dataset, Result};
use ibma_io::{Grid, MapMeta};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::Path;

#[doc = include_str!("../../../docs/for-nimare-users.md")]
///
/// ## API items named above
///
/// [`Dataset::load`], [`Dataset::load_with`](crate::Dataset::load_with),
/// [`Estimator`](crate::Estimator) (`fit`, `get_params`, `set_param`, `common_mut`),
/// [`estimators::by_name`](crate::estimators::by_name), [`Stouffers`](crate::estimators::Stouffers),
/// [`Fishers`](crate::estimators::Fishers), [`Regression`](crate::estimators::Regression),
/// [`Glm`](crate::estimators::Glm), [`MetaResult`](crate::MetaResult) (`map`, `map_names`,
/// `correct`, `save_maps`), [`Corrector`](crate::Corrector),
/// [`Correction`](crate::stats::correct::Correction),
/// [`inference::montecarlo`](crate::inference::montecarlo), [`run::fit`](crate::run::fit),
/// [`run::convert_dataset`](crate::run::convert_dataset).
pub mod for_nimare_users {}

/// Grid of the example dataset (6×6×6 voxels of 2 mm).
const DIMS: [usize; 3] = [6, 6, 6];
/// Studies in the example dataset.
const N_STUDIES: usize = 8;
/// Seed of its noise.
const SEED: u64 = 9;
/// True effect in the half of the grid with i < 3 (0 in the other half).
const EFFECT: f64 = 0.8;
/// True between-study variance τ² where the effect is present.
const TAU2: f64 = 0.04;

/// Write a tiny synthetic `ibma-dataset` under `dir` and load it: 8 studies on a 6×6×6 grid
/// (216 voxels, all in the mask), each with `con` and `varcope` maps (the other map types are
/// derived when an estimator needs them), distinct sample sizes 12, 16, …, 40, and two
/// covariates, `age` (a number) and `site` (`A` or `B`, alternating).
///
/// The true effect is 0.8 with τ² = 0.04 in the half of the grid with i < 3, which is the
/// first 108 mask voxels (mask order is C order, i slowest), and 0 in the other half;
/// within-study noise has SD 1.5–2.5 per subject. Deterministic (fixed seed). It exists for
/// the examples and tests; `ibma demo` writes the realistic whole-brain dataset.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let dataset = ibma::docs::example_dataset(dir.path())?;
/// assert_eq!(dataset.manifest.studies.len(), 8);
/// assert_eq!(dataset.mask.len(), 216);
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// # Errors
/// A file cannot be written under `dir`.
pub fn example_dataset(dir: &Path) -> Result<Dataset> {
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
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut studies = Vec::with_capacity(N_STUDIES);
    for k in 0..N_STUDIES {
        let n = 12 + 4 * k;
        let sd = rng.random_range(1.5..2.5);
        let varcope = sd * sd / n as f64;
        let con: Vec<f64> = (0..n_voxels)
            .map(|v| {
                let i = v / (DIMS[1] * DIMS[2]);
                let theta = if i < 3 { EFFECT + TAU2.sqrt() * standard_normal(&mut rng) } else { 0.0 };
                theta + varcope.sqrt() * standard_normal(&mut rng)
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
        "description": "ibma's documentation examples: effect 0.8 (tau2 0.04) where i < 3, 0 elsewhere",
        "mask": "mask.nii.gz",
        "studies": studies,
    });
    ibma_io::atomic::write_json(&dir.join("dataset.json"), &manifest)?;
    Dataset::load(dir)
}

/// A standard normal draw (Box–Muller; 1 − u lies in (0, 1], so the logarithm is finite).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
