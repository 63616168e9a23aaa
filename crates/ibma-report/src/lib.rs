//! The report of an `ibma fit` output folder (`ibma report <out>`): figures and one HTML page for the result that `ibma fit` wrote in
//! `<out>`.
//!
//! Everything comes from files: `result.json`, the map shown (`<map>.nii.gz`, `z` by default),
//! the tables beside them (`clusters.tsv`, `jackknife.tsv`, …) and the dataset that
//! `result.json` names, read again for its studies, sample sizes and coverage map (when it
//! is gone the page says so and goes on). Written beside them, each atomically:
//! `report.html` (self-contained: the figures are embedded in it), `report_<map>_ortho.png`,
//! `report_<map>_mosaic.png`, `report_coverage.png`, and `report_<null>.tsv` for every
//! permutation null the result keeps (the page shows their summaries).
//!
//! Figures are drawn here in pure Rust ([`figures`] samples slices in world space over the
//! compiled-in MNI template when the grid is MNI space ([`underlay`]), a built-in bitmap font
//! labels them, the `png` crate encodes them): the same files give the same bytes.

mod canvas;
pub mod figures;
mod font;
mod geometry;
mod html;
mod nulls;
mod page;
mod scale;
mod summary;
pub mod underlay;

pub use canvas::{Canvas, Rgb};
pub use summary::{DatasetSummary, StudySummary};

use figures::{Brain, Scale, Style};
use ibma::{Error, Result};
use ibma_io::{Mask, Volume};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Default `--threshold`: |z| ≥ 3.1 (p ≈ 0.001 one-sided), the usual uncorrected display
/// threshold and the demo's scoring threshold.
pub const DEFAULT_THRESHOLD: f64 = 3.1;
/// Axial slices in the mosaic (4 × 4).
const MOSAIC_SLICES: usize = 16;
const MOSAIC_COLUMNS: usize = 4;

/// What `ibma report` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Map to draw (`<out>/<map>.nii.gz`), `z` by default.
    pub map: String,
    /// Values with |value| ≥ threshold are coloured.
    pub threshold: f64,
    /// World point (mm) of the orthogonal slices; the peak |value| voxel if None.
    pub cut: Option<[f64; 3]>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { map: "z".into(), threshold: DEFAULT_THRESHOLD, cut: None }
    }
}

/// What `ibma report` wrote.
#[derive(Clone, Debug)]
pub struct ReportOutput {
    /// `<out>/report.html`.
    pub html: PathBuf,
    /// The PNG figures beside it.
    pub figures: Vec<PathBuf>,
    /// The permutation nulls written beside it (`report_<null>.tsv`).
    pub tables: Vec<PathBuf>,
    /// What could not be shown and why (also on the page).
    pub notes: Vec<String>,
}

/// Write the report for the fit in `out`.
///
/// # Errors
/// `out` holds no readable `result.json`, the map is missing or unreadable, a bad option, or a
/// file cannot be written. A dataset that cannot be read any more is only a note.
pub fn write(out: &Path, options: &ReportOptions) -> Result<ReportOutput> {
    write_with(out, out, options, None)
}

