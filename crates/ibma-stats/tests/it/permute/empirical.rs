//! The empirical voxelwise null against a direct count.

use super::*;

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
