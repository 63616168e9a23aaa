//! The scalar transforms over 100k values of mixed magnitudes (deep tails included), the
//! multiple-comparison corrections of a pain21-sized ln p map (228,483 voxels), and the one-sample
//! t-test on a pain21-sized study × voxel matrix (21 × 228,483).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use ibma_stats::transform::{p_to_z, t_to_z, z_to_nlogp};
use ibma_stats::{correct, normal, student_t, ttest, StudyVoxels, Tail};
use ibma_testkit::Rng;

const N: usize = 100_000;
const K: usize = 21;
const V: usize = 228_483;

/// (t, dof) pairs: |t| log-uniform in [0.01, 316], either sign, dof cycling through 1 … 1384
/// (so ln p reaches far below the range of a double's p).
fn t_values() -> Vec<(f64, f64)> {
    let dofs = [1.0, 4.0, 20.0, 100.0, 1384.0];
    let mut rng = Rng::new(1);
    (0..N)
        .map(|i| {
            let sign = (rng.uniform() - 0.5).signum();
            (sign * 10f64.powf(-2.0 + 4.5 * rng.uniform()), dofs[i % 5])
        })
        .collect()
}

/// ln p values log-uniform in magnitude, from −1e-6 down to −1e4 (p = 1e-4343).
fn log_p_values(seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..N).map(|_| -(10f64.powf(-6.0 + 10.0 * rng.uniform()))).collect()
}

fn bench(c: &mut Criterion) {
    let t = t_values();
    let ln_p = log_p_values(2);
    // p itself: ln p above −700 so p stays a normal double (p_to_z clips to the subnormal floor).
    let p: Vec<f64> = log_p_values(3).iter().map(|l| (l * 0.07).exp()).collect();

    let mut group = c.benchmark_group("transforms_100k");
    group.bench_function("t_to_z", |b| b.iter(|| t.iter().map(|&(t, d)| t_to_z(t, d)).collect::<Vec<f64>>()));
    group.bench_function("p_to_z_two", |b| b.iter(|| p.iter().map(|&p| p_to_z(p, Tail::Two)).collect::<Vec<f64>>()));
    group.bench_function("ndtri_exp", |b| b.iter(|| ln_p.iter().map(|&l| normal::ndtri_exp(l)).collect::<Vec<f64>>()));
    group.bench_function("student_t_log_sf", |b| {
        b.iter(|| t.iter().map(|&(t, d)| student_t::log_sf(t, d)).collect::<Vec<f64>>())
    });
    group.finish();

    // A pain21-sized ln p map: two-sided p of z with a shifted fraction, a few NaN voxels.
    let shift = |v: usize| if v.is_multiple_of(7) { 4.0 } else { 0.0 };
    let map: Vec<f64> = Rng::new(4)
        .normals(V)
        .into_iter()
        .enumerate()
        .map(|(v, z)| if v % 997 == 0 { f64::NAN } else { z_to_nlogp(z + shift(v), Tail::Two) })
        .collect();
    let mut group = c.benchmark_group("correct_pain21_size");
    group.bench_function("fdr_bh", |b| b.iter(|| correct::fdr(&map, false)));
    group.bench_function("fdr_by", |b| b.iter(|| correct::fdr(&map, true)));
    group.bench_function("bonferroni", |b| b.iter(|| correct::bonferroni(&map)));
    group.finish();

    let x = StudyVoxels::new(K, Rng::new(5).normals(K * V).iter().map(|z| 0.3 + z).collect());
    let mut group = c.benchmark_group("ttest_pain21_size");
    group.sample_size(20);
    group.bench_function("one_sample_t_two_sided", |b| b.iter(|| ttest::one_sample_t(&x, Tail::Two)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
