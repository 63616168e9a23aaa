//! Read every map of a dataset the way `ibma fit` reads its inputs (each map's in-mask voxels
//! in float32, through the mask's file order, its grid checked against the mask's) on
//! `--threads N` threads (default 2), and print one JSON line: maps, values, wall and CPU
//! seconds of the whole process. The reading half of a fit alone, for `cargo xtask bench` and
//! for timing two builds against each other.
//!
//! `cargo run --release -p ibma-io --example read_dataset -- <dataset.json> [--threads N]`

use ibma_io::{Manifest, Mask};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dataset = PathBuf::from(args.first().expect("usage: read_dataset <dataset.json> [--threads N]"));
    let threads: usize = args.iter().position(|a| a == "--threads").map_or(2, |i| args[i + 1].parse().expect("N"));
    let start = Instant::now();
    let manifest = Manifest::load(&dataset).unwrap_or_else(|e| panic!("{e}"));
    let mask = Mask::read(manifest.mask.as_ref().expect("the dataset names a mask")).unwrap_or_else(|e| panic!("{e}"));
    let paths: Vec<PathBuf> = manifest.studies.iter().flat_map(|s| s.maps.values().cloned()).collect();
    let order = mask.file_order();
    // Maps dealt round-robin to the threads, as a work-stealing pool spreads equal tasks.
    let values: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (order, paths) = (&order, &paths);
                scope.spawn(move || {
                    let read = |p: &PathBuf| order.read_as::<f32>(p, None).unwrap_or_else(|e| panic!("{e}")).len();
                    paths.iter().skip(t).step_by(threads).map(read).sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("reader thread")).sum()
    });
    let line = serde_json::json!({
        "maps": paths.len(),
        "values": values,
        "wall_s": start.elapsed().as_secs_f64(),
        "cpu_s": cpu_seconds(),
    });
    println!("{line}");
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`; None elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
}
