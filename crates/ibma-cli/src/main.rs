//! The `ibma` command: `fit`, `estimators`, `demo`. Thin: the work is in the library.

use clap::{Parser, Subcommand};
use ibma_cli::run::{parse_set, FitRequest};
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
        after_help = "Examples:\n  ibma fit --dataset ../shared/data/nidm_pain21 --estimator stouffers --out out/stouffers --correct fdr-indep\n  ibma fit --dataset data --estimator stouffers --set use_sample_size=true --set two_sided=false --out out/ws\n  ibma fit --dataset data --estimator mfx-glm --set cdt=0.001 --correct tfce --n-iters 1000 --out out/mfx\n  ibma fit --dataset data --estimator dersimonian-laird --set moderators=age --set contrast=\"0 1\" --out out/age\n  ibma fit --dataset studyset.json --mask mask.nii.gz --estimator fishers --set groupby=none --out out/indep\n\nSeveral images per study (NiMARE contrasts, NIMADS analyses, dataset.json version 2) are dependent:\nby default (groupby=study) the images of a study form a group, as in NiMARE 0.22.1. Regression\nestimators then use cluster-robust (CR2) standard errors with Satterthwaite dof, Fishers Brown's\ncorrection, Stouffers a group-level combination, permutations flip whole groups. With 10 or fewer\ngroups (or dof below 4) this inference is unreliable. groupby=none treats every image as\nindependent (inflates significance); groupby=<covariate> groups by a covariate. See docs/dependence.md.\n\nOutputs: <out>/<map>.nii.gz (float32 on the mask grid; NaN inside the mask where a voxel cannot\nbe estimated, 0 outside) with NiMARE's map names (z, p, logp, dof, ...; corrected maps such as\nz_corr-FDR_method-indep), clusters.tsv for GRF clusters (ffx-glm, mfx-glm), and <out>/result.json
