//! The sections of `report.html`, built from result.json, the dataset summary and the tables.

use super::figures::number;
use super::html::{self, Figure, Section};
use super::nulls::{self, Null};
use super::{DatasetSummary, MapStats};
use serde_json::Value;
use std::path::Path;

/// Everything the page shows.
pub struct Context<'a> {
    pub out: &'a Path,
    /// Which underlay the figures use and why (plain text).
    pub anatomy: &'a str,
    /// Permutation nulls from the diagnostics, written to files.
    pub nulls: &'a [Null],
    pub result: &'a Value,
    pub map: &'a str,
    pub threshold: f64,
    pub stats: &'a MapStats,
    pub figures: Vec<Figure>,
    pub summary: Option<&'a DatasetSummary>,
    /// Study ids the fit used (result.json `studies`).
    pub used: &'a [String],
    /// The coverage figure and the per-mask-voxel counts.
    pub coverage: Option<(Figure, Vec<f64>)>,
    pub notes: &'a [String],
}

pub fn ortho_caption(map: &str, thr: &str, cut: [f64; 3], stats: &MapStats, chosen: bool) -> String {
    let at = format!("({}, {}, {}) mm", number(cut[0].round()), number(cut[1].round()), number(cut[2].round()));
    let why = if chosen { "the chosen point" } else { "the peak |value| voxel" };
    format!(
        "Sagittal, coronal and axial slices of the {map} map through {why} {at}. Voxels with {map} >= {thr} are red to \
         yellow, {map} <= -{thr} blue to cyan, the rest of the mask uncoloured (grey, or the anatomy when it is \
         drawn); dark grey voxels could not be estimated (NaN); the white line is the mask's outline and the green \
         crosshair marks the cut point. Neurological convention: the subject's left is on the left (L/R), anterior \
         is right in the sagittal slice (P/A). {} voxels >= {thr}, {} voxels <= -{thr}.",
        stats.above, stats.below
    )
}

pub fn mosaic_caption(map: &str, thr: &str) -> String {
    format!(
        "Axial slices of the {map} map, bottom to top across the mask, thresholded at |{map}| >= {thr} \
         (colours as above; z in mm; left on the left)."
    )
}

pub fn coverage_caption(k: usize) -> String {
    format!(
        "Coverage: how many of the {k} studies used have usable data (every map finite and non-zero) at each voxel, \
         on the same axial slices."
    )
}

/// The whole page.
pub fn render(c: &Context) -> String {
    let r = c.result;
    let estimator = r.get("estimator").and_then(Value::as_str).unwrap_or("unknown estimator");
    let title = format!("ibma report: {estimator}");
    let subtitle = format!(
        "{} · written by ibma {} from the result of ibma {}",
        c.out.display(),
        env!("CARGO_PKG_VERSION"),
        r.pointer("/software/version").map_or_else(|| "(unknown version)".into(), html::json_text)
    );
    let mut sections =
        vec![overview(c, estimator), figures(c), dataset(c), parameters(r), maps(r), diagnostics(r, c.nulls)];
    sections.extend(tables(c));
    sections.push(software(r));
    html::page(&title, &subtitle, &sections)
}

fn overview(c: &Context, estimator: &str) -> Section {
    let r = c.result;
    let get = |k: &str| r.get(k).map_or_else(|| "not recorded".into(), html::json_text);
    let peak = match c.stats.peak {
        Some(_) => format!("{} (largest |{}|)", number(c.stats.peak_value), c.map),
        None => "no finite value".into(),
    };
    let rows = vec![
        vec!["estimator".to_string(), estimator.to_string()],
        vec!["dataset".into(), get("dataset")],
        vec!["studies used".into(), get("n_studies")],
        vec!["mask voxels".into(), get("mask_voxels")],
        vec!["map shown".into(), format!("{}.nii.gz", c.map)],
        vec!["threshold".into(), format!("|{}| >= {}", c.map, number(c.threshold))],
        vec!["peak".into(), peak],
        vec![format!("voxels >= {}", number(c.threshold)), c.stats.above.to_string()],
        vec![format!("voxels <= -{}", number(c.threshold)), c.stats.below.to_string()],
        vec!["voxels not estimable (NaN)".into(), c.stats.nan.to_string()],
    ];
    let mut body: String = c.notes.iter().map(|n| html::note(n)).collect();
    // The fit's own warnings (too rough for GRF, missing values, ...) come first: they qualify
    // everything below.
    let warnings: Vec<String> = r
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(html::json_text).collect())
        .unwrap_or_default();
    if !warnings.is_empty() {
        body += &html::note(&format!("The fit reported {} warning(s):", warnings.len()));
        body += &html::list(&warnings);
    }
    body += &html::table(&["", ""], &rows);
    Section { title: "Overview".into(), body }
}

