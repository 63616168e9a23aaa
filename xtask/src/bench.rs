//! `cargo xtask bench [--reps N] [--vs-nimare | --reuse-nimare] [--perm-flips N]`: the `ibma` binary end to end
//! (read, fit, write) on `../shared/data/nidm_pain21` for every estimator, a table of median wall
//! seconds, with reading, the estimator's fit alone, corrections and writing apart (as
//! `result.json` reports them), CPU seconds and peak RSS, the inflate floor (the CPU seconds
//! libdeflate takes to inflate the files the case reads, see the `floor` module) and ibma's CPU
//! against it, the speed-up from 1 to all threads (2 here) of the whole run, and with
//! `--vs-nimare` NiMARE 0.22.1's fit time for the same model measured in the same run (through
//! the shared oracle harness, which freezes the garbage collector after its imports and times
//! `fit()` alone) with issue 18's ratio targets; ibma then reads the inputs NiMARE's harness
//! completed (z, t, se derived, which NiMARE's fit time leaves out). Before the table, reading
//! alone: every map of the dataset through ibma-io's `read_dataset` example, on 1 and 2 threads,
//! and the floors. After it, the REML fits against their fit-time target, and the permutation
//! cases (one run each): PermutedOLS with 10,000 flips, MFX_GLM's Monte-Carlo FWE and
//! cluster-size inference with 1,000 flips, and the likelihood estimators' Monte-Carlo FWE with
//! `--perm-flips` flips (default 20: each flip refits them), with the cost per flip, its
//! extrapolation to 1,000 flips and their targets. Results also go to `target/bench/bench.json`.
//! `--large [K]` (default 2000) instead runs the large-K scale check (see the `large` module) and
//! writes `target/bench/bench-large.json`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// (ibma estimator, --set pairs, NiMARE harness label or "" when NiMARE has none, the least
/// ratio NiMARE fit / ibma read+fit issue 18 asks of it, if any).
const CASES: &[(&str, &[&str], &str, Option<f64>)] = &[
    ("stouffers", &[], "Stouffers", Some(15.0)),
    ("stouffers", &["use_sample_size=true"], "Stouffers_weighted", Some(15.0)),
    ("fishers", &[], "Fishers", None),
    ("weighted-least-squares", &[], "WeightedLeastSquares", Some(15.0)),
    ("dersimonian-laird", &[], "DerSimonianLaird", Some(15.0)),
    ("hedges", &[], "Hedges", Some(15.0)),
    ("variance-based-likelihood", &["method=ml"], "VarianceBasedLikelihood_ML", Some(25.0)),
    ("variance-based-likelihood", &["method=reml"], "VarianceBasedLikelihood_REML", Some(25.0)),
    ("sample-size-based-likelihood", &["method=ml"], "SampleSizeBasedLikelihood_ML", Some(25.0)),
    ("sample-size-based-likelihood", &["method=reml"], "SampleSizeBasedLikelihood_REML", Some(25.0)),
    ("permuted-ols", &[], "PermutedOLS", Some(15.0)),
    ("fixed-effects-hedges", &[], "FixedEffectsHedges", None),
    ("rfx-glm", &[], "", None),
    ("ffx-glm", &[], "", None),
    ("mfx-glm", &[], "", None),
];

/// The REML fits whose fit phase alone (no reading or writing) issue 18 asks to take at most
/// `REML_FIT_TARGET_S` seconds.
const REML_FIT_CASES: &[&str] = &["mfx-glm", "variance-based-likelihood method=reml"];
const REML_FIT_TARGET_S: f64 = 0.5;

/// Permutation cases, one run each.
const PERMUTATION_CASES: &[PermCase] = &[
    PermCase::new("permuted-ols", &[], "montecarlo", Some(10_000), PermTarget::Wall(1.0)),
    PermCase::new("mfx-glm", &[], "montecarlo", Some(1000), PermTarget::ThousandFlips(180.0)),
    PermCase::new("mfx-glm", &[], "cluster-size", Some(1000), PermTarget::ThousandFlips(180.0)),
    PermCase::new("variance-based-likelihood", &["method=reml"], "montecarlo", None, PermTarget::ThousandFlips(180.0)),
    PermCase::new(
        "sample-size-based-likelihood",
        &["method=reml"],
        "montecarlo",
        None,
        PermTarget::ThousandFlips(180.0),
    ),
];

/// A permutation case: its `ibma fit` run (flips None: `--perm-flips`) and issue 18's target.
struct PermCase {
    run: Run<'static>,
    target: PermTarget,
}

