//! Read every map of a dataset the way `ibma fit` does (each map's in-mask voxels, checked
//! against the mask grid), on `--threads N` threads (default 2), and print the time: the
//! reading half of a fit, for timing the reader whole-process (`/usr/bin/time -v`).
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
    // Maps dealt round-robin to the threads, as a work-stealing pool would spread them.
    let values: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (mask, paths) = (&mask, &paths);
                scope.spawn(move || {
                    paths.iter().skip(t).step_by(threads).map(|p| mask.read_masked(p).unwrap().len()).sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("{} maps, {values} in-mask values, {:.3} s", paths.len(), start.elapsed().as_secs_f64());
}
