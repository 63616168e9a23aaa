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

/// Exact equality of floats (NaN equal to NaN) without tripping `clippy::float_cmp`.
fn same(a: f64, b: f64) -> bool {
    tol::close(a, b, 0.0, 0.0)
}

#[test]
fn mt19937_reference_outputs() {
    // docs/estimators.md §9 (NumPy `RandomState(42)`), and the reference code's default seed 5489
    // (second value from NumPy: `b = MT19937(); b._legacy_seeding(5489); b.random_raw(2)`).
    let mut rng = Mt19937::new(42);
    let got: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
    assert_eq!(got, [1_608_637_542, 3_421_126_067, 4_083_286_876]);
    let mut rng = Mt19937::new(5489);
    assert_eq!([rng.next_u32(), rng.next_u32()], [3_499_211_612, 581_869_302]);
}

#[test]
fn nimare_flips_match_numpy() {
    // python3 -c "import numpy as np; print(np.random.RandomState(42).choice((-1.0, 1.0), size=(3, 5)).tolist())"
    // (numpy 2.4.6)
    let expected = [[-1.0, 1.0, -1.0, -1.0, -1.0], [1.0, -1.0, -1.0, -1.0, 1.0], [-1.0, -1.0, -1.0, -1.0, 1.0]];
    let f = FlipMatrix::nimare(3, 5, 42);
    assert_eq!((f.n_iters(), f.n_studies()), (3, 5));
    for (i, row) in expected.iter().enumerate() {
        assert!(f.row(i).iter().zip(row).all(|(&a, &b)| same(a, b)), "row {i}: {:?}", f.row(i));
    }
    // The fixture's matrix: F = RandomState(42).choice((-1.0, 1.0), size=(1000, 21));
    // F.sum() == -10.0 and F[999] as below.
    let f = FlipMatrix::nimare(1000, 21, 42);
    let sum: f64 = (0..1000).flat_map(|i| f.row(i).to_vec()).sum();
    assert!(same(sum, -10.0));
    let last = [1., 1., -1., 1., -1., 1., 1., -1., -1., 1., -1., -1., 1., 1., 1., -1., 1., 1., -1., -1., 1.];
    assert!(f.row(999).iter().zip(last).all(|(&a, b)| same(a, b)));
}

