//! `ibma demo`: a deterministic synthetic dataset with known truth, generated in code, and
//! every available estimator fitted on it, scored against the truth.
//!
//! The data: a 91×109×91 2 mm grid (MNI152's) with an ellipsoidal "brain" of about 236k voxels,
//! 20 studies with sample sizes 12–60 and their own noise levels, one positive and one
//! negative flat-topped effect blob whose between-study heterogeneity (τ²) grows with the effect, and
//! partial coverage: some studies miss the top slab, one misses part of the left hemisphere.
//! The noise is smooth like that of real (smoothed) statistic maps: Gaussian fields of FWHM
//! [`NOISE_FWHM_VOXELS`], so that GRF cluster inference sees a realistic smoothness and finds
//! the blobs rather than hundreds of single-voxel clusters.

use crate::run::{fit, FitRequest};
use ibma::estimators::AnyEstimator;
use ibma::maps::Map;
use ibma::Result;
use ibma_io::out_folder::{Mode, OutFolder};
use ibma_io::{Grid, MapMeta, Mask, Volume};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const DIMS: [usize; 3] = [91, 109, 91];
const AFFINE: [[f64; 4]; 4] =
    [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]];
const N_STUDIES: usize = 20;
const SEED: u64 = 2026;
/// |z| threshold of the demo's scoring (p ≈ 0.001 one-sided).
const Z_THRESHOLD: f64 = 3.1;

/// (centre ijk, plateau radius in voxels, peak effect): a positive and a negative blob.
const BLOBS: [([f64; 3], f64, f64); 2] = [([30.0, 60.0, 45.0], 7.0, 0.5), ([62.0, 45.0, 40.0], 6.0, -0.4)];
/// Width in voxels of the cosine taper from the plateau down to 0.
const TAPER: f64 = 3.0;
/// Smoothness of every noise field (between-study and within-study): 3 voxels = 6 mm, well above
/// the ~2 voxels random field theory needs and finer than the blobs (real group maps are often
/// smoother still: about 11 mm on pain21's 2 mm grid).
pub const NOISE_FWHM_VOXELS: f64 = 3.0;

/// One estimator's line in the demo table.
#[derive(Clone, Debug)]
pub struct DemoRow {
    /// Estimator command name.
    pub estimator: String,
    /// Seconds for read + fit + write.
    pub seconds: f64,
    /// Voxels with a finite z.
    pub voxels: usize,
    /// Largest |z|.
    pub peak_abs_z: f64,
    /// Fraction of truly active voxels with |z| > 3.1 and the right sign.
    pub sensitivity: f64,
    /// Fraction of truly null voxels with |z| > 3.1.
    pub false_positive_rate: f64,
}

fn grid() -> Grid {
    Grid::from_affine(DIMS, AFFINE)
}

/// Voxel ijk of a C-order flat index.
fn ijk(v: usize) -> [f64; 3] {
    let [_, ny, nz] = DIMS;
    [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64]
}

fn in_brain(p: [f64; 3]) -> bool {
    let c = [45.0, 54.0, 40.0];
    let r = [36.0, 46.0, 34.0];
    (0..3).map(|a| ((p[a] - c[a]) / r[a]).powi(2)).sum::<f64>() <= 1.0
}

