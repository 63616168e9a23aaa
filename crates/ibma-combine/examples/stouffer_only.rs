//! Using only `ibma-combine` (and `ibma-stats` for its plain types): Stouffer's and Fisher's
//! combination of z values held as a study × voxel matrix, without the ibma facade, files or
//! masks.
//!
//! `cargo run --example stouffer_only -p ibma-combine`

use ibma_combine::{fishers, stouffers, Direction, FisherMode};
use ibma_stats::StudyVoxels;

fn main() {
    // Three voxels (rows) of four studies' z values; NaN: a study without data at that voxel.
    let z = StudyVoxels::new(4, vec![2.1, 1.8, 2.5, 1.2, 0.3, -0.4, 0.1, -0.2, 1.9, f64::NAN, 2.2, 2.8]);
    let equal = [1.0; 4];
    let stouffer = stouffers(&z, &equal, Direction::Concordant);
    let fisher = fishers(&z, &equal, Direction::Concordant, FisherMode::Modern);
    for v in 0..3 {
        println!(
            "voxel {v}: Stouffer z {:.3} (p {:.2e}), Fisher z {:.3}",
            stouffer.z[v],
            stouffer.nlogp[v].exp(),
            fisher.z[v]
        );
    }
    // Stouffer's Z over the studies with data: Σz/√k.
    let expected = (2.1 + 1.8 + 2.5 + 1.2) / 2.0;
    assert!((stouffer.z[0] - expected).abs() < 1e-12);
    assert!(stouffer.z[1].abs() < 1.0 && stouffer.z[2] > 3.0);
}