fn dataset(c: &Context) -> Section {
    let title = "Dataset".to_string();
    let Some(s) = c.summary else {
        return Section { title, body: html::paragraph("The dataset could not be read (see the note above).") };
    };
    let used = |id: &str| c.used.is_empty() || c.used.iter().any(|u| u == id);
    let mut body = html::paragraph(&format!(
        "{} ({}): {} studies, {} used by the fit.",
        if s.name.is_empty() { "unnamed dataset" } else { &s.name },
        s.path.display(),
        s.studies.len(),
        s.studies.iter().filter(|st| used(&st.id)).count()
    ));
    let mut sizes: Vec<f64> = s.studies.iter().filter(|st| used(&st.id)).filter_map(|st| st.sample_size).collect();
    sizes.sort_by(f64::total_cmp);
    if !sizes.is_empty() {
        let median = if sizes.len() % 2 == 1 {
            sizes[sizes.len() / 2]
        } else {
            0.5 * (sizes[sizes.len() / 2 - 1] + sizes[sizes.len() / 2])
        };
        body += &html::paragraph(&format!(
            "Sample sizes of the studies used: total {}, smallest {}, median {}, largest {} ({} of them give one).",
            number(sizes.iter().sum()),
            number(sizes[0]),
            number(median),
            number(sizes[sizes.len() - 1]),
            sizes.len()
        ));
    }
    let n_mask = s.studies.first().map_or(0, |st| st.usable.len()).max(1);
    let rows: Vec<Vec<String>> = s
        .studies
        .iter()
        .map(|st| {
            let u = st.usable_voxels();
            vec![
                st.id.clone(),
                st.sample_size.map_or_else(|| "–".into(), number),
                st.maps.join(", "),
                u.to_string(),
                format!("{:.1}", 100.0 * u as f64 / n_mask as f64),
                if used(&st.id) { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    body += &html::table(&["study", "sample size", "maps", "usable voxels", "% of mask", "used"], &rows);
    if let Some((figure, coverage)) = &c.coverage {
        body += &html::figure(figure);
        body += &coverage_table(coverage, s.studies.iter().filter(|st| used(&st.id)).count());
    }
    Section { title, body }
}

/// How many mask voxels have all, at least half, fewer than two, and none of the K studies.
fn coverage_table(coverage: &[f64], k: usize) -> String {
    let n = coverage.len().max(1) as f64;
    let count = |f: &dyn Fn(f64) -> bool| coverage.iter().filter(|&&c| f(c)).count();
    let kf = k as f64;
    let rows: Vec<(String, usize)> = vec![
        (format!("all {k} studies"), count(&|c| c >= kf)),
        (format!("at least half ({})", k.div_ceil(2)), count(&|c| c >= k.div_ceil(2) as f64)),
        ("fewer than 2 studies".into(), count(&|c| c < 2.0)),
        ("no study".into(), count(&|c| c < 1.0)),
    ];
    let rows: Vec<Vec<String>> =
        rows.into_iter().map(|(what, m)| vec![what, m.to_string(), format!("{:.1}", 100.0 * m as f64 / n)]).collect();
    html::table(&["mask voxels covered by", "voxels", "%"], &rows)
}

fn figures(c: &Context) -> Section {
    let body = html::paragraph(c.anatomy) + &c.figures.iter().map(html::figure).collect::<String>();
    Section { title: "Figures".into(), body }
}

fn parameters(r: &Value) -> Section {
    let mut rows = r.get("parameters").map(|v| html::flat_rows("", v)).unwrap_or_default();
    for key in ["corrections", "n_iters", "seed", "threads", "estimator_requested"] {
        if let Some(v) = r.get(key) {
            rows.push(vec![key.to_string(), html::json_text(v)]);
        }
    }
    // Permutation corrections' own options (cdt, cdt_tail, connectivity, flips).
    rows.extend(r.get("correction_options").map(|v| html::flat_rows("correction", v)).unwrap_or_default());
    let body = if rows.is_empty() {
        html::paragraph("result.json records no parameters.")
    } else {
        html::table(&["parameter", "value"], &rows)
    };
    Section { title: "Parameters".into(), body }
}

fn maps(r: &Value) -> Section {
    let rows: Vec<Vec<String>> = r
        .get("maps")
        .and_then(Value::as_object)
        .map(|maps| {
            maps.iter()
                .map(|(name, m)| {
                    let field = |k: &str| m.get(k).map_or_else(String::new, html::json_text);
                    vec![name.clone(), field("file"), field("finite"), field("nan"), field("volumes")]
                })
                .collect()
        })
        .unwrap_or_default();
    Section {
        title: "Maps".into(),
        body: html::table(&["map", "file", "finite voxels", "NaN voxels", "volumes"], &rows),
    }
}

fn diagnostics(r: &Value, nulls: &[Null]) -> Section {
    let mut rows = r.get("diagnostics").map(|v| html::flat_rows("", v)).unwrap_or_default();
    // A null distribution is a row pointing at its summary, not thousands of numbers.
    for row in &mut rows {
        if let Some(null) = nulls.iter().find(|n| n.key == row[0]) {
            row[1] = format!("{} values: summarised below, all in {}", null.values.len(), null.file);
        }
    }
    let mut body = if rows.is_empty() {
        html::paragraph("result.json records no diagnostics.")
    } else {
        html::paragraph(
            "Bags are groups of voxels sharing the same set of usable studies (fitted once each); \
             voxels_nan_* count voxels left NaN and why.",
        ) + &html::table(&["diagnostic", "value"], &rows)
    };
    let two_sided = r.pointer("/parameters/two_sided").and_then(Value::as_bool) != Some(false);
    for null in nulls {
        body += &html::subheading(&format!("Null distribution {}", null.key));
        body += &html::table(&["", ""], &nulls::summary(null, two_sided));
        body += &html::paragraph(&format!(
            "One value per permutation (sign flip), in iteration order, in {} beside this page.",
            null.file
        ));
    }
    Section { title: "Bags and NaN counts".into(), body }
}

/// One section per TSV table in the output folder: those result.json lists, then every other
/// `.tsv` file there (`jackknife.tsv`, …) by name.
fn tables(c: &Context) -> Vec<Section> {
    let mut names: Vec<String> = c
        .result
        .get("tables")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let mut others: Vec<String> = std::fs::read_dir(c.out)
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    others.sort();
    for name in others {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .filter(|n| n.ends_with(".tsv") && !n.starts_with('.') && !n.contains(['/', '\\']) && !n.contains(".."))
        // The report's own files (the nulls) are summarised elsewhere.
        .filter(|n| !super::is_report_file(n))
        .filter_map(|n| {
            let text = std::fs::read_to_string(c.out.join(&n)).ok()?;
            Some(Section { title: n.clone(), body: html::tsv_table(&text) })
        })
        .collect()
}

fn software(r: &Value) -> Section {
    let mut rows = r.get("software").map(|v| html::flat_rows("software", v)).unwrap_or_default();
    rows.extend(r.get("timings").map(|v| html::flat_rows("timings", v)).unwrap_or_default());
    rows.push(vec!["report written by".into(), format!("ibma {}", env!("CARGO_PKG_VERSION"))]);
    Section { title: "Software and timings".into(), body: html::table(&["", ""], &rows) }
}

/// `ibma demo`'s index page: its table and a link to each estimator's report.
pub fn demo_index(estimators: &[&str], table: &str) -> String {
    let mut body = format!("<pre>{}</pre>\n<ul>\n", html::esc(table));
    for name in estimators {
        let link = format!("{name}/report.html");
        body += &format!("<li><a href=\"{}\">{}</a></li>\n", html::esc(&link), html::esc(name));
    }
    body += "</ul>\n";
    let section = Section { title: "Estimators on the synthetic dataset".into(), body };
    html::page(
        "ibma demo",
        "Every estimator on a synthetic 20-study dataset with known truth (dataset/ holds it and its truth maps).",
        &[section],
    )
}
