//! Stouffer's and Fisher's tests on a pain21-sized synthetic study x voxel matrix (21 x 228,483).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use ibma_combine::{fishers, stouffers, Direction, FisherMode};
use ibma_stats::StudyVoxels;
use ibma_testkit::Rng;

/// Standard normal z values (the null), deterministic.
fn synthetic(k: usize, v: usize) -> StudyVoxels {
    StudyVoxels::new(k, Rng::new(1).normals(k * v))
}

fn bench(c: &mut Criterion) {
    let z = synthetic(21, 228_483);
    let w = vec![1.0; 21];
    c.bench_function("stouffers_pain21_size", |b| b.iter(|| stouffers(&z, &w, Direction::Concordant)));
    c.bench_function("fishers_pain21_size", |b| b.iter(|| fishers(&z, &w, Direction::Concordant, FisherMode::Modern)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
