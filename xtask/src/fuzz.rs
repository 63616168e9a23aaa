//! `cargo xtask fuzz [--seconds N] [--target nifti|gzip|manifest|all]`: a mutation fuzzer for
//! the readers that take outside input, the NIfTI reader (its header and data, and its gzip
//! layer: members, zero padding, bombs) and the `dataset.json` parser. Every input must give
//! `Ok` or `Err`, never a panic; slow inputs are reported. The gzip target also knows what each
//! input must give (the original image for a re-packing of it, an error for a bomb or trailing
//! garbage). A crashing or wrongly read input is saved under `target/fuzz/` and fails the run.

use ibma::io::gz::{gzip, GzipLevel};
use ibma::io::{read_volume_bytes, write_map, Grid, Manifest, MapMeta};
use ibma_testkit::Rng;
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
    /// Inputs read differently from what they must give (gzip target).
    wrong: u64,
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
    let per_target = if target == "all" { seconds / 3 } else { seconds };
    if target == "all" || target == "nifti" {
        let t = fuzz_nifti(&crash_dir, Duration::from_secs(per_target))?;
        failed |= report("nifti reader", &t);
    }
    if target == "all" || target == "gzip" {
        let t = fuzz_gzip(&crash_dir, Duration::from_secs(per_target))?;
        failed |= report("nifti gzip layer", &t);
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
        "fuzz {name}: {} executions, {} ok, {} errors, {} panics, {} wrongly read, slowest {:.1} ms",
        t.runs,
        t.ok,
        t.err,
        t.panics,
        t.wrong,
        t.slowest.as_secs_f64() * 1e3
    );
    t.panics + t.wrong > 0
}

/// Run `f` on `input`, tallying its outcome; a panic saves the input. Returns the outcome
/// (None for a panic).
fn exec<T, E>(t: &mut Tally, crash_dir: &Path, input: &[u8], f: impl FnOnce() -> Result<T, E>) -> Option<Result<T, E>> {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(f));
    t.slowest = t.slowest.max(start.elapsed());
    t.runs += 1;
    match outcome {
        Ok(Ok(v)) => {
            t.ok += 1;
            Some(Ok(v))
        }
        Ok(Err(e)) => {
            t.err += 1;
            Some(Err(e))
        }
        Err(_) => {
            t.panics += 1;
            let _ = std::fs::write(crash_dir.join(format!("crash-{}", t.runs)), input);
            None
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

/// What a gzip-layer input must read as.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// The original image (the same bytes re-packed: members, levels, zero padding).
    Same,
    /// An error (more data than the header describes, trailing garbage).
    Fails,
    /// Either (a flipped or cut byte), but never a panic.
    Any,
}

/// The seed image re-packed as 1 to 4 gzip members at random levels with zero padding between
/// and after them, then (half the time) attacked: a bomb member, garbage, a flip, a cut.
fn fuzz_gzip(crash_dir: &Path, budget: Duration) -> Result<Tally, String> {
    let grid = Grid::from_affine(
        [5, 4, 3],
        [[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let values: Vec<f32> = (0..60).map(|i| i as f32 * 0.5 - 7.0).collect();
    let seed_path = crash_dir.join("seed/gzip-seed.nii.gz");
    std::fs::create_dir_all(crash_dir.join("seed")).map_err(|e| e.to_string())?;
    write_map(&seed_path, &grid, &values, &MapMeta::default()).map_err(|e| e.to_string())?;
    let raw = ibma::io::gunzip(&std::fs::read(&seed_path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let name = Path::new("fuzz.nii.gz");
    let expected: Vec<u64> =
        read_volume_bytes(&raw, name).map_err(|e| e.to_string())?.data.iter().map(|x| x.to_bits()).collect();
    let (mut rng, mut t, start) = (Rng(0x6a1b), Tally::default(), Instant::now());
    let level = |rng: &mut Rng| GzipLevel::new(rng.below(10) as u8).unwrap_or_default();
    while start.elapsed() < budget {
        let mut cuts: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(raw.len() + 1)).collect();
        cuts.extend([0, raw.len()]);
        cuts.sort_unstable();
        let mut input = Vec::new();
        for w in cuts.windows(2) {
            input.extend(gzip(&raw[w[0]..w[1]], level(&mut rng)));
            if rng.below(3) == 0 {
                input.resize(input.len() + rng.below(600), 0);
            }
        }
        let expect = match rng.below(8) {
            0 => {
                let zeros = 1 + rng.below(8 << 20);
                input.extend(gzip(&vec![0u8; zeros], level(&mut rng)));
                Expect::Fails
            }
            1 => {
                input.extend((0..1 + rng.below(16)).map(|i| {
                    if i == 0 {
                        1 + rng.below(255) as u8
                    } else {
                        rng.next_u64() as u8
                    }
                }));
                Expect::Fails
            }
            2 => {
                let at = rng.below(input.len());
                input[at] ^= 1 + rng.below(255) as u8;
                Expect::Any
            }
            3 => {
                input.truncate(rng.below(input.len()));
                Expect::Any
            }
            _ => Expect::Same,
        };
        let right = match (exec(&mut t, crash_dir, &input, || read_volume_bytes(&input, name)), expect) {
            (Some(Ok(v)), Expect::Same) => v.data.iter().map(|x| x.to_bits()).eq(expected.iter().copied()),
            (Some(Err(_)), Expect::Same) | (Some(Ok(_)), Expect::Fails) => false,
            _ => true, // a panic is counted by exec
        };
        if !right {
            t.wrong += 1;
            let _ = std::fs::write(crash_dir.join(format!("wrong-{}", t.runs)), &input);
        }
    }
    Ok(t)
}

fn mutate_bytes(rng: &mut Rng, input: &mut Vec<u8>, nifti: bool) {
    if input.is_empty() {
        input.push(rng.next_u64() as u8);
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
            input[at] = rng.next_u64() as u8;
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