/// [`write()`] of the fit in `out` with the files written into `dest` (a staging folder) and
/// the dataset already summarised on the same mask (the demo reads its dataset once for every
/// estimator); `None` reads the dataset that `result.json` names.
pub fn write_with(
    out: &Path,
    dest: &Path,
    options: &ReportOptions,
    summary: Option<&DatasetSummary>,
) -> Result<ReportOutput> {
    if !(options.threshold.is_finite() && options.threshold > 0.0) {
        return Err(Error::Invalid(format!("--threshold {}: must be a positive number", options.threshold)));
    }
    let map = &options.map;
    if map.is_empty() || map.contains(['/', '\\']) || map.contains("..") {
        return Err(Error::Invalid(format!("--map {map:?}: expected a map name such as z or z_corr-FDR_method-indep")));
    }
    let result = read_result(out)?;
    let map_path = out.join(format!("{map}.nii.gz"));
    if !map_path.is_file() {
        let listed: Vec<&str> = result
            .get("maps")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(Error::Invalid(format!(
            "{}: map {map:?} not found; result.json lists: {}",
            map_path.display(),
            if listed.is_empty() { "no maps".to_string() } else { listed.join(", ") }
        )));
    }
    let volume = ibma_io::read_volume(&map_path)?;
    let mut notes = Vec::new();
    let dataset = result.get("dataset").and_then(Value::as_str).map(PathBuf::from);
    let mask = display_mask(&result, &volume, dataset.as_deref(), &mut notes);
    let read_summary;
    let summary = match summary.filter(|s| s.studies.first().is_some_and(|st| st.usable.len() == mask.len())) {
        Some(s) => Some(s),
        None => match dataset.as_deref().map(|d| (d, DatasetSummary::read(d, &mask, resample_of(&result)))) {
            Some((_, Ok(s))) => {
                read_summary = s;
                Some(&read_summary)
            }
            Some((d, Err(e))) => {
                notes.push(format!(
                    "The dataset {} could not be read ({e}); the study table and coverage map are left out.",
                    d.display()
                ));
                None
            }
            None => {
                notes.push("result.json names no dataset; the study table and coverage map are left out.".into());
                None
            }
        },
    };
    let mut in_mask = vec![false; volume.grid.n_voxels()];
    for &v in &mask.indices {
        in_mask[v] = true;
    }
    let brain =
        Brain::new(&volume.grid, &in_mask).map_err(|e| Error::Invalid(format!("{}: {e}", map_path.display())))?;
    let anatomy = brain.choose_underlay(&mask.indices);
    let brain = brain.with_underlay(anatomy.template);
    let stats = MapStats::of(&volume.data, &mask, options.threshold);
    let cut = match options.cut {
        Some(c) => brain.voxel_at(c).map(|v| brain.world(v)).ok_or_else(|| {
            Error::Invalid(format!(
                "--cut {},{},{}: outside the map's grid ({})",
                c[0],
                c[1],
                c[2],
                volume.grid.describe()
            ))
        })?,
        None => brain.world(stats.peak.unwrap_or(mask.indices[mask.len() / 2])),
    };
    let vmax = if stats.max_abs > options.threshold { stats.max_abs } else { 1.5 * options.threshold };
    let scale = Scale::Diverging { threshold: options.threshold, vmax };
    let thr = figures::number(options.threshold);
    let mut written = Vec::new();
    let mut figs = Vec::new();

    let ortho_title = format!(
        "{map}, |{map}| >= {thr}, cut at ({}, {}, {}) mm, left on left",
        figures::number(cut[0].round()),
        figures::number(cut[1].round()),
        figures::number(cut[2].round())
    );
    let label = bar_label(map);
    let style = Style { title: &ortho_title, scale, label: &label };
    let file = format!("report_{map}_ortho.png");
    let png = write_png(dest, &file, &figures::ortho(&brain, &volume.data, cut, &style), &mut written)?;
    let caption = page::ortho_caption(map, &thr, cut, &stats, options.cut.is_some());
    figs.push(html::Figure { file, caption, png });

    let zs = brain.axial_cuts(MOSAIC_SLICES);
    let title = format!("{map}, |{map}| >= {thr}, axial slices, left on left");
    let style = Style { title: &title, scale, label: &label };
    let file = format!("report_{map}_mosaic.png");
    let png =
        write_png(dest, &file, &figures::mosaic(&brain, &volume.data, &zs, MOSAIC_COLUMNS, &style), &mut written)?;
    figs.push(html::Figure { file, caption: page::mosaic_caption(map, &thr), png });

    let used: Vec<String> = result
        .get("studies")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let mut coverage_figure = None;
    if let Some(s) = summary {
        let coverage = s.coverage(&used);
        let k = s.studies.iter().filter(|st| used.is_empty() || used.contains(&st.id)).count();
        let full = mask.unmask(&coverage).into_iter().map(f64::from).collect::<Vec<_>>();
        let title = format!("coverage: studies with usable data (of {k})");
        let style = Style { title: &title, scale: Scale::Sequential { max: k as f64 }, label: "studies" };
        let canvas = figures::mosaic(&brain, &full, &zs, MOSAIC_COLUMNS, &style);
        let file = "report_coverage.png".to_string();
        let png = write_png(dest, &file, &canvas, &mut written)?;
        coverage_figure = Some((html::Figure { file, caption: page::coverage_caption(k), png }, coverage));
    }
    let mut tables = Vec::new();
    let null_files = nulls::write_all(dest, &result, &mut tables)?;
    let context = page::Context {
        out,
        anatomy: &anatomy.note,
        nulls: &null_files,
        result: &result,
        map,
        threshold: options.threshold,
        stats: &stats,
        figures: figs,
        summary,
        used: &used,
        coverage: coverage_figure,
        notes: &notes,
    };
    let html_path = dest.join("report.html");
    ibma_io::atomic::write_bytes(&html_path, page::render(&context).as_bytes())?;
    Ok(ReportOutput { html: html_path, figures: written, tables, notes })
}

/// The demo's `index.html`: the demo's score `table` and a link to every estimator's report.
pub fn demo_index(estimators: &[&str], table: &str) -> String {
    page::demo_index(estimators, table)
}

/// Parse `--cut x,y,z` (world millimetres).
pub fn parse_cut(text: &str) -> Result<[f64; 3]> {
    let parts: Vec<Option<f64>> =
        text.split(',').map(|p| p.trim().parse::<f64>().ok().filter(|x| x.is_finite())).collect();
    match parts.as_slice() {
        [Some(x), Some(y), Some(z)] => Ok([*x, *y, *z]),
        _ => Err(Error::Invalid(format!("--cut {text:?}: expected three numbers x,y,z in mm, e.g. --cut 0,-18,6"))),
    }
}