impl PermCase {
    const fn new(
        estimator: &'static str,
        sets: &'static [&'static str],
        correct: &'static str,
        flips: Option<usize>,
        target: PermTarget,
    ) -> PermCase {
        PermCase { run: Run { estimator, sets, correct, flips }, target }
    }
}

/// A permutation case's time target, in seconds.
#[derive(Clone, Copy)]
enum PermTarget {
    /// The run's wall, end to end.
    Wall(f64),
    /// The fit plus 1,000 flips (extrapolated where fewer ran).
    ThousandFlips(f64),
}

/// One measured case.
struct Measured {
    name: String,
    timing: Timing,
    /// Median wall seconds on one thread.
    wall_1_thread: f64,
    /// NiMARE's fit: wall and CPU seconds.
    nimare: Option<(f64, f64)>,
    /// Issue 18's least ratio NiMARE fit / ibma read+fit.
    target: Option<f64>,
    /// The inflate floor: CPU seconds libdeflate takes to inflate the gzip files the case reads.
    floor: f64,
    /// How many gzip files the case reads.
    floor_files: usize,
}

pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let number = |flag: &str, default: usize| -> Result<usize, String> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args.get(i + 1).and_then(|r| r.parse().ok()).ok_or(format!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    let reps = number("--reps", 3)?;
    let perm_flips = number("--perm-flips", 20)?;
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
    // --reuse-nimare: the NiMARE timings of an earlier --vs-nimare run (its fits take minutes).
    let reuse = args.iter().any(|a| a == "--reuse-nimare");
    let reused = reuse && out.join("nimare/timings.json").is_file();
    let nimare = if vs_nimare || reuse { Some(nimare_fit_seconds(root, &dataset, &out, reuse)?) } else { None };
    // Against NiMARE, ibma reads the same completed inputs (z, t and se derived beforehand, as
    // NiMARE needs them on disk and does not count deriving them in its fit).
    let completed = out.join("nimare/inputs");
    let dataset = if nimare.is_some() && completed.join("dataset.json").is_file() { completed } else { dataset };
    println!("dataset: {}", dataset.display());
    let read = read_alone(&root.join("target/release/examples/read_dataset"), &dataset, reps)?;
    let floors = inflate_floors(&dataset, reps)?;
    let mut rows = Vec::new();
    for (&(estimator, sets, label, target), &(floor, floor_files)) in CASES.iter().zip(&floors) {
        let run = Run { estimator, sets, correct: "", flips: None };
        let dir = out.join("ibma").join(run.name().replace([' ', '='], "_"));
        let (mut runs, mut one_thread) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            runs.push(fit_once(&ibma, &run, &dataset, &dir, None)?);
            one_thread.push(fit_once(&ibma, &run, &dataset, &dir, Some(1))?.wall);
        }
        runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let nimare_fit = nimare.as_ref().and_then(|n| n.get(label)).map(|v| (v[0].as_f64(), v[1].as_f64()));
        let nimare_fit = nimare_fit.and_then(|(wall, cpu)| Some((wall?, cpu.unwrap_or(f64::NAN))));
        let wall_1_thread = crate::median::median(&mut one_thread);
        let timing = runs[runs.len() / 2];
        rows.push(Measured { name: run.name(), timing, wall_1_thread, nimare: nimare_fit, target, floor, floor_files });
    }
    print_table(&rows, reps, reused);
    let mut perm_rows = Vec::new();
    for case in PERMUTATION_CASES {
        let run = Run { flips: Some(case.run.flips.unwrap_or(perm_flips)), ..case.run };
        let dir = out.join("ibma").join(run.name().replace([' ', '=', ','], "_"));
        perm_rows.push((run.name(), run.flips.unwrap_or(0), fit_once(&ibma, &run, &dataset, &dir, None)?, case.target));
    }
    print_permutations(&perm_rows);
    let timing_json = |t: &Timing| json!({"median_wall_s": t.wall, "read_and_fit_s": t.read_and_fit, "read_s": t.read, "fit_s": t.fit, "correct_s": t.correct, "write_s": t.write, "cpu_s": t.cpu, "peak_rss_mb": t.rss_mb});
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut row = timing_json(&r.timing);
            row["case"] = r.name.clone().into();
            row["median_wall_1_thread_s"] = r.wall_1_thread.into();
            row["speedup_1_to_all_threads"] = (r.wall_1_thread / r.timing.wall).into();
            row["nimare_fit_s"] = r.nimare.map(|n| n.0).into();
            row["nimare_fit_cpu_s"] = r.nimare.map(|n| n.1).into();
            row["ratio_target"] = r.target.into();
            row["inflate_floor_cpu_s"] = r.floor.into();
            row["inflate_floor_gzip_files"] = r.floor_files.into();
            row
        })
        .collect();
    let perm_json: Vec<Value> = perm_rows
        .iter()
        .map(|(name, flips, t, _)| {
            let mut row = timing_json(t);
            row["case"] = name.clone().into();
            row["flips"] = (*flips).into();
            row
        })
        .collect();
    let report = json!({"dataset": "nidm_pain21", "reps": reps, "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "read_alone": read, "cases": json_rows, "permutations": perm_json});
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let path = out.join("bench.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}

/// One `ibma fit` command line of the bench.
pub(crate) struct Run<'a> {
    pub(crate) estimator: &'a str,
    pub(crate) sets: &'a [&'a str],
    /// `--correct` method, or "" for none.
    pub(crate) correct: &'a str,
    /// `--n-iters`, or None for the default.
    pub(crate) flips: Option<usize>,
}

impl Run<'_> {
    fn name(&self) -> String {
        let mut name = self.estimator.to_string();
        for s in self.sets {
            name = format!("{name} {s}");
        }
        if !self.correct.is_empty() {
            name = format!("{name} --correct {}", self.correct);
        }
        if let Some(n) = self.flips {
            name = format!("{name} --n-iters {n}");
        }
        name
    }
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
        let (wall, cpu) = (crate::median::median(&mut wall), crate::median::median(&mut cpu));
        println!("reading alone: {maps} maps on {n} thread(s), median of {reps}: wall {wall:.3} s, cpu {cpu:.3} s");
        rows.push(json!({"threads": n, "maps": maps, "median_wall_s": wall, "median_cpu_s": cpu}));
    }
    Ok(Value::Array(rows))
}

