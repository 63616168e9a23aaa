//! The binary never loses a user's files: what it may write into, what `--force` may remove,
//! interrupted and concurrent runs, a full disk. Runs on the in-code example dataset.

use crate::cli::{assert_bad_input, ibma};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The example dataset under `dir/data`.
fn dataset(dir: &Path) -> PathBuf {
    ibma_testkit::example_dataset(&dir.join("data")).unwrap();
    dir.join("data")
}

fn fit_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["fit", "--quiet", "--estimator", "stouffers", "--dataset", data.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    args
}

/// Every file under `dir` (relative name → bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            for (sub, bytes) in snapshot(&path) {
                files.insert(format!("{name}/{sub}"), bytes);
            }
        } else {
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
    files
}

fn leftovers(dir: &Path) -> Vec<String> {
    snapshot(dir).into_keys().filter(|n| n.contains(".ibma-staging") || n.contains(".tmp-")).collect()
}

#[test]
fn fit_never_replaces_a_users_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("z.nii.gz"), "the user's own z map").unwrap();
    assert_bad_input(&ibma(&fit_args(&data, &out, &[])), &["holds files ibma did not write", "z.nii.gz"]);
    assert_bad_input(
        &ibma(&fit_args(&data, &out, &["--force"])),
        &["would replace", "z.nii.gz", "nothing was written"],
    );
    assert_eq!(snapshot(&out).into_keys().collect::<Vec<_>>(), ["z.nii.gz"]);
    assert_eq!(std::fs::read_to_string(out.join("z.nii.gz")).unwrap(), "the user's own z map");
}

