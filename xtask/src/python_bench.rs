//! `cargo xtask bench --python [--reps N]`: the `ibma` Python package against the `ibma`
//! command and against NiMARE 0.22.1 on nidm_pain21 DerSimonianLaird, the three alternating in
//! one run; and the wheel's size. The package and NiMARE (its exact lock) are installed into
//! one virtual environment, `target/py-bench-venv`, by `crates/ibma-py/make-venv.sh`, so both
//! run on the same Python. Results go to `target/bench/bench-python.json`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One Python run of ibma: import, fit (read + fit, maps to NumPy), write the maps; JSON on
/// stdout.
const IBMA_SCRIPT: &str = r#"
import json, sys, time, warnings
t0 = time.perf_counter()
import ibma
t1 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    result = ibma.DerSimonianLaird().fit(sys.argv[1])
t2 = time.perf_counter()
result.save_maps(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "fit_s": t2 - t1, "write_s": t3 - t2}))
"#;

/// The overhead the Python package may add to the command's read + fit.
const OVERHEAD_LIMIT: f64 = 0.10;

/// Run the comparison, print it and write `target/bench/bench-python.json`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let reps: usize = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).and_then(|r| r.parse().ok()).ok_or("--reps needs a number")?,
        None => 3,
    };
    let dataset = root.join("../shared/data/nidm_pain21");
    let harness = root.join("../shared/oracle/run_nimare.py");
    if !dataset.is_dir() || !harness.is_file() {
        return Err(format!("{} or {} not found: the bench needs ../shared", dataset.display(), harness.display()));
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "ibma-cli"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p ibma-cli failed".into());
    }
    let ibma = root.join("target/release/ibma");
    let (python, wheel) = install(root)?;
    let wheel_bytes = std::fs::metadata(&wheel).map_err(|e| format!("{}: {e}", wheel.display()))?.len();
    let out = root.join("target/bench/python");
    let mut t: [Vec<f64>; 6] = Default::default();
    let [cli_fit, cli_wall, py_fit, py_wall, py_import, nimare_fit] = &mut t;
    for _ in 0..reps {
        let run = crate::bench::Run { estimator: "dersimonian-laird", sets: &[], correct: "", flips: None };
        let cli = crate::bench::fit_once(&ibma, &run, &dataset, &out.join("cli"), None)?;
        cli_wall.push(cli.wall);
        cli_fit.push(cli.read_and_fit);
        let start = Instant::now();
        let py = output(Command::new(&python).arg("-c").arg(IBMA_SCRIPT).arg(&dataset).arg(out.join("py")))?;
        py_wall.push(start.elapsed().as_secs_f64());
        let py: Value = serde_json::from_slice(&py).map_err(|e| format!("python run output: {e}"))?;
        py_fit.push(py["fit_s"].as_f64().unwrap_or(f64::NAN));
        py_import.push(py["import_s"].as_f64().unwrap_or(f64::NAN));
        let nimare_out = out.join("nimare");
        let _ = std::fs::remove_dir_all(&nimare_out);
        output(Command::new(&python).arg(&harness).arg(&dataset).arg(&nimare_out).args([
            "--estimators",
            "DerSimonianLaird",
            "--no-fdr",
            "--quiet",
        ]))?;
        let timings: Value = serde_json::from_str(
            &std::fs::read_to_string(nimare_out.join("timings.json")).map_err(|e| format!("NiMARE timings: {e}"))?,
        )
        .map_err(|e| format!("NiMARE timings: {e}"))?;
        nimare_fit.push(timings["estimators"]["DerSimonianLaird"]["fit_s"].as_f64().ok_or("NiMARE timings: no fit_s")?);
    }
    let [cf, cw, pf, pw, pi, nf] = t.map(|mut v| crate::median::median(&mut v));
    let overhead = pf / cf - 1.0;
    let verdict = if overhead <= OVERHEAD_LIMIT { "within" } else { "OVER" };
    let name = wheel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    println!("nidm_pain21 DerSimonianLaird, median of {reps} alternating runs (read + fit)");
    println!(
        "  Python package {pf:.3} s   command {cf:.3} s   overhead {:+.1} % ({verdict} the {:.0} % limit)",
        100.0 * overhead,
        100.0 * OVERHEAD_LIMIT
    );
    println!("  NiMARE 0.22.1 fit {nf:.2} s, same Python: {:.1}x the Python package's", nf / pf);
    println!("  whole process: Python {pw:.3} s (import {pi:.3} s)   command {cw:.3} s");
    println!("  wheel {name}: {:.2} MB", wheel_bytes as f64 / 1e6);
    let report = json!({
        "dataset": "nidm_pain21",
        "case": "dersimonian-laird",
        "reps": reps,
        "python_read_and_fit_s": pf,
        "command_read_and_fit_s": cf,
        "overhead": overhead,
        "overhead_limit": OVERHEAD_LIMIT,
        "nimare_fit_s": nf,
        "nimare_over_python": nf / pf,
        "python_wall_s": pw,
        "python_import_s": pi,
        "command_wall_s": cw,
        "wheel": name,
        "wheel_bytes": wheel_bytes,
    });
    let path = root.join("target/bench/bench-python.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Stdout of a command that must succeed.
fn output(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let o = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(o.stdout)
}

/// `target/py-bench-venv` with the package built from this checkout and NiMARE's lock
/// (make-venv.sh), and the package's wheel built beside it: (the venv's python, the wheel).
fn install(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let venv = root.join("target/py-bench-venv");
    eprintln!("bench: building the ibma package into {} (and NiMARE 0.22.1 the first time)", venv.display());
    output(Command::new("bash").arg(root.join("crates/ibma-py/make-venv.sh")).arg(&venv).arg("--test"))?;
    let python = venv.join("bin/python");
    let wheels = root.join("target/py-bench-wheel");
    let _ = std::fs::remove_dir_all(&wheels);
    output(
        Command::new(&python)
            .args(["-m", "pip", "--disable-pip-version-check", "wheel", "--quiet", "--no-deps", "-w"])
            .arg(&wheels)
            .arg(root.join("crates/ibma-py")),
    )?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("no wheel was built")?;
    Ok((python, wheel))
}