/// Each case's inflate floor (see the `floor` module) and how many gzip files it reads, in
/// the order of `CASES`: each distinct set of files timed once, median of `reps` (at least 5),
/// printed with the same files through ibma-io's inflater.
fn inflate_floors(dataset: &Path, reps: usize) -> Result<Vec<(f64, usize)>, String> {
    /// The files some cases read, those cases, and the floor with the number of gzip files.
    struct FileSet {
        files: Vec<PathBuf>,
        cases: Vec<String>,
        floor: (f64, usize),
    }
    let reps = reps.max(5);
    let (mut sets, mut at) = (Vec::<FileSet>::new(), Vec::new());
    for &(estimator, case_sets, _, _) in CASES {
        let files = crate::floor::files_read(dataset, estimator, case_sets)?;
        let name = Run { estimator, sets: case_sets, correct: "", flips: None }.name();
        match sets.iter().position(|s| s.files == files) {
            Some(i) => {
                sets[i].cases.push(name);
                at.push(i);
            }
            None => {
                let gz = crate::floor::Gzipped::read(&files)?;
                sets.push(FileSet { files, cases: vec![name], floor: (gz.libdeflate_cpu(reps)?, gz.len()) });
                at.push(sets.len() - 1);
            }
        }
    }
    println!("inflate floor, one thread, files in memory, median of {reps}:");
    for FileSet { files, cases, floor: (floor, n) } in &sets {
        let through_ibma = crate::floor::Gzipped::read(files)?.ibma_io_cpu(reps)?;
        println!(
            "  {n:>3} gzip files: libdeflate {floor:.3} CPU s, ibma-io's inflate_exact {through_ibma:.3} CPU s ({})",
            cases.join(", ")
        );
    }
    Ok(at.into_iter().map(|i| sets[i].floor).collect())
}

/// One `ibma fit` run (on `threads`, or all cores), timed from outside (wall) and as its
/// `result.json` reports the phases.
pub(crate) fn fit_once(
    ibma: &Path,
    run: &Run,
    dataset: &Path,
    dir: &Path,
    threads: Option<usize>,
) -> Result<Timing, String> {
    let mut cmd = Command::new(ibma);
    cmd.args(["fit", "--quiet", "--force", "--estimator", run.estimator, "--out"])
        .arg(dir)
        .arg("--dataset")
        .arg(dataset);
    if let Some(n) = threads {
        cmd.args(["--threads", &n.to_string()]);
    }
    for s in run.sets {
        cmd.args(["--set", s]);
    }
    if !run.correct.is_empty() {
        cmd.args(["--correct", run.correct]);
    }
    if let Some(n) = run.flips {
        cmd.args(["--n-iters", &n.to_string()]);
    }
    let start = Instant::now();
    let o = cmd.output().map_err(|e| format!("{}: {e}", ibma.display()))?;
    let wall = start.elapsed().as_secs_f64();
    if !o.status.success() {
        return Err(format!("{} on {}: {}", run.name(), dataset.display(), String::from_utf8_lossy(&o.stderr)));
    }
    let result: Value = read_json(&dir.join("result.json"))?;
    let t = &result["timings"];
    let num = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
    Ok(Timing {
        wall,
        read_and_fit: num("read_and_fit_seconds"),
        read: num("read_seconds"),
        fit: num("fit_seconds"),
        correct: num("correct_seconds"),
        write: num("write_seconds"),
        cpu: num("cpu_seconds"),
        rss_mb: num("peak_rss_mb"),
    })
}