#[test]
fn exact_flips_enumerate_every_sign_vector() {
    let f = FlipMatrix::exact(3);
    assert_eq!(f.n_iters(), 8);
    assert!(f.row(0).iter().all(|&s| same(s, 1.0)), "row 0 is the identity");
    let mut seen: Vec<Vec<i8>> = (0..8).map(|i| f.row(i).iter().map(|&s| s as i8).collect()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8);
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
fn blocked_max_t_null_equals_direct_recomputation() {
    let x = synthetic();
    // 130 iterations: not a multiple of the iteration blocks, so padding is exercised.
    let flips = FlipMatrix::nimare(130, 7, 42);
    let liberal = bags(&x, 2);
    assert_eq!(liberal.len(), 4);
    let all_valid: Vec<usize> = (0..300).filter(|v| v % 5 == 0).collect();
    let aggressive = vec![Bag { studies: (0..7).collect(), voxels: all_valid }];
    // A one-study bag and an empty bag contribute nothing.
    let mut with_junk = liberal.clone();
    with_junk.push(Bag { studies: vec![3], voxels: (4..300).step_by(5).collect() });
    with_junk.push(Bag { studies: vec![0, 1], voxels: vec![] });
    for tail in [Tail::Two, Tail::One] {
        for b in [&liberal, &aggressive, &with_junk] {
            let fast = max_t_null(&x, b, &flips, tail);
            let identical = assert_nulls_agree(&fast, &slow_max_t_null(&x, b, &flips, tail));
            assert_eq!(identical, fast.len(), "{tail:?}: expected bit-identical nulls");
        }
    }
}

#[test]
fn infinite_t_is_skipped_and_empty_iterations_are_minus_infinity() {
    // One voxel with values (2, −2). Rows of the exact matrix: (+,+) and (−,−) give S = 0, t = 0;
    // (−,+) and (+,−) give equal values, zero spread, t = ±∞ (NaN in one_sample_t): no finite
    // statistic in those iterations, so h0 = −∞ there.
    let x = StudyVoxels::new(2, vec![2.0, -2.0]);
    let flips = FlipMatrix::exact(2);
    let bag = bags(&x, 2);
    let h0 = max_t_null(&x, &bag, &flips, Tail::Two);
    let expected = [0.0, f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0];
    assert!(h0.iter().zip(expected).all(|(&a, b)| a.to_bits() == b.to_bits()), "{h0:?}");
    assert_nulls_agree(&h0, &slow_max_t_null(&x, &bag, &flips, Tail::Two));
}

#[test]
fn one_sided_null_can_be_negative() {
    // Two single-voxel bags with different K (so different dofs), both strongly negative: under
    // the identity flip every t is negative and h0 is the larger (less negative) z.
    let nan = f64::NAN;
    let x = StudyVoxels::new(4, vec![-3.0, -3.5, -2.5, -3.2, -1.0, -1.2, nan, nan]);
    let b = bags(&x, 2);
    let flips = FlipMatrix::exact(4);
    for tail in [Tail::One, Tail::Two] {
        let fast = max_t_null(&x, &b, &flips, tail);
        assert_nulls_agree(&fast, &slow_max_t_null(&x, &b, &flips, tail));
    }
    let h0 = max_t_null(&x, &b, &flips, Tail::One);
    let t_obs = one_sample_t(&x, Tail::One).t;
    let expected = t_to_z(t_obs[0], 3.0).max(t_to_z(t_obs[1], 1.0));
    assert!(expected < 0.0 && same(h0[0], expected), "{} vs {expected}", h0[0]);
}

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

#[test]
fn generic_closure_null_equals_blocked_null() {
    let x = synthetic();
    let flips = FlipMatrix::nimare(50, 7, 42);
    let b = bags(&x, 2);
    let generic = max_null_by(&flips, x.n_voxels(), Tail::Two, |signs, z| {
        let data = x.voxels().flat_map(|xs| xs.iter().zip(signs).map(|(v, s)| v * s)).collect();
        let flipped = StudyVoxels::new(x.n_studies(), data);
        z.copy_from_slice(&one_sample_t(&flipped, Tail::Two).test.z);
    });
    assert_nulls_agree(&generic, &max_t_null(&x, &b, &flips, Tail::Two));
}

#[test]
fn fwe_threshold_is_where_fwe_p_crosses_alpha() {
    let nan = f64::NAN;
    // 199 iterations with ties and NaNs: denominators 200, so alpha = 0.05 allows 9 exceedances.
    let mut h0: Vec<f64> = (0..199).map(|i| f64::from((i * 37) % 101) / 10.0).collect();
    h0[5] = nan;
    h0[17] = nan;
    for alpha in [0.05, 0.01, 0.2, 1.0 / 200.0, 0.5] {
        let thr = fwe_threshold(&h0, alpha).unwrap();
        let probes: Vec<f64> = h0
            .iter()
            .filter(|h| !h.is_nan())
            .flat_map(|&h| [h.next_down(), h, h.next_up()])
            .chain([thr, thr.next_up()])
            .collect();
        let p = fwe_p(&probes, &h0, Tail::One);
        for (s, p) in probes.iter().zip(&p) {
            assert_eq!(*p <= alpha, *s > thr, "alpha {alpha}: s {s}, p {p}, threshold {thr}");
        }
    }
    // 1/(N + 1) = 0.005 > 0.004: no statistic reaches it. 197 finite of 199 with alpha 0.995
    // allow 198 exceedances: every statistic passes.
    assert_eq!(fwe_threshold(&h0, 0.004), None);
    assert_eq!(fwe_threshold(&h0, 0.995), Some(f64::NEG_INFINITY));
    assert_eq!(fwe_threshold(&[], 0.05), None);
}

#[test]
fn fwe_p_by_hand() {
    let nan = f64::NAN;
    // N = 4 (one NaN, never an exceedance); denominators 5.
    let h0 = [1.0, 2.0, nan, 3.0];
    let z = [2.0, -2.0, 0.5, 3.5, nan, 3.0, -0.0];
    let two = fwe_p(&z, &h0, Tail::Two);
    // |z| = 2: h0 ≥ 2 twice (tie counts); 0.5: three; 3.5: none → 1/(N+1); 3: once (tie).
    let expected_two = [3.0 / 5.0, 3.0 / 5.0, 4.0 / 5.0, 1.0 / 5.0, nan, 2.0 / 5.0, 4.0 / 5.0];
    for (a, b) in two.iter().zip(expected_two) {
        assert!(same(*a, b), "{two:?}");
    }
    let one = fwe_p(&z, &h0, Tail::One);
    let expected_one = [3.0 / 5.0, 4.0 / 5.0, 4.0 / 5.0, 1.0 / 5.0, nan, 2.0 / 5.0, 4.0 / 5.0];
    for (a, b) in one.iter().zip(expected_one) {
        assert!(same(*a, b), "{one:?}");
    }

    let maps = fwe_maps(&z, &h0, Tail::Two);
    assert!(same(maps.z[0], p_to_z(0.6, Tail::Two)) && maps.z[0] > 0.0);
    assert!(same(maps.z[1], -p_to_z(0.6, Tail::Two)));
    assert!(same(maps.z[6], p_to_z(0.8, Tail::Two)), "sign(0) is +1");
    assert!(maps.z[4].is_nan() && maps.logp[4].is_nan());
    assert!(same(maps.logp[3], -(0.2f64).log10()));
    let all_exceed = fwe_maps(&[0.0], &[1.0], Tail::Two);
    assert!(same(all_exceed.p[0], 1.0) && all_exceed.logp[0].to_bits() == 0.0f64.to_bits());
}

#[test]
fn empirical_voxel_null_equals_direct_count() {
    let x = synthetic();
    let flips = FlipMatrix::nimare(61, 7, 11);
    for tail in [Tail::Two, Tail::One] {
        let fast = empirical_voxel_p(&x, &flips, tail);
        let obs = one_sample_t(&x, tail);
        let flipped_t: Vec<Vec<f64>> = (0..flips.n_iters())
            .map(|i| {
                let signs = flips.row(i);
                let data = x.voxels().flat_map(|xs| xs.iter().zip(signs).map(|(v, s)| v * s)).collect();
                one_sample_t(&StudyVoxels::new(7, data), tail).t
            })
            .collect();
        let directed = |t: f64| if tail == Tail::Two { t.abs() } else { t };
        for v in 0..x.n_voxels() {
            let t = obs.t[v];
            assert!(same(fast.t[v], t), "voxel {v}: t {} vs {t}", fast.t[v]);
            assert!(same(fast.test.dof[v], obs.test.dof[v]), "voxel {v}: dof");
            if t.is_nan() {
                assert!(fast.p[v].is_nan() && fast.test.z[v].is_nan());
                continue;
            }
            let count = flipped_t.iter().filter(|ti| directed(ti[v]) >= directed(t)).count();
            let p = (count + 1) as f64 / 62.0;
            assert!(same(fast.p[v], p), "voxel {v}: p {} vs {p}", fast.p[v]);
            let sign = if t < 0.0 { -1.0 } else { 1.0 };
            assert!(same(fast.test.z[v], p_to_z(p, tail) * sign));
            assert!(same(fast.test.nlogp[v], p.ln()));
        }
    }
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

/// The fixture's 21 con maps (1,000 voxels), zeros as NaN (docs/estimators.md §2.3).
fn pain_con() -> StudyVoxels {
    let text = include_str!("../data/pain_con_10x10x10.txt");
    let data: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace().map(|s| s.parse::<f32>().unwrap_or_else(|e| panic!("{s}: {e}"))))
        .map(|v| if v == 0.0 || !v.is_finite() { f64::NAN } else { f64::from(v) })
        .collect();
    assert_eq!(data.len(), 21 * 1000);
    StudyVoxels::new(21, data)
}

/// NiMARE's `p_level-voxel_corr-FWE_method-montecarlo` maps: (default, aggressive_mask).
fn reference_fwe_p() -> (Vec<f32>, Vec<f32>) {
    let text = include_str!("../data/permuted_ols_fwe_p_10x10x10.txt");
    let rows: Vec<(f32, f32)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<f32> = l.split_whitespace().map(|s| s.parse().unwrap()).collect();
            (f[0], f[1])
        })
        .collect();
    assert_eq!(rows.len(), 1000);
    rows.into_iter().unzip()
}

