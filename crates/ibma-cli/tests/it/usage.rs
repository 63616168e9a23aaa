//! The command line a newcomer meets: one-line usage errors, one way to name a result folder,
//! parameters that say where they apply, honest permutation requests, any path.

use crate::cli::{assert_bad_input, ibma};
use std::path::{Path, PathBuf};

fn dataset(dir: &Path) -> PathBuf {
    ibma_testkit::example_dataset(&dir.join("data")).unwrap();
    dir.join("data")
}

fn fit(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fit", "--quiet", "--dataset", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(extra);
    ibma(&args)
}

#[test]
fn usage_errors_are_one_line_with_the_tip_and_where_help_is() {
    assert_bad_input(
        &ibma(&["fit", "--datset", "x"]),
        &["'--datset'", "similar argument exists: '--dataset'", "ibma fit --help"],
    );
    assert_bad_input(&ibma(&["fit", "--dataset", "x"]), &["--estimator", "--out", "not provided"]);
    assert_bad_input(&ibma(&["report"]), &["<RESULT>", "ibma report --help"]);
    assert_bad_input(&ibma(&["nonsense"]), &["nonsense"]);
    assert!(ibma(&["fit", "--help"]).status.success(), "help is not an error");
}

#[test]
fn a_result_folder_is_named_the_same_way_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (dataset(tmp.path()), tmp.path().join("out"));
    assert!(fit(&data, &out, &["--estimator", "stouffers"]).status.success());
    let o = out.to_str().unwrap();
    for args in [
        vec!["report", o],
        vec!["report", "--result", o],
        vec!["correct", o, "--correct", "fdr", "--quiet"],
        vec!["correct", "--result", o, "--correct", "bonferroni", "--quiet"],
    ] {
        let run = ibma(&args);
        assert!(run.status.success(), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
    }
    assert!(out.join("z_corr-FDR_method-indep.nii.gz").is_file(), "--correct fdr is fdr-indep");
    assert_bad_input(&ibma(&["report", o, "--result", o]), &["--result"]);
}

#[test]
fn parameters_say_where_they_apply_and_take_nimares_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = |name: &str| tmp.path().join(name);
    // cdt belongs to cluster inference: refused where nothing uses it, taken where something does.
    let o = fit(&data, &out("a"), &["--estimator", "stouffers", "--set", "cdt=0.001"]);
    assert_bad_input(&o, &["parameter cdt", "--correct cluster-size"]);
    let o = fit(
        &data,
        &out("b"),
        &["--estimator", "stouffers", "--set", "cdt=0.001", "--correct", "cluster-size", "--n-iters", "20"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = ibma::io::summary::ResultSummary::read(&out("b")).unwrap();
    let options = summary.correction_options.unwrap();
    assert_eq!((options["cdt"].as_f64(), options["n_iters"].as_u64()), (Some(0.001), Some(20)));
    assert!(fit(&data, &out("c"), &["--estimator", "mfx-glm", "--set", "cdt=0.001"]).status.success(), "GRF's cdt");
    // Booleans are true or false (any case); NiMARE writes method="REML".
    let o = fit(&data, &out("d"), &["--estimator", "stouffers", "--set", "two_sided=yes"]);
    assert_bad_input(&o, &["two_sided", "\"yes\"", "true, false"]);
    assert!(fit(&data, &out("e"), &["--estimator", "stouffers", "--set", "two_sided=False"]).status.success());
    let o = fit(&data, &out("f"), &["--estimator", "variance-based-likelihood", "--set", "method=REML"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = ibma::io::summary::ResultSummary::read(&out("f")).unwrap();
    assert_eq!(summary.parameters["method"], "reml");
}

#[test]
fn estimators_lists_each_estimator_and_the_shared_parameters_once() {
    let all = String::from_utf8(ibma(&["estimators"]).stdout).unwrap();
    assert_eq!(all.matches("aggressive_mask").count(), 1, "{all}");
    assert!(all.contains("cdt") && all.contains("connectivity") && all.contains("cdt_tail"), "{all}");
    assert!(all.lines().count() < 100, "{} lines", all.lines().count());
    let one = ibma(&["estimators", "Stouffers"]);
    assert!(one.status.success());
    let one = String::from_utf8(one.stdout).unwrap();
    assert!(one.starts_with("stouffers (NiMARE Stouffers)") && !one.contains("dersimonian-laird"), "{one}");
    assert_bad_input(&ibma(&["estimators", "nope"]), &["unknown estimator \"nope\"", "stouffers"]);
}

#[test]
fn permutation_requests_that_cannot_finish_are_refused_and_tiny_ones_warned() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    let o = fit(
        &data,
        &out,
        &["--estimator", "dersimonian-laird", "--correct", "montecarlo", "--n-iters", "1000000000000"],
    );
    assert_bad_input(&o, &["--n-iters 1000000000000", "of memory", "use at most"]);
    assert!(!out.join("z.nii.gz").exists(), "nothing written");
    // An estimator's own empirical null is bounded the same way (its flip matrix is held whole).
    let o = fit(&data, &out, &["--estimator", "rfx-glm", "--set", "null=empirical", "--n-iters", "1000000000000"]);
    assert_bad_input(&o, &["--n-iters 1000000000000", "of memory"]);
    let o = fit(&data, &out, &["--estimator", "stouffers", "--correct", "montecarlo", "--n-iters", "10"]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.matches("none can fall below 0.05").count(), 1, "warned once: {stderr}");
    let summary = ibma::io::summary::ResultSummary::read(&out).unwrap();
    assert!(summary.warnings.iter().any(|w| w.contains("none can fall below 0.05")), "in result.json too");
}

#[test]
fn paths_that_are_not_utf8_work() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp.path().join(std::ffi::OsStr::from_bytes(b"data-\xff"));
    std::fs::create_dir(&odd).unwrap();
    ibma_testkit::example_dataset(&odd).unwrap();
    let out = tmp.path().join(std::ffi::OsStr::from_bytes(b"out-\xfe"));
    let run =
        |args: &[&std::ffi::OsStr]| std::process::Command::new(env!("CARGO_BIN_EXE_ibma")).args(args).output().unwrap();
    let s = |t: &str| std::ffi::OsStr::new(t).to_owned();
    let fit = run(&[
        &s("fit"),
        &s("--quiet"),
        &s("--estimator"),
        &s("stouffers"),
        &s("--dataset"),
        odd.as_os_str(),
        &s("--out"),
        out.as_os_str(),
    ]);
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    assert!(out.join("z.nii.gz").is_file() && out.join("result.json").is_file());
    let jk = tmp.path().join(std::ffi::OsStr::from_bytes(b"jk-\xfd"));
    let o = run(&[
        &s("jackknife"),
        &s("--quiet"),
        &s("--estimator"),
        &s("stouffers"),
        &s("--set"),
        &s("threshold=3"),
        &s("--dataset"),
        odd.as_os_str(),
        &s("--out"),
        jk.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let conv = tmp.path().join(std::ffi::OsStr::from_bytes(b"conv-\xfc"));
    // dataset.json holds paths as text: a clear refusal, not a panic nor a wrong path.
    let o = run(&[&s("convert-dataset"), &s("--dataset"), odd.as_os_str(), &s("--out"), conv.as_os_str()]);
    assert_bad_input(&o, &["is not UTF-8 text", "dataset.json cannot hold"]);
    // The saved result keeps the exact path: `ibma correct` refits on the same dataset.
    let o = run(&[
        &s("correct"),
        out.as_os_str(),
        &s("--correct"),
        &s("montecarlo"),
        &s("--n-iters"),
        &s("20"),
        &s("--quiet"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
