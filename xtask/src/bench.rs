//! `cargo xtask bench [--reps N] [--vs-nimare]`: the `ibma` binary end to end (read, fit,
//! write) on `../shared/data/nidm_pain21` for every estimator, a table of median wall seconds,
//! CPU seconds and peak RSS, the speed-up from 1 to all threads (2 here) of the whole run, and
//! with `--vs-nimare` NiMARE 0.22.1's fit time for the same model measured in the same run
//! (through the shared oracle harness, which freezes the garbage collector after its imports
//! and times `fit()` alone). Before the table, reading alone: the dataset's 42 maps through
//! ibma-io's `read_dataset` example, on 1 and 2 threads. Results also go to
//! `target/bench/bench.json`. `--large [K]` (default 2000) instead runs the large-K scale check
//! (see the `large` module) and writes `target/bench/bench-large.json`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// (ibma estimator, --set pairs, NiMARE harness label or "" when NiMARE has none).
const CASES: &[(&str, &[&str], &str)] = &[
    ("stouffers", &[], "Stouffers"),
    ("stouffers", &["use_sample_size=true"], "Stouffers_weighted"),
    ("fishers", &[], "Fishers"),
    ("weighted-least-squares", &[], "WeightedLeastSquares"),
    ("dersimonian-laird", &[], "DerSimonianLaird"),
    ("hedges", &[], "Hedges"),
    ("variance-based-likelihood", &["method=ml"], "VarianceBasedLikelihood_ML"),
    ("variance-based-likelihood", &["method=reml"], "VarianceBasedLikelihood_REML"),
    ("sample-size-based-likelihood", &["method=reml"], ""),
    ("permuted-ols", &[], "PermutedOLS"),
    ("fixed-effects-hedges", &[], "FixedEffectsHedges"),
    ("rfx-glm", &[], ""),
    ("ffx-glm", &[], ""),
    ("mfx-glm", &[], ""),
];

/// One measured case.
struct Measured {
    name: String,
    wall: f64,
    fit: f64,
    cpu: f64,
    rss_mb: f64,
    /// Median wall seconds on one thread.
    wall_1_thread: f64,
    nimare: Option<f64>,
}

pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let reps: usize = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).and_then(|r| r.parse().ok()).ok_or("--reps needs a number")?,
        None => 3,
    };
    let vs_nimare = args.iter().any(|a| a == "--vs-nimare");
    let large: Option<usize> =
        args.iter().position(|a| a == "--large").map(|i| args.get(i + 1).and_then(|k| k.parse().ok()).unwrap_or(2000));
    let dataset = root.join("../shared/data/nidm_pain21");
    if !dataset.is_dir() {
        return Err(format!("{} not found: the bench needs ../shared/data", dataset.display()));
    }
    for args in [&["-p", "ibma-cli"][..], &["-p", "ibma-io", "--example", "read_dataset"]] {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet"])
            .args(args)
            .current_dir(root)
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release {} failed", args.join(" ")));
        }
    }
    let ibma = root.join("target/release/ibma");
    let out = root.join("target/bench");
    if let Some(k) = large {
        return large_k(root, &ibma, k);
    }
    let nimare = if vs_nimare { Some(nimare_fit_seconds(root, &dataset, &out)?) } else { None };
    let read = read_alone(&root.join("target/release/examples/read_dataset"), &dataset, reps)?;
    let mut rows = Vec::new();
    for &(estimator, sets, label) in CASES {
        let name = if sets.is_empty() { estimator.to_string() } else { format!("{estimator} {}", sets.join(" ")) };
        let dir = out.join("ibma").join(name.replace([' ', '='], "_"));
        let (mut runs, mut one_thread) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            runs.push(fit_once(&ibma, estimator, sets, &dataset, &dir, None)?);
            one_thread.push(fit_once(&ibma, estimator, sets, &dataset, &dir, Some(1))?.0);
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, fit, cpu, rss_mb) = runs[runs.len() / 2];
        let nimare_fit = nimare.as_ref().and_then(|n| n.get(label).and_then(Value::as_f64));
        let wall_1_thread = median(&mut one_thread);
        rows.push(Measured { name, wall, fit, cpu, rss_mb, wall_1_thread, nimare: nimare_fit });
    }
    print_table(&rows, reps);
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| json!({"case": r.name, "median_wall_s": r.wall, "read_and_fit_s": r.fit, "cpu_s": r.cpu, "peak_rss_mb": r.rss_mb, "median_wall_1_thread_s": r.wall_1_thread, "speedup_1_to_all_threads": r.wall_1_thread / r.wall, "nimare_fit_s": r.nimare}))
        .collect();
    let report = json!({"dataset": "nidm_pain21", "reps": reps, "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "read_alone": read, "cases": json_rows});
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let path = out.join("bench.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Reading alone, on 1 and on all threads: the `read_dataset` example's median wall and CPU
/// seconds over `reps` runs each, printed and returned as JSON.
fn read_alone(reader: &Path, dataset: &Path, reps: usize) -> Result<Value, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for n in [1, threads] {
        let (mut wall, mut cpu, mut maps) = (Vec::new(), Vec::new(), 0);
        for _ in 0..reps {
            let o = Command::new(reader)
                .arg(dataset.join("dataset.json"))
                .args(["--threads", &n.to_string()])
                .output()
                .map_err(|e| format!("{}: {e}", reader.display()))?;
            let line: Value = serde_json::from_slice(&o.stdout)
                .map_err(|e| format!("{}: {e}: {}", reader.display(), String::from_utf8_lossy(&o.stderr)))?;
            wall.push(line["wall_s"].as_f64().unwrap_or(f64::NAN));
            cpu.push(line["cpu_s"].as_f64().unwrap_or(f64::NAN));
            maps = line["maps"].as_u64().unwrap_or(0);
        }
        let (wall, cpu) = (median(&mut wall), median(&mut cpu));
        println!("reading alone: {maps} maps on {n} thread(s), median of {reps}: wall {wall:.3} s, cpu {cpu:.3} s");
        rows.push(json!({"threads": n, "maps": maps, "median_wall_s": wall, "median_cpu_s": cpu}));
    }
    Ok(Value::Array(rows))
}

/// One `ibma fit` run (on `threads`, or all cores): (wall, read + fit, CPU seconds, peak RSS MB).
pub(crate) fn fit_once(
    ibma: &Path,
    estimator: &str,
    sets: &[&str],
    dataset: &Path,
    dir: &Path,
    threads: Option<usize>,
) -> Result<Timing, String> {
    let mut cmd = Command::new(ibma);
    cmd.args(["fit", "--quiet", "--force", "--estimator", estimator, "--out"]).arg(dir).arg("--dataset").arg(dataset);
    if let Some(n) = threads {
        cmd.args(["--threads", &n.to_string()]);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    let start = Instant::now();
    let o = cmd.output().map_err(|e| format!("{}: {e}", ibma.display()))?;
    let wall = start.elapsed().as_secs_f64();
    if !o.status.success() {
        return Err(format!("{estimator} on {}: {}", dataset.display(), String::from_utf8_lossy(&o.stderr)));
    }
    let result: Value = read_json(&dir.join("result.json"))?;
    let t = &result["timings"];
    let num = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
    Ok((wall, num("read_and_fit_seconds"), num("cpu_seconds"), num("peak_rss_mb")))
}

/// (wall, read + fit, CPU seconds, peak RSS MB) of one run.
pub(crate) type Timing = (f64, f64, f64, f64);

/// `--large K`: DerSimonianLaird, Stouffers and MFX_GLM on K/8 … K synthetic studies on the
/// full MNI mask, one run each; seconds per 1000 studies shows whether time grows linearly.
fn large_k(root: &Path, ibma: &Path, k: usize) -> Result<(), String> {
    let manifests = crate::large::dataset(root, k)?;
    let out = root.join("target/bench/large-out");
    println!("large K, full MNI 2 mm mask, ibma end to end (read + fit + write), one run each");
    println!(
        "{:<20} {:>6} {:>8} {:>9} {:>8} {:>9} {:>14}",
        "case", "K", "wall s", "r+fit s", "cpu s", "RSS MB", "s per 1000 K"
    );
    let mut rows = Vec::new();
    for estimator in ["dersimonian-laird", "stouffers", "mfx-glm"] {
        for (n, manifest) in &manifests {
            let (wall, fit, cpu, rss) = fit_once(ibma, estimator, &[], manifest, &out.join(estimator), None)?;
            println!(
                "{estimator:<20} {n:>6} {wall:>8.2} {fit:>9.2} {cpu:>8.1} {rss:>9.0} {:>14.2}",
                wall * 1000.0 / *n as f64
            );
            rows.push(json!({"case": estimator, "k": n, "median_wall_s": wall, "read_and_fit_s": fit, "cpu_s": cpu, "peak_rss_mb": rss}));
        }
    }
    let (k_max, manifest) = manifests.last().ok_or("no large-K manifest")?;
    let sharded = sharded_runs(ibma, *k_max, manifest, &out, &rows)?;
    let path = root.join("target/bench/bench-large.json");
    let report =
        json!({"dataset": format!("synthetic, {k} studies, nidm_pain21 mask"), "cases": rows, "sharded": sharded});
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Shards of `--large`: DerSimonianLaird and MFX_GLM on all K studies as [`SHARDS`] shards, run
/// one after the other (each its own process, all cores), then merged; each shard's peak memory
/// against the unsharded run's (the row of `rows` for K), and the CPU of all shards and the merge
/// against the unsharded run's. The merged maps must equal the unsharded run's byte for byte.
fn sharded_runs(ibma: &Path, k: usize, manifest: &Path, out: &Path, rows: &[Value]) -> Result<Value, String> {
    const SHARDS: usize = 8;
    println!();
    println!("{SHARDS} shards on K = {k} (`ibma fit --shard I/{SHARDS}`, one after the other, then `ibma merge`)");
    println!(
        "{:<20} {:>13} {:>13} {:>12} {:>10} {:>10} {:>10} {:>7}",
        "case", "whole RSS MB", "shard max MB", "whole/N MB", "merge MB", "whole cpu", "sum cpu", "ratio"
    );
    let mut cases = Vec::new();
    for estimator in ["dersimonian-laird", "mfx-glm"] {
        let whole = rows.iter().find(|r| r["case"] == estimator && r["k"] == k).ok_or("no unsharded run")?;
        let (whole_rss, whole_cpu) =
            (whole["peak_rss_mb"].as_f64().unwrap_or(f64::NAN), whole["cpu_s"].as_f64().unwrap_or(f64::NAN));
        let dirs: Vec<PathBuf> = (0..SHARDS).map(|i| out.join(format!("{estimator}-shard{i}"))).collect();
        let mut shards = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let start = Instant::now();
            let o = Command::new(ibma)
                .args([
                    "fit",
                    "--quiet",
                    "--force",
                    "--estimator",
                    estimator,
                    "--shard",
                    &format!("{i}/{SHARDS}"),
                    "--out",
                ])
                .arg(dir)
                .arg("--dataset")
                .arg(manifest)
                .output()
                .map_err(|e| e.to_string())?;
            if !o.status.success() {
                return Err(format!("{estimator} shard {i}: {}", String::from_utf8_lossy(&o.stderr)));
            }
            let t = read_json(&dir.join("shard.json"))?["timings"].clone();
            let num = |key: &str| t[key].as_f64().unwrap_or(f64::NAN);
            shards.push(json!({"shard": i, "wall_s": start.elapsed().as_secs_f64(), "cpu_s": num("cpu_seconds"), "peak_rss_mb": num("peak_rss_mb")}));
        }
        let merged = out.join(format!("{estimator}-merged"));
        let o = Command::new(ibma)
            .args(["merge", "--quiet", "--force", "--out"])
            .arg(&merged)
            .args(&dirs)
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!("{estimator} merge: {}", String::from_utf8_lossy(&o.stderr)));
        }
        let t = read_json(&merged.join("result.json"))?["timings"].clone();
        let (merge_cpu, merge_rss) =
            (t["cpu_seconds"].as_f64().unwrap_or(f64::NAN), t["peak_rss_mb"].as_f64().unwrap_or(f64::NAN));
        for map in ["z.nii.gz", "est.nii.gz"] {
            let same = std::fs::read(out.join(estimator).join(map)).ok() == std::fs::read(merged.join(map)).ok();
            if !same {
                return Err(format!("{estimator}: merged {map} differs from the unsharded run's"));
            }
        }
        let shard_max = shards.iter().map(|s| s["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)).fold(0.0, f64::max);
        let sum_cpu = shards.iter().map(|s| s["cpu_s"].as_f64().unwrap_or(f64::NAN)).sum::<f64>() + merge_cpu;
        println!(
            "{estimator:<20} {whole_rss:>13.0} {shard_max:>13.0} {:>12.0} {merge_rss:>10.0} {whole_cpu:>10.1} {sum_cpu:>10.1} {:>6.2}x",
            whole_rss / SHARDS as f64,
            sum_cpu / whole_cpu
        );
        cases.push(json!({"case": estimator, "k": k, "shards": SHARDS, "whole_peak_rss_mb": whole_rss, "whole_cpu_s": whole_cpu,
            "shard_runs": shards, "merge_cpu_s": merge_cpu, "merge_peak_rss_mb": merge_rss, "total_cpu_s": sum_cpu,
            "cpu_ratio": sum_cpu / whole_cpu}));
    }
    println!("(ratio = CPU of all shards and the merge / CPU of the unsharded run; targets: shard max <= whole/N + a constant, ratio <= 1.2)");
    Ok(Value::Array(cases))
}

fn print_table(rows: &[Measured], reps: usize) {
    println!("nidm_pain21, ibma end to end (read + fit + write), median of {reps}");
    println!(
        "{:<44} {:>8} {:>9} {:>8} {:>9} {:>9} {:>11} {:>9}",
        "case", "wall s", "r+fit s", "cpu s", "RSS MB", "1->all", "NiMARE fit", "ratio"
    );
    for r in rows {
        let (nimare, ratio) = match r.nimare {
            Some(n) => (format!("{n:.2}"), format!("{:.1}x", n / r.fit)),
            None => ("-".into(), "-".into()),
        };
        let speedup = format!("{:.2}x", r.wall_1_thread / r.wall);
        println!(
            "{:<44} {:>8.3} {:>9.3} {:>8.2} {:>9.0} {speedup:>9} {nimare:>11} {ratio:>9}",
            r.name, r.wall, r.fit, r.cpu, r.rss_mb
        );
    }
    println!("(1->all = median wall on --threads 1 / median wall on all threads; ratio = NiMARE fit / ibma read+fit,");
    println!(" both measured in this run; NiMARE's fit re-reads its inputs too)");
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// NiMARE 0.22.1 fit seconds per harness label, from the shared oracle harness run in a
/// virtual environment built from `xtask/nimare-requirements.lock`.
fn nimare_fit_seconds(root: &Path, dataset: &Path, out: &Path) -> Result<serde_json::Map<String, Value>, String> {
    let venv = root.join("target/nimare-venv");
    let python = venv.join("bin/python");
    let run = |cmd: &mut Command| -> Result<(), String> {
        let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
        status.success().then_some(()).ok_or_else(|| format!("{cmd:?} failed"))
    };
    if !python.is_file() {
        eprintln!("bench: creating {} (NiMARE 0.22.1 from xtask/nimare-requirements.lock)", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(root.join("xtask/nimare-requirements.lock")))?;
    }
    let harness: PathBuf = root.join("../shared/oracle/run_nimare.py");
    let nimare_out = out.join("nimare");
    let _ = std::fs::remove_dir_all(&nimare_out);
    eprintln!("bench: timing NiMARE 0.22.1 on {} (a few minutes)", dataset.display());
    run(Command::new(&python).arg(&harness).arg(dataset).arg(&nimare_out).args(["--fwe-iters", "1000"]))?;
    let timings = read_json(&nimare_out.join("timings.json"))?;
    let mut fits = serde_json::Map::new();
    if let Some(estimators) = timings["estimators"].as_object() {
        for (label, info) in estimators {
            if let Some(s) = info["fit_s"].as_f64() {
                fits.insert(label.clone(), s.into());
            }
        }
    }
    Ok(fits)
}