#[test]
fn nimare_permuted_ols_fwe_parity() {
    // Committed extracts of ../shared/data (see the data files' headers), so this never skips.
    let x = pain_con();
    let (ref_default, ref_aggressive) = reference_fwe_p();
    let flips = FlipMatrix::nimare(1000, 21, 42);
    let z_obs = one_sample_t(&x, Tail::Two).test.z;

    let liberal = bags(&x, 2);
    let full: Vec<usize> = (0..1000).filter(|&v| x.voxel(v).iter().all(|s| !s.is_nan())).collect();
    assert_eq!(full.len(), 973);
    let aggressive = vec![Bag { studies: (0..21).collect(), voxels: full.clone() }];
    let z_aggressive: Vec<f64> =
        (0..1000).map(|v| if full.binary_search(&v).is_ok() { z_obs[v] } else { f64::NAN }).collect();

    for (name, b, z, reference) in
        [("default", &liberal, &z_obs, &ref_default), ("aggressive", &aggressive, &z_aggressive, &ref_aggressive)]
    {
        let h0 = max_t_null(&x, b, &flips, Tail::Two);
        let p: Vec<f32> = fwe_p(z, &h0, Tail::Two).iter().map(|&p| p as f32).collect();
        let mismatches: Vec<usize> = (0..1000)
            .filter(|&v| !(p[v].to_bits() == reference[v].to_bits() || p[v].is_nan() && reference[v].is_nan()))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{name}: {} voxels differ, first {:?}",
            mismatches.len(),
            &mismatches[..5.min(mismatches.len())]
        );
    }
    // docs/estimators.md §12a: voxel 500 p 0.879121 aggressive / 0.886114 default; aggressive min 1/1001.
    assert!(tol::close(f64::from(ref_aggressive[500]), 0.879121, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
    assert!(tol::close(f64::from(ref_default[500]), 0.886114, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
    let min = ref_aggressive.iter().copied().filter(|p| !p.is_nan()).fold(f32::INFINITY, f32::min);
    assert_eq!(min.to_bits(), ((1.0f64 / 1001.0) as f32).to_bits());
}

/// K = 21 studies (the lookup tables' three groups), 600 voxels in several bags, with voxels
/// that stress the max-t screen: all zeros, exact zeros among values, tiny (1e−160, 1e−200) and
/// huge (1e200) magnitudes, constant magnitude (t = ±∞ under some flips), and nearly constant
/// values (|t| ~ 1e9, ρ within 1e−18 of 1).
fn synthetic_21() -> StudyVoxels {
    let (k, v) = (21, 600);
    let mut u = Rng::new(21);
    let mut data = vec![f64::NAN; k * v];
    for voxel in 0..v {
        let valid: Vec<usize> = match voxel % 7 {
            0..=2 => (0..21).collect(),
            3 => (0..21).filter(|s| s % 5 != 2).collect(),
            4 => (3..20).collect(),
            5 => vec![1, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20],
            _ => vec![0, 7, 19],
        };
        let shift = 0.5 * (voxel % 4) as f64;
        for (i, &s) in valid.iter().enumerate() {
            let normal = u.normal() + shift;
            data[voxel * k + s] = match voxel {
                0 => 0.0,
                1 => 1e-200 * normal,
                2 => 1e-160 * normal,
                7 => 1e200 * normal,
                8 => 3.0 * (-1f64).powi(i as i32),
                9 => 1.0 + 1e-9 * i as f64,
                14 if i % 3 == 0 => 0.0,
                _ => normal,
            };
        }
    }
    StudyVoxels::new(k, data)
}

#[test]
fn max_t_null_with_21_studies_equals_direct_recomputation() {
    let x = synthetic_21();
    let flips = FlipMatrix::nimare(400, 21, 5);
    let liberal = bags(&x, 2);
    assert_eq!(liberal.len(), 5);
    let full: Vec<usize> = (0..600).filter(|&v| x.voxel(v).iter().all(|s| !s.is_nan())).collect();
    let aggressive = vec![Bag { studies: (0..21).collect(), voxels: full }];
    for tail in [Tail::Two, Tail::One] {
        for b in [&liberal, &aggressive] {
            let fast = max_t_null(&x, b, &flips, tail);
            let identical = assert_nulls_agree(&fast, &slow_max_t_null(&x, b, &flips, tail));
            assert_eq!(identical, fast.len(), "{tail:?}: expected bit-identical nulls");
        }
    }
    // All signs +1 and all −1 included: h0 ties the observed maximum exactly.
    let mut signs = vec![1.0; 21];
    signs.extend([-1.0; 21]);
    let both = FlipMatrix::from_signs(21, signs);
    let h0 = max_t_null(&x, &liberal, &both, Tail::Two);
    let z_obs = one_sample_t(&x, Tail::Two).test.z;
    let observed = max_statistic(&z_obs, Tail::Two);
    assert!(same(h0[0], observed) && same(h0[1], observed), "{h0:?} vs {observed}");
}

#[test]
fn max_t_null_with_more_than_64_studies_equals_direct_recomputation() {
    // Study indices past one 64-bit flip mask word, and groups that straddle the word boundary.
    let (k, v) = (70, 40);
    let mut u = Rng::new(70);
    let data = (0..k * v).map(|i| if i % k == 3 && i / k % 2 == 0 { f64::NAN } else { u.normal() + 0.3 }).collect();
    let x = StudyVoxels::new(k, data);
    let flips = FlipMatrix::nimare(90, k, 9);
    let b = bags(&x, 2);
    assert_eq!(b.len(), 2);
    for tail in [Tail::Two, Tail::One] {
        let fast = max_t_null(&x, &b, &flips, tail);
        let identical = assert_nulls_agree(&fast, &slow_max_t_null(&x, &b, &flips, tail));
        assert_eq!(identical, fast.len(), "{tail:?}: expected bit-identical nulls");
    }
}

#[test]
fn flips_in_chunks_and_slices_are_the_whole_runs_flips() {
    use ibma_stats::permute::FlipStream;
    for (n_iters, k, exact) in [(1000, 7, false), (300, 6, true), (50, 6, true)] {
        let whole = FlipMatrix::for_run(n_iters, k, 42, exact);
        let mut stream = FlipStream::new(n_iters, k, 42, exact);
        assert_eq!(stream.n_iters(), whole.n_iters());
        let mut rows = Vec::new();
        while let Some(chunk) = stream.next_chunk(37) {
            rows.extend((0..chunk.n_iters()).map(|i| chunk.row(i).to_vec()));
        }
        assert_eq!(rows.len(), whole.n_iters());
        assert!(rows.iter().enumerate().all(|(i, r)| r == whole.row(i)), "{n_iters} {k} {exact}");
        let slice = FlipMatrix::run_rows(n_iters, k, 42, exact, 10..20);
        assert!((0..10).all(|i| slice.row(i) == whole.row(10 + i)));
    }
    // NiMARE's stream: the exact enumeration is used only when it fits in n_iters.
    assert_eq!(FlipMatrix::for_run(63, 6, 42, true).n_iters(), 63);
    assert_eq!(FlipMatrix::for_run(62, 6, 42, true), FlipMatrix::nimare(62, 6, 42));
}