(parameters, studies used, per-map counts, why voxels are NaN, timings). `ibma estimators` lists
every estimator's --set parameters.\nBad input: one line on stderr and exit code 2."
    )]
    Fit(FitArgs),
    /// Add corrections to a saved fit (FDR, Bonferroni without refitting; permutations refit).
    #[command(
        after_help = "Examples:\n  ibma fit --dataset data --estimator stouffers --out out/st\n  ibma correct --result out/st --correct fdr-indep --correct bonferroni\n  ibma correct --result out/st --correct montecarlo --n-iters 1000\n  ibma correct --result out/st --correct tfce --dataset moved/data\n\n`ibma fit` saves its result as <out>/result.ibma.json.gz (gzip JSON, float32 maps, the estimator\nand the absolute dataset path). fdr-indep, fdr-negcorr and bonferroni are applied to that saved\nresult: the corrected maps are the ones `ibma fit --correct` writes, bit for bit. montecarlo,\ncluster-size, cluster-mass and tfce need the data: the fit is rerun on the dataset the result\nnames (or --dataset), with every correction so far plus the new ones. New maps are written\nbeside the others; result.json and result.ibma.json.gz are updated. See\ndocs/persistence-and-jackknife.md."
    )]
    Correct {
        #[command(flatten)]
        result: ResultFolder,
        /// Correction to add (repeatable): fdr-indep (or fdr), fdr-negcorr, bonferroni; montecarlo,
        /// cluster-size, cluster-mass, tfce (these refit on the dataset).
        #[arg(long = "correct", value_name = "METHOD")]
        corrections: Vec<String>,
        /// Where the dataset is now, if it moved since the fit (permutation methods only).
        #[arg(long)]
        dataset: Option<PathBuf>,
        /// Iterations of permutation methods (default: the saved estimator's).
        #[arg(long)]
        n_iters: Option<usize>,
        /// Seed of permutation methods (default: the saved estimator's).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress display.
        #[arg(long)]
        quiet: bool,
    },
    /// Leave each study out in turn and report its contribution to every cluster (NiMARE's Jackknife).
    #[command(
        after_help = "Examples:\n  ibma jackknife --dataset ../shared/data/nidm_pain21 --estimator stouffers --set threshold=3.1 --out out/jk\n  ibma jackknife --dataset data --estimator dersimonian-laird --set threshold=1.96 --correct fdr-indep \\\n      --set target_image=z_corr-FDR_method-indep --out out/jk_fdr\n\nJackknife parameters (--set, beside the estimator's): threshold (required; clusters are voxels\nstrictly above it, and below -threshold when two-sided, face-connected), target_image (map of the\nfit on all studies to cluster, default z), cluster_threshold (smallest cluster in voxels, default 0).\nEach study is left out in turn and the estimator refitted on the data read once; a study's\ncontribution to a cluster is the mean over its voxels of 1 - est_without/est_all (z for\nestimators without est), as NiMARE 0.22.1's Jackknife computes it (not normalised).\n\nOutputs in --out: jackknife.tsv (column id, then one column per cluster: PositiveTail 1, ...,\nNegativeTail 1, ...; one row per study), jackknife_clusters.tsv (cluster_id, sign, n_voxels,\nvolume_mm3, peak_stat, peak_x/_y/_z in mm, max_contribution, max_contribution_study),\nlabel_tail-positive.nii.gz / label_tail-negative.nii.gz (cluster numbers) and jackknife.json.\nSee docs/persistence-and-jackknife.md. Bad input: one line on stderr and exit code 2."
    )]
    Jackknife {
        #[command(flatten)]
        target: FitTarget,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Join the shards of one `ibma fit --shard I/N` run into the result the whole fit gives.
    #[command(
        after_help = "Examples:\n  for i in 0 1 2 3; do ibma fit --dataset data --estimator dersimonian-laird --correct fdr --shard $i/4 --out shards/$i; done\n  ibma merge --out out/dl shards/0 shards/1 shards/2 shards/3\n\nEvery shard of the split must be given once, all of the same fit (dataset, estimator, parameters,\ncorrections, seed). The output is what `ibma fit` without --shard writes: the same maps bit for bit,\nthe same result.json (timings aside) and saved result. Whole-map steps (GRF clusters, FDR, the FWE\nmaps from the joined nulls) run here. See docs/cluster.md. A shard that does not fit: one line on\nstderr naming it, exit code 2, nothing written."
    )]
    Merge {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// The shards' output folders (`ibma fit --shard I/N --out DIR`), in any order.
        #[arg(value_name = "SHARD_DIR", required = true)]
        shards: Vec<PathBuf>,
        /// Replace an earlier result in --out (only its own files are removed).
        #[arg(long)]
        force: bool,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress display.
        #[arg(long)]
        quiet: bool,
    },
    /// List the estimators with their parameters, defaults and the map types they need.
    Estimators {
        /// Show only this estimator (command name or NiMARE class name).
        name: Option<String>,
    },
    /// Write an ibma-dataset manifest (dataset.json) for a NiMARE dataset JSON or NIMADS studyset.
    #[command(
        after_help = "The manifest lists every image with absolute paths to the original files. When a study has several\nimages (NiMARE contrasts, NIMADS analyses) it is format_version 2, one entry per image with its\nstudy; otherwise version 1. See docs/dependence.md."
    )]
    ConvertDataset {
        /// NiMARE's dataset JSON, a NIMADS studyset (Studyset.to_nimads), or any dataset ibma reads.
        #[arg(long)]
        dataset: PathBuf,
        /// Output directory for dataset.json (images stay where they are).
        #[arg(long)]
        out: PathBuf,
        /// Analysis mask to record in the manifest.
        #[arg(long)]
        mask: Option<PathBuf>,
        /// The images of one study become studies of their own (no dependence between them).
        #[arg(long)]
        treat_as_independent: bool,
        /// Write into a folder that holds other files (never replacing them), or replace the
        /// manifest ibma wrote there before.
        #[arg(long)]
        force: bool,
    },
    /// Generate a synthetic dataset with known truth and fit every available estimator on it.
    Demo {
        /// Output directory (dataset under `OUT/dataset`, one folder per estimator).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress display.
        #[arg(long)]
        quiet: bool,
        /// Replace an earlier demo in --out (only files ibma wrote are removed).
        #[arg(long)]
        force: bool,
    },
    /// Draw figures of a fit's map and write an HTML report beside its result.json.
    #[command(
        after_help = "Examples:\n  ibma report out/stouffers\n  ibma report out/stouffers --map z_corr-FDR_method-indep --threshold 1.96\n  ibma report out/mfx --cut 0,-18,6\n\nWrites <out>/report.html (self-contained, open it in a browser) and beside it\nreport_<map>_ortho.png (slices through the peak), report_<map>_mosaic.png (axial slices) and\nreport_coverage.png (studies with usable data per voxel, from the dataset result.json names).\nFigures are in neurological convention (left on left). Bad input: one line on stderr, exit code 2."
    )]
    Report {
        #[command(flatten)]
        result: ResultFolder,
        /// Colour voxels with |value| >= this (default 3.1, p ~ 0.001 one-sided for z).
        #[arg(long, default_value_t = ibma_report::DEFAULT_THRESHOLD, allow_negative_numbers = true)]
        threshold: f64,
        /// Map to draw: `OUT/MAP.nii.gz`.
        #[arg(long, default_value = "z")]
        map: String,
        /// World point "x,y,z" in mm for the orthogonal slices (default: the peak |value|).
        #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
        cut: Option<String>,
    },
}

