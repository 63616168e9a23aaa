//! `ibma fit --shard I/N` and `ibma merge` (docs/cluster.md): shards run as separate processes
//! and merged give the files of the unsharded `ibma fit`, byte for byte (result.json apart from
//! its timings); shards that do not belong together are refused with one line, exit code 2 and
//! nothing written; the Slurm and GNU parallel examples of docs/cluster.md run as written.

use crate::cli::{assert_bad_input, ibma};
use crate::shared_data;
use std::path::{Path, PathBuf};

fn run_ok(args: &[&str]) {
    let o = ibma(args);
    assert!(o.status.success(), "ibma {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// `ibma fit --quiet --dataset data <fit> [--shard I/N] --out out`.
fn fit(data: &Path, fit: &[&str], shard: Option<String>, out: &Path) {
    let mut args = vec!["fit", "--quiet", "--dataset", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(fit);
    let shard = shard.map(|s| ["--shard".to_string(), s]);
    args.extend(shard.iter().flatten().map(String::as_str));
    run_ok(&args);
}

fn merge(out: &Path, shards: &[PathBuf]) -> std::process::Output {
    let mut args = vec!["merge".to_string(), "--quiet".into(), "--out".into(), out.to_string_lossy().into_owned()];
    args.extend(shards.iter().map(|s| s.to_string_lossy().into_owned()));
    ibma(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// result.json without its timings.
fn summary(dir: &Path) -> serde_json::Value {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("timings");
    json
}

/// Every file of `whole` (the ledger aside) is in `merged` with the same bytes; result.json the
/// same but for its timings; nothing else in `merged`.
fn assert_same_output(whole: &Path, merged: &Path, what: &str) {
    let names = |dir: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ibma::io::out_folder::LEDGER)
            .collect();
        n.sort();
        n
    };
    let files = names(whole);
    assert_eq!(files, names(merged), "{what}: files");
    assert!(files.iter().any(|f| f == "z.nii.gz"), "{what}: no z map in {files:?}");
    for f in &files {
        if f == "result.json" {
            assert_eq!(summary(whole), summary(merged), "{what}: result.json");
        } else {
            let same = std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap();
            assert!(same, "{what}: {f} differs from the unsharded run's");
        }
    }
}

/// Fit `args` whole, then in N shards for each N of `splits` (each shard its own process, every
/// other one on a single thread), merge, and compare. From N = 3 the shards share a stage
/// folder (`--stage`) and run at once, so that all but one wait for the one that stages.
fn check_sharded(data: &Path, args: &[&str], splits: &[usize], expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    fit(data, args, None, &whole);
    for f in expect {
        assert!(whole.join(f).is_file(), "{args:?}: the unsharded run wrote no {f}");
    }
    for &n in splits {
        let shards: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("{n}-{i}"))).collect();
        let stage = dir.path().join(format!("stage-{n}"));
        let running: Vec<_> = shards
            .iter()
            .enumerate()
            .map(|(i, shard)| {
                let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ibma"));
                cmd.args(["fit", "--quiet", "--dataset", data.to_str().unwrap(), "--out", shard.to_str().unwrap()]);
                cmd.args(args).args(["--shard", &format!("{i}/{n}")]);
                // Every other shard on one thread: results do not depend on the thread count.
                if i % 2 == 1 {
                    cmd.args(["--threads", "1"]);
                }
                if n >= 3 {
                    cmd.arg("--stage").arg(&stage);
                }
                let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn();
                let child = child.unwrap();
                if n < 3 {
                    finished(child, i, n);
                    return None;
                }
                Some(child)
            })
            .collect();
        for (i, child) in running.into_iter().enumerate() {
            if let Some(child) = child {
                finished(child, i, n);
            }
        }
        let merged = dir.path().join(format!("merged-{n}"));
        // In reverse order: merge sorts them.
        let o = merge(&merged, &shards.iter().rev().cloned().collect::<Vec<_>>());
        assert!(o.status.success(), "merge {n}: {}", String::from_utf8_lossy(&o.stderr));
        assert_same_output(&whole, &merged, &format!("{args:?} in {n} shards"));
    }
}

fn finished(child: std::process::Child, i: usize, n: usize) {
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "shard {i}/{n}: {}", String::from_utf8_lossy(&o.stderr));
}

const GRF: &[&str] = &["clusters.tsv", "z_level-cluster_corr-FWE_method-grf.nii.gz"];
const MONTECARLO: &str = "z_level-voxel_corr-FWE_method-montecarlo.nii.gz";
const CLUSTER_SIZE: &str = "z_level-cluster_corr-FWE_method-size.nii.gz";

