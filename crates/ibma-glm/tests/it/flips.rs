//! The sign-flip kernel of one-sample FLAME1 against exhaustive refits of the flipped copes on
//! the 10×10×10 fixture: every permuted z map and every max-statistic null equal, bit for bit.

use crate::likelihood::fixture;
use ibma_glm::design::{Contrast, Design};
use ibma_glm::flame::{flame, flame1_flip_max_null, flame1_flip_z, flame1_flip_z_above, Optimizer, RunMode};
use ibma_stats::permute::{max_statistic, FlipMatrix};
use ibma_stats::{StudyVoxels, Tail};

/// z of the full FLAME1 fit of the copes with study k's sign flipped where `signs[k]` = −1.
fn refit_z(con: &StudyVoxels, var: &StudyVoxels, signs: &[f64], optimizer: Optimizer) -> Vec<f64> {
    let k = con.n_studies();
    let flipped: Vec<f64> =
        con.voxels().flat_map(|c| c.iter().zip(signs).map(|(c, s)| c * s).collect::<Vec<_>>()).collect();
    let design = Design::intercept(k);
    flame(&StudyVoxels::new(k, flipped), var, &design, &Contrast::unit(1, 0), &RunMode::Flame1(optimizer)).z
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check(optimizer: Optimizer, n_iters: usize) {
    let (con, var) = fixture();
    let flips = FlipMatrix::nimare(n_iters, 21, 42);
    let refits: Vec<Vec<f64>> = (0..n_iters).map(|i| refit_z(&con, &var, flips.row(i), optimizer)).collect();
    let maps = flame1_flip_z(&con, &var, &flips, 0..n_iters, optimizer);
    for (i, (fast, slow)) in maps.iter().zip(&refits).enumerate() {
        let differ = fast.iter().zip(slow).filter(|(a, b)| !same(**a, **b)).count();
        assert_eq!(differ, 0, "{optimizer:?} flip {i}: {differ} voxels differ from the refit");
    }
    // Above a cluster-forming threshold: every |z| ≥ u exact, every other value below u.
    for u in [1.5, 2.3, 3.1] {
        let above = flame1_flip_z_above(&con, &var, &flips, 0..n_iters, optimizer, u);
        let mut skipped = 0;
        for (i, (fast, slow)) in above.iter().zip(&refits).enumerate() {
            for (v, (a, b)) in fast.iter().zip(slow).enumerate() {
                let kept = same(*a, *b) || (a.abs() < u && b.abs() < u);
                assert!(kept, "{optimizer:?} u {u} flip {i} voxel {v}: {a} vs the refit's {b}");
                skipped += usize::from(!same(*a, *b));
            }
        }
        if optimizer == Optimizer::Global && u > 2.0 {
            assert!(skipped > 0, "u {u}: the bound proved no voxel below it");
        }
    }
    for tail in [Tail::Two, Tail::One] {
        let null = flame1_flip_max_null(&con, &var, &flips, optimizer, tail);
        for (i, (fast, slow)) in null.iter().zip(&refits).enumerate() {
            let want = max_statistic(slow, tail);
            assert!(same(*fast, want), "{optimizer:?} {tail:?} flip {i}: max {fast} vs refit {want}");
        }
    }
}

#[test]
fn global_flips_equal_exhaustive_refits() {
    check(Optimizer::Global, 200);
}

#[test]
fn fsl_flips_equal_exhaustive_refits() {
    check(Optimizer::Fsl, 20);
}