#[test]
fn the_dataset_folder_as_out_keeps_every_study_map() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let before = snapshot(&data);
    assert_bad_input(&ibma(&fit_args(&data, &data, &[])), &["holds files ibma did not write", "dataset.json"]);
    assert_eq!(snapshot(&data), before);
    // With --force the result goes beside the dataset's files, which stay byte for byte.
    let o = ibma(&fit_args(&data, &data, &["--force"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = snapshot(&data);
    assert!(before.iter().all(|(name, bytes)| after.get(name) == Some(bytes)));
    assert!(after.contains_key("z.nii.gz"));
    // convert-dataset into it: its dataset.json is not ibma's to replace.
    let o = ibma(&["convert-dataset", "--dataset", data.to_str().unwrap(), "--out", data.to_str().unwrap()]);
    assert_bad_input(&o, &["already holds an ibma result", "--force"]);
    let o = ibma(&["convert-dataset", "--dataset", data.to_str().unwrap(), "--out", data.to_str().unwrap(), "--force"]);
    assert_bad_input(&o, &["would replace", "dataset.json"]);
    assert_eq!(std::fs::read(data.join("dataset.json")).unwrap(), before["dataset.json"]);
}

#[test]
fn force_trusts_no_other_tools_result_json() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.nii.gz"), "precious").unwrap();
    let foreign = r#"{"software": {"name": "ibma"}, "maps": {"mine": {"file": "mine.nii.gz"}}, "tables": []}"#;
    std::fs::write(out.join("result.json"), foreign).unwrap();
    assert_bad_input(&ibma(&fit_args(&data, &out, &["--force"])), &["would replace", "result.json"]);
    assert_eq!(std::fs::read_to_string(out.join("mine.nii.gz")).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(out.join("result.json")).unwrap(), foreign);
}

#[test]
fn jackknife_and_demo_refuse_foreign_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("jk");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("jackknife.tsv"), "mine").unwrap();
    let jk = |force: &[&str]| {
        let mut args = vec!["jackknife", "--quiet", "--estimator", "stouffers", "--set", "threshold=3"];
        args.extend(["--dataset", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        args.extend(force);
        ibma(&args)
    };
    assert_bad_input(&jk(&[]), &["holds files ibma did not write", "jackknife.tsv"]);
    assert_bad_input(&jk(&["--force"]), &["would replace", "jackknife.tsv"]);
    assert_eq!(std::fs::read_to_string(out.join("jackknife.tsv")).unwrap(), "mine");
    let demo = tmp.path().join("demo");
    std::fs::create_dir(&demo).unwrap();
    std::fs::write(demo.join("index.html"), "my page").unwrap();
    assert_bad_input(&ibma(&["demo", "--quiet", "--out", demo.to_str().unwrap()]), &["index.html"]);
    assert_eq!(snapshot(&demo).into_keys().collect::<Vec<_>>(), ["index.html"]);
}

#[test]
fn correct_keeps_the_report_and_force_removes_only_ibmas_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    assert!(ibma(&fit_args(&data, &out, &[])).status.success());
    let o = ibma(&["report", out.to_str().unwrap(), "--threshold", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(out.join("report_mine.png"), "the user's figure").unwrap();
    let o = ibma(&["correct", "--quiet", "--result", out.to_str().unwrap(), "--correct", "fdr-indep"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("z_corr-FDR_method-indep.nii.gz").is_file());
    assert!(out.join("report.html").is_file() && out.join("report_z_ortho.png").is_file(), "correct kept the report");
    // A new result with --force: the earlier result's files (its report too) go, the user's stay.
    assert!(ibma(&fit_args(&data, &out, &["--force"])).status.success());
    assert!(!out.join("report.html").exists() && !out.join("z_corr-FDR_method-indep.nii.gz").exists());
    assert_eq!(std::fs::read_to_string(out.join("report_mine.png")).unwrap(), "the user's figure");
}

/// A long run (MFX_GLM with many sign flips) into `out`.
fn start_long_run(data: &Path, out: &Path, force: bool) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ibma"));
    cmd.args(["fit", "--quiet", "--estimator", "mfx-glm", "--correct", "montecarlo", "--n-iters", "20000"])
        .arg("--dataset")
        .arg(data)
        .arg("--out")
        .arg(out)
        .stderr(Stdio::piped());
    if force {
        cmd.arg("--force");
    }
    cmd.spawn().unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_interrupted_force_run_leaves_the_earlier_result_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    assert!(ibma(&fit_args(&data, &out, &["--correct", "fdr-indep"])).status.success());
    let earlier = snapshot(&out);
    for (sig, delay_ms) in [("-TERM", 30), ("-INT", 150), ("-TERM", 400), ("-KILL", 250)] {
        let mut child = start_long_run(&data, &out, true);
        std::thread::sleep(Duration::from_millis(delay_ms));
        signal(&child, sig);
        let status = child.wait().unwrap();
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        if sig != "-KILL" {
            assert_eq!(status.code(), Some(130), "{sig} after {delay_ms} ms: {stderr}");
            assert!(leftovers(&out).is_empty(), "{sig} after {delay_ms} ms left {:?}", leftovers(&out));
        }
        // Nothing of the interrupted run is visible; the earlier result is intact.
        let now: BTreeMap<_, _> = snapshot(&out).into_iter().filter(|(n, _)| !n.contains(".ibma-staging")).collect();
        assert_eq!(now, earlier, "{sig} after {delay_ms} ms");
    }
    // A killed run's staging folder is gone after the next run.
    assert!(ibma(&fit_args(&data, &out, &["--force"])).status.success());
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

#[test]
fn a_second_run_into_the_same_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    let mut first = start_long_run(&data, &out, false);
    // Wait until the first run holds the folder (its staging folder exists).
    let holding = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        out.is_dir()
            && std::fs::read_dir(&out)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(".ibma-staging"))
    });
    assert!(holding, "the first run never started writing");
    assert_bad_input(&ibma(&fit_args(&data, &out, &["--force"])), &["another ibma run is writing into this folder"]);
    signal(&first, "-TERM");
    let _ = first.wait();
    assert!(snapshot(&out).is_empty(), "{:?}", snapshot(&out).keys());
}

