//! `cargo xtask bench`'s Python case: the `ibma` Python package (a wheel built from this
//! checkout into `target/py-bench-venv`) against the `ibma` command on nidm_pain21
//! DerSimonianLaird, the two alternating in one run, and against NiMARE's fit when
//! `--vs-nimare` timed it. Also the wheel's size.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One Python run: import, fit (read + fit, maps to NumPy), write the maps; JSON on stdout.
const SCRIPT: &str = r#"
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

/// Build and install the wheel, time `reps` alternating runs of the command and the package,
/// print the comparison and return it as JSON. `nimare_fit`: NiMARE's DerSimonianLaird fit
/// seconds from the same run, if measured.
pub fn run(root: &Path, ibma: &Path, dataset: &Path, reps: usize, nimare_fit: Option<f64>) -> Result<Value, String> {
    let (python, wheel) = install(root)?;
    let wheel_bytes = std::fs::metadata(&wheel).map_err(|e| format!("{}: {e}", wheel.display()))?.len();
    let out = root.join("target/bench/python");
    let (mut cli_fit, mut cli_wall, mut py_fit, mut py_wall, mut py_import, mut py_write) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let (wall, fit, _, _) =
            crate::bench::fit_once(ibma, "dersimonian-laird", &[], dataset, &out.join("cli"), None)?;
        cli_wall.push(wall);
        cli_fit.push(fit);
        let start = Instant::now();
        let o = Command::new(&python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(dataset)
            .arg(out.join("py"))
            .output()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        py_wall.push(start.elapsed().as_secs_f64());
        if !o.status.success() {
            return Err(format!("python run failed: {}", String::from_utf8_lossy(&o.stderr)));
        }
        let t: Value = serde_json::from_slice(&o.stdout).map_err(|e| format!("python run output: {e}"))?;
        let num = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
        py_fit.push(num("fit_s"));
        py_import.push(num("import_s"));
        py_write.push(num("write_s"));
    }
    let m = |v: &mut Vec<f64>| crate::bench::median(v);
    let (cf, cw, pf, pw, pi, pwr) =
        (m(&mut cli_fit), m(&mut cli_wall), m(&mut py_fit), m(&mut py_wall), m(&mut py_import), m(&mut py_write));
    let overhead = pf / cf - 1.0;
    let verdict = if overhead <= OVERHEAD_LIMIT { "within" } else { "OVER" };
    println!();
    println!("Python package vs the ibma command, nidm_pain21 DerSimonianLaird, median of {reps} alternating runs");
    println!(
        "  read + fit     python {pf:.3} s   command {cf:.3} s   overhead {:+.1} % ({verdict} the {:.0} % limit)",
        100.0 * overhead,
        100.0 * OVERHEAD_LIMIT
    );
    println!(
        "  whole process  python {pw:.3} s (import {pi:.3} s, save_maps {pwr:.3} s)   command {cw:.3} s (also writes result.json and the saved result)   ratio {:.2}",
        pw / cw
    );
    if let Some(n) = nimare_fit {
        println!("  NiMARE 0.22.1 fit {n:.2} s: {:.1}x the Python package's read + fit", n / pf);
    }
    let name = wheel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    println!("  wheel {name}: {:.2} MB", wheel_bytes as f64 / 1e6);
    Ok(json!({
        "case": "dersimonian-laird",
        "python_read_and_fit_s": pf,
        "command_read_and_fit_s": cf,
        "overhead": overhead,
        "overhead_limit": OVERHEAD_LIMIT,
        "python_wall_s": pw,
        "python_import_s": pi,
        "python_save_maps_s": pwr,
        "command_wall_s": cw,
        "nimare_fit_s": nimare_fit,
        "nimare_over_python": nimare_fit.map(|n| n / pf),
        "wheel": name,
        "wheel_bytes": wheel_bytes,
    }))
}

/// A wheel of `crates/ibma-py` built afresh and installed into `target/py-bench-venv`:
/// (its python, the wheel).
fn install(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let venv = root.join("target/py-bench-venv");
    let python = venv.join("bin/python");
    let run = |cmd: &mut Command| -> Result<(), String> {
        let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
        status.success().then_some(()).ok_or_else(|| format!("{cmd:?} failed"))
    };
    if !python.is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let wheels = root.join("target/py-bench-wheel");
    let _ = std::fs::remove_dir_all(&wheels);
    eprintln!("bench: building the ibma wheel (maturin, release)");
    let pip = |args: &[&str]| {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "pip", "--disable-pip-version-check"]).args(args);
        cmd
    };
    run(pip(&["wheel", "--quiet", "--no-deps", "-w"]).arg(&wheels).arg(root.join("crates/ibma-py")))?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("no wheel was built")?;
    run(pip(&["install", "--quiet", "--force-reinstall", "--no-deps"]).arg(&wheel))?;
    run(pip(&["install", "--quiet"]).arg(&wheel))?;
    Ok((python, wheel))
}