#[test]
fn shards_merge_to_the_whole_fit_on_the_fixture() {
    let Some(data) = shared_data("nimare_test_pain_10x10x10") else { return };
    let all = [1, 2, 3, 7];
    check_sharded(&data, &["--estimator", "DerSimonianLaird", "--correct", "fdr"], &all, &[]);
    check_sharded(&data, &["--estimator", "MFX_GLM"], &all, GRF);
    let mc = ["--estimator", "Stouffers", "--correct", "montecarlo", "--n-iters", "60", "--seed", "3"];
    check_sharded(&data, &mc, &all, &[MONTECARLO]);
    let pols =
        ["--estimator", "PermutedOLS", "--correct", "montecarlo", "--correct", "cluster-size", "--n-iters", "60"];
    check_sharded(&data, &pols, &all, &[MONTECARLO, CLUSTER_SIZE]);
}

#[test]
fn shards_merge_to_the_whole_fit_on_pain21() {
    let Some(data) = shared_data("nidm_pain21") else { return };
    let all = [1, 2, 3, 7];
    check_sharded(&data, &["--estimator", "DerSimonianLaird", "--correct", "fdr"], &all, &[]);
    check_sharded(&data, &["--estimator", "MFX_GLM"], &all, GRF);
    let mc = ["--estimator", "Stouffers", "--correct", "montecarlo", "--n-iters", "14"];
    check_sharded(&data, &mc, &all, &[MONTECARLO]);
    let pols =
        ["--estimator", "PermutedOLS", "--correct", "montecarlo", "--correct", "cluster-size", "--n-iters", "14"];
    check_sharded(&data, &pols, &all, &[MONTECARLO, CLUSTER_SIZE]);
}

/// Three shards of DerSimonianLaird on the example dataset.
fn three_shards(dir: &Path, data: &Path) -> Vec<PathBuf> {
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("s{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        fit(data, &["--estimator", "dersimonian-laird", "--correct", "fdr"], Some(format!("{i}/3")), s);
    }
    shards
}

#[test]
fn bad_merges_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let other = ibma_testkit::example_dataset(&dir.path().join("other")).unwrap();
    let s = three_shards(dir.path(), &data);
    let out = dir.path().join("out");
    let refused = |shards: &[PathBuf], needles: &[&str]| {
        assert_bad_input(&merge(&out, shards), needles);
        assert!(!out.exists(), "{needles:?}: the refused merge wrote {}", out.display());
    };
    let name = |p: &PathBuf| p.to_str().unwrap().to_string();
    refused(&[s[0].clone(), s[2].clone()], &["shard 1/3 is missing"]);
    refused(&[s[0].clone(), s[1].clone(), s[1].clone(), s[2].clone()], &["shard 1/3 is given twice", &name(&s[1])]);
    // Another estimator parameter, other corrections, another dataset, another split.
    let param = dir.path().join("param");
    fit(
        &data,
        &["--estimator", "dersimonian-laird", "--correct", "fdr", "--set", "aggressive_mask=true"],
        Some("1/3".into()),
        &param,
    );
    refused(&[s[0].clone(), param.clone(), s[2].clone()], &[&name(&param), "estimator or its parameters differs"]);
    let correction = dir.path().join("correction");
    fit(&data, &["--estimator", "dersimonian-laird", "--correct", "bonferroni"], Some("1/3".into()), &correction);
    refused(&[s[0].clone(), correction.clone(), s[2].clone()], &[&name(&correction), "--correct"]);
    let dataset = dir.path().join("dataset");
    fit(&other, &["--estimator", "dersimonian-laird", "--correct", "fdr"], Some("1/3".into()), &dataset);
    refused(&[s[0].clone(), dataset.clone(), s[2].clone()], &[&name(&dataset), "dataset or mask differs"]);
    let split = dir.path().join("split");
    fit(&data, &["--estimator", "dersimonian-laird", "--correct", "fdr"], Some("1/4".into()), &split);
    refused(&[s[0].clone(), split.clone(), s[2].clone()], &[&name(&split), "one of 3"]);
    // A folder that is no shard, and a shard cut short.
    refused(&[s[0].clone(), data.parent().unwrap().to_path_buf(), s[2].clone()], &["not a shard folder"]);
    let file = s[2].join(ibma::shard::SHARD_FILE);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    refused(&s, &[&file.to_string_lossy(), "truncated"]);
    // The good shards still merge.
    std::fs::write(&file, &bytes).unwrap();
    let o = merge(&out, &s);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_shard_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let out = dir.path().join("out");
    let d = data.to_str().unwrap();
    let o = out.to_str().unwrap();
    for (shard, needle) in
        [("3/3", "I must be below N"), ("1", "no '/'"), ("a/2", "not a whole number"), ("0/0", "below N")]
    {
        let args = ["fit", "--dataset", d, "--estimator", "stouffers", "--shard", shard, "--out", o];
        assert_bad_input(&ibma(&args), &["--shard", needle]);
    }
    // A likelihood search is not voxelwise: only its flips split.
    let args = ["fit", "--dataset", d, "--estimator", "variance-based-likelihood", "--shard", "1/2", "--out", o];
    assert_bad_input(&ibma(&args), &["variance-based-likelihood is not voxelwise", "sign flips"]);
    assert!(!out.exists());
}