/// True effect: flat-topped blobs with a cosine taper, exactly 0 beyond it (so null voxels
/// are truly null and sensitivity has a crisp denominator).
fn truth_effect(p: [f64; 3]) -> f64 {
    BLOBS
        .iter()
        .map(|(c, radius, peak)| {
            let d = (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>().sqrt();
            let x = ((d - radius) / TAPER).clamp(0.0, 1.0);
            peak * 0.5 * (1.0 + (std::f64::consts::PI * x).cos())
        })
        .sum()
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; u1 in (0, 1] so the log is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A unit-variance Gaussian random field on the whole grid: white noise smoothed by a separable
/// Gaussian of FWHM [`NOISE_FWHM_VOXELS`] (zero beyond the grid's edges, which the mask stays
/// clear of), scaled so that every voxel away from the edges has variance 1.
fn smooth_noise(rng: &mut ChaCha8Rng) -> Vec<f64> {
    let sigma = NOISE_FWHM_VOXELS / (8.0 * std::f64::consts::LN_2).sqrt();
    let radius = (4.0 * sigma).ceil() as usize;
    let kernel: Vec<f64> =
        (0..=2 * radius).map(|d| (-((d as f64 - radius as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    // White noise of variance 1 through three 1-D kernels has variance (Σ w²)³.
    let scale = kernel.iter().map(|w| w * w).sum::<f64>().powf(-1.5);
    let [nx, ny, nz] = DIMS;
    let mut field: Vec<f64> = (0..nx * ny * nz).map(|_| standard_normal(rng)).collect();
    let mut next = vec![0.0; field.len()];
    for (axis, stride) in [ny * nz, nz, 1].into_iter().enumerate() {
        let n = DIMS[axis];
        for (v, out) in next.iter_mut().enumerate() {
            let c = (v / stride) % n;
            let (lo, hi) = (c.saturating_sub(radius), (c + radius).min(n - 1));
            let base = v - c * stride;
            *out = (lo..=hi).map(|t| kernel[t + radius - c] * field[base + t * stride]).sum();
        }
        std::mem::swap(&mut field, &mut next);
    }
    field.iter_mut().for_each(|x| *x *= scale);
    field
}

/// Write the synthetic dataset under `dir`; returns the truth on the mask voxels.
pub fn generate(dir: &Path) -> Result<(Mask, Vec<f64>)> {
    std::fs::create_dir_all(dir).map_err(|source| ibma_io::Error::Io { path: dir.to_path_buf(), source })?;
    let grid = grid();
    let n = grid.n_voxels();
    let mask_data: Vec<f64> = (0..n).map(|v| f64::from(u8::from(in_brain(ijk(v))))).collect();
    let mask = Mask::from_volume(&Volume { grid: grid.clone(), data: mask_data });
    let effect: Vec<f64> = mask.indices.iter().map(|&v| truth_effect(ijk(v))).collect();
    let tau2: Vec<f64> = effect.iter().map(|e| 0.2 * e.abs()).collect();
    let meta = |what: &str| MapMeta { intent_code: 0, intent_p1: 0.0, descrip: format!("ibma demo {what}") };
    let write =
        |name: &str, values: &[f64]| ibma_io::write_map(&dir.join(name), &grid, &mask.unmask(values), &meta(name));
    write("mask.nii.gz", &vec![1.0; mask.len()])?;
    write("truth_effect.nii.gz", &effect)?;
    write("truth_tau2.nii.gz", &tau2)?;
    let studies: Vec<Result<serde_json::Value>> = (0..N_STUDIES)
        .into_par_iter()
        .map(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64(SEED);
            rng.set_stream(k as u64);
            let n_k: u32 = rng.random_range(12..=60);
            let sigma: f64 = rng.random_range(1.5..3.0);
            let (between, within) = (smooth_noise(&mut rng), smooth_noise(&mut rng));
            let (mut con, mut varcope) = (Vec::with_capacity(mask.len()), Vec::with_capacity(mask.len()));
            for (i, &v) in mask.indices.iter().enumerate() {
                let p = ijk(v);
                let misses_top = k < 4 && p[2] > 60.0;
                let misses_left_front = k == 7 && p[0] > 60.0 && p[1] < 40.0;
                let covered = !(misses_top || misses_left_front);
                // Within-study SD varies smoothly over the brain (0.8x to 1.2x).
                let local = sigma * (1.0 + 0.2 * (p[1] / 15.0).sin() * (p[2] / 20.0).cos());
                let vc = local * local / f64::from(n_k);
                let theta = effect[i] + tau2[i].sqrt() * between[v];
                let c = theta + vc.sqrt() * within[v];
                con.push(if covered { c } else { 0.0 });
                varcope.push(if covered { vc } else { 0.0 });
            }
            let id = format!("study_{:02}", k + 1);
            let con_name = format!("{id}_con.nii.gz");
            let var_name = format!("{id}_varcope.nii.gz");
            write(&con_name, &con)?;
            write(&var_name, &varcope)?;
            Ok(json!({"id": id, "sample_size": n_k, "maps": {"con": con_name, "varcope": var_name}}))
        })
        .collect();
    let studies = studies.into_iter().collect::<Result<Vec<_>>>()?;
    let manifest = json!({
        "format": "ibma-dataset",
        "format_version": 1,
        "name": "ibma-demo",
        "description": "Synthetic dataset of `ibma demo`: two effect blobs (+0.5, -0.4), tau2 = 0.2 |effect|, \
                        smooth noise (FWHM 3 voxels), partial coverage.",
        "mask": "mask.nii.gz",
        "truth": {"effect": "truth_effect.nii.gz", "tau2": "truth_tau2.nii.gz"},
        "generator": {"program": "ibma demo", "version": env!("CARGO_PKG_VERSION"), "seed": SEED},
        "studies": studies,
    });
    ibma_io::atomic::write_json(&dir.join("dataset.json"), &manifest)?;
    Ok((mask, effect))
}

/// Generate the dataset under `<out>/dataset`, fit every available estimator into
/// `<out>/<estimator>/`, and score each against the truth.
pub fn run(out: &Path, force: bool, show_progress: bool) -> Result<Vec<DemoRow>> {
    let names: Vec<&str> = AnyEstimator::names().collect();
    let pb = if show_progress { ProgressBar::new(names.len() as u64 + 1) } else { ProgressBar::hidden() };
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message("generating the synthetic dataset");
    // Each step is committed on its own: an interrupted demo leaves complete folders only.
    let root = OutFolder::open(out, Mode::Fresh { force })?;
    let data = OutFolder::open(&root.path("dataset"), Mode::Fresh { force: false })?;
    let (mask, effect) = generate(data.staging())?;
    data.commit()?;
    root.commit()?;
    let data_dir = out.join("dataset");
    let summary = ibma_report::DatasetSummary::read(&data_dir, &mask, None)?;
    pb.inc(1);
    let mut rows = Vec::new();
    for &name in &names {
        pb.set_message(format!("fitting {name}"));
        let root = OutFolder::open(out, Mode::Extend)?;
        let start = Instant::now();
        let req = FitRequest {
            dataset: data_dir.clone(),
            estimator: name.to_string(),
            out: root.path(name),
            sets: Vec::new(),
            corrections: vec!["fdr-indep".into()],
            n_iters: 5000,
            seed: 42,
            threads: None,
            force: false,
            load: Default::default(),
        };
        let report = fit(&req)?;
        let z = report.result.map(Map::Z).unwrap_or_default();
        rows.push(score(name, start.elapsed().as_secs_f64(), z, &effect));
        crate::run::report(&req.out, &ibma_report::ReportOptions::default(), Some(&summary))?;
        root.commit()?;
        pb.inc(1);
    }
    let root = OutFolder::open(out, Mode::Extend)?;
    ibma_io::atomic::write_bytes(&root.path("index.html"), ibma_report::demo_index(&names, &table(&rows)).as_bytes())?;
    root.commit()?;
    pb.finish_and_clear();
    Ok(rows)
}

fn score(name: &str, seconds: f64, z: &[f64], effect: &[f64]) -> DemoRow {
    let (mut active, mut hits, mut null, mut false_pos) = (0usize, 0usize, 0usize, 0usize);
    for (&zv, &e) in z.iter().zip(effect) {
        let detected = zv.abs() > Z_THRESHOLD;
        if e == 0.0 {
            null += 1;
            false_pos += usize::from(detected);
        } else {
            active += 1;
            hits += usize::from(detected && zv.signum() == e.signum());
        }
    }
    DemoRow {
        estimator: name.to_string(),
        seconds,
        voxels: z.iter().filter(|x| x.is_finite()).count(),
        peak_abs_z: z.iter().filter(|x| x.is_finite()).fold(0.0, |m, x| m.max(x.abs())),
        sensitivity: hits as f64 / active.max(1) as f64,
        false_positive_rate: false_pos as f64 / null.max(1) as f64,
    }
}

/// What `ibma demo` prints when it is done: the table and the page to open.
pub fn closing(rows: &[DemoRow], out: &Path) -> String {
    let index = out.join("index.html");
    format!("{}\nReports: open {} (it links every estimator's report)\n", table(rows), index.display())
}

/// The demo's result table.
pub fn table(rows: &[DemoRow]) -> String {
    let mut s = format!(
        "{:<28} {:>8} {:>9} {:>9} {:>12} {:>10}\n",
        "estimator", "time s", "voxels", "peak |z|", "sensitivity", "FPR"
    );
    for r in rows {
        s += &format!(
            "{:<28} {:>8.2} {:>9} {:>9.2} {:>12.3} {:>10.5}\n",
            r.estimator, r.seconds, r.voxels, r.peak_abs_z, r.sensitivity, r.false_positive_rate
        );
    }
    s + &format!("(sensitivity and FPR at |z| > {Z_THRESHOLD}; truth: effect != 0)\n")
}