/// The seconds of one run: wall from outside, the phases from `result.json`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) wall: f64,
    pub(crate) read_and_fit: f64,
    pub(crate) read: f64,
    pub(crate) fit: f64,
    pub(crate) correct: f64,
    pub(crate) write: f64,
    pub(crate) cpu: f64,
    pub(crate) rss_mb: f64,
}

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
            let run = Run { estimator, sets: &[], correct: "", flips: None };
            let t = fit_once(ibma, &run, manifest, &out.join(estimator), None)?;
            let (wall, fit, cpu, rss) = (t.wall, t.read_and_fit, t.cpu, t.rss_mb);
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

/// Shards of `--large`: DerSimonianLaird and MFX_GLM on all K studies as `SHARDS` (8) shards
/// sharing one stage folder (`--stage`: shard 0 stages the inputs, the others read their voxels
/// from it), run one after the other (each its own process, all cores), then merged; each shard's
/// peak memory against the unsharded run's (the row of `rows` for K), and the CPU of all shards
/// and the merge against the unsharded run's. The merged maps must equal the unsharded run's
/// byte for byte.
fn sharded_runs(ibma: &Path, k: usize, manifest: &Path, out: &Path, rows: &[Value]) -> Result<Value, String> {
    const SHARDS: usize = 8;
    println!();
    println!(
        "{SHARDS} shards on K = {k} (`ibma fit --shard I/{SHARDS} --stage DIR`, one after the other, then `ibma merge`)"
    );
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
        let stage = out.join(format!("{estimator}-stage"));
        if stage.exists() {
            std::fs::remove_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
        }
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
                .arg("--stage")
                .arg(&stage)
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
        std::fs::remove_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
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
    println!("(ratio = CPU of all shards, shard 0's staging included, and the merge / CPU of the unsharded run; targets: shard max <= whole/N + a constant, ratio <= 1.2)");
    Ok(Value::Array(cases))
}

/// The table of `CASES`; `nimare_reused`: NiMARE's timings are an earlier run's.
fn print_table(rows: &[Measured], reps: usize, nimare_reused: bool) {
    let vs_nimare = rows.iter().any(|r| r.nimare.is_some());
    println!("nidm_pain21, ibma end to end (read + fit + write), median of {reps}");
    let mut head = format!(
        "{:<44} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7}",
        "case", "wall s", "read s", "fit s", "write s", "r+fit s", "cpu s", "floor s", "cpu/floor", "RSS MB", "1->all"
    );
    if vs_nimare {
        let nimare = ["NiMARE fit", "ratio", "target", "NiMARE cpu", "cpu ratio", "at floor"];
        head += &format!(
            " {:>10} {:>7} {:>12} {:>10} {:>9} {:>8}",
            nimare[0], nimare[1], nimare[2], nimare[3], nimare[4], nimare[5]
        );
    }
    println!("{head}");
    for r in rows {
        let t = &r.timing;
        let speedup = format!("{:.2}x", r.wall_1_thread / t.wall);
        let mut line = format!(
            "{:<44} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.2} {:>7.3} {:>8.1}x {:>7.0} {speedup:>7}",
            r.name,
            t.wall,
            t.read,
            t.fit,
            t.write,
            t.read_and_fit,
            t.cpu,
            r.floor,
            t.cpu / r.floor,
            t.rss_mb
        );
        if vs_nimare {
            line += &match r.nimare {
                Some((wall, cpu)) => {
                    let ratio = wall / t.read_and_fit;
                    let target = r.target.map_or("-".into(), |least| {
                        format!(">={least:.0}x {}", if ratio >= least { "met" } else { "MISS" })
                    });
                    let (cpu_ratio, at_floor) = (cpu / t.cpu, cpu / r.floor);
                    format!(" {wall:>10.2} {ratio:>6.1}x {target:>12} {cpu:>10.2} {cpu_ratio:>8.1}x {at_floor:>7.1}x")
                }
                None => format!(" {:>10} {:>7} {:>12} {:>10} {:>9} {:>8}", "-", "-", "-", "-", "-", "-"),
            };
        }
        println!("{line}");
    }
    println!("(read/fit/write s: the phases as result.json reports them (wall), fit = the estimator alone;");
    println!(" cpu s: ibma's whole-process CPU (read, fit and write); floor s: CPU seconds libdeflate takes to");
    println!(" inflate the gzip files the case reads (mask and maps), one thread, in this run; 1->all = median");
    println!(" wall on --threads 1 / median wall on all threads");
    if vs_nimare {
        if nimare_reused {
            println!(" ratio = NiMARE fit (the earlier run's --reuse-nimare reuses, under another load) / ibma");
            println!(" read+fit (wall)");
        } else {
            println!(" ratio = NiMARE fit / ibma read+fit (wall), both measured in this run");
        }
        println!(" (NiMARE's fit re-reads its inputs too); target: issue 18's least ratio; cpu ratio = NiMARE");
        println!(" fit CPU / ibma CPU, which a loaded machine disturbs less than wall; at floor = NiMARE fit CPU /");
        println!(" floor: the cpu ratio of a run that spent nothing beyond inflating its inputs)");
    } else {
        println!(" NiMARE's columns with --vs-nimare or --reuse-nimare)");
    }
    for r in rows.iter().filter(|r| REML_FIT_CASES.contains(&r.name.as_str())) {
        let met = if r.timing.fit <= REML_FIT_TARGET_S { "met" } else { "MISS" };
        println!("REML fit alone, target <= {REML_FIT_TARGET_S} s: {:<36} {:.3} s {met}", r.name, r.timing.fit);
    }
}

