//! Cluster inference (`docs/inference.md`): the FSL 5.0.10 reference numbers of §6 (DOF
//! correction, DLH, 21 GRF cluster p-values, in both modes), smoothness of a synthetic field,
//! labelling by hand under 6/18/26 connectivity, TFCE against a direct per-level implementation
//! and a hand-computed case, GRF thresholding and tables, permutation helpers and determinism.

use ibma_stats::cluster::{
    cluster_fwe_maps, clusters, dof_correction, fwe_p_from_null, grf_inference, max_stats, smoothness, tfce,
    voxel_threshold, ClusterMeasure, Connectivity, Grf, GrfOptions, Grid, Mode, TfceParams, Workspace,
};
use ibma_stats::{tol, StudyVoxels, Tail};
use ibma_testkit::Rng;
use rayon::prelude::*;
use std::f64::consts::LN_2;

fn same(a: f64, b: f64) -> bool {
    tol::close(a, b, 0.0, 0.0)
}

const ALL_CONN: [Connectivity; 3] = [Connectivity::Six, Connectivity::Eighteen, Connectivity::TwentySix];

/// `n` standard normal draws, deterministic in `seed`.
fn normals(seed: u64, n: usize) -> Vec<f64> {
    Rng::new(seed).normals(n)
}

/// Flat C-order index.
fn flat(dims: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    (i * dims[1] + j) * dims[2] + k
}

// ---------------------------------------------------------------------------------------------
// §6 smoothness rows

