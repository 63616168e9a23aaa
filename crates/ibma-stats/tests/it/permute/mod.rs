//! Sign-flip permutation nulls (`docs/estimators.md` §9): the MT19937 flip matrix against NumPy, the
//! blocked max-t / CR2 nulls against a direct per-iteration recomputation, FWE p by hand, the
//! empirical voxelwise null, thread-count determinism and NiMARE 0.22.1 parity on the fixture.

use ibma_stats::bags::{bags, Bag};
use ibma_stats::mt19937::Mt19937;
use ibma_stats::permute::{
    empirical_voxel_p, fwe_maps, fwe_p, fwe_threshold, max_cr2_null, max_null_by, max_statistic, max_t_null, FlipMatrix,
};
use ibma_stats::transform::{p_to_z, t_to_z};
use ibma_stats::ttest::one_sample_t;
use ibma_stats::{tol, StudyVoxels, Tail};
use ibma_testkit::Rng;

mod cr2;
mod empirical;
mod flips;
mod fwe;
mod max_stat;
mod max_t;

/// Exact equality of floats (NaN equal to NaN) without tripping `clippy::float_cmp`.
fn same(a: f64, b: f64) -> bool {
    tol::close(a, b, 0.0, 0.0)
}

/// K = 7 studies, 300 voxels with five validity patterns (m = 7, 6, 5, 2, 1), a per-voxel mean
/// shift, and at voxel 7 (m = 5) values ±2, whose t is infinite when the flipped signs agree.
fn synthetic() -> StudyVoxels {
    let (k, v) = (7, 300);
    let mut u = Rng::new(7);
    let mut data = vec![f64::NAN; k * v];
    for voxel in 0..v {
        let valid: Vec<usize> = match voxel % 5 {
            0 => (0..7).collect(),
            1 => (1..7).collect(),
            2 => (2..7).collect(),
            3 => vec![5, 6],
            _ => vec![3],
        };
        let shift = 0.4 * (voxel % 3) as f64;
        for s in valid {
            data[voxel * k + s] = if voxel == 7 { 2.0 * (-1f64).powi(s as i32) } else { u.normal() + shift };
        }
    }
    StudyVoxels::new(k, data)
}

/// The values of `bag` with study k multiplied by `signs[k]`, as a StudyVoxels of its own.
fn flipped(x: &StudyVoxels, bag: &Bag, signs: &[f64]) -> StudyVoxels {
    let data = bag.voxels.iter().flat_map(|&v| bag.studies.iter().map(move |&k| signs[k] * x.voxel(v)[k])).collect();
    StudyVoxels::new(bag.studies.len(), data)
}

/// h0 recomputed directly: per iteration and bag, `one_sample_t` of the flipped data.
fn slow_max_t_null(x: &StudyVoxels, bags: &[Bag], flips: &FlipMatrix, tail: Tail) -> Vec<f64> {
    (0..flips.n_iters())
        .map(|i| {
            bags.iter()
                .filter(|b| b.studies.len() >= 2)
                .map(|b| max_statistic(&one_sample_t(&flipped(x, b, flips.row(i)), tail).test.z, tail))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Compare nulls within [`tol::SUMMATION_ORDER_RTOL`]; returns how many are bit-identical.
fn assert_nulls_agree(fast: &[f64], slow: &[f64]) -> usize {
    assert_eq!(fast.len(), slow.len());
    for (i, (&a, &b)) in fast.iter().zip(slow).enumerate() {
        assert!(tol::close(a, b, tol::SUMMATION_ORDER_RTOL, 0.0), "iteration {i}: {a} vs {b}");
    }
    fast.iter().zip(slow).filter(|(a, b)| a.to_bits() == b.to_bits()).count()
}

#[test]
fn thread_count_does_not_change_any_bit() {
    let x = synthetic();
    let flips = FlipMatrix::nimare(300, 7, 42);
    let b = bags(&x, 2);
    let n = [25.0, 25.0, 20.0, 13.0, 40.0, 18.0, 31.0];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out = max_t_null(&x, &b, &flips, Tail::Two);
            out.extend(max_cr2_null(&x, &n, &b, &flips, Tail::One));
            let e = empirical_voxel_p(&x, &flips, Tail::Two);
            out.extend(e.p.iter().chain(&e.test.z));
            out.extend(max_null_by(&flips, 3, Tail::Two, |s, z| {
                z[0] = s[0] * 1.5 + s[1];
                z[2] = s[2] - s[3] * 0.25;
            }));
            out
        })
    };
    let (one, four) = (run(1), run(4));
    assert_eq!(one.len(), four.len());
    assert!(one.iter().zip(&four).all(|(a, b)| a.to_bits() == b.to_bits()));
}
