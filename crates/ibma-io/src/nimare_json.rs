//! Import of NiMARE's dataset JSON (study → contrasts → images + metadata), as NiMARE 0.22.1
//! reads it: one image per (study, contrast), id `study-contrast`, images in sorted-id order,
//! the contrasts of one study dependent (their `study` is the NiMARE study id). A repeated key
//! keeps its last value (Python's `json`, and serde_json). See docs/dataset-format.md §8 and docs/dependence.md.

use crate::manifest::{existing_file, Covariate, Manifest, MapType, Source, Study};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// True if `value` looks like NiMARE's dataset JSON rather than an ibma-dataset manifest.
pub fn is_nimare_json(value: &Value) -> bool {
    value.as_object().is_some_and(|o| !o.contains_key("format") && o.values().any(|s| s.get("contrasts").is_some()))
}

/// NiMARE image keys and the ibma map types they become.
const IMAGE_KEYS: [(&str, MapType); 5] =
    [("beta", MapType::Con), ("se", MapType::Se), ("t", MapType::T), ("z", MapType::Z), ("varcope", MapType::Varcope)];

/// Convert NiMARE's JSON at `path` (relative image paths resolve against `base`).
pub fn convert(value: &Value, path: &Path, base: &Path) -> Result<Manifest> {
    let err = |field: String, msg: String| Error::Manifest { path: path.to_path_buf(), field, msg };
    let top = value.as_object().ok_or_else(|| err("(top level)".into(), "expected a JSON object of studies".into()))?;
    let mut studies = Vec::new();
    let mut warnings = Vec::new();
    // Study id → where it came from: "a" + "b-c" and "a-b" + "c" both make "a-b-c".
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for (study_id, study) in top {
        let contrasts = study
            .get("contrasts")
            .and_then(Value::as_object)
            .ok_or_else(|| err(format!("{study_id}.contrasts"), "missing or not an object".into()))?;
        for (contrast_id, contrast) in contrasts {
            let id = format!("{study_id}-{contrast_id}");
            let at = format!("{study_id}.contrasts.{contrast_id}");
            let mut maps = BTreeMap::new();
            if let Some(images) = contrast.get("images").and_then(Value::as_object) {
                for (key, v) in images {
                    let Some(&(_, ty)) = IMAGE_KEYS.iter().find(|(k, _)| k == key) else {
                        if !v.is_null() {
                            warnings.push(format!("{at}.images.{key}: not an IBMA map type; ignored"));
                        }
                        continue;
                    };
                    match v {
                        Value::Null => {}
                        Value::String(p) => {
                            maps.insert(ty, existing_file(path, base, p, &format!("{at}.images.{key}"))?);
                        }
                        _ => return Err(err(format!("{at}.images.{key}"), "expected a path or null".into())),
                    }
                }
            }
            let sample_size = match contrast.get("metadata") {
                Some(m) => {
                    sample_size_of(m, &format!("{at}.metadata"), &mut warnings).map_err(|(f, msg)| err(f, msg))?
                }
                None => None,
            };
            if let Some(first) = sources.insert(id.clone(), at.clone()) {
                return Err(err(
                    at,
                    format!("its study id {id:?} (study-contrast) is also that of {first}; rename one of them"),
                ));
            }
            let covariates = contrast.get("metadata").map(metadata_covariates).unwrap_or_default();
            studies.push(Study { id, study: Some(study_id.clone()), sample_size, maps, covariates });
        }
    }
    if studies.is_empty() {
        return Err(err("(top level)".into(), "no studies".into()));
    }
    // NiMARE's order: image ids sorted (a study's contrasts need not be next to each other).
    studies.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Manifest {
        path: path.to_path_buf(),
        name: String::new(),
        mask: None,
        studies,
        warnings,
        source: Source::NimareJson,
    })
}

