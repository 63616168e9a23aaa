//! Import of a NIMADS studyset, as NiMARE 0.22.1's `Studyset.to_nimads` writes it and its IBMA
//! estimators read it: studies → analyses → images. One image entry per analysis, id
//! `study-analysis` (NiMARE's full analysis key), entries in sorted-id order, the analyses of one
//! study dependent (their `study` is the study id). See docs/dependence.md.
//!
//! * An image's `value_type` is normalised as NiMARE does (`"T map"` → t, `"Z map"` → z,
//!   `"univariate-beta map"` → beta, `"variance"` → varcope; otherwise lower case without a
//!   trailing `" map"`); beta, se, varcope, t and z are read, other types ignored with a warning.
//! * Its file is `url` or `filename`, whichever names an image file (NiMARE prefers `url`),
//!   resolved against the studyset's folder; ibma reads local files only.
//! * The sample size is the mean of the analysis's `metadata.sample_sizes` (or its
//!   `sample_size`), else the study's; metadata fields become covariates as in NiMARE's JSON.

use crate::manifest::{existing_file, Manifest, MapType, Source, Study};
use crate::nimare_json::{metadata_covariates, sample_size_of};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// True if `value` looks like a NIMADS studyset: an object whose `studies` array holds study
/// objects with `analyses`, and no `format` key.
pub fn is_nimads(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        !o.contains_key("format")
            && o.get("studies").and_then(Value::as_array).is_some_and(|studies| {
                !studies.is_empty() && studies.iter().all(|s| s.get("analyses").is_some_and(Value::is_array))
            })
    })
}

/// NiMARE's image type for a NIMADS `value_type`.
fn image_type(value_type: &str) -> String {
    let named = match value_type {
        "T map" => "t",
        "variance" => "varcope",
        "univariate-beta map" | "multivariate-beta map" => "beta",
        "Z map" => "z",
        "p map" | "P map (given null hypothesis)" => "p",
        other => {
            let lower = other.trim().to_lowercase();
            let lower = lower.strip_suffix(" map").unwrap_or(&lower).to_string();
            return if lower == "variance" { "varcope".into() } else { lower };
        }
    };
    named.to_string()
}

/// ibma's map type for NiMARE's image type.
fn map_type(nimare: &str) -> Option<MapType> {
    match nimare {
        "beta" => Some(MapType::Con),
        "se" => Some(MapType::Se),
        "varcope" => Some(MapType::Varcope),
        "t" => Some(MapType::T),
        "z" => Some(MapType::Z),
        _ => None,
    }
}

/// Suffixes of the image files NiMARE recognises a path by.
const IMAGE_SUFFIXES: [&str; 8] = [".nii", ".nii.gz", ".img", ".hdr", ".mgz", ".mgh", ".gii", ".gii.gz"];

/// The image's location: `url` or `filename`, the first that names an image file, else the
/// first given (NiMARE `_select_image_path`).
fn location(image: &Value) -> Option<&str> {
    let given: Vec<&str> = ["url", "filename"]
        .iter()
        .filter_map(|k| image.get(*k).and_then(Value::as_str))
        .filter(|p| !p.is_empty())
        .collect();
    let looks_like_image = |p: &str| {
        let lower = p.to_lowercase();
        let path = lower.split(['?', '#']).next().unwrap_or_default();
        IMAGE_SUFFIXES.iter().any(|s| path.ends_with(s))
    };
    given.iter().find(|p| looks_like_image(p)).or(given.first()).copied()
}

