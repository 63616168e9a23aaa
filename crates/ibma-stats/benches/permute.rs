//! The unweighted max-t sign-flip null on pain21-sized synthetic data (21 × 228,483): one bag
//! (aggressive mask) and many bags (liberal bags of varied study sets).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use ibma_stats::bags::bags;
use ibma_stats::permute::{max_t_null, FlipMatrix};
use ibma_stats::{StudyVoxels, Tail};
use ibma_testkit::Rng;

const K: usize = 21;
const V: usize = 228_483;

/// Normal values with mean 0.3, deterministic; with `holes`, every 13th voxel drops studies by a
/// hash of its index, so that thousands of validity patterns (bags) arise while most voxels
/// keep all studies (like pain21's liberal bags).
fn synthetic(holes: bool) -> StudyVoxels {
    let mut rng = Rng::new(1);
    let data = (0..K * V)
        .map(|i| {
            let (v, k) = (i / K, i % K);
            let hash = ((v / 13) as u64).wrapping_mul(2_654_435_761) >> (k + 3);
            if holes && v % 13 == 0 && hash.is_multiple_of(3) {
                f64::NAN
            } else {
                0.3 + rng.normal()
            }
        })
        .collect();
    StudyVoxels::new(K, data)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("max_t_null");
    group.sample_size(10);
    let flips = FlipMatrix::nimare(500, K, 42);
    for (name, holes) in [("one_bag_500_iters", false), ("many_bags_500_iters", true)] {
        let x = synthetic(holes);
        let b = bags(&x, 2);
        eprintln!("{name}: {} bags", b.len());
        group.bench_function(name, |bench| bench.iter(|| max_t_null(&x, &b, &flips, Tail::Two)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
