//! FWE p and threshold by hand.

use super::*;

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
