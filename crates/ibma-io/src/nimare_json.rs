//! Import of NiMARE's dataset JSON (study → contrasts → images + metadata.sample_sizes),
//! `docs/dataset-format.md` §8.

use crate::manifest::{existing_file, Manifest, MapType, Source, Study};
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

/// Convert NiMARE's JSON at `path` (relative image paths resolve against `base`). Several
/// contrasts of one study are dependent images that ibma v1 does not model: refused unless
/// `treat_as_independent`.
pub fn convert(value: &Value, path: &Path, base: &Path, treat_as_independent: bool) -> Result<Manifest> {
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
        if contrasts.len() > 1 && !treat_as_independent {
            return Err(err(
                format!("{study_id}.contrasts"),
                format!(
                    "{} contrasts of one study are dependent images, which ibma does not model; pass --treat-as-independent to analyse them as independent studies",
                    contrasts.len()
                ),
            ));
        }
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
            let sample_size = sample_size(contrast, &at, &mut warnings).map_err(|(field, msg)| err(field, msg))?;
            if let Some(first) = sources.insert(id.clone(), at.clone()) {
                return Err(err(
                    at,
                    format!("its study id {id:?} (study-contrast) is also that of {first}; rename one of them"),
                ));
            }
            studies.push(Study { id, sample_size, maps, covariates: BTreeMap::new() });
        }
    }
    if studies.is_empty() {
        return Err(err("(top level)".into(), "no studies".into()));
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        name: String::new(),
        mask: None,
        studies,
        warnings,
        source: Source::NimareJson,
    })
}

/// A contrast's `metadata.sample_sizes` (one per group; their mean is used), validated as the
/// `ibma-dataset` reader validates `sample_size`: every entry a positive number, the mean at
/// least 2. `Err` holds the field and the problem.
fn sample_size(
    contrast: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<Option<f64>, (String, String)> {
    let field = format!("{at}.metadata.sample_sizes");
    let sizes = match contrast.pointer("/metadata/sample_sizes") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(v) => return Err((field, format!("expected a list of group sizes, found {v}"))),
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
        warnings.push(format!("{at}: {} sample sizes (a between-group design); their mean is used", values.len()));
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
