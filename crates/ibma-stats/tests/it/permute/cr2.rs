//! The CR2-weighted max-statistic null against a direct per-iteration recomputation.

use super::*;

/// Weighted (CR2) t of one voxel, written like `ibma_glm::ols::cr2_t` (docs/estimators.md §9).
fn cr2_t(xs: &[f64], n: &[f64]) -> (f64, f64) {
    let w: f64 = n.iter().sum();
    let mu = xs.iter().zip(n).map(|(x, q)| q * x).sum::<f64>() / w;
    let (mut meat, mut a, mut b) = (0.0, 0.0, 0.0);
    for (x, q) in xs.iter().zip(n) {
        let h = q / w;
        meat += q * q * (x - mu).powi(2) / (1.0 - h);
        a += h * h * (1.0 - 2.0 * h) / (1.0 - h).powi(2);
        b += h * h / (1.0 - h);
    }
    let dof = (1.0 / (a + b * b)).max(1.0);
    (if meat > 0.0 { mu * w / meat.sqrt() } else { f64::NAN }, dof)
}

#[test]
fn blocked_cr2_null_equals_direct_recomputation() {
    let x = synthetic();
    let n = [25.0, 25.0, 20.0, 13.0, 40.0, 18.0, 31.0];
    let flips = FlipMatrix::nimare(70, 7, 3);
    let b = bags(&x, 2);
    for tail in [Tail::Two, Tail::One] {
        let fast = max_cr2_null(&x, &n, &b, &flips, tail);
        let slow: Vec<f64> = (0..flips.n_iters())
            .map(|i| {
                let mut h = f64::NEG_INFINITY;
                for bag in &b {
                    let q: Vec<f64> = bag.studies.iter().map(|&k| n[k]).collect();
                    let sv = flipped(&x, bag, flips.row(i));
                    let z: Vec<f64> = sv
                        .voxels()
                        .map(|xs| {
                            let (t, dof) = cr2_t(xs, &q);
                            t_to_z(t, dof)
                        })
                        .collect();
                    h = h.max(max_statistic(&z, tail));
                }
                h
            })
            .collect();
        let identical = assert_nulls_agree(&fast, &slow);
        eprintln!("CR2 null {tail:?}: {identical}/{} bit-identical to the direct formula", fast.len());
    }
}
