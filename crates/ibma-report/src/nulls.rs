//! Permutation nulls that result.json keeps in its diagnostics (`montecarlo_null_max_z`,
//! `permutation_clusters.null_max_size`, …): thousands of numbers, too many for the page. Each
//! is written to `report_<name>.tsv` beside the page, which shows a summary instead: count,
//! quantiles and, for the maximum-z null, the FWE thresholds.

use ibma::stats::permute::fwe_threshold;
use ibma::Result;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A numeric array in the diagnostics longer than this is a null distribution, not a cell.
pub const MAX_INLINE: usize = 16;
/// The maximum-|z| null of `--correct montecarlo`, whose thresholds the page gives.
const MAX_Z_NULL: &str = "montecarlo_null_max_z";
/// FWE levels whose thresholds the page gives.
const LEVELS: [f64; 2] = [0.05, 0.01];

/// One null distribution and the file it was written to.
pub struct Null {
    /// Dotted path in the diagnostics, e.g. `permutation_clusters.null_max_size`.
    pub key: String,
    /// File name beside report.html.
    pub file: String,
    /// The values (NaN where result.json has null: a non-finite value).
    pub values: Vec<f64>,
}

/// Whether a diagnostics value is a null distribution (a long array of numbers or nulls).
pub fn is_null(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.len() > MAX_INLINE && a.iter().all(|x| x.is_number() || x.is_null()))
}

/// Every null in result.json's diagnostics, written to `out/report_<key>.tsv`.
pub fn write_all(out: &Path, result: &Value, written: &mut Vec<PathBuf>) -> Result<Vec<Null>> {
    let mut found = Vec::new();
    if let Some(d) = result.get("diagnostics") {
        collect("", d, &mut found);
    }
    let mut nulls: Vec<Null> = Vec::new();
    for (key, values) in found {
        // Keys come from the file: keep the name to safe characters, and unique.
        let stem: String =
            key.chars().take(100).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let mut file = format!("report_{stem}.tsv");
        let mut n = 1;
        while nulls.iter().any(|x| x.file == file) {
            n += 1;
            file = format!("report_{stem}_{n}.tsv");
        }
        let column = key.rsplit('.').next().unwrap_or("value");
        let mut text = format!("iteration\t{}\n", column.replace(['\t', '\n', '\r'], " "));
        for (i, x) in values.iter().enumerate() {
            text += &if x.is_nan() { format!("{}\tn/a\n", i + 1) } else { format!("{}\t{x}\n", i + 1) };
        }
        let path = out.join(&file);
        ibma_io::atomic::write_bytes(&path, text.as_bytes())?;
        written.push(path);
        nulls.push(Null { key, file, values });
    }
    Ok(nulls)
}

fn collect(prefix: &str, v: &Value, found: &mut Vec<(String, Vec<f64>)>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                collect(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, x, found);
            }
        }
        _ if is_null(v) => {
            let values = v.as_array().into_iter().flatten().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
            found.push((prefix.to_string(), values));
        }
        _ => {}
    }
}

/// Summary rows (what, value) of a null; `two_sided` names the statistic of the FWE thresholds.
pub fn summary(null: &Null, two_sided: bool) -> Vec<Vec<String>> {
    let mut sorted: Vec<f64> = null.values.iter().copied().filter(|x| !x.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let num = |x: f64| format!("{}", (x * 1e4).round() / 1e4 + 0.0);
    let mut rows = vec![vec!["iterations".to_string(), null.values.len().to_string()]];
    if sorted.len() < null.values.len() {
        rows.push(vec!["not finite (n/a)".into(), (null.values.len() - sorted.len()).to_string()]);
    }
    if !sorted.is_empty() {
        // Nearest-rank quantiles.
        let q = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        rows.push(vec!["minimum".into(), num(sorted[0])]);
        for (name, p) in [
            ("5% quantile", 0.05),
            ("25% quantile", 0.25),
            ("median", 0.5),
            ("75% quantile", 0.75),
            ("95% quantile", 0.95),
            ("99% quantile", 0.99),
        ] {
            rows.push(vec![name.to_string(), num(q(p))]);
        }
        rows.push(vec!["maximum".into(), num(sorted[sorted.len() - 1])]);
    }
    if null.key == MAX_Z_NULL {
        let stat = if two_sided { "|z|" } else { "z" };
        for alpha in LEVELS {
            let text = match fwe_threshold(&null.values, alpha) {
                Some(t) if t.is_infinite() => "every voxel".to_string(),
                Some(t) => format!("{stat} > {}", num(t)),
                None => format!("none: {} iterations cannot give p <= {alpha}", null.values.len()),
            };
            rows.push(vec![format!("FWE p <= {alpha} where"), text]);
        }
    }
    rows
}
