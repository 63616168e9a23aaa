//! The jackknife diagnostic: NiMARE 0.22.1 parity on its test fixture, a synthetic dataset with a
//! known influential study, thread independence, the `ibma jackknife` command.

use crate::cli::{assert_bad_input, ibma};
use crate::shared_data;
use ibma::estimators::AnyEstimator;
use ibma::io::{write_map, Grid, MapMeta, MapType};
use ibma::jackknife::{Jackknife, JackknifeOptions};
use ibma::{tol, Dataset, Estimator};
use std::path::Path;

const DIMS: [usize; 3] = [12, 12, 12];
const N: usize = 12 * 12 * 12;
/// Studies of the synthetic dataset; study [`STAR`] alone carries the negative blob.
const K: usize = 6;
const STAR: usize = 2;

/// Voxel coordinates of a C-order flat index on [`DIMS`].
fn ijk(v: usize) -> [usize; 3] {
    [v / 144, (v / 12) % 12, v % 12]
}

fn near(v: usize, c: [usize; 3], r: usize) -> bool {
    let p = ijk(v);
    (0..3).map(|a| p[a].abs_diff(c[a]).pow(2)).sum::<usize>() <= r * r
}

/// z of study `s` at voxel `v`: a positive blob every study shares, a negative blob carried by
/// study [`STAR`] alone, small deterministic noise elsewhere (|Σz|/√K stays below 1).
pub fn synthetic_z(s: usize, v: usize) -> f32 {
    let noise = ((v * 7919 + s * 104_729) % 1000) as f32 / 1000.0 - 0.5;
    if near(v, [3, 3, 3], 2) {
        3.0 + 0.4 * noise
    } else if near(v, [8, 8, 8], 2) {
        if s == STAR {
            -8.0 + noise
        } else {
            -0.5 + 0.2 * noise
        }
    } else {
        0.3 * noise + 0.01
    }
}

/// Write the synthetic dataset (z, con = z/2, varcope = 1/4, sample sizes) into `dir`.
pub fn synthetic_dataset(dir: &Path) {
    let grid = Grid::from_affine(
        DIMS,
        [[2.0, 0.0, 0.0, -12.0], [0.0, 2.0, 0.0, -12.0], [0.0, 0.0, 2.0, -12.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let write = |name: &str, values: &[f32]| write_map(&dir.join(name), &grid, values, &MapMeta::default()).unwrap();
    write("mask.nii.gz", &[1.0; N]);
    let studies: Vec<serde_json::Value> = (0..K)
        .map(|s| {
            let z: Vec<f32> = (0..N).map(|v| synthetic_z(s, v)).collect();
            write(&format!("s{s}_z.nii.gz"), &z);
            write(&format!("s{s}_con.nii.gz"), &z.iter().map(|x| x / 2.0).collect::<Vec<_>>());
            write(&format!("s{s}_varcope.nii.gz"), &[0.25; N]);
            serde_json::json!({"id": format!("s{s}"), "sample_size": 20 + 3 * s, "maps": {
                "z": format!("s{s}_z.nii.gz"), "con": format!("s{s}_con.nii.gz"), "varcope": format!("s{s}_varcope.nii.gz")}})
        })
        .collect();
    let manifest =
        serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": "mask.nii.gz", "studies": studies});
    std::fs::write(dir.join("dataset.json"), manifest.to_string()).unwrap();
}

fn options(threshold: f64) -> JackknifeOptions {
    JackknifeOptions { threshold: Some(threshold), ..Default::default() }
}

/// The jackknife of estimator `name` on `ds`.
fn jackknife(name: &str, ds: &Dataset, options: &JackknifeOptions) -> Jackknife {
    let est = AnyEstimator::by_name(name).unwrap();
    let inputs = ds.inputs(&est.needs()).unwrap();
    ibma::jackknife::jackknife(&est, &inputs, options, &ibma::progress::Quiet).unwrap()
}

#[test]
fn the_study_carrying_a_cluster_contributes_most_to_it() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let ds = Dataset::load(dir.path()).unwrap();
    let jk = jackknife("stouffers", &ds, &options(3.0));
    assert!(jk.two_sided, "Stouffers' two_sided=true forms negative clusters too");
    assert_eq!(jk.value_map, crate::map("z"), "Stouffers has no est map");
    let ids: Vec<&str> = jk.clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["PositiveTail 1", "NegativeTail 1"]);
    let blob = (0..N).filter(|&v| near(v, [8, 8, 8], 2)).count();
    assert_eq!(jk.clusters[1].voxels.len(), blob, "the whole negative blob and nothing else");
    assert_eq!(jk.clusters[1].sign, -1);

    // Reference: Stouffer's z = Σz/√K on the float32 inputs, so leaving study k out gives
    // (Σz − z_k)/√(K−1); the contribution is the cluster mean of 1 − z_without / z_all.
    let z: Vec<Vec<f64>> = (0..K).map(|s| (0..N).map(|v| f64::from(synthetic_z(s, v))).collect()).collect();
    for (c, cluster) in jk.clusters.iter().enumerate() {
        for k in 0..K {
            let mean = cluster
                .voxels
                .iter()
                .map(|&v| {
                    let sum: f64 = (0..K).map(|s| z[s][v]).sum();
                    1.0 - ((sum - z[k][v]) / ((K - 1) as f64).sqrt()) / (sum / (K as f64).sqrt())
                })
                .sum::<f64>()
                / cluster.voxels.len() as f64;
            let got = jk.contributions[k][c];
            assert!(tol::close(got, mean, tol::MAP_RTOL, tol::MAP_ATOL), "{} study {k}: {got} vs {mean}", cluster.id);
        }
    }
    // Study STAR carries the negative blob: leaving it out removes most of it.
    let negative: Vec<f64> = jk.contributions.iter().map(|row| row[1]).collect();
    assert_eq!(jk.top_study(1).unwrap().0, format!("s{STAR}"));
    assert!(negative[STAR] > 0.5, "{negative:?}");
    assert!(negative.iter().enumerate().all(|(k, &x)| k == STAR || x < 0.1), "{negative:?}");
    // Every study shares the positive blob: no study dominates it.
    assert!(jk.contributions.iter().all(|row| row[0].abs() < 0.3), "{:?}", jk.contributions);
}

#[test]
fn contributions_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let ds = Dataset::load(dir.path()).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| jackknife("dersimonian-laird", &ds, &options(3.0)))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.value_map, crate::map("est"), "DerSimonianLaird's contributions use its est map");
    assert!(!one.clusters.is_empty());
    let bits = |j: &Jackknife| -> Vec<u64> { j.contributions.iter().flatten().map(|x| x.to_bits()).collect() };
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(one.contributions_tsv(), two.contributions_tsv());
}