/// A small tmpfs at `dir` for the life of the value (root only; None where mounting is not allowed).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_the_earlier_result_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk"), "2m") else {
        eprintln!("skipping a_full_disk_leaves_the_earlier_result_whole: cannot mount a tmpfs here (needs root)");
        return;
    };
    let out = disk.0.join("out");
    assert!(ibma(&fit_args(&data, &out, &[])).status.success());
    let earlier = snapshot(&out);
    // Fill the disk, leaving less than a new result needs.
    let free = |p: &Path| {
        let o = Command::new("df").args(["--output=avail", "-B1"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let filler = vec![0u8; (free(&disk.0) - 4096) as usize];
    let _ = std::fs::write(disk.0.join("filler"), &filler);
    let o = ibma(&fit_args(&data, &out, &["--force", "--correct", "fdr-indep"]));
    assert_bad_input(&o, &["No space left"]);
    assert_eq!(snapshot(&out), earlier);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// The same where no disk can be mounted: a file size limit (RLIMIT_FSIZE, `ulimit -f`) makes
/// the new result's largest file fail to write (EFBIG, with SIGXFSZ ignored), as a full disk
/// fails it with ENOSPC. The earlier result stays whole and nothing is left behind.
#[test]
fn a_failed_write_leaves_the_earlier_result_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("out");
    assert!(ibma(&fit_args(&data, &out, &[])).status.success());
    let earlier = snapshot(&out);
    let largest = earlier.values().map(Vec::len).max().unwrap();
    // ulimit -f counts 512-byte blocks: room for the smaller files, not for the largest.
    let blocks = largest / 2 / 512;
    assert!(blocks >= 1, "files of {largest} bytes");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ibma"))
        .args(fit_args(&data, &out, &["--force", "--correct", "fdr-indep"]))
        .output()
        .unwrap();
    assert_bad_input(&o, &["File too large"]);
    assert_eq!(snapshot(&out), earlier);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// A dataset ibma wrote (the demo's; one `convert-dataset` wrote) as `--out` of a run on it: its
/// files are that run's inputs, never removed with the earlier result nor replaced.
#[test]
fn a_dataset_ibma_wrote_survives_runs_into_its_own_folder() {
    use ibma::io::out_folder::{Mode, OutFolder, LEDGER};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let folder = OutFolder::open(&data, Mode::Fresh { force: false }).unwrap();
    ibma_testkit::example_dataset(folder.staging()).unwrap();
    folder.commit().unwrap();
    let before = snapshot(&data);
    let kept = |what: &str| {
        let after = snapshot(&data);
        let lost: Vec<&String> =
            before.iter().filter(|(n, b)| *n != LEDGER && after.get(*n) != Some(b)).map(|(n, _)| n).collect();
        assert!(lost.is_empty(), "{what} lost {lost:?}");
    };
    for _ in 0..2 {
        let o = ibma(&fit_args(&data, &data, &["--force"]));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        kept("fit --force");
    }
    let d = data.to_str().unwrap();
    let o = ibma(&[
        "jackknife",
        "--quiet",
        "--estimator",
        "stouffers",
        "--set",
        "threshold=3",
        "--dataset",
        d,
        "--out",
        d,
        "--force",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    kept("jackknife --force");
    assert_bad_input(
        &ibma(&["convert-dataset", "--dataset", d, "--out", d, "--force"]),
        &["would replace dataset.json, which this run reads as its input"],
    );
    kept("convert-dataset --force");
    // A converted manifest (ibma's own file) read by a fit into its folder stays.
    let conv = tmp.path().join("conv");
    assert!(ibma(&["convert-dataset", "--dataset", d, "--out", conv.to_str().unwrap()]).status.success());
    let manifest = std::fs::read(conv.join("dataset.json")).unwrap();
    let o = ibma(&fit_args(&conv, &conv, &["--force"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(conv.join("dataset.json")).unwrap(), manifest);
    assert!(conv.join("z.nii.gz").is_file());
}
