//! Native FLAME1 mixed effects (`MFX_GLM`) on arrays held in memory, with a variance group per
//! site: one between-study variance per group, REML, no FSL and no files.
//!
//! `cargo run --example mfx_glm_arrays -p ibma`

use ibma::estimators::MfxGlm;
use ibma::io::{Covariate, Grid, MapType, Mask};
use ibma::maps::Map;
use ibma::{Estimator, Inputs, StudyInputs};

fn main() -> ibma::Result<()> {
    let affine = [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = Grid::from_affine([5, 5, 1], affine);
    let mask = Mask { indices: (0..grid.n_voxels()).collect(), grid };
    let v = mask.len();
    let mut inputs = Inputs::new(mask);
    // Eight studies at two sites; site B's studies disagree more (a larger between-study variance).
    for k in 0..8 {
        let site = if k % 2 == 0 { "A" } else { "B" };
        let spread = if site == "A" { 0.1 } else { 0.6 };
        let con = (0..v).map(|i| 0.5 + spread * (((5 * k + 3 * i) % 7) as f64 - 3.0) / 3.0);
        let study = StudyInputs::new(format!("study_{k}"))
            .map(MapType::Con, con)
            .map(MapType::Varcope, (0..v).map(|_| 0.02))
            .covariate("site", Covariate::Label(site.into()));
        inputs.push(study)?;
    }
    let one = MfxGlm::default().fit(&inputs)?;
    let by_site = MfxGlm { groups: Some("site".into()), ..MfxGlm::default() }.fit(&inputs)?;
    let (t1, t2) =
        (by_site.map(Map::Tau2Group(1)).unwrap_or_default(), by_site.map(Map::Tau2Group(2)).unwrap_or_default());
    println!(
        "one variance: mean tau2 {:.4}, mean z {:.2}",
        mean(one.map(Map::Tau2).unwrap_or_default()),
        mean(one.map(Map::Z).unwrap_or_default())
    );
    println!("per site:     tau2 A {:.4}, tau2 B {:.4}", mean(t1), mean(t2));
    assert!(mean(t2) > mean(t1), "site B's studies spread more");
    Ok(())
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}