#[test]
fn leaving_a_study_out_reapplies_the_aggressive_mask() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let ds = Dataset::load(dir.path()).unwrap();
    let needs = AnyEstimator::by_name("stouffers").unwrap().needs();
    let read = ds.inputs(&needs).unwrap();
    // Study 0 has no value at voxel 5.
    let mut inputs = ibma::Inputs::new(read.mask().clone());
    for (k, study) in read.studies().iter().enumerate() {
        let mut study = study.clone();
        if k == 0 {
            study.maps.get_mut(&MapType::Z).unwrap()[5] = f32::NAN;
        }
        inputs.push(study).unwrap();
    }
    let all = inputs.prepare(&needs).unwrap();
    let voxel = |p: &ibma::inputs::Prepared| p.whole().map(MapType::Z).voxel(5).to_vec();
    assert!(voxel(&all.without(None, true)).iter().all(|x| x.is_nan()));
    let without_0 = all.without(Some(0), true);
    assert_eq!(voxel(&without_0).len(), K - 1);
    assert!(voxel(&without_0).iter().all(|x| x.is_finite()), "{:?}", voxel(&without_0));
    let ids: Vec<&str> = without_0.studies().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3", "s4", "s5"]);
    assert!(voxel(&all.without(Some(3), false))[0].is_nan(), "liberal subsets keep NaN where they are");
}

