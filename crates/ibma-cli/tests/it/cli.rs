//! The `ibma` command contract: exit codes, one-line errors, outputs and result.json.

use crate::shared_data;
use std::path::Path;
use std::process::{Command, Output};

pub fn ibma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ibma")).args(args).output().expect("ibma runs")
}

/// Exit code 2 and exactly one stderr line containing every `needle`, no panic text.
pub fn assert_bad_input(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in {stderr:?}");
    }
}

#[test]
fn fit_writes_maps_and_result_json() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let out = tempfile::tempdir().unwrap();
    let o = ibma(&[
        "fit",
        "--dataset",
        data.to_str().unwrap(),
        "--estimator",
        "Stouffers",
        "--out",
        out.path().to_str().unwrap(),
        "--set",
        "use_sample_size=true",
        "--correct",
        "fdr-indep",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for map in
        ["z", "p", "logp", "dof", "z_corr-FDR_method-indep", "p_corr-FDR_method-indep", "logp_corr-FDR_method-indep"]
    {
        let path = out.path().join(format!("{map}.nii.gz"));
        let vol = ibma::io::read_volume(&path).unwrap();
        assert_eq!(vol.grid.dims, [10, 10, 10]);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(json["estimator"], "stouffers");
    assert_eq!(json["parameters"]["use_sample_size"], true);
    assert_eq!(json["parameters"]["two_sided"], true);
    assert_eq!(json["n_studies"], 21);
    assert_eq!(json["maps"]["z"]["finite"], 1000);
    assert_eq!(json["maps"]["z"]["nan"], 0);
    assert_eq!(json["software"]["version"], env!("CARGO_PKG_VERSION"));
    let t = |k: &str| json["timings"][k].as_f64().unwrap();
    assert!(t("read_and_fit_seconds") >= 0.0);
    // The phases are parts of reading and fitting.
    assert!(t("read_seconds") + t("fit_seconds") + t("correct_seconds") <= t("read_and_fit_seconds"));
    assert!(json["dataset"].as_str().unwrap().ends_with("dataset.json"));
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn compress_level_sets_the_gzip_level_of_the_maps_only() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let stouffers_at = |level: &str, out: &Path| {
        let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
        ibma(&[
            "fit",
            "--dataset",
            data,
            "--estimator",
            "stouffers",
            "--out",
            out,
            "--compress-level",
            level,
            "--quiet",
        ])
    };
    let (stored, fast) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, level) in [(&stored, "0"), (&fast, "1")] {
        let o = stouffers_at(level, dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let z = |dir: &Path| ibma::io::read_volume(&dir.join("z.nii.gz")).unwrap().data;
    assert_eq!(z(stored.path()), z(fast.path()));
    let size = |dir: &Path| std::fs::metadata(dir.join("z.nii.gz")).unwrap().len();
    // Level 0 stores the 1000 float32 values (and the header) uncompressed.
    let (stored, fast) = (size(stored.path()), size(fast.path()));
    assert!(stored > 4000 && stored > fast, "{stored} {fast}");
    assert_bad_input(&stouffers_at("10", tempfile::tempdir().unwrap().path()), &["--compress-level"]);
}

fn fit_on(dataset: &Path, extra: &[&str]) -> Output {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["fit", "--dataset", dataset.to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    ibma(&args)
}

#[test]
fn unknown_estimator_lists_the_known_ones() {
    let o = fit_on(Path::new("."), &["--estimator", "nope"]);
    assert_bad_input(&o, &["unknown estimator \"nope\"", "stouffers", "dersimonian-laird"]);
}

#[test]
fn unknown_parameter_and_bad_value_list_the_valid_ones() {
    let o = fit_on(Path::new("."), &["--estimator", "stouffers", "--set", "tau2=1"]);
    assert_bad_input(
        &o,
        &["parameter tau2", "valid parameters: use_sample_size, two_sided, inference, null, n_iters, seed, exact_flips, aggressive_mask, derive, resample"],
    );
    let o = fit_on(Path::new("."), &["--estimator", "stouffers", "--set", "two_sided=maybe"]);
    assert_bad_input(&o, &["two_sided", "\"maybe\"", "true, false"]);
    let o = fit_on(Path::new("."), &["--estimator", "stouffers", "--correct", "holm"]);
    assert_bad_input(&o, &["holm", "fdr-indep"]);
}

#[test]
fn missing_dataset_names_the_file() {
    let o = fit_on(Path::new("/nonexistent/dataset.json"), &["--estimator", "stouffers"]);
    assert_bad_input(&o, &["/nonexistent/dataset.json"]);
}

#[test]
fn grid_mismatch_names_the_file_and_no_map_is_written() {
    let Some(fixture) = shared_data("nimare_test_pain_10x10x10") else { return };
    let Some(pain21) = shared_data("nidm_pain21") else { return };
    let dir = tempfile::tempdir().unwrap();
    let manifest = serde_json::json!({
        "format": "ibma-dataset", "format_version": 1,
        "mask": fixture.join("mask.nii.gz"),
        "studies": [
            {"id": "a", "sample_size": 20, "maps": {"z": fixture.join("pain_01_z.nii.gz")}},
            {"id": "b", "sample_size": 20, "maps": {"z": pain21.join("pain_02_con.nii.gz")}},
        ]
    });
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let out = dir.path().join("out");
    let o = ibma(&[
        "fit",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--estimator",
        "stouffers",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["pain_02_con.nii.gz", "91x109x91", "10x10x10"]);
    assert!(!out.join("z.nii.gz").exists());
}

#[test]
fn estimators_lists_parameters_and_inputs() {
    let o = ibma(&["estimators"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("stouffers (NiMARE Stouffers); needs z"), "{text}");
    assert!(text.contains("use_sample_size"), "{text}");
    assert!(text.contains("mfx-glm (NiMARE MFX_GLM); needs con, varcope"), "{text}");
    assert!(!text.contains("not available"), "every estimator is built: {text}");
}

#[test]
fn an_earlier_result_needs_force_and_foreign_files_survive() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    std::fs::write(out.path().join("notes.txt"), "mine").unwrap();
    let base = ["fit", "--dataset", data.to_str().unwrap(), "--estimator", "stouffers", "--out", o, "--quiet"];
    // A folder holding the user's files takes a result only with --force, beside them.
    assert_bad_input(&ibma(&base), &["holds files ibma did not write", "notes.txt", "--force"]);
    let first = ibma(&[&base[..], &["--correct", "fdr-indep", "--force"]].concat());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.path().join("z_corr-FDR_method-indep.nii.gz").is_file());
    assert!(ibma(&["report", o]).status.success());
    assert!(out.path().join("report.html").is_file() && out.path().join("report_z_ortho.png").is_file());
    assert_bad_input(&ibma(&base), &["already holds an ibma result", "--force"]);
    let forced = ibma(&[&base[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert!(!out.path().join("z_corr-FDR_method-indep.nii.gz").exists(), "the earlier result's own map is gone");
    assert!(!out.path().join("report.html").exists() && !out.path().join("report_z_ortho.png").exists());
    assert_eq!(std::fs::read_to_string(out.path().join("notes.txt")).unwrap(), "mine");
}

#[test]
fn a_run_killed_part_way_leaves_no_partial_output() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    for delay_ms in [5, 20, 60, 150] {
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ibma"))
            .args(["fit", "--quiet", "--estimator", "variance-based-likelihood", "--correct", "fdr-indep", "--dataset"])
            .arg(&data)
            .arg("--out")
            .arg(out.path())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever is under a final name is complete: every map reads, result.json parses.
        for entry in std::fs::read_dir(out.path()).unwrap().filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".nii.gz") && !name.starts_with('.') {
                ibma::io::read_volume(&entry.path()).unwrap_or_else(|e| panic!("killed after {delay_ms} ms: {e}"));
            } else if name == "result.json" {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                serde_json::from_str::<serde_json::Value>(&text).expect("complete result.json");
            }
        }
    }
}
