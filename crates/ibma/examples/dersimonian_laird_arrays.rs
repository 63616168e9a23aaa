//! DerSimonian–Laird random-effects meta-analysis of arrays held in memory: no file is read or
//! written. Five studies' contrast estimates and variances over a tiny 4×3×2 grid, fitted with
//! NiMARE 0.22.1's defaults (Knapp–Hartung inference), then FDR-corrected.
//!
//! `cargo run --example dersimonian_laird_arrays -p ibma`

use ibma::estimators::DerSimonianLaird;
use ibma::io::{Grid, MapType, Mask};
use ibma::maps::{Map, Method, Stat};
use ibma::stats::correct::Correction;
use ibma::{Estimator, Inputs, StudyInputs};

fn main() -> ibma::Result<()> {
    // A 4×3×2 grid of 2 mm voxels; every voxel is in the mask (C order: i slowest).
    let affine = [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine([4, 3, 2], affine);
    let mask = Mask { indices: (0..grid.n_voxels()).collect(), grid };
    let v = mask.len();
    // Study k: a true effect of 1 in the first half of the voxels, 0 elsewhere, plus a
    // deterministic study-and-voxel offset standing in for noise.
    let mut inputs = Inputs::new(mask);
    for k in 0..5 {
        let con = (0..v).map(|i| if i < v / 2 { 1.0 } else { 0.0 } + 0.2 * (((3 * k + 7 * i) % 5) as f64 - 2.0) / 2.0);
        let varcope = (0..v).map(|_| 0.05 + 0.01 * k as f64);
        inputs.push(StudyInputs::new(format!("study_{k}")).map(MapType::Con, con).map(MapType::Varcope, varcope))?;
    }
    let mut result = DerSimonianLaird::default().fit(&inputs)?;
    result.correct(Correction::FdrIndep)?;
    let (z, tau2) = (result.map(Map::Z).unwrap_or_default(), result.map(Map::Tau2).unwrap_or_default());
    let p_fdr = result.map(Map::Corrected(Stat::P, Method::FdrIndep)).unwrap_or_default();
    println!("voxel   est z      tau2     p(FDR)");
    for i in 0..v {
        println!("{i:>5}   {:>8.3} {:>8.5} {:>8.2e}", z[i], tau2[i], p_fdr[i]);
    }
    let found = (0..v).filter(|&i| p_fdr[i] < 0.05).count();
    println!("{found} of {v} voxels significant at FDR 0.05 (the effect is in the first {})", v / 2);
    assert!((0..v / 2).all(|i| z[i] > 2.0) && (v / 2..v).all(|i| z[i].abs() < 2.0));
    Ok(())
}