/// The permutation cases: phases, the corrections' cost per flip and at 1,000 flips, and
/// issue 18's targets.
fn print_permutations(rows: &[(String, usize, Timing, PermTarget)]) {
    println!("nidm_pain21, permutations, one run each");
    println!(
        "{:<78} {:>8} {:>7} {:>8} {:>8} {:>11} {:>12} {:>20}",
        "case", "wall s", "fit s", "corr s", "cpu s", "ms per flip", "1000 flips s", "target"
    );
    for (name, flips, t, target) in rows {
        let per_flip = t.correct / *flips as f64;
        let thousand = t.fit + 1000.0 * per_flip;
        let target = match target {
            PermTarget::Wall(s) => format!("wall <= {s} s {}", if t.wall <= *s { "met" } else { "MISS" }),
            PermTarget::ThousandFlips(s) => {
                format!("1000 flips <= {s} s {}", if thousand <= *s { "met" } else { "MISS" })
            }
        };
        println!(
            "{name:<78} {:>8.2} {:>7.3} {:>8.2} {:>8.1} {:>11.2} {thousand:>12.1} {target:>20}",
            t.wall,
            t.fit,
            t.correct,
            t.cpu,
            1e3 * per_flip,
        );
    }
    println!("(1000 flips s = fit + 1000 x the per-flip cost: an extrapolation where fewer flips ran)");
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// NiMARE 0.22.1 fit seconds per harness label ([wall, CPU]), from the shared oracle harness run in a
/// virtual environment built from `xtask/nimare-requirements.lock`.
fn nimare_fit_seconds(
    root: &Path,
    dataset: &Path,
    out: &Path,
    reuse: bool,
) -> Result<serde_json::Map<String, Value>, String> {
    let nimare_out = out.join("nimare");
    if !(reuse && nimare_out.join("timings.json").is_file()) {
        run_nimare(root, dataset, &nimare_out)?;
    }
    let timings = read_json(&nimare_out.join("timings.json"))?;
    let mut fits = serde_json::Map::new();
    if let Some(estimators) = timings["estimators"].as_object() {
        for (label, info) in estimators {
            if let Some(s) = info["fit_s"].as_f64() {
                fits.insert(label.clone(), json!([s, info["fit_cpu_s"].as_f64()]));
            }
        }
    }
    Ok(fits)
}

/// Run the shared oracle harness on `dataset` into `nimare_out`.
fn run_nimare(root: &Path, dataset: &Path, nimare_out: &Path) -> Result<(), String> {
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
    let _ = std::fs::remove_dir_all(nimare_out);
    eprintln!("bench: timing NiMARE 0.22.1 on {} (a few minutes)", dataset.display());
    run(Command::new(&python).arg(&harness).arg(dataset).arg(nimare_out).args(["--fwe-iters", "1000"]))
}
