//! Reading a dataset description of any kind ibma accepts: an `ibma-dataset` manifest, NiMARE's
//! dataset JSON or a NIMADS studyset. The kind is decided from the JSON itself, then the file
//! goes to its reader ([`crate::manifest`], [`crate::nimare_json`], [`crate::nimads`]); every
//! reader returns the same [`Manifest`].

use crate::manifest::{self, Manifest};
use crate::{nimads, nimare_json, Error, Result};
use serde_json::Value;
use std::path::Path;

/// The kinds of dataset file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{"format": "ibma-dataset", ...}`.
    IbmaDataset,
    /// NiMARE's dataset JSON: `{"<study>": {"contrasts": {...}}, ...}`.
    NimareJson,
    /// A NIMADS studyset: `{"studies": [{"analyses": [...]}, ...]}` without a `format`.
    Nimads,
}

/// Which reader `value` needs (an ibma-dataset when nothing else fits, so that its reader
/// says what is missing).
pub fn kind(value: &Value) -> Kind {
    let Some(object) = value.as_object() else { return Kind::IbmaDataset };
    if object.contains_key("format") {
        Kind::IbmaDataset
    } else if nimads::is_nimads(value) {
        Kind::Nimads
    } else if nimare_json::is_nimare_json(value) {
        Kind::NimareJson
    } else {
        Kind::IbmaDataset
    }
}

impl Manifest {
    /// Read a dataset file (`dataset.json`, NiMARE's dataset JSON or a NIMADS studyset), or
    /// `<dir>/dataset.json` when `path` is a directory.
    ///
    /// # Errors
    /// An unreadable file or a structural problem, naming the field.
    pub fn load(path: &Path) -> Result<Manifest> {
        Manifest::load_with(path, false)
    }

    /// [`Manifest::load`]; with `treat_as_independent`, the images of one study in NiMARE's JSON
    /// or a NIMADS studyset become studies of their own (no dependence between them).
    ///
    /// # Errors
    /// As [`Manifest::load`].
    pub fn load_with(path: &Path, treat_as_independent: bool) -> Result<Manifest> {
        let path = if path.is_dir() { path.join("dataset.json") } else { path.to_path_buf() };
        let bytes = crate::files::read(&path)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Manifest {
            path: path.clone(),
            field: format!("byte {}", e.utf8_error().valid_up_to()),
            msg: "not UTF-8 text, so not a dataset JSON file (a NIfTI image or a gzip file?)".into(),
        })?;
        Manifest::parse_with(&text, &path, treat_as_independent)
    }

    /// Parse the text of a dataset file at `path` (paths inside resolve against its folder).
    ///
    /// # Errors
    /// As [`Manifest::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        Manifest::parse_with(text, path, false)
    }

    fn parse_with(text: &str, path: &Path, treat_as_independent: bool) -> Result<Manifest> {
        // serde_json keeps the last of repeated keys, as Python's json (and so NiMARE) does.
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            field: format!("line {} column {}", e.line(), e.column()),
            msg: format!("invalid JSON: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut manifest = match kind(&value) {
            Kind::IbmaDataset => return manifest::from_value(&value, path),
            Kind::NimareJson => nimare_json::convert(&value, path, base)?,
            Kind::Nimads => nimads::convert(&value, path, base)?,
        };
        if treat_as_independent {
            manifest.studies.iter_mut().for_each(|s| s.study = None);
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(kind(&json!({"format": "ibma-dataset", "studies": []})), Kind::IbmaDataset);
        assert_eq!(kind(&json!({"s1": {"contrasts": {"1": {}}}})), Kind::NimareJson);
        assert_eq!(kind(&json!({"id": "x", "studies": [{"id": "s1", "analyses": []}]})), Kind::Nimads);
        // Neither: the ibma-dataset reader names what is missing.
        assert_eq!(kind(&json!({"name": "x"})), Kind::IbmaDataset);
        assert_eq!(kind(&json!([1, 2])), Kind::IbmaDataset);
    }
}