/// The sample size in a contrast's (or NIMADS analysis's) metadata object, found at `at`: the
/// mean of `sample_sizes` (one entry per group), else `sample_size`; validated as the
/// `ibma-dataset` reader validates `sample_size`: every entry a positive number, the mean at
/// least 2. `Err` holds the field and the problem.
pub(crate) fn sample_size_of(
    metadata: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<Option<f64>, (String, String)> {
    let mut field = format!("{at}.sample_sizes");
    let single;
    let sizes = match (metadata.get("sample_sizes"), metadata.get("sample_size")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => return Ok(None),
        (None | Some(Value::Null), Some(n)) => {
            field = format!("{at}.sample_size");
            single = [n.clone()];
            &single[..]
        }
        (Some(Value::Array(a)), _) => &a[..],
        (Some(v), _) => return Err((field, format!("expected a list of group sizes, found {v}"))),
    };
    let mut values = Vec::with_capacity(sizes.len());
    for (i, v) in sizes.iter().enumerate() {
        match v.as_f64().filter(|n| n.is_finite() && *n > 0.0) {
            Some(n) => values.push(n),
            None => return Err((format!("{field}[{i}]"), format!("expected a positive number, found {v}"))),
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    if values.len() > 1 {
        let owner = at.strip_suffix(".metadata").unwrap_or(at);
        warnings.push(format!("{owner}: {} sample sizes (a between-group design); their mean is used", values.len()));
    }
    if values.iter().any(|n| n.fract() != 0.0) {
        warnings.push(format!("{field} {values:?} holds a non-integer; used as given"));
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if mean < 2.0 {
        return Err((field, format!("mean {mean} is not a sample size >= 2")));
    }
    Ok(Some(mean))
}

/// The metadata fields of a contrast (or NIMADS analysis) as covariates, for designs and
/// `groupby=<field>`: numbers and text as they are, booleans and lists of scalars as the label
/// NiMARE groups them by (Python's `str` of the value, `[25]` → `(25,)`); other values are
/// left out.
pub(crate) fn metadata_covariates(metadata: &Value) -> BTreeMap<String, Covariate> {
    let Some(fields) = metadata.as_object() else { return BTreeMap::new() };
    fields.iter().filter_map(|(k, v)| Some((k.clone(), covariate(v)?))).collect()
}

fn covariate(value: &Value) -> Option<Covariate> {
    match value {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).map(Covariate::Number),
        Value::String(s) => Some(Covariate::Label(s.clone())),
        Value::Bool(_) => python_str(value).map(Covariate::Label),
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(python_str).collect();
            let items = items?;
            let text = if items.len() == 1 { format!("({},)", items[0]) } else { format!("({})", items.join(", ")) };
            Some(Covariate::Label(text))
        }
        Value::Null | Value::Object(_) => None,
    }
}

/// Python's `str` of a scalar JSON value as an element of a tuple (`repr`): `25`, `25.0`,
/// `'a'`, `True`; None for other values.
fn python_str(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Number(n) if n.is_f64() => {
            n.as_f64().map(|x| if x.fract() == 0.0 { format!("{x:.1}") } else { x.to_string() })
        }
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(format!("'{s}'")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_become_covariates_labelled_as_nimare_groups_them() {
        let c = metadata_covariates(&json!({"sample_sizes": [25], "pair": [20, 2.5], "site": "A", "age": 31.5,
            "flag": true, "none": null, "nested": {"a": 1}, "names": ["x", "y"]}));
        assert_eq!(c["sample_sizes"], Covariate::Label("(25,)".into()));
        assert_eq!(c["pair"], Covariate::Label("(20, 2.5)".into()));
        assert_eq!(c["site"], Covariate::Label("A".into()));
        assert_eq!(c["age"], Covariate::Number(31.5));
        assert_eq!(c["flag"], Covariate::Label("True".into()));
        assert_eq!(c["names"], Covariate::Label("('x', 'y')".into()));
        assert!(!c.contains_key("none") && !c.contains_key("nested"));
        assert_eq!(metadata_covariates(&json!({"n": [12.0]}))["n"], Covariate::Label("(12.0,)".into()));
    }
}
