//! `cargo xtask fuzz [--seconds N] [--target nifti|manifest|all]`: a mutation fuzzer for the two
//! readers that take outside input, the NIfTI reader and the `dataset.json` parser. Every input
//! must give `Ok` or `Err`, never a panic; slow inputs are reported. A crashing input is saved
//! under `target/fuzz/` and fails the run.

use crate::rng::Rng;
use ibma::io::{read_volume_bytes, write_map, Grid, Manifest, MapMeta};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// Tallies of one target.
#[derive(Default)]
struct Tally {
    runs: u64,
    ok: u64,
    err: u64,
    panics: u64,
    slowest: Duration,
}

pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds: u64 = arg("--seconds").map_or(Ok(60), |s| s.parse().map_err(|_| "--seconds needs a number"))?;
    let target = arg("--target").unwrap_or_else(|| "all".into());
    let crash_dir = root.join("target/fuzz");
    std::fs::create_dir_all(&crash_dir).map_err(|e| e.to_string())?;
    std::panic::set_hook(Box::new(|_| {})); // panics are counted, not printed
    let mut failed = false;
    let per_target = if target == "all" { seconds / 2 } else { seconds };
    if target == "all" || target == "nifti" {
        let t = fuzz_nifti(&crash_dir, Duration::from_secs(per_target))?;
        failed |= report("nifti reader", &t);
    }
    if target == "all" || target == "manifest" {
        let t = fuzz_manifest(&crash_dir, Duration::from_secs(per_target))?;
        failed |= report("dataset.json parser", &t);
    }
    let _ = std::panic::take_hook();
    if failed {
        return Err(format!("crashing inputs saved in {}", crash_dir.display()));
    }
    Ok(())
}

fn report(name: &str, t: &Tally) -> bool {
    println!(
        "fuzz {name}: {} executions, {} ok, {} errors, {} panics, slowest {:.1} ms",
        t.runs,
        t.ok,
        t.err,
        t.panics,
        t.slowest.as_secs_f64() * 1e3
    );
    t.panics > 0
}

/// Run `f` on `input`, tallying its outcome; a panic saves the input.
fn exec<T, E>(t: &mut Tally, crash_dir: &Path, input: &[u8], f: impl FnOnce() -> Result<T, E>) {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(f));
    t.slowest = t.slowest.max(start.elapsed());
    t.runs += 1;
    match outcome {
        Ok(Ok(_)) => t.ok += 1,
        Ok(Err(_)) => t.err += 1,
        Err(_) => {
            t.panics += 1;
            let _ = std::fs::write(crash_dir.join(format!("crash-{}", t.runs)), input);
        }
    }
}

/// Offsets of NIfTI-1 header fields worth hitting with extreme values.
const HEADER_FIELDS: [usize; 14] = [0, 40, 42, 44, 46, 48, 70, 72, 108, 112, 116, 252, 254, 344];

fn fuzz_nifti(crash_dir: &Path, budget: Duration) -> Result<Tally, String> {
    let dir = crash_dir.join("seed");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let seed_path = dir.join("seed.nii.gz");
    let grid = Grid::from_affine(
        [5, 4, 3],
        [[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let values: Vec<f32> = (0..60).map(|i| i as f32 * 0.5 - 7.0).collect();
    write_map(&seed_path, &grid, &values, &MapMeta::default()).map_err(|e| e.to_string())?;
    let gz = std::fs::read(&seed_path).map_err(|e| e.to_string())?;
    let raw = ibma::io::gunzip(&gz).map_err(|e| e.to_string())?;
    let (mut rng, mut t, start) = (Rng(0x1b3d), Tally::default(), Instant::now());
    let name = Path::new("fuzz.nii");
    while start.elapsed() < budget {
        let mut input = if rng.below(8) == 0 { gz.clone() } else { raw.clone() };
        for _ in 0..1 + rng.below(6) {
            mutate_bytes(&mut rng, &mut input, true);
        }
        exec(&mut t, crash_dir, &input, || read_volume_bytes(&input, name));
    }
    Ok(t)
}

fn mutate_bytes(rng: &mut Rng, input: &mut Vec<u8>, nifti: bool) {
    if input.is_empty() {
        input.push(rng.next() as u8);
        return;
    }
    match rng.below(6) {
        0 => input.truncate(rng.below(input.len())),
        1 if nifti => {
            // An extreme value in a header field.
            let at = HEADER_FIELDS[rng.below(HEADER_FIELDS.len())];
            let extremes: [i32; 6] = [0, -1, 1, i16::MAX as i32, i32::MAX, i32::MIN];
            let v = extremes[rng.below(extremes.len())].to_le_bytes();
            let width = if at == 0 || (108..120).contains(&at) { 4 } else { 2 };
            if at + width <= input.len() {
                input[at..at + width].copy_from_slice(&v[..width]);
            }
        }
        2 => {
            let at = rng.below(input.len());
            let chunk: Vec<u8> = input[at..(at + rng.below(64)).min(input.len())].to_vec();
            let to = rng.below(input.len());
            input.splice(to..to, chunk);
        }
        3 => {
            let at = rng.below(input.len());
            input.remove(at);
        }
        _ => {
            // Mostly the header, where the decisions are made.
            let span = if nifti && rng.below(4) > 0 { input.len().min(352) } else { input.len() };
            let at = rng.below(span);
            input[at] = rng.next() as u8;
        }
    }
}

const MANIFEST_SEED: &str = r#"{"format": "ibma-dataset", "format_version": 1, "name": "n", "mask": null,
 "studies": [{"id": "s1", "sample_size": 20, "maps": {"con": null, "z": null}, "covariates": {"age": 3, "site": "A"}},
             {"id": "s2", "sample_size": 21.5, "maps": {}}]}"#;

/// Replacement JSON fragments of every type and some hostile sizes.
const FRAGMENTS: [&str; 12] = [
    "null",
    "0",
    "-1",
    "1e308",
    "-1e999",
    "\"\"",
    "\"../../etc/passwd\"",
    "[]",
    "{}",
    "[[[[[[[[[[]]]]]]]]]]",
    "true",
    "\"s1\"",
];

fn fuzz_manifest(crash_dir: &Path, budget: Duration) -> Result<Tally, String> {
    let path = crash_dir.join("seed/dataset.json");
    let (mut rng, mut t, start) = (Rng(0x5eed), Tally::default(), Instant::now());
    while start.elapsed() < budget {
        let mut text = MANIFEST_SEED.to_string();
        for _ in 0..1 + rng.below(4) {
            if rng.below(2) == 0 {
                // Structure-aware: swap a scalar for a fragment of another type.
                let starts: Vec<usize> = text.match_indices(": ").map(|(i, _)| i + 2).collect();
                let Some(&at) = starts.get(rng.below(starts.len())) else { continue };
                let end = text[at..].find([',', '}', ']']).map_or(text.len(), |e| at + e);
                text.replace_range(at..end, FRAGMENTS[rng.below(FRAGMENTS.len())]);
            } else {
                let mut bytes = text.into_bytes();
                mutate_bytes(&mut rng, &mut bytes, false);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        exec(&mut t, crash_dir, text.as_bytes(), || Manifest::parse(&text, &path));
    }
    Ok(t)
}
