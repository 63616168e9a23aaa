//! Every per-voxel estimator on pain21-sized synthetic data (21 studies × 228,483 voxels) with
//! liberal missingness: 5 % of the (study, voxel) entries are NaN, in blocks of 64 consecutive
//! voxels per study (coverage holes), which gives ~500 liberal bags (a third of the voxels keep
//! all 21 studies).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use ibma_glm::design::{Contrast, Design};
use ibma_glm::flame::{flame, Optimizer, RunMode};
use ibma_glm::likelihood::{sample_size_based_likelihood, variance_based_likelihood, Method};
use ibma_glm::{hedges_fe, heterogeneity, moments, ols, wls, SmallSampleCorrection};
use ibma_stats::bags::bags;
use ibma_stats::{StudyVoxels, Tail};
use ibma_testkit::Rng;

const K: usize = 21;
const V: usize = 228_483;

/// (con, varcope): varcope s in [0.25, 2.25), con ~ N(μ_v, s + 0.3) with a voxel effect μ_v;
/// both NaN where study k misses the 64-voxel block (hash of block and study, 1 in 20).
fn synthetic() -> (StudyVoxels, StudyVoxels) {
    let hole = |v: usize, k: usize| {
        let h = (((v / 64) * K + k) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40 < (1 << 24) / 20
    };
    let (mut con, mut var) = (Vec::with_capacity(K * V), Vec::with_capacity(K * V));
    let mut rng = Rng::new(1);
    for i in 0..K * V {
        let (e, f) = (rng.normal(), rng.normal());
        let (v, k) = (i / K, i % K);
        let s = 0.25 + 2.0 * (0.5 + 0.5 * (1.3 * f).tanh());
        let mu = 0.5 * ((v as f64) * 1e-4).sin();
        let missing = hole(v, k);
        con.push(if missing { f64::NAN } else { mu + e * (s + 0.3).sqrt() });
        var.push(if missing { f64::NAN } else { s });
    }
    (StudyVoxels::new(K, con), StudyVoxels::new(K, var))
}

fn bench(c: &mut Criterion) {
    let (con, var) = synthetic();
    let models = bags(&con, 2);
    let nan = con.voxels().flatten().filter(|x| x.is_nan()).count() as f64 / (K * V) as f64;
    eprintln!(
        "{:.2} % NaN, {} bags (all {K} studies: {} voxels)",
        100.0 * nan,
        models.len(),
        models.iter().filter(|b| b.studies.len() == K).map(|b| b.voxels.len()).sum::<usize>()
    );
    let n: Vec<f64> = (0..K).map(|k| (12 + (k * 7) % 31) as f64).collect();
    let study_dof: Vec<f64> = n.iter().map(|n| n - 1.0).collect();
    let t = StudyVoxels::new(
        K,
        con.voxels().zip(var.voxels()).flat_map(|(c, s)| c.iter().zip(s).map(|(c, s)| c / s.sqrt())).collect(),
    );
    let (g, g_var) = hedges_fe::hedges_g(&t, &n);
    let (design, contrast) = (Design::intercept(K), Contrast::unit(1, 0));
    let (kh, wald) = (SmallSampleCorrection::KnappHartung, SmallSampleCorrection::Wald);

    let mut group = c.benchmark_group("estimators_pain21_size");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("wls", |b| b.iter(|| wls::weighted_least_squares(&con, &var, 0.0, wald)));
    group.bench_function("dersimonian_laird", |b| b.iter(|| moments::dersimonian_laird(&con, &var, kh)));
    group.bench_function("hedges", |b| b.iter(|| moments::hedges(&con, &var, kh)));
    for (name, method) in [("ml", Method::Ml), ("reml", Method::Reml)] {
        group.bench_function(format!("variance_based_likelihood_{name}"), |b| {
            b.iter(|| variance_based_likelihood(&con, &var, &models, method, kh))
        });
        group.bench_function(format!("sample_size_based_likelihood_{name}"), |b| {
            b.iter(|| sample_size_based_likelihood(&con, &n, &models, method, kh))
        });
    }
    group.bench_function("hedges_g", |b| b.iter(|| hedges_fe::hedges_g(&t, &n)));
    group.bench_function("fixed_effects_hedges", |b| b.iter(|| hedges_fe::fixed_effects_hedges(&g, &g_var, 0.0, wald)));
    group.bench_function("permuted_ols", |b| b.iter(|| ols::permuted_ols(&con, Tail::Two)));
    let modes = [
        ("flame1_global", RunMode::Flame1(Optimizer::Global)),
        ("flame1_fsl", RunMode::Flame1(Optimizer::Fsl)),
        ("flame_fe", RunMode::Fe { study_dof }),
        ("flame_ols", RunMode::Ols),
    ];
    for (name, mode) in &modes {
        group.bench_function(*name, |b| b.iter(|| flame(&con, &var, &design, &contrast, mode)));
    }
    group.bench_function("heterogeneity", |b| b.iter(|| heterogeneity::heterogeneity(&con, &var)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