#[test]
fn bad_stages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let (d, stage) = (data.to_str().unwrap(), dir.path().join("stage"));
    let out = dir.path().join("out");
    let shard = |estimator: &str, stage: &Path| {
        let args = ["fit", "--quiet", "--dataset", d, "--estimator", estimator, "--shard", "0/2"];
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--stage", stage.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        ibma(&args)
    };
    // --stage needs --shard.
    let o = ibma(&["fit", "--dataset", d, "--estimator", "stouffers", "--stage", "s", "--out", "o"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"));
    // A folder of the user's is never written into.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    assert_bad_input(&shard("stouffers", &theirs), &["notes.txt", "ibma did not write"]);
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 1, "the user's folder was written into");
    // A stage of another fit's inputs.
    assert!(shard("mfx-glm", &stage).status.success());
    std::fs::remove_dir_all(&out).unwrap();
    assert_bad_input(&shard("dersimonian-laird", &stage), &["staged for another fit", "estimator"]);
    assert!(!out.exists());
    // A stage cut short.
    let values = stage.join("inputs.f32");
    let bytes = std::fs::read(&values).unwrap();
    std::fs::write(&values, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(&shard("mfx-glm", &stage), &["inputs.f32", "incomplete"]);
    assert!(!out.exists());
}

#[test]
fn likelihood_estimators_shard_their_flips() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let args = ["--estimator", "variance-based-likelihood", "--correct", "montecarlo", "--n-iters", "20"];
    check_sharded(&data, &args, &[3], &[MONTECARLO]);
}

/// The fenced block after `<!-- test: NAME -->` in docs/cluster.md.
fn docs_block(name: &str) -> String {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cluster.md")).unwrap();
    let marker = format!("<!-- test: {name} -->");
    let after = &docs[docs.find(&marker).unwrap_or_else(|| panic!("docs/cluster.md has no {marker}")) + marker.len()..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// Run `script` with bash in `dir`, `ibma` on the PATH, the dataset in `$DATASET`.
fn bash(dir: &Path, script: &str, data: &Path, env: &[(&str, String)]) {
    let bin = Path::new(env!("CARGO_BIN_EXE_ibma")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("DATASET", data)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}\n{}", String::from_utf8_lossy(&o.stderr));
}

/// The docs' fit: DerSimonianLaird with FDR on the example dataset, unsharded.
fn docs_reference(dir: &Path, data: &Path) -> PathBuf {
    let whole = dir.join("whole");
    fit(data, &["--estimator", "dersimonian-laird", "--correct", "fdr"], None, &whole);
    whole
}

#[test]
fn docs_slurm_array_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let whole = docs_reference(dir.path(), &data);
    let (fit_script, merge_script) = (docs_block("slurm-fit"), docs_block("slurm-merge"));
    let n: usize =
        fit_script.lines().find_map(|l| l.strip_prefix("#SBATCH --array=0-")).unwrap().trim().parse().unwrap();
    // Slurm runs the array script once per task with its id; here one after the other.
    for task in 0..=n {
        bash(
            dir.path(),
            &fit_script,
            &data,
            &[("SLURM_ARRAY_TASK_ID", task.to_string()), ("SLURM_CPUS_PER_TASK", "1".into())],
        );
    }
    bash(dir.path(), &merge_script, &data, &[]);
    assert_same_output(&whole, &dir.path().join("out/dl"), "docs' Slurm example");
}

#[test]
fn docs_parallel_line_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
    let whole = docs_reference(dir.path(), &data);
    let line = docs_block("parallel");
    let has_parallel =
        std::process::Command::new("parallel").arg("--version").output().is_ok_and(|o| o.status.success());
    // Without GNU parallel the same commands run through xargs (one after the other).
    let script = if has_parallel {
        line
    } else {
        eprintln!("GNU parallel not installed: running the docs' parallel line's commands through xargs");
        let (command, inputs) = line.split_once(":::").unwrap();
        let command = command.trim().strip_prefix("parallel").unwrap();
        let (inputs, rest) = inputs.split_once('\n').unwrap_or((inputs, ""));
        format!("printf '%s\\n' {} | xargs -I{{}} {command}\n{rest}", inputs.trim())
    };
    bash(dir.path(), &script, &data, &[]);
    assert_same_output(&whole, &dir.path().join("out/dl"), "docs' GNU parallel example");
}
