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
    let help = ibma(&["fit", "--help"]);
    assert!(help.status.success(), "help is not an error");
    assert!(String::from_utf8_lossy(&help.stdout).contains("fdr-indep (or fdr)"), "--correct fdr is documented");
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
    // ... and in the report's parameters table.
    assert!(ibma(&["report", out("b").to_str().unwrap()]).status.success());
    let html = std::fs::read_to_string(out("b").join("report.html")).unwrap();
    let table = html.split("<h2>Parameters</h2>").nth(1).unwrap().split("<h2>").next().unwrap();
    for row in ["correction.cdt", "0.001", "correction.cdt_tail", "correction.connectivity"] {
        assert!(table.contains(row), "{row} not in {table}");
    }
    assert!(fit(&data, &out("c"), &["--estimator", "mfx-glm", "--set", "cdt=0.001"]).status.success(), "GRF's cdt");
    // Booleans are true or false (any case); NiMARE writes method="REML".
    for v in ["yes", "no", "0", "1"] {
        let o = fit(&data, &out("d"), &["--estimator", "stouffers", "--set", &format!("two_sided={v}")]);
        assert_bad_input(&o, &["two_sided", &format!("\"{v}\""), "true, false"]);
    }
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
    for name in ["Stouffers", "stouffers"] {
        let one = ibma(&["estimators", name]);
        assert!(one.status.success());
        let one = String::from_utf8(one.stdout).unwrap();
        assert!(one.starts_with("stouffers (NiMARE Stouffers)") && !one.contains("dersimonian-laird"), "{one}");
    }
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

/// `ibma correct` takes the flips of the saved fit: a saved `n_iters` of 10^12 is refused with
/// the memory it would need, as `--n-iters 1000000000000` is, before anything is written.
#[test]
fn a_saved_result_asking_for_too_many_flips_is_refused_by_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (dataset(tmp.path()), tmp.path().join("out"));
    let o = fit(&data, &out, &["--estimator", "stouffers", "--correct", "montecarlo", "--n-iters", "20"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved = out.join("result.ibma.json.gz");
    let text = String::from_utf8(ibma::io::gunzip(&std::fs::read(&saved).unwrap()).unwrap()).unwrap();
    // The estimator's own n_iters takes --n-iters too; the corrections' flips are the other.
    assert_eq!(text.matches(r#""n_iters":20,"#).count(), 2, "{text}");
    let text = text.replace(r#""n_iters":20,"#, r#""n_iters":1000000000000,"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    std::fs::write(&saved, gz.finish().unwrap()).unwrap();
    let before: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
    let o = ibma(&["correct", out.to_str().unwrap(), "--correct", "tfce", "--quiet"]);
    assert_bad_input(&o, &["--n-iters 1000000000000", "of memory", "use at most"]);
    let after: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(before, after);
}

/// The first line a long run prints on stderr (it is then stopped).
fn first_line_of_a_long_run(data: &Path, out: &Path, args: &[&str]) -> String {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ibma"))
        .args(args)
        .args(["--dataset", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = std::io::BufReader::new(child.stderr.take().unwrap()).lines().next();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!out.join("z.nii.gz").exists());
    first.expect("a line on stderr").unwrap()
}

/// A run of a sign-flip kernel (FLAME1's here) says how long it will take once a few seconds
/// of it are done (after its first batch), whether stderr is a terminal or not.
#[test]
fn a_long_flip_run_says_how_long_it_takes_early() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let args = ["fit", "--estimator", "mfx-glm", "--correct", "montecarlo", "--n-iters", "1000000"];
    let line = first_line_of_a_long_run(&data, &tmp.path().join("out"), &args);
    assert!(line.starts_with("ibma: mfx-glm sign flips: ") && line.contains(" of 1000000 done in "), "{line}");
    assert!(line.contains(" to go"), "{line}");
}

/// A permutation run that refits the estimator says how long it will take before it starts,
/// from the time of the fit just done (even with --quiet: it is not progress, it is a warning).
#[test]
fn a_long_refit_run_says_how_long_it_takes_before_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let args = ["fit", "--quiet", "--threads", "1", "--estimator", "dersimonian-laird", "--correct", "montecarlo"];
    let line =
        first_line_of_a_long_run(&data, &tmp.path().join("out"), &[&args[..], &["--n-iters", "10000000"]].concat());
    assert!(
        line.starts_with("ibma: 10000000 sign flips of dersimonian-laird: about ")
            && line.contains("s per refit on 1 threads"),
        "{line}"
    );
}

/// What is not a dataset file says what it is, at once: a NIfTI image, a FIFO.
#[test]
fn a_nifti_image_or_a_fifo_as_dataset_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let image = data.join("mask.nii.gz");
    assert!(image.is_file());
    let o = fit(&image, &tmp.path().join("out"), &["--estimator", "stouffers"]);
    assert_bad_input(&o, &["mask.nii.gz", "not UTF-8 text, so not a dataset JSON file"]);
    let fifo = tmp.path().join("dataset.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Blocking on the FIFO would hang this test; the reader refuses it before opening.
    let o = fit(&fifo, &tmp.path().join("out"), &["--estimator", "stouffers"]);
    assert_bad_input(&o, &["dataset.json", "not a regular file (a FIFO)"]);
    assert!(!tmp.path().join("out/z.nii.gz").exists());
}

/// docs/dataset-format.md is there for people writing their own dataset.json, and its example
/// manifest reads as it says.
#[test]
fn the_dataset_format_documents_example_reads() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dataset-format.md"))
        .expect("docs/dataset-format.md");
    let example = doc.split("```json\n").nth(1).unwrap().split("```").next().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let dir = tmp.path().join("mine");
    std::fs::create_dir_all(dir.join("maps")).unwrap();
    let con = data.join("study_1_con.nii.gz");
    for (from, to) in [
        (data.join("mask.nii.gz"), "mask.nii.gz"),
        (con.clone(), "study_01_con.nii.gz"),
        (data.join("study_1_varcope.nii.gz"), "study_01_varcope.nii.gz"),
        (con, "maps/study_02_z.nii.gz"),
    ] {
        std::fs::copy(&from, dir.join(to)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    std::fs::write(dir.join("dataset.json"), example).unwrap();
    let ds = ibma::Dataset::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let studies: Vec<_> = ds.manifest.studies.iter().map(|s| (s.id.as_str(), s.sample_size)).collect();
    assert_eq!(studies, [("study_01", Some(25.0)), ("study_02", Some(31.0))]);
}
