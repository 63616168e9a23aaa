//! Permutation inference: Monte-Carlo FWE for every one-sample estimator and the empirical
//! voxelwise null.

use crate::cli::ibma;
use crate::shared_data;
use ibma::estimators::AnyEstimator;
use ibma::maps::{Map, Method, Stat};
use ibma::{Dataset, Estimator, MetaResult};

fn fit(ds_dir: &std::path::Path, estimator: &str, extra: &[&str]) -> (tempfile::TempDir, MetaResultMaps) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "fit",
        "--quiet",
        "--dataset",
        ds_dir.to_str().unwrap(),
        "--estimator",
        estimator,
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = ibma(&args);
    assert!(o.status.success(), "{estimator} {extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    let maps = MetaResultMaps(out.path().to_path_buf());
    (out, maps)
}

/// Maps of a finished `ibma fit`, read back from its output folder.
struct MetaResultMaps(std::path::PathBuf);

impl MetaResultMaps {
    fn get(&self, name: &str) -> Vec<f64> {
        ibma::io::read_volume(&self.0.join(format!("{name}.nii.gz"))).unwrap().data
    }
}

#[test]
fn refit_null_equals_the_blocked_t_engine() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    // RFX_GLM's z is PermutedOLS's z, so refitting it under the flips (generic path) must give
    // the same null as the blocked t engine, hence the same FWE map, bit for bit.
    let mc = ["--correct", "montecarlo", "--n-iters", "200", "--seed", "7"];
    let (_a, rfx) = fit(&data, "rfx-glm", &mc);
    let (_b, pols) = fit(&data, "permuted-ols", &mc);
    let p = Map::Corrected(Stat::P, Method::Montecarlo).to_string();
    let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(rfx.get(&p)), bits(pols.get(&p)));
}

#[test]
fn montecarlo_for_combination_and_regression_estimators() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let n = 99;
    for estimator in ["stouffers", "fishers", "dersimonian-laird", "ffx-glm", "mfx-glm"] {
        let (_o, maps) = fit(&data, estimator, &["--correct", "montecarlo", "--n-iters", "99"]);
        let (z, p) = (maps.get("z"), maps.get(&Map::Corrected(Stat::P, Method::Montecarlo).to_string()));
        let floor = 1.0 / (n as f64 + 1.0);
        for (zv, pv) in z.iter().zip(&p) {
            assert_eq!(zv.is_nan(), pv.is_nan(), "{estimator}: NaN patterns");
            if !pv.is_nan() {
                assert!(*pv >= floor * (1.0 - f64::from(f32::EPSILON)) && *pv <= 1.0, "{estimator}: p {pv}");
            }
        }
        // A larger |z| never has a larger FWE p (same null for every voxel).
        let mut pairs: Vec<(f64, f64)> =
            z.iter().zip(&p).filter(|(z, _)| !z.is_nan()).map(|(z, p)| (z.abs(), *p)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(pairs.windows(2).all(|w| w[1].1 <= w[0].1), "{estimator}: FWE p not monotone in |z|");
    }
}

#[test]
fn empirical_null_is_seeded_and_counts_from_one() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let run = |seed: &str| fit(&data, "rfx-glm", &["--set", "null=empirical", "--n-iters", "150", "--seed", seed]);
    let ((_a, a), (_b, b), (_c, c)) = (run("3"), run("3"), run("4"));
    let (pa, pb, pc) = (a.get("p"), b.get("p"), c.get("p"));
    assert_eq!(pa.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), pb.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    assert!(pa.iter().zip(&pc).any(|(x, y)| x.to_bits() != y.to_bits()), "another seed, other flips");
    assert!(pa.iter().filter(|p| !p.is_nan()).all(|&p| p >= 1.0 / 151.0 * (1.0 - f64::from(f32::EPSILON))));
    let (_d, stouffers) =
        fit(&data, "stouffers", &["--set", "inference=rfx", "--set", "null=empirical", "--n-iters", "150"]);
    assert!(stouffers.get("t").iter().any(|t| t.is_finite()));
}

