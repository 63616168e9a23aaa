//! The `ibma` command: `fit`, `estimators`, `demo`. Thin: the work is in the library.

use clap::{Parser, Subcommand};
use ibma::run::{parse_set, FitRequest};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Image-based meta-analysis of neuroimaging statistical maps, with NiMARE 0.22.1's numbers.
#[derive(Parser, Debug)]
#[command(name = "ibma", version, about, long_about = None, after_help = "Start with `ibma demo --out demo` to see every estimator on synthetic data with known truth,\nthen `ibma estimators`, then `ibma fit --help`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit one estimator on a dataset and write its maps and result.json.
    #[command(
        after_help = "Examples:\n  ibma fit --dataset ../shared/data/nidm_pain21 --estimator stouffers --out out/stouffers --correct fdr-indep\n  ibma fit --dataset data --estimator stouffers --set use_sample_size=true --set two_sided=false --out out/ws\n  ibma fit --dataset data --estimator mfx-glm --set cdt=0.001 --correct tfce --n-iters 1000 --out out/mfx\n  ibma fit --dataset data --estimator dersimonian-laird --set moderators=age --set contrast=\"0 1\" --out out/age\n\nOutputs: <out>/<map>.nii.gz (float32 on the mask grid; NaN inside the mask where a voxel cannot\nbe estimated, 0 outside) with NiMARE's map names (z, p, logp, dof, ...; corrected maps such as\nz_corr-FDR_method-indep), clusters.tsv for GRF clusters (ffx-glm, mfx-glm), and <out>/result.json
(parameters, studies used, per-map counts, why voxels are NaN, timings). `ibma estimators` lists
every estimator's --set parameters.\nBad input: one line on stderr and exit code 2."
    )]
    Fit(FitArgs),
    /// List every estimator with its parameters, defaults and the map types it needs.
    Estimators,
    /// Write an ibma-dataset manifest (dataset.json) for a NiMARE dataset JSON.
    ConvertDataset {
        /// NiMARE's dataset JSON (or any dataset ibma reads).
        #[arg(long)]
        dataset: PathBuf,
        /// Output directory for dataset.json (images stay where they are).
        #[arg(long)]
        out: PathBuf,
        /// Analysis mask to record in the manifest.
        #[arg(long)]
        mask: Option<PathBuf>,
        /// Several contrasts of one study become independent studies.
        #[arg(long)]
        treat_as_independent: bool,
    },
    /// Generate a synthetic dataset with known truth and fit every available estimator on it.
    Demo {
        /// Output directory (dataset under <out>/dataset, one folder per estimator).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress display.
        #[arg(long)]
        quiet: bool,
    },
    /// Draw figures of a fit's map and write an HTML report beside its result.json.
    #[command(
        after_help = "Examples:\n  ibma report out/stouffers\n  ibma report out/stouffers --map z_corr-FDR_method-indep --threshold 1.96\n  ibma report out/mfx --cut 0,-18,6\n\nWrites <out>/report.html (self-contained, open it in a browser) and beside it\nreport_<map>_ortho.png (slices through the peak), report_<map>_mosaic.png (axial slices) and\nreport_coverage.png (studies with usable data per voxel, from the dataset result.json names).\nFigures are in neurological convention (left on left). Bad input: one line on stderr, exit code 2."
    )]
    Report {
        /// Output folder of `ibma fit` (holding result.json and the maps).
        out: PathBuf,
        /// Colour voxels with |value| >= this (default 3.1, p ~ 0.001 one-sided for z).
        #[arg(long, default_value_t = ibma::report::DEFAULT_THRESHOLD, allow_negative_numbers = true)]
        threshold: f64,
        /// Map to draw: <out>/<MAP>.nii.gz.
        #[arg(long, default_value = "z")]
        map: String,
        /// World point "x,y,z" in mm for the orthogonal slices (default: the peak |value|).
        #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
        cut: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
struct FitArgs {
    /// Dataset directory holding dataset.json, or the dataset.json file itself.
    #[arg(long)]
    dataset: PathBuf,
    /// Estimator: a command name from `ibma estimators` (e.g. stouffers) or a NiMARE class name.
    #[arg(long)]
    estimator: String,
    /// Output directory (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Estimator parameter by NiMARE name, e.g. --set two_sided=false (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Correction (repeatable): fdr-indep, fdr-negcorr, bonferroni; montecarlo (voxel FWE by sign
    /// flips); cluster-size, cluster-mass, tfce (permutation cluster FWE).
    #[arg(long = "correct", value_name = "METHOD")]
    corrections: Vec<String>,
    /// Iterations of permutation-based methods.
    #[arg(long, default_value_t = 5000)]
    n_iters: usize,
    /// Random seed (NiMARE's default 42).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
    /// Replace an earlier result in --out (only its own files are removed).
    #[arg(long)]
    force: bool,
    /// Analysis mask overriding the dataset's (NiMARE's dataset JSON carries none).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// NiMARE JSON: analyse several contrasts of one study as independent studies.
    #[arg(long)]
    treat_as_independent: bool,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ibma: internal error (please report): {info}");
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ibma: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn set_threads(threads: Option<usize>) -> ibma::Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(ibma::Error::Invalid("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| ibma::Error::Invalid(format!("--threads {n}: {e}")))?;
    }
    Ok(())
}

fn run(cli: Cli) -> ibma::Result<()> {
    match cli.command {
        Command::Fit(args) => {
            set_threads(args.threads)?;
            ibma::progress::set_quiet(args.quiet);
            let req = FitRequest {
                sets: args.sets.iter().map(|s| parse_set(s)).collect::<ibma::Result<_>>()?,
                dataset: args.dataset,
                estimator: args.estimator,
                out: args.out,
                corrections: args.corrections,
                n_iters: args.n_iters,
                seed: args.seed,
                threads: args.threads,
                force: args.force,
                load: ibma::dataset::LoadOptions { mask: args.mask, treat_as_independent: args.treat_as_independent },
            };
            let report = ibma::run::fit(&req)?;
            for w in &report.result.warnings {
                eprintln!("ibma: warning: {w}");
            }
            if !args.quiet {
                eprintln!(
                    "ibma: {} on {} studies in {:.2} s; wrote {} maps and result.json to {}",
                    report.result.estimator,
                    report.result.studies.len(),
                    report.fit_seconds,
                    report.written.len(),
                    req.out.display()
                );
            }
            Ok(())
        }
        Command::ConvertDataset { dataset, out, mask, treat_as_independent } => {
            let n =
                ibma::run::convert_dataset(&dataset, &out, &ibma::dataset::LoadOptions { mask, treat_as_independent })?;
            eprintln!("ibma: wrote {} with {n} studies", out.join("dataset.json").display());
            Ok(())
        }
        Command::Estimators => {
            print!("{}", ibma::estimators::describe_all());
            Ok(())
        }
        Command::Demo { out, threads, quiet } => {
            set_threads(threads)?;
            ibma::progress::set_quiet(quiet);
            let show = !quiet && std::io::stderr().is_terminal();
            let rows = ibma::demo::run(&out, show)?;
            print!("{}", ibma::demo::table(&rows));
            Ok(())
        }
        Command::Report { out, threshold, map, cut } => {
            let cut = cut.as_deref().map(ibma::report::parse_cut).transpose()?;
            let written = ibma::report::write(&out, &ibma::report::ReportOptions { map, threshold, cut })?;
            for note in &written.notes {
                eprintln!("ibma: note: {note}");
            }
            eprintln!("ibma: wrote {} and {} figures", written.html.display(), written.figures.len());
            Ok(())
        }
    }
}
