//! The unweighted max-t null against a direct per-iteration recomputation, and NiMARE 0.22.1 parity
//! on the fixture.

use super::*;

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

/// The fixture's 21 con maps (1,000 voxels), zeros as NaN (docs/estimators.md §2.3).
fn pain_con() -> StudyVoxels {
    let text = include_str!("../../data/pain_con_10x10x10.txt");
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
    let text = include_str!("../../data/permuted_ols_fwe_p_10x10x10.txt");
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