/// Peak and threshold counts of a map over the mask.
#[derive(Clone, Debug)]
pub struct MapStats {
    /// Voxel (flat grid index) of the largest finite |value|; the first one on ties.
    pub peak: Option<usize>,
    /// Its value.
    pub peak_value: f64,
    /// Largest finite |value| (0 if none).
    pub max_abs: f64,
    /// In-mask voxels with value ≥ threshold.
    pub above: usize,
    /// In-mask voxels with value ≤ −threshold.
    pub below: usize,
    /// In-mask NaN voxels.
    pub nan: usize,
}

impl MapStats {
    fn of(values: &[f64], mask: &Mask, threshold: f64) -> MapStats {
        let mut s = MapStats { peak: None, peak_value: f64::NAN, max_abs: 0.0, above: 0, below: 0, nan: 0 };
        for &v in &mask.indices {
            let x = values[v];
            if x.is_nan() {
                s.nan += 1;
                continue;
            }
            s.above += usize::from(x >= threshold);
            s.below += usize::from(x <= -threshold);
            if x.is_finite() && (s.peak.is_none() || x.abs() > s.max_abs) {
                (s.peak, s.peak_value, s.max_abs) = (Some(v), x, x.abs());
            }
        }
        s
    }
}

/// `<out>/result.json`, parsed.
fn read_result(out: &Path) -> Result<Value> {
    let path = out.join("result.json");
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "{}: not found; `ibma report` needs the folder an `ibma fit --out` wrote",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ibma_io::Error::Io { path: path.clone(), source })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!("{}: invalid JSON at line {} column {}: {e}", path.display(), e.line(), e.column()))
    })?;
    if !value.is_object() {
        return Err(Error::Invalid(format!("{}: expected a JSON object", path.display())));
    }
    Ok(value)
}

/// The analysis mask the fit used: the dataset's mask when it is still there, on the map's
/// grid and of the size result.json records; otherwise the map's own non-zero or NaN voxels
/// (maps are 0 outside the mask).
fn display_mask(result: &Value, volume: &Volume, dataset: Option<&Path>, notes: &mut Vec<String>) -> Mask {
    let expected = result.get("mask_voxels").and_then(Value::as_u64);
    let from_dataset = dataset
        .and_then(|d| ibma_io::Manifest::load(d).ok())
        .and_then(|m| m.mask)
        .and_then(|p| Mask::read(&p).ok())
        .filter(|m| m.grid.same_as(&volume.grid) && Some(m.len() as u64) == expected);
    from_dataset.unwrap_or_else(|| {
        let indices = (0..volume.data.len()).filter(|&v| volume.data[v] != 0.0).collect();
        let mask = Mask { grid: volume.grid.clone(), indices };
        if Some(mask.len() as u64) != expected {
            notes.push(format!(
                "The analysis mask was not found; the outline shows the map's non-zero voxels ({} voxels).",
                mask.len()
            ));
        }
        mask
    })
}

/// Write a figure as `out/file`, note it in `written`, and return its PNG bytes (the page
/// embeds them).
fn write_png(out: &Path, file: &str, canvas: &Canvas, written: &mut Vec<PathBuf>) -> Result<Vec<u8>> {
    let path = out.join(file);
    let bytes = canvas.to_png().map_err(|source| ibma_io::Error::Io { path: path.clone(), source })?;
    ibma_io::atomic::write_bytes(&path, &bytes)?;
    written.push(path);
    Ok(bytes)
}

/// Whether `name` (a file name in an output folder) is one `ibma report` writes: `report.html`,
/// `report_*.png`, `report_*.tsv`. What a command replacing a result may remove.
pub fn is_report_file(name: &str) -> bool {
    name == "report.html" || (name.starts_with("report_") && (name.ends_with(".png") || name.ends_with(".tsv")))
}

/// The colour bar's label: the quantity a map holds, from its name's first part
/// (`z_corr-FDR_method-indep` → `z`, `logp_…` → `-log10 p`, `est` → `estimate`).
pub fn bar_label(map: &str) -> String {
    let quantity = map.split('_').next().unwrap_or(map);
    match quantity {
        "logp" => "-log10 p".into(),
        "est" => "estimate".into(),
        "se" => "std. error".into(),
        _ => quantity.into(),
    }
}

/// The fit's `resample` parameter, so the coverage map reads study maps as the fit did.
fn resample_of(result: &Value) -> Option<ibma_io::Interpolation> {
    result.pointer("/parameters/resample").and_then(Value::as_str).and_then(ibma_io::Interpolation::parse)
}