#[test]
fn montecarlo_is_deterministic_across_threads() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let ds = Dataset::load(&data).unwrap();
    let run = |threads: usize| -> MetaResult {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let est = AnyEstimator::by_name("dersimonian-laird").unwrap();
            let flips = ibma::options::Flips { n_iters: 64, ..Default::default() };
            let inputs = ds.inputs(&est.needs()).and_then(|i| i.prepare(&est.needs())).unwrap();
            let mut r = est.fit_prepared(&inputs, &ibma::progress::Quiet).unwrap();
            let corrections =
                ibma::correct::Corrections { methods: vec![Method::Montecarlo], flips, ..Default::default() };
            corrections.apply(&est, &inputs, &mut r, &ibma::progress::Quiet).unwrap();
            r
        })
    };
    let (one, four) = (run(1), run(4));
    let name = Map::Corrected(Stat::Z, Method::Montecarlo);
    let bits = |r: &MetaResult| r.map(name).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&four));
}

#[test]
fn cluster_corrections_share_one_pass_and_grf_writes_a_table() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let n = 49;
    let args = [
        "--correct",
        "cluster-size",
        "--correct",
        "cluster-mass",
        "--correct",
        "tfce",
        "--n-iters",
        "49",
        "--set",
        "cdt=2.3",
    ];
    let (out, maps) = fit(&data, "stouffers", &args);
    let floor = 1.0 / (n as f64 + 1.0) * (1.0 - f64::from(f32::EPSILON));
    for name in [
        "p_level-cluster_corr-FWE_method-size",
        "p_level-cluster_corr-FWE_method-mass",
        "p_level-voxel_corr-FWE_method-tfce",
    ] {
        let p = maps.get(name);
        assert!(p.iter().filter(|x| !x.is_nan()).all(|&x| x >= floor && x <= 1.0), "{name}");
        assert!(p.iter().any(|&x| x < 1.0), "{name}: some cluster or voxel is significant on the pain fixture");
    }
    // TFCE is signed like z.
    let (z, t) = (maps.get("z"), maps.get("tfce"));
    assert!(z.iter().zip(&t).all(|(z, t)| z.is_nan() || *t == 0.0 || z.signum() == t.signum()));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(json["diagnostics"]["permutation_clusters"]["null_max_size"].as_array().unwrap().len(), n);
    // MFX_GLM writes GRF clusters: the thresholded map is z inside surviving clusters, 0 outside.
    let (out, maps) = fit(&data, "mfx-glm", &["--set", "cdt=0.01", "--set", "q=0.05"]);
    let table = std::fs::read_to_string(out.path().join("clusters.tsv")).unwrap();
    assert!(table.starts_with("cluster_id\tsign\tn_voxels\tvolume_mm3\tp\tlog10p\tz_max"), "{table}");
    let (z, thr) = (maps.get("z"), maps.get("z_level-cluster_corr-FWE_method-grf"));
    assert!(z.iter().zip(&thr).all(|(z, t)| t.is_nan() == z.is_nan() && (*t == 0.0 || t.to_bits() == z.to_bits())));
}

#[test]
fn exact_flips_enumerate_every_sign_vector() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    // 21 studies: 2^21 - 1 flips exceed --n-iters, so NiMARE's random flips are used; with a
    // 4-study dataset every one of the 15 non-identity flips is used and p = (count + 1)/16.
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    let mut small = full.clone();
    small["studies"] = full["studies"].as_array().unwrap()[..4]
        .iter()
        .map(|s| {
            let mut s = s.clone();
            for p in s["maps"].as_object_mut().unwrap().values_mut() {
                *p = data.join(p.as_str().unwrap()).to_str().unwrap().into();
            }
            s
        })
        .collect();
    small["mask"] = data.join("mask.nii.gz").to_str().unwrap().into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dataset.json"), small.to_string()).unwrap();
    let (out, maps) =
        fit(dir.path(), "permuted-ols", &["--correct", "montecarlo", "--set", "exact_flips=true", "--n-iters", "100"]);
    let p = maps.get(&Map::Corrected(Stat::P, Method::Montecarlo).to_string());
    // p maps are float32: multiples of 1/16 up to float32 rounding.
    assert!(p
        .iter()
        .filter(|x| !x.is_nan())
        .all(|&x| ((x * 16.0).round() - x * 16.0).abs() <= 16.0 * f64::from(f32::EPSILON)));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(json["diagnostics"]["montecarlo_n_iters"], 15);
}