/// The output folder of an earlier `ibma fit`, given as the first argument or as `--result`
/// (both forms work for every command that takes one).
#[derive(clap::Args, Debug)]
struct ResultFolder {
    /// Output folder of `ibma fit` (holding result.json, the maps and result.ibma.json.gz).
    #[arg(value_name = "RESULT", required_unless_present = "flag", conflicts_with = "flag")]
    positional: Option<PathBuf>,
    /// The same folder, as a flag.
    #[arg(long = "result", value_name = "RESULT", id = "flag")]
    flag: Option<PathBuf>,
}

impl ResultFolder {
    fn path(self) -> PathBuf {
        self.positional.or(self.flag).unwrap_or_default()
    }
}

/// What `fit` and `jackknife` fit: dataset, estimator, parameters, corrections, output.
#[derive(clap::Args, Debug)]
struct FitTarget {
    /// Dataset directory holding dataset.json, or the dataset.json file itself.
    #[arg(long)]
    dataset: PathBuf,
    /// Estimator: a command name from `ibma estimators` (e.g. stouffers) or a NiMARE class name.
    #[arg(long)]
    estimator: String,
    /// Output directory (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Estimator parameter by NiMARE name, e.g. --set two_sided=false (repeatable; jackknife also
    /// takes threshold=, target_image=, cluster_threshold=).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Correction (repeatable): fdr-indep (or fdr), fdr-negcorr, bonferroni; montecarlo (voxel FWE by sign
    /// flips); cluster-size, cluster-mass, tfce (permutation cluster FWE; fit only).
    #[arg(long = "correct", value_name = "METHOD")]
    corrections: Vec<String>,
}

/// How `fit` and `jackknife` read and run.
#[derive(clap::Args, Debug)]
struct RunOptions {
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
    /// NiMARE JSON, NIMADS: analyse the images of one study as independent studies (as
    /// --set groupby=none, without its warning).
    #[arg(long)]
    treat_as_independent: bool,
}

impl RunOptions {
    /// Apply --threads and --quiet; the dataset reading options.
    fn start(&self) -> ibma::Result<ibma::dataset::LoadOptions> {
        set_threads(self.threads)?;
        ibma_cli::progress::set_quiet(self.quiet);
        Ok(ibma::dataset::LoadOptions { mask: self.mask.clone(), treat_as_independent: self.treat_as_independent })
    }
}

