//! The large-K dataset of `cargo xtask bench --large`: K synthetic studies (con, varcope, z and a
//! sample size each) on nidm_pain21's full MNI 2 mm mask, generated here and never committed.
//! Manifests for the first K/8, K/4, K/2 and K studies share the files, so one generation
//! measures how time and memory grow with K.

use ibma::io::{write_map, MapMeta, Mask};
use ibma_testkit::Rng;
use std::path::{Path, PathBuf};

/// Bump when the generated data changes, so an old folder is regenerated.
const VERSION: u32 = 1;

/// The dataset folder for `k` studies, generated unless already complete; returns the manifests
/// for K/8, K/4, K/2 and K studies with their study counts.
pub fn dataset(root: &Path, k: usize) -> Result<Vec<(usize, PathBuf)>, String> {
    let mask_path = root.join("../shared/data/nidm_pain21/mask.nii.gz");
    let mask = Mask::read(&mask_path).map_err(|e| e.to_string())?;
    let dir = root.join(format!("target/bench/large-k{k}"));
    let stamp = dir.join("complete");
    let expected = format!("version {VERSION}, {k} studies, {} voxels\n", mask.len());
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(expected.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        eprintln!("bench: generating {k} synthetic studies on {} mask voxels in {}", mask.len(), dir.display());
        generate(&dir, &mask, k)?;
        std::fs::write(&stamp, &expected).map_err(|e| e.to_string())?;
    }
    let mut manifests = Vec::new();
    for n in [k / 8, k / 4, k / 2, k].into_iter().filter(|&n| n >= 2) {
        let path = dir.join(format!("dataset-k{n}.json"));
        let studies: Vec<serde_json::Value> = (0..n)
            .map(|s| {
                serde_json::json!({"id": format!("s{s:04}"), "sample_size": sample_size(s),
                    "maps": {"con": format!("s{s:04}_con.nii.gz"), "varcope": format!("s{s:04}_varcope.nii.gz"),
                             "z": format!("s{s:04}_z.nii.gz")}})
            })
            .collect();
        let manifest =
            serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": mask_path, "studies": studies});
        std::fs::write(&path, manifest.to_string()).map_err(|e| e.to_string())?;
        manifests.push((n, path));
    }
    Ok(manifests)
}

fn sample_size(study: usize) -> usize {
    12 + study % 40
}

/// Per study: a true effect that grows along the first axis of the mask order, between-study
/// variance 0.25, a within-study variance set by the sample size with ±25 % voxel noise.
fn generate(dir: &Path, mask: &Mask, k: usize) -> Result<(), String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        let s = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if s >= k {
                            return Ok(());
                        }
                        write_study(dir, mask, s)?;
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| "generator thread panicked".to_string())?)
    })
}

fn write_study(dir: &Path, mask: &Mask, s: usize) -> Result<(), String> {
    let mut rng = Rng(0x1a26_e000 + s as u64);
    let n = mask.len();
    let base_var = 4.0 / sample_size(s) as f64;
    let (mut con, mut var, mut z) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for v in 0..n {
        let effect = 0.5 * v as f64 / n as f64;
        var[v] = base_var * (1.0 + 0.25 * (2.0 * rng.uniform() - 1.0));
        con[v] = effect + (0.25 + var[v]).sqrt() * rng.normal();
        z[v] = con[v] / var[v].sqrt();
    }
    let meta = MapMeta { intent_code: 0, intent_p1: 0.0, descrip: "ibma xtask large-K synthetic".into() };
    for (name, values) in [("con", &con), ("varcope", &var), ("z", &z)] {
        let path = dir.join(format!("s{s:04}_{name}.nii.gz"));
        write_map(&path, &mask.grid, &mask.unmask(values), &meta).map_err(|e| e.to_string())?;
    }
    Ok(())
}