/// Convert the studyset at `path` (relative image paths resolve against `base`).
///
/// # Errors
/// A structural problem, a missing or remote image file, or two analyses with one id.
pub fn convert(value: &Value, path: &Path, base: &Path) -> Result<Manifest> {
    let err = |field: String, msg: String| Error::Manifest { path: path.to_path_buf(), field, msg };
    let studies = value
        .get("studies")
        .and_then(Value::as_array)
        .ok_or_else(|| err("studies".into(), "expected an array of study objects".into()))?;
    let mut images = Vec::new();
    let mut warnings = Vec::new();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for (s_row, study) in studies.iter().enumerate() {
        // NiMARE numbers studies and analyses without an id by position.
        let study_id = id_text(study.get("id")).unwrap_or_else(|| format!("study-{s_row}"));
        let study_metadata = study.get("metadata").filter(|m| m.is_object());
        let analyses = study.get("analyses").and_then(Value::as_array).ok_or_else(|| {
            err(format!("studies[{s_row}] ({study_id}).analyses"), "expected an array of analyses".into())
        })?;
        for (a_index, analysis) in analyses.iter().enumerate() {
            let analysis_id = id_text(analysis.get("id")).unwrap_or_else(|| format!("analysis-{}", sources.len()));
            let id = format!("{study_id}-{analysis_id}");
            let at = format!("studies[{s_row}] ({study_id}).analyses[{a_index}] ({analysis_id})");
            let mut maps = BTreeMap::new();
            for (i, image) in analysis.get("images").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let field = format!("{at}.images[{i}]");
                let Some(nimare_type) = image.get("value_type").and_then(Value::as_str).map(image_type) else {
                    continue;
                };
                let Some(ty) = map_type(&nimare_type) else {
                    warnings.push(format!("{field}: {nimare_type} is not an IBMA map type; ignored"));
                    continue;
                };
                let Some(file) = location(image) else { continue };
                if file.contains("://") {
                    return Err(err(
                        field,
                        format!(
                            "{file} is remote; download the studyset's images and point url or filename at the files"
                        ),
                    ));
                }
                if maps.contains_key(&ty) {
                    warnings.push(format!("{field}: a second {nimare_type} image of the analysis; the first is kept"));
                    continue;
                }
                maps.insert(ty, existing_file(path, base, file, &field)?);
            }
            let metadata = analysis.get("metadata").filter(|m| m.is_object());
            let sample_size = match metadata.map(|m| sample_size_of(m, &format!("{at}.metadata"), &mut warnings)) {
                Some(Ok(Some(n))) => Some(n),
                Some(Err((field, msg))) => return Err(err(field, msg)),
                _ => match study_metadata
                    .map(|m| sample_size_of(m, &format!("studies[{s_row}] ({study_id}).metadata"), &mut warnings))
                {
                    Some(Ok(n)) => n,
                    Some(Err((field, msg))) => return Err(err(field, msg)),
                    None => None,
                },
            };
            let mut covariates = study_metadata.map(metadata_covariates).unwrap_or_default();
            covariates.extend(metadata.map(metadata_covariates).unwrap_or_default());
            if let Some(first) = sources.insert(id.clone(), at.clone()) {
                return Err(err(
                    at,
                    format!("its id {id:?} (study-analysis) is also that of {first}; rename one of them"),
                ));
            }
            images.push(Study { id, study: Some(study_id.clone()), sample_size, maps, covariates });
        }
    }
    if images.is_empty() {
        return Err(err("studies".into(), "no analyses".into()));
    }
    images.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Manifest {
        path: path.to_path_buf(),
        name: value.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        mask: None,
        studies: images,
        warnings,
        source: Source::Nimads,
    })
}

/// An id as NiMARE's `str(id)`: text as it is, a number as written; None if absent or null.
fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_types_normalise_as_nimare() {
        assert_eq!(image_type("T map"), "t");
        assert_eq!(image_type("univariate-beta map"), "beta");
        assert_eq!(image_type("Variance"), "varcope");
        assert_eq!(image_type("Z"), "z");
        assert_eq!(image_type("F map"), "f");
        assert_eq!(map_type("f"), None);
    }

    #[test]
    fn the_location_is_the_entry_naming_an_image() {
        let image = json!({"url": "https://neurovault.org/images/1/", "filename": "a.nii.gz"});
        assert_eq!(location(&image), Some("a.nii.gz"));
        assert_eq!(location(&json!({"url": "b.nii", "filename": "a.nii.gz"})), Some("b.nii"));
        assert_eq!(location(&json!({"url": "", "filename": "x"})), Some("x"));
        assert_eq!(location(&json!({"url": null})), None);
    }

    #[test]
    fn studysets_are_recognised() {
        assert!(is_nimads(&json!({"id": "x", "studies": [{"id": "s", "analyses": []}]})));
        assert!(!is_nimads(&json!({"format": "ibma-dataset", "studies": [{"analyses": []}]})));
        assert!(!is_nimads(&json!({"studies": [{"id": "s1", "maps": {}}]})));
    }
}