#[derive(clap::Args, Debug)]
struct FitArgs {
    #[command(flatten)]
    target: FitTarget,
    /// Iterations of permutation-based methods.
    #[arg(long, default_value_t = 5000)]
    n_iters: usize,
    /// Random seed (NiMARE's default 42).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fit only shard I of N (0-based; e.g. 0/8): its block of voxels and its slice of the sign
    /// flips, into a partial result that `ibma merge` joins (docs/cluster.md).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// With --shard: a folder the shards of this fit share for their inputs. The first shard to
    /// get there reads every map once and stages the checked inputs in it (float32, 4·K·V bytes
    /// per map type); the others wait for it, then every shard reads only its voxels. Without it
    /// every shard inflates every map. Remove the folder after `ibma merge`.
    #[arg(long, value_name = "DIR", requires = "shard")]
    stage: Option<PathBuf>,
    /// gzip level of the written maps, 0 (stored) to 9 (smallest); 1, what nibabel writes, is
    /// the fastest that compresses.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=9))]
    compress_level: u8,
    #[command(flatten)]
    options: RunOptions,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ibma: internal error (please report): {info}");
    }));
    // Ctrl-C or a kill: remove what this run staged (never a half-written result), then exit.
    let _ = ctrlc::set_handler(|| {
        ibma_io::out_folder::abort_all();
        eprintln!("ibma: interrupted; nothing of this run was written");
        std::process::exit(130);
    });
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && e.kind() != clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("ibma: error: {}", usage_error(&e));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ibma: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// clap's message in one line: the error, what it lists, its tip, and where help is.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().trim_start_matches("error: ").to_string();
    let mut parts = vec![first];
    for line in lines {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        parts.push(line.to_string());
    }
    let command = std::env::args().nth(1).filter(|a| !a.starts_with('-')).map(|c| format!(" {c}")).unwrap_or_default();
    format!("{} (see `ibma{command} --help`)", parts.join("; ").replace(":;", ":"))
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
        Command::Fit(FitArgs { target, n_iters, seed, shard, stage, compress_level, options }) => {
            let load = options.start()?;
            let shard = shard.as_deref().map(ibma::shard::ShardSpec::parse).transpose()?;
            let req = FitRequest {
                sets: target.sets.iter().map(|s| parse_set(s)).collect::<ibma::Result<_>>()?,
                dataset: target.dataset,
                estimator: target.estimator,
                out: target.out,
                corrections: target.corrections,
                n_iters,
                seed,
                threads: options.threads,
                force: options.force,
                load,
            };
            let level = ibma_io::GzipLevel::new(compress_level).unwrap_or_default();
            let report = match shard {
                Some(spec) => ibma_cli::merge::fit_shard(&req, spec, stage.as_deref())?,
                None => ibma_cli::run::fit_at(&req, level)?,
            };
            report.result.warnings.iter().for_each(|w| ibma_cli::progress::warn(w));
            if !options.quiet {
                eprintln!(
                    "ibma: {} on {} studies in {:.2} s; wrote {} maps and result.json to {}",
                    ibma::Estimator::name(&report.result.estimator),
                    report.result.studies.len(),
                    report.fit_seconds,
                    report.written.len(),
                    req.out.display()
                );
            }
            Ok(())
        }
        Command::Merge { out, shards, force, threads, quiet } => {
            set_threads(threads)?;
            ibma_cli::progress::set_quiet(quiet);
            let req = ibma_cli::merge::MergeRequest { out, shards, force };
            let report = ibma_cli::merge::merge(&req)?;
            report.result.warnings.iter().for_each(|w| ibma_cli::progress::warn(w));
            if !quiet {
                eprintln!(
                    "ibma: merged {} shards in {:.2} s; wrote {} files to {}",
                    req.shards.len(),
                    report.fit_seconds,
                    report.written.len(),
                    req.out.display()
                );
            }
            Ok(())
        }
        Command::Correct { result, corrections, dataset, n_iters, seed, threads, quiet } => {
            set_threads(threads)?;
            ibma_cli::progress::set_quiet(quiet);
            let req = ibma_cli::run::CorrectRequest {
                result_dir: result.path(),
                corrections,
                dataset,
                n_iters,
                seed,
                threads,
            };
            let written = ibma_cli::run::correct(&req)?;
            if !quiet {
                eprintln!("ibma: wrote {} files to {}", written.len(), req.result_dir.display());
            }
            Ok(())
        }
        Command::Jackknife { target, options } => {
            let load = options.start()?;
            let req = ibma_cli::jackknife::JackknifeRequest {
                sets: target.sets.iter().map(|s| parse_set(s)).collect::<ibma::Result<_>>()?,
                dataset: target.dataset,
                estimator: target.estimator,
                out: target.out,
                corrections: target.corrections,
                force: options.force,
                load,
            };
            let report = ibma_cli::jackknife::run(&req)?;
            report.jackknife.result.warnings.iter().for_each(|w| ibma_cli::progress::warn(w));
            print!("{}", report.jackknife.summary(report.options.target_image));
            if !options.quiet {
                eprintln!(
                    "ibma: jackknife in {:.2} s; wrote {} files to {}",
                    report.seconds,
                    report.written.len(),
                    req.out.display()
                );
            }
            Ok(())
        }
        Command::ConvertDataset { dataset, out, mask, treat_as_independent, force } => {
            let n = ibma_cli::run::convert_dataset(
                &dataset,
                &out,
                &ibma::dataset::LoadOptions { mask, treat_as_independent },
                force,
            )?;
            eprintln!("ibma: wrote {} with {n} studies", out.join("dataset.json").display());
            Ok(())
        }
        Command::Estimators { name } => {
            print!("{}", ibma::params::describe(name.as_deref())?);
            Ok(())
        }
        Command::Demo { out, threads, quiet, force } => {
            set_threads(threads)?;
            ibma_cli::progress::set_quiet(quiet);
            let show = !quiet && std::io::stderr().is_terminal();
            let rows = ibma_cli::demo::run(&out, force, show)?;
            print!("{}", ibma_cli::demo::closing(&rows, &out));
            Ok(())
        }
        Command::Report { result, threshold, map, cut } => {
            let out = result.path();
            let cut = cut.as_deref().map(ibma_report::parse_cut).transpose()?;
            let written = ibma_cli::run::report(&out, &ibma_report::ReportOptions { map, threshold, cut }, None)?;
            for note in &written.notes {
                eprintln!("ibma: note: {note}");
            }
            eprintln!("ibma: wrote {} and {} figures", written.html.display(), written.figures.len());
            Ok(())
        }
    }
}