/// NiMARE 0.22.1, `Jackknife(target_image="z", target_threshold=T).transform(est.fit(dset))` on
/// nimare_test_pain_10x10x10 as the NiMARE harness builds it (docs/validation.md §2), table
/// `z_diag-Jackknife_tab-counts_tail-positive`; NiMARE computes in float32.
#[test]
fn matches_nimare_on_its_test_fixture() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let ds = Dataset::load(&data).unwrap();
    #[rustfmt::skip]
    let cases: [(&str, f64, &[&[f64]]); 3] = [
        // Stouffers(), T = 3.1: one cluster, 7576 mm3, peak 14.256032 at (84, -120, -56).
        ("stouffers", 3.1, &[&[0.009381955489516258, -0.007623917423188686, 0.00595362763851881,
            -0.009256421588361263, 0.034304190427064896, 0.03521548956632614, 0.0096273897215724,
            0.05163399502635002, 0.0653013214468956, 0.05607861652970314, 0.05424555018544197,
            0.05507579445838928, 0.053889330476522446, 0.03194491192698479, 0.011537137441337109,
            0.02462467923760414, 0.055712148547172546, -0.02148168906569481, 0.010342266410589218,
            -0.018347980454564095, -0.00204747193492949]]),
        // Fishers(), T = 1.0: one cluster of 8000 mm3 (the whole mask), peak 13.7601.
        ("fishers", 1.0, &[&[0.0057747759856283665, -0.004817233886569738, 0.0033327913843095303,
            -0.006308447103947401, 0.026847677305340767, 0.030605332925915718, 0.008069281466305256,
            0.05319257080554962, 0.07127267122268677, 0.05779126659035683, 0.056489210575819016,
            0.05075472965836525, 0.05426788330078125, 0.02764606475830078, 0.011596697382628918,
            0.021330848336219788, 0.05377790704369545, -0.013552251271903515, 0.005694888997823,
            -0.009103110991418362, -0.0003864958416670561]]),
        // DerSimonianLaird(), T = 1.0: two clusters (peaks 3.3108704, 1.670077), contributions on est.
        ("dersimonian-laird", 1.0, &[
            &[-0.3770412802696228, -0.3648200035095215, -0.668890118598938, -0.6109331250190735,
              0.09712047129869461, 0.14401154220104218, 0.0665961503982544, 0.1336682140827179,
              0.11743998527526855, 0.2032231241464615, 0.11071976274251938, 0.08614765107631683,
              0.053742725402116776, 0.036284275352954865, 0.013200562447309494, 0.0023004913236945868,
              0.0412885919213295, 2.0368854620755883e-06, 0.013411852531135082, 0.0010072984732687473,
              0.0074378312565386295],
            &[-0.42465442419052124, -0.46499931812286377, -0.45091068744659424, -0.4771236479282379,
              0.14235718548297882, 0.09123102575540543, 0.021098148077726364, 0.1331404596567154,
              0.23648689687252045, 0.0992884561419487, 0.025946589186787605, 0.09145983308553696,
              0.06598907709121704, 0.04730553179979324, 0.027777982875704765, 0.051802266389131546,
              0.05544212833046913, 0.00045023736311122775, 0.029261324554681778, 0.009054615162312984,
              0.02050163969397545]]),
    ];
    for (name, threshold, columns) in cases {
        let jk = jackknife(name, &ds, &options(threshold));
        assert_eq!(jk.clusters.len(), columns.len(), "{name}");
        assert_eq!(jk.studies.len(), 21);
        for (c, column) in columns.iter().enumerate() {
            for (k, &want) in column.iter().enumerate() {
                let got = jk.contributions[k][c];
                assert!(
                    tol::close(got, want, tol::MAP_RTOL, tol::MAP_ATOL),
                    "{name} study {k} cluster {c}: {got} vs {want}"
                );
            }
        }
    }
    let c = &jackknife("stouffers", &ds, &options(3.1)).clusters[0];
    assert_eq!((c.voxels.len(), c.volume_mm3.to_bits(), c.peak_mm), (947, 7576f64.to_bits(), [84.0, -120.0, -56.0]));
    assert!(tol::close(c.peak, 14.256032, tol::GOLDEN_6_DIGITS_RTOL, 0.0));
}

#[test]
fn the_command_writes_the_tables_labels_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let out = dir.path().join("jk");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "jackknife",
            "--dataset",
            dir.path().to_str().unwrap(),
            "--estimator",
            "Stouffers",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        ibma(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_bad_input(&run(&[]), &["threshold=VALUE is required"]);
    assert_bad_input(&run(&["--set", "threshold=-1"]), &["threshold=-1", "finite number >= 0"]);
    assert_bad_input(&run(&["--set", "threshold=3", "--correct", "montecarlo"]), &["montecarlo", "fdr-indep"]);
    assert_bad_input(
        &run(&["--set", "threshold=3", "--set", "target_image=nope"]),
        &["target_image=nope", "a map name"],
    );
    // A map name the fit does not write: the message lists the ones it does.
    assert_bad_input(&run(&["--set", "threshold=3", "--set", "target_image=tau2"]), &["target_image \"tau2\"", "logp"]);
    let o = run(&["--set", "threshold=3", "--set", "use_sample_size=true"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("NegativeTail 1") && stdout.contains(&format!("largest contribution s{STAR}")), "{stdout}");
    let tsv = std::fs::read_to_string(out.join("jackknife.tsv")).unwrap();
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines[0], "id\tPositiveTail 1\tNegativeTail 1");
    assert_eq!(lines.len(), 1 + K);
    assert!(lines[1 + STAR].starts_with(&format!("s{STAR}\t")));
    let clusters = std::fs::read_to_string(out.join("jackknife_clusters.tsv")).unwrap();
    assert!(clusters.starts_with("cluster_id\tsign\tn_voxels\tvolume_mm3\tpeak_stat\tpeak_x\tpeak_y\tpeak_z\tmax_contribution\tmax_contribution_study\n"));
    assert!(clusters.lines().nth(2).unwrap().starts_with("NegativeTail 1\t-1\t"), "{clusters}");
    let labels = ibma::io::read_volume(&out.join("label_tail-negative.nii.gz")).unwrap();
    let labelled = labels.data.iter().filter(|&&x| x.to_bits() == 1f64.to_bits()).count();
    assert_eq!(labelled, (0..N).filter(|&v| near(v, [8, 8, 8], 2)).count());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("jackknife.json")).unwrap()).unwrap();
    assert_eq!(json["parameters"]["use_sample_size"], true);
    assert_eq!(json["value_map"], "z");
    assert_eq!(json["clusters"][1]["id"], "NegativeTail 1");
    assert!(json["clusters"][1]["contributions"][format!("s{STAR}")].as_f64().unwrap() > 0.5);
    assert_bad_input(&run(&["--set", "threshold=3"]), &["already holds an ibma result", "--force"]);
    assert!(run(&["--set", "threshold=3", "--force"]).status.success());
}