#[test]
fn dof_correction_and_dlh_reproduce_fsl_smoothness_files() {
    // docs/inference.md §6 table: (ν, RESELS, DLH printed by FSL 5.0.10, DLH_raw,
    // × FSL-quirk c(ν), × correct c(ν)).
    let rows = [
        (13.0, 132.675, 0.0364566, 0.0347968, 0.0364565, 0.0366709), // fsl_group_wls / _ols
        (12.0, 119.514, 0.0406489, 0.0386286, 0.0406489, 0.0409458), // fsl_group_btw
        (102.0, 6.60665, 0.70114, 0.698790, 0.701140, 0.702394),     // fsl_default
    ];
    let k = (4.0 * LN_2).powf(1.5);
    for (nu, resels, fsl, raw, quirk, correct) in rows {
        let dlh_raw = k / resels;
        assert!(tol::close(dlh_raw, raw, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "ν {nu}: raw {dlh_raw}");
        let q = dlh_raw * dof_correction(nu, Mode::FslCompat);
        let c = dlh_raw * dof_correction(nu, Mode::Correct);
        assert!(tol::close(q, quirk, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "ν {nu}: fsl_compat {q}");
        assert!(tol::close(c, correct, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "ν {nu}: correct {c}");
        // FSL's own DLH, from a RESELS printed to 6 digits (≤ 4.2e-6 relative) and itself printed
        // to 6 digits (≤ 1.4e-6): within 6e-6.
        assert!(tol::close(q, fsl, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "ν {nu}: {q} vs FSL {fsl}");
        assert!(!tol::close(c, fsl, tol::GOLDEN_6_DIGITS_RTOL, 0.0), "ν {nu}: correct mode must differ from FSL");
    }
    // §2 step 6: r(13) = 2L₁₃ − L₁₂ = 1.0976715 under the quirk; exact nodes when correct.
    let r13 = dof_correction(13.0, Mode::FslCompat).powi(2);
    assert!(tol::close(r13, 1.0976715, tol::F32_RTOL, 0.0), "{r13}");
    assert!(tol::close(dof_correction(13.0, Mode::Correct).powi(2), 1.1106196, tol::SUMMATION_ORDER_RTOL, 0.0));
    // Quoted DLH reductions of the quirk (§2 step 6): 6.25 % at ν = 6, 2.35 % at 8, 0.58 % at 13.
    for (nu, pct) in [(6.0, 6.25), (8.0, 2.35), (13.0, 0.58)] {
        let drop = 100.0 * (1.0 - dof_correction(nu, Mode::FslCompat) / dof_correction(nu, Mode::Correct));
        assert!((drop - pct).abs() < tol::PERCENT_2_DECIMALS_ATOL, "ν {nu}: {drop} %");
    }
    // ν < 6: plain 1.1 in both modes; ν > 500: √(1 + 1.0321/ν).
    for mode in [Mode::Correct, Mode::FslCompat] {
        assert!(same(dof_correction(5.0, mode), 1.1));
        assert!(tol::close(dof_correction(1000.0, mode), (1.0 + 1.0321 / 1000.0f64).sqrt(), tol::F32_RTOL, 0.0));
    }
    // 500 < ν < 501: FSL still interpolates (300/500 nodes), the correct mode does not.
    let fsl = dof_correction(500.5, Mode::FslCompat).powi(2);
    let expect = (1.0020191 - 1.0033865) / 200.0 * 200.5 + 1.0020191;
    assert!(tol::close(fsl, expect, tol::F32_RTOL, 0.0), "{fsl} vs {expect}");
    assert!(tol::close(
        dof_correction(500.5, Mode::Correct),
        (1.0 + 1.0321 / 500.5f64).sqrt(),
        tol::SUMMATION_ORDER_RTOL,
        0.0
    ));
    // Correct interpolation is linear between nodes (ν = 22.5 halfway between 20 and 25).
    let mid = dof_correction(22.5, Mode::Correct).powi(2);
    assert!(tol::close(mid, 0.5 * (1.0632924 + 1.0483053), tol::SUMMATION_ORDER_RTOL, 0.0));
}

// ---------------------------------------------------------------------------------------------
// §6 cluster p-values

/// p to three significant figures, as FSL prints (0.0029 is 2.90e-3).
fn sig3(p: f64) -> String {
    format!("{p:.2e}")
}

/// (u, DLH, V, E[m], β, [(k, FSL p, double p)]) of docs/inference.md §6.
#[allow(clippy::type_complexity)] // a literal table of the spec, read once
fn section6() -> Vec<(f64, f64, f64, f64, f64, Vec<(usize, &'static str, &'static str)>)> {
    vec![
        (
            3.1,
            0.0364566,
            262770.0,
            17.108,
            0.20001,
            vec![
                // fsl_group_wls
                (1380, "2.93e-10", "2.93e-10"),
                (1143, "5.46e-9", "5.46e-9"),
                (686, "2.98e-6", "3.00e-6"),
                (399, "3.35e-4", "3.35e-4"),
                (353, "7.84e-4", "7.84e-4"),
                (286, "2.90e-3", "2.90e-3"),
                (189, "2.33e-2", "2.33e-2"),
                // fsl_group_ols
                (1106, "8.78e-9", "8.78e-9"),
                (810, "4.77e-7", "4.85e-7"),
                (681, "3.22e-6", "3.23e-6"),
                (397, "3.48e-4", "3.48e-4"),
                (349, "8.46e-4", "8.46e-4"),
                (321, "1.45e-3", "1.45e-3"),
            ],
        ),
        (
            // fsl_thr_clustfwep05 (3130 is checked separately: FSL prints P = 0)
            2.3,
            0.70114,
            38352.0,
            207.48,
            0.76615,
            vec![
                (522, "5.57e-20", "5.57e-20"),
                (167, "1.69e-8", "1.69e-8"),
                (99, "1.57e-5", "1.57e-5"),
                (46, "1.10e-2", "1.10e-2"),
                (41, "2.27e-2", "2.27e-2"),
                (40, "2.63e-2", "2.63e-2"),
            ],
        ),
    ]
}

#[test]
fn grf_cluster_p_values_reproduce_fsl_in_both_modes() {
    for (u, dlh, v, em, beta, cases) in section6() {
        for mode in [Mode::Correct, Mode::FslCompat] {
            let grf = Grf::new(u, dlh, v, false, mode);
            assert!(tol::close(grf.expected_clusters(), em, tol::FIVE_DIGITS_RTOL, 0.0), "{mode:?} E[m]");
            assert!(tol::close(grf.beta(), beta, tol::FIVE_DIGITS_RTOL, 0.0), "{mode:?} β {}", grf.beta());
            for &(k, fsl, double) in &cases {
                let p = grf.cluster_p(k);
                let expect = if mode == Mode::FslCompat { fsl } else { double };
                assert_eq!(sig3(p.p), expect, "{mode:?} u {u} k {k}: p {}", p.p);
                assert!(tol::close(p.ln_p, p.p.ln(), tol::SUMMATION_ORDER_RTOL, 0.0), "{mode:?} k {k}: ln p");
            }
        }
    }
    // The 3130-voxel cluster: FSL prints P = 0 and −log10 P = 68.9; double p = 1.32e−69.
    let fsl = Grf::new(2.3, 0.70114, 38352.0, false, Mode::FslCompat).cluster_p(3130);
    assert!(same(fsl.p, 0.0));
    assert_eq!(format!("{:.1}", fsl.log10p()), "68.9");
    let exact = Grf::new(2.3, 0.70114, 38352.0, false, Mode::Correct).cluster_p(3130);
    assert_eq!(sig3(exact.p), "1.32e-69");
    assert_eq!(format!("{:.1}", exact.log10p()), "68.9");
    assert!(tol::close(exact.ln_p, exact.p.ln(), tol::SUMMATION_ORDER_RTOL, 0.0));
}

#[test]
fn grf_log_p_stays_exact_where_p_underflows() {
    let grf = Grf::new(2.3, 0.70114, 38352.0, false, Mode::Correct);
    let p = grf.cluster_p(40_000);
    assert!(same(p.p, 0.0));
    // ln p = ln E[m] − β k^{2/3} exactly in this regime.
    let expect = grf.expected_clusters().ln() - grf.beta() * 40_000f64.powf(2.0 / 3.0);
    assert!(tol::close(p.ln_p, expect, tol::SUMMATION_ORDER_RTOL, 0.0), "{} vs {expect}", p.ln_p);
    // Large u: E[m] and β in log space (Φ(−40) underflows nothing).
    let far = Grf::new(40.0, 0.05, 200_000.0, false, Mode::Correct);
    assert!(far.beta().is_finite() && far.beta() > 0.0);
    assert!(far.cluster_p(1).ln_p.is_finite());
}

#[test]
fn grf_p_decreases_with_cluster_size() {
    for mode in [Mode::Correct, Mode::FslCompat] {
        for (u, dlh, v, two_d) in
            [(3.1, 0.0364566, 262770.0, false), (2.3, 0.70114, 38352.0, false), (2.5, 0.2, 5000.0, true)]
        {
            let grf = Grf::new(u, dlh, v, two_d, mode);
            let lnp: Vec<f64> = (1..3000).map(|k| grf.cluster_p(k).ln_p).collect();
            assert!(lnp.windows(2).all(|w| w[1] <= w[0]), "{mode:?} u {u}: ln p not monotone");
            assert!(lnp[0] > lnp[2998], "{mode:?} u {u}: ln p constant");
            let kmin = grf.min_significant_size(0.05, 100_000).expect("some size is significant");
            assert!(grf.cluster_p(kmin).p < 0.05 && (kmin == 1 || grf.cluster_p(kmin - 1).p >= 0.05));
        }
    }
}

#[test]
fn voxelwise_grf_threshold_solves_the_ec_equation() {
    // §4: R·0.11694·(z² − 1)·e^{−z²/2} = p with R = ⌊VOLUME/RESELS⌋, bisection to 0.001.
    let (volume, resels, p) = (262770.0, 132.675, 0.05);
    let z = voxel_threshold(p, volume, resels);
    let r = (volume / resels).floor();
    let f = |z: f64| r * 0.11694 * (z * z - 1.0) * (-0.5 * z * z).exp();
    assert!(f(z - 0.001) > p && f(z + 0.001) < p, "z {z}");
    assert!(z > 4.5 && z < 5.5, "z {z}"); // ~1980 resels: a voxelwise FWE threshold near 4.9
}

// ---------------------------------------------------------------------------------------------
// Smoothness (§2) on a synthetic field

/// Periodic separable Gaussian smoothing of an `n³` cube.
fn smooth_periodic(x: &[f64], n: usize, sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let mut cur = x.to_vec();
    for axis in 0..3 {
        let stride = [n * n, n, 1][axis];
        let mut next = vec![0.0; cur.len()];
        for (v, out) in next.iter_mut().enumerate() {
            let c = (v / stride) % n;
            let base = v - c * stride;
            *out = kernel
                .iter()
                .zip(-radius..=radius)
                .map(|(w, d)| w * cur[base + ((c as isize + d).rem_euclid(n as isize) as usize) * stride])
                .sum();
        }
        cur = next;
    }
    cur
}

#[test]
fn smoothness_recovers_the_fwhm_of_a_smoothed_field() {
    let (n, t, fwhm) = (48usize, 20usize, 4.0f64);
    let sigma = fwhm / (8.0 * LN_2).sqrt();
    let dims = [n, n, n];
    // Mask: a centred ball, so edge rules (v − e_d in the mask) are exercised.
    let centre = (n as f64 - 1.0) / 2.0;
    let mask: Vec<usize> = (0..n * n * n)
        .filter(|&v| {
            let (i, j, k) = (v / (n * n), (v / n) % n, v % n);
            let d2 = [i, j, k].iter().map(|&c| (c as f64 - centre).powi(2)).sum::<f64>();
            d2 <= (0.45 * n as f64).powi(2)
        })
        .collect();
    let grid = Grid::new(dims, &mask);
    let volumes: Vec<Vec<f64>> = (0..t)
        .map(|s| {
            let field = smooth_periodic(&normals(1000 + s as u64, n * n * n), n, sigma);
            mask.iter().map(|&v| field[v] * 3.0 + 0.5).collect() // scale and offset: standardised away
        })
        .collect();
    let res = StudyVoxels::from_studies(&volumes);
    let s = smoothness(&grid, &res, 19.0, [2.0, 2.0, 3.0], Mode::Correct);
    assert_eq!(s.volume, mask.len());
    for d in 0..3 {
        assert!(tol::close(s.fwhm_voxels[d], fwhm, tol::FWHM_RECOVERY_RTOL, 0.0), "axis {d}: {}", s.fwhm_voxels[d]);
    }
    assert!(same(s.fwhm_mm[2], s.fwhm_voxels[2] * 3.0));
    assert!(same(s.min_fwhm_voxels(), s.fwhm_voxels.iter().copied().fold(f64::INFINITY, f64::min)));
    assert!(!s.too_rough_for_rft(), "FWHM 4 voxels is smooth enough for GRF");
    // Unsmoothed noise: FWHM well under two voxels on every axis.
    let white: Vec<Vec<f64>> = (0..t)
        .map(|s| {
            let noise = normals(2000 + s as u64, n * n * n);
            mask.iter().map(|&v| noise[v]).collect()
        })
        .collect();
    let rough = smoothness(&grid, &StudyVoxels::from_studies(&white), 19.0, [2.0; 3], Mode::Correct);
    assert!(rough.fwhm_voxels.iter().all(|&f| f < 1.5) && rough.too_rough_for_rft(), "{:?}", rough.fwhm_voxels);
    // §2 step 7 identity: V·DLH_raw = (V/RESELS)·(4 ln 2)^{3/2}.
    assert!(tol::close(s.dlh_raw * s.resels, (4.0 * LN_2).powf(1.5), tol::SUMMATION_ORDER_RTOL, 0.0));
    assert!(same(s.dlh, s.dlh_raw * dof_correction(19.0, Mode::Correct)));
    let fsl = smoothness(&grid, &res, 19.0, [2.0, 2.0, 3.0], Mode::FslCompat);
    assert!(same(fsl.dlh_raw, s.dlh_raw) && fsl.dlh < s.dlh);

    // A voxel with constant residuals leaves the mask (VOLUME − 1); NaN residuals count as 0.
    let mut vols2 = volumes.clone();
    for vol in &mut vols2 {
        vol[100] = 7.0;
        vol[200] = f64::NAN;
    }
    let s2 = smoothness(&grid, &StudyVoxels::from_studies(&vols2), 19.0, [2.0; 3], Mode::Correct);
    assert_eq!(s2.volume, mask.len() - 2, "constant and all-NaN (→ 0) voxels removed");
    // A single image: no standardisation, no DOF correction.
    let single = smoothness(&grid, &StudyVoxels::from_studies(&volumes[..1]), 0.0, [2.0; 3], Mode::Correct);
    assert!(same(single.dof_correction, 1.0) && same(single.dlh, single.dlh_raw));
    assert_eq!(single.volume, mask.len());
}

#[test]
fn smoothness_on_a_single_slice_is_two_dimensional() {
    let n = 40;
    let field3 = smooth_periodic(&normals(7, n * n * n), n, 1.5);
    let grid = Grid::full([n, n, 1]);
    let vols: Vec<Vec<f64>> = (0..5).map(|s| (0..n * n).map(|v| field3[s * n * n + v]).collect()).collect();
    let s = smoothness(&grid, &StudyVoxels::from_studies(&vols), 4.0, [1.0; 3], Mode::Correct);
    assert!(s.fwhm_voxels[2].is_nan());
    // The unestimated z axis does not count: min over x and y.
    assert!(same(s.min_fwhm_voxels(), s.fwhm_voxels[0].min(s.fwhm_voxels[1])));
    assert!(same(s.resels, s.fwhm_voxels[0] * s.fwhm_voxels[1]));
    assert!(same(s.dlh_raw, 1.0 / (2.0 * (s.sigma_sq[0] * s.sigma_sq[1]).sqrt())));
    assert!(same(s.dof_correction, 1.1)); // ν = 4 < 6
}

// ---------------------------------------------------------------------------------------------
// Labelling

#[test]
fn connectivity_6_18_26_differ_on_a_constructed_volume() {
    let dims = [7, 7, 7];
    let mut z = vec![0.0; 343];
    let set = |z: &mut Vec<f64>, i, j, k, v| z[flat(dims, i, j, k)] = v;
    // A face pair, an edge pair and a corner pair, far apart.
    set(&mut z, 0, 0, 0, 3.0);
    set(&mut z, 0, 0, 1, 4.0);
    set(&mut z, 3, 0, 0, 3.0);
    set(&mut z, 3, 1, 1, 3.0);
    set(&mut z, 6, 6, 6, 5.0);
    set(&mut z, 5, 5, 5, 3.0);
    let grid = Grid::full(dims);
    let count = |c| clusters(&grid, &z, 2.0, c).len();
    assert_eq!((count(Connectivity::Six), count(Connectivity::Eighteen), count(Connectivity::TwentySix)), (5, 4, 3));
    assert_eq!(Connectivity::default(), Connectivity::TwentySix);
    assert_eq!(Connectivity::from_neighbours(18), Some(Connectivity::Eighteen));
    assert_eq!(Connectivity::from_neighbours(8), None);

    // A diagonal chain (§8 test 5): one cluster under 26, three under 18 and 6.
    let mut chain = vec![0.0; 343];
    for d in 0..3 {
        chain[flat(dims, d + 2, d + 2, d + 2)] = 2.5;
    }
    let sizes = |c| clusters(&grid, &chain, 2.0, c).iter().map(|c| c.size()).collect::<Vec<_>>();
    assert_eq!(sizes(Connectivity::TwentySix), [3]);
    assert_eq!(sizes(Connectivity::Eighteen), [1, 1, 1]);
    assert_eq!(sizes(Connectivity::Six), [1, 1, 1]);
}

#[test]
fn cluster_summaries_by_hand() {
    let dims = [4, 3, 5];
    let mut z = vec![0.0; 60];
    // Cluster A (4 voxels in a line along k, plus one along i): values chosen by hand.
    let a = [((1, 1, 0), 3.0), ((1, 1, 1), 5.0), ((1, 1, 2), 4.0), ((2, 1, 1), 5.0)];
    for ((i, j, k), v) in a {
        z[flat(dims, i, j, k)] = v;
    }
    // Cluster B: two voxels, one exactly at the threshold (inclusive), one NaN neighbour.
    z[flat(dims, 3, 0, 4)] = 2.0;
    z[flat(dims, 3, 1, 4)] = 2.5;
    z[flat(dims, 3, 2, 4)] = f64::NAN;
    // A bridge voxel outside the mask would join A and B's neighbourhood: (2, 1, 3) is excluded.
    z[flat(dims, 2, 1, 3)] = 9.0;
    let mask: Vec<usize> = (0..60).filter(|&v| v != flat(dims, 2, 1, 3)).collect();
    let grid = Grid::new(dims, &mask);
    let zm: Vec<f64> = mask.iter().map(|&v| z[v]).collect();
    let pos = |i, j, k| mask.binary_search(&flat(dims, i, j, k)).unwrap();

    let cs = clusters(&grid, &zm, 2.0, Connectivity::TwentySix);
    assert_eq!(cs.len(), 2);
    let (ca, cb) = (&cs[0], &cs[1]);
    assert_eq!(ca.size(), 4);
    assert_eq!(ca.voxels, [pos(1, 1, 0), pos(1, 1, 1), pos(1, 1, 2), pos(2, 1, 1)]);
    assert!(same(ca.mass, 1.0 + 3.0 + 2.0 + 3.0));
    assert!(same(ca.peak, 5.0));
    // Tie at 5.0 between (1,1,1) and (2,1,1): same k and j, so x-fastest order picks i = 1.
    assert_eq!(ca.peak_voxel, pos(1, 1, 1));
    // COG weighted by z: Σz = 17; i: (3+5+4)·1 + 5·2 = 22; j: 17; k: 0·3 + 1·5 + 2·4 + 1·5 = 18.
    for (got, want) in ca.cog.iter().zip([22.0 / 17.0, 1.0, 18.0 / 17.0]) {
        assert!(tol::close(*got, want, tol::SUMMATION_ORDER_RTOL, 0.0), "{:?}", ca.cog);
    }
    assert_eq!(cb.voxels, [pos(3, 0, 4), pos(3, 1, 4)]);
    assert!(same(cb.mass, 0.5) && same(cb.peak, 2.5));

    // Peak ties across k: x-fastest order is (k, j, i), so the lower slice wins even at larger i.
    let mut t = vec![0.0; 60];
    t[flat(dims, 0, 0, 1)] = 4.0;
    t[flat(dims, 1, 0, 0)] = 4.0;
    let c = &clusters(&Grid::full(dims), &t, 1.0, Connectivity::TwentySix)[0];
    assert_eq!(c.peak_voxel, flat(dims, 1, 0, 0));
    // Nothing supra: no clusters.
    assert!(clusters(&grid, &zm, 100.0, Connectivity::Six).is_empty());
}

#[test]
fn clusters_are_ordered_by_size_then_first_voxel() {
    let dims = [1, 1, 12];
    let z = [3.0, 0.0, 3.0, 3.0, 0.0, 3.0, 0.0, 3.0, 3.0, 3.0, 0.0, 3.0];
    let cs = clusters(&Grid::full(dims), &z, 1.0, Connectivity::Six);
    let firsts: Vec<(usize, usize)> = cs.iter().map(|c| (c.size(), c.voxels[0])).collect();
    assert_eq!(firsts, [(3, 7), (2, 2), (1, 0), (1, 5), (1, 11)]);
}

// ---------------------------------------------------------------------------------------------
// TFCE

/// Direct TFCE: label every level k·dh from scratch with `clusters`, add each level's term,
/// highest level first (the documented summation order).
fn tfce_direct(grid: &Grid, z: &[f64], p: &TfceParams, conn: Connectivity) -> Vec<f64> {
    let mut out = vec![0.0; z.len()];
    let top = z.iter().filter(|v| !v.is_nan()).fold(0.0f64, |a, &b| a.max(b));
    let kmax = (top / p.dh).ceil() as u32 + 1;
    for k in (1..=kmax).rev() {
        let h = f64::from(k) * p.dh;
        let weight = h.powf(p.h) * p.dh;
        for c in clusters(grid, z, h, conn) {
            let size = c.size() as f64;
            let extent = if p.e.to_bits() == 0.5f64.to_bits() { size.sqrt() } else { size.powf(p.e) };
            for &m in &c.voxels {
                out[m] += extent * weight;
            }
        }
    }
    out
}

fn rough_field(dims: [usize; 3], seed: u64) -> Vec<f64> {
    // Smooth-ish values in about [−3, 4] with plateaus at exact multiples of dh.
    let noise = normals(seed, dims.iter().product());
    noise
        .iter()
        .enumerate()
        .map(|(v, &x)| if v % 17 == 0 { 0.3 } else { 0.5 + 1.4 * x + ((v % 7) as f64 - 3.0) * 0.2 })
        .collect()
}

#[test]
fn tfce_matches_a_direct_per_level_implementation_bitwise() {
    let dims = [7, 8, 9];
    let z = rough_field(dims, 11);
    let mask: Vec<usize> = (0..z.len()).filter(|v| v % 5 != 3).collect();
    let grid = Grid::new(dims, &mask);
    let mut zm: Vec<f64> = mask.iter().map(|&v| z[v]).collect();
    zm[10] = f64::NAN;
    for params in [TfceParams::default(), TfceParams { e: 0.6, h: 1.5, dh: 0.25 }] {
        for conn in ALL_CONN {
            let fast = tfce(&grid, &zm, &params, conn, Tail::One);
            let mut slow = tfce_direct(&grid, &zm, &params, conn);
            slow[10] = f64::NAN;
            assert!(fast.iter().zip(&slow).all(|(a, b)| same(*a, *b)), "{params:?} {conn:?} one-sided");
            let neg: Vec<f64> = zm.iter().map(|x| -x).collect();
            let slow_neg = tfce_direct(&grid, &neg, &params, conn);
            let two = tfce(&grid, &zm, &params, conn, Tail::Two);
            for m in 0..zm.len() {
                let want = if m == 10 { f64::NAN } else { slow[m] - slow_neg[m] };
                assert!(same(two[m], want), "{params:?} {conn:?} two-sided voxel {m}");
            }
            assert!(two.iter().any(|&t| t < 0.0) && two.iter().any(|&t| t > 0.0));
        }
    }
}

#[test]
fn tfce_hand_computed_line() {
    // A 1-D line, E = ½, H = 2, dh = 1, z = [2, 3, 1, 0, 2]:
    // level 3: {v1} → v1 += √1·9; level 2: {v0, v1}, {v4} → v0, v1 += √2·4, v4 += 4;
    // level 1: {v0, v1, v2}, {v4} → v0..v2 += √3·1, v4 += 1.
    let grid = Grid::full([1, 1, 5]);
    let params = TfceParams { e: 0.5, h: 2.0, dh: 1.0 };
    let got = tfce(&grid, &[2.0, 3.0, 1.0, 0.0, 2.0], &params, Connectivity::TwentySix, Tail::One);
    let (r2, r3) = (2f64.sqrt(), 3f64.sqrt());
    let want = [4.0 * r2 + r3, 9.0 + 4.0 * r2 + r3, r3, 0.0, 5.0];
    for (g, w) in got.iter().zip(want) {
        assert!(tol::close(*g, w, tol::SUMMATION_ORDER_RTOL, 0.0), "{got:?}");
    }
    // The negative tail reports the same values negated.
    let neg = tfce(&grid, &[-2.0, -3.0, -1.0, 0.0, -2.0], &params, Connectivity::TwentySix, Tail::Two);
    assert!(neg.iter().zip(&got).all(|(n, g)| same(*n, -g + 0.0)), "{neg:?}");
    // Default parameters on a lone voxel at z = 0.3: 3·0.1 = 0.30000000000000004 > 0.3, so only
    // levels 0.1 and 0.2 count: (0.01 + 0.04)·0.1 up to rounding.
    let lone = tfce(&Grid::full([1, 1, 1]), &[0.3], &TfceParams::default(), Connectivity::Six, Tail::One);
    assert!(tol::close(lone[0], 0.005, tol::SUMMATION_ORDER_RTOL, 0.0), "{lone:?}");
}

// ---------------------------------------------------------------------------------------------
// GRF thresholding and tables

/// A 12³ grid with a big positive blob, a big negative blob and a small positive blob.
fn blobs() -> (Grid, Vec<f64>, Vec<f64>) {
    let dims = [12, 12, 12];
    let mut z = vec![0.5; 1728];
    let mut cope = vec![0.1; 1728];
    for i in 1..5 {
        for j in 1..5 {
            for k in 1..5 {
                z[flat(dims, i, j, k)] = 3.0 + 0.1 * (i + j + k) as f64;
                z[flat(dims, i + 6, j + 6, k + 6)] = -3.0 - 0.05 * (i * j) as f64;
                cope[flat(dims, i, j, k)] = 10.0 + k as f64;
                cope[flat(dims, i + 6, j + 6, k + 6)] = -(10.0 + i as f64);
            }
        }
    }
    z[flat(dims, 10, 1, 1)] = 4.0;
    z[flat(dims, 10, 1, 2)] = 3.5;
    z[flat(dims, 0, 11, 11)] = f64::NAN;
    (Grid::full(dims), z, cope)
}

#[test]
fn grf_inference_thresholds_and_tabulates_both_tails() {
    let (grid, z, cope) = blobs();
    let grf = Grf::new(2.3, 0.3, 1728.0, false, Mode::Correct);
    let (p64, p2) = (grf.cluster_p(64).p, grf.cluster_p(2).p);
    assert!(p64 < 0.05 && p2 > 0.05, "p(64) {p64}, p(2) {p2}");
    let affine = [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0]];
    let res = grf_inference(&grid, &z, Some(&cope), &grf, &GrfOptions::default(), &affine);
    assert_eq!(res.table.len(), 2);
    let (pos, neg) = (&res.table[0], &res.table[1]);
    assert_eq!((pos.sign, neg.sign, pos.cluster_id, neg.cluster_id), (1, -1, 1, 1));
    assert_eq!((pos.n_voxels, neg.n_voxels), (64, 64));
    assert!(same(pos.volume_mm3, 512.0) && same(pos.p, p64) && same(neg.p, p64));
    assert!(same(pos.z_max, 3.0 + 0.1 * 12.0));
    assert!(same(neg.z_max, -3.0 - 0.05 * 16.0));
    // Positive peak at (4,4,4) → mm (82, −118, −64); negative peak: i·j = 16 at (10,10,k),
    // first in x-fastest order k = 7.
    let same3 = |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| same(*x, *y));
    assert!(same3(pos.z_max_mm, [82.0, -118.0, -64.0]), "{:?}", pos.z_max_mm);
    assert!(same3(neg.z_max_mm, [-2.0 * 10.0 + 90.0, 20.0 - 126.0, 14.0 - 72.0]), "{:?}", neg.z_max_mm);
    let pc = pos.cope.unwrap();
    assert!(same(pc.max, 14.0) && same(pc.mean, 12.5));
    let nc = neg.cope.unwrap();
    assert!(same(nc.max, -14.0) && same(nc.mean, -12.5));
    // Maps: z in surviving clusters, 0 elsewhere, NaN where z is NaN.
    let in_blob = |m: usize, shift: usize| {
        let (i, j, k) = (m / 144, (m / 12) % 12, m % 12);
        [i, j, k].iter().all(|&c| (1 + shift..5 + shift).contains(&c))
    };
    for (m, &zm) in z.iter().enumerate() {
        let (t, idx, lp) = (res.z_thresholded[m], res.cluster_index[m], res.logp[m]);
        if zm.is_nan() {
            assert!(t.is_nan() && lp.is_nan());
        } else if in_blob(m, 0) || in_blob(m, 6) {
            assert!(same(t, zm));
            assert_eq!(idx, if in_blob(m, 0) { 1 } else { -1 });
            assert!(same(lp, pos.log10p));
        } else {
            assert!(same(t, 0.0) && idx == 0 && same(lp, 0.0), "voxel {m}");
        }
    }
    // The 2-voxel cluster is discarded; with q = 1 it survives and becomes index 1 (smallest).
    let all =
        grf_inference(&grid, &z, None, &grf, &GrfOptions { q: 1.0, tail: Tail::One, ..GrfOptions::default() }, &affine);
    assert_eq!(all.table.iter().map(|r| (r.cluster_id, r.n_voxels)).collect::<Vec<_>>(), [(2, 64), (1, 2)]);
    assert!(all.table.iter().all(|r| r.sign == 1 && r.cope.is_none()));

    // §8 test 4: the negated map gives the mirrored table.
    let negz: Vec<f64> = z.iter().map(|x| -x).collect();
    let negc: Vec<f64> = cope.iter().map(|x| -x).collect();
    let mirror = grf_inference(&grid, &negz, Some(&negc), &grf, &GrfOptions::default(), &affine);
    assert_eq!(mirror.table.len(), 2);
    for (a, b) in [(&res.table[0], &mirror.table[1]), (&res.table[1], &mirror.table[0])] {
        assert_eq!((a.n_voxels, a.sign), (b.n_voxels, -b.sign));
        assert!(same(a.z_max, -b.z_max) && same(a.p, b.p));
        assert!(a.z_cog_mm.iter().zip(&b.z_cog_mm).all(|(x, y)| same(*x, *y)));
        assert!(same(a.cope.unwrap().mean, -b.cope.unwrap().mean));
    }
}

// ---------------------------------------------------------------------------------------------
// Permutation helpers

#[test]
fn max_stats_agree_with_clusters_and_tfce() {
    let dims = [9, 10, 11];
    let z = rough_field(dims, 5);
    let grid = Grid::full(dims);
    let params = TfceParams::default();
    let mut ws = Workspace::new();
    for conn in ALL_CONN {
        for tail in [Tail::One, Tail::Two] {
            let got = max_stats(&grid, &z, 2.0, conn, tail, Some(&params), &mut ws);
            let mut cs = clusters(&grid, &z, 2.0, conn);
            if tail == Tail::Two {
                let neg: Vec<f64> = z.iter().map(|x| -x).collect();
                cs.extend(clusters(&grid, &neg, 2.0, conn));
            }
            assert_eq!(got.size, cs.iter().map(|c| c.size()).max().unwrap());
            let mass = cs.iter().map(|c| c.mass).fold(0.0, f64::max);
            assert!(same(got.mass, mass), "{conn:?} {tail:?}: mass {} vs {mass}", got.mass);
            let t = tfce(&grid, &z, &params, conn, tail);
            assert!(same(got.tfce, t.iter().fold(0.0, |a: f64, b| a.max(b.abs()))));
            let no_tfce = max_stats(&grid, &z, 2.0, conn, tail, None, &mut ws);
            assert_eq!(no_tfce.size, got.size);
            assert!(same(no_tfce.tfce, 0.0));
        }
    }
    let nothing = max_stats(&grid, &z, 50.0, Connectivity::Six, Tail::Two, Some(&params), &mut ws);
    assert_eq!(nothing.size, 0);
    assert!(same(nothing.mass, 0.0));
}

#[test]
fn fwe_p_from_null_by_hand() {
    let null = [1.0, 2.0, 3.0, 4.0, f64::NAN];
    assert!(same(fwe_p_from_null(3.0, &null), 3.0 / 6.0)); // 3 and 4 exceed (ties count), + 1
    assert!(same(fwe_p_from_null(10.0, &null), 1.0 / 6.0)); // never below 1/(N + 1)
    assert!(same(fwe_p_from_null(0.0, &null), 5.0 / 6.0)); // NaN never exceeds
}

#[test]
fn cluster_fwe_maps_assign_cluster_p_to_voxels() {
    let (grid, z, _) = blobs();
    let null = [10.0, 64.0, 70.0, 2.0];
    let res = cluster_fwe_maps(&grid, &z, 2.3, Connectivity::TwentySix, Tail::Two, ClusterMeasure::Size, &null);
    assert_eq!(res.positive.iter().map(|(c, _)| c.size()).collect::<Vec<_>>(), [64, 2]);
    assert!(same(res.positive[0].1, 3.0 / 5.0) && same(res.positive[1].1, 1.0)); // (2 + 1)/5, (4 + 1)/5
    assert_eq!(res.negative.len(), 1);
    let (big, p_big) = &res.positive[0];
    for &m in &big.voxels {
        assert!(same(res.maps.p[m], *p_big) && res.maps.z[m] > 0.0);
        assert!(tol::close(res.maps.logp[m], -(3.0f64 / 5.0).log10(), tol::SUMMATION_ORDER_RTOL, 0.0));
    }
    for &m in &res.negative[0].0.voxels {
        assert!(res.maps.z[m] < 0.0);
    }
    let (small, _) = &res.positive[1];
    assert!(same(res.maps.z[small.voxels[0]], 0.0)); // p = 1 → z = +0
    let outside = flat([12, 12, 12], 6, 0, 0);
    assert!(same(res.maps.p[outside], 1.0) && same(res.maps.z[outside], 0.0) && same(res.maps.logp[outside], 0.0));
    let nan = flat([12, 12, 12], 0, 11, 11);
    assert!(res.maps.p[nan].is_nan() && res.maps.z[nan].is_nan() && res.maps.logp[nan].is_nan());
    // Mass: the observed masses compare exactly with a null containing them.
    let mass = res.positive[0].0.mass;
    let by_mass = cluster_fwe_maps(&grid, &z, 2.3, Connectivity::TwentySix, Tail::One, ClusterMeasure::Mass, &[mass]);
    assert!(same(by_mass.positive[0].1, 1.0));
}

#[test]
fn permutation_maxima_are_identical_for_1_and_4_threads() {
    let dims = [10, 11, 12];
    let grid = Grid::full(dims);
    let base = rough_field(dims, 3);
    let n_perm = 24;
    let params = TfceParams::default();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            (0..n_perm)
                .into_par_iter()
                .map_init(Workspace::new, |ws, i| {
                    // A different map per permutation: sign flips of blocks, deterministic in i.
                    let z: Vec<f64> =
                        base.iter().enumerate().map(|(v, &x)| if (v / 97 + i) % 3 == 0 { -x } else { x }).collect();
                    max_stats(&grid, &z, 1.5, Connectivity::TwentySix, Tail::Two, Some(&params), ws)
                })
                .collect::<Vec<_>>()
        })
    };
    let (one, four) = (run(1), run(4));
    // And against a fresh workspace per map: reuse carries no state between permutations.
    let fresh: Vec<_> = (0..n_perm)
        .map(|i| {
            let z: Vec<f64> =
                base.iter().enumerate().map(|(v, &x)| if (v / 97 + i) % 3 == 0 { -x } else { x }).collect();
            max_stats(&grid, &z, 1.5, Connectivity::TwentySix, Tail::Two, Some(&params), &mut Workspace::new())
        })
        .collect();
    for ((a, b), c) in one.iter().zip(&four).zip(&fresh) {
        assert_eq!(a.size, b.size);
        assert_eq!(a.mass.to_bits(), b.mass.to_bits());
        assert_eq!(a.tfce.to_bits(), b.tfce.to_bits());
        assert_eq!((a.size, a.mass.to_bits(), a.tfce.to_bits()), (c.size, c.mass.to_bits(), c.tfce.to_bits()));
    }
}
