//! The generic max-statistic null.

use super::*;

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
