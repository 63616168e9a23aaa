//! The `ibma-dataset` v1 manifest, `dataset.json` (`docs/dataset-format.md` §2).
//!
//! Only structure is checked here (keys, types, ids, paths); whether a study has the maps an
//! estimator needs is the facade's business.

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The five map types of a study (docs/dataset-format.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapType {
    /// Contrast estimate (COPE, beta); NiMARE `beta`.
    Con,
    /// Standard error of `con`.
    Se,
    /// Sampling variance of `con`.
    Varcope,
    /// t statistic with `sample_size − 1` dof.
    T,
    /// z statistic (one-sided deviate).
    Z,
}

impl MapType {
    /// All types, in the order used for listings.
    pub const ALL: [MapType; 5] = [MapType::Con, MapType::Se, MapType::Varcope, MapType::T, MapType::Z];

    /// Name in `dataset.json`.
    pub fn name(self) -> &'static str {
        match self {
            MapType::Con => "con",
            MapType::Se => "se",
            MapType::Varcope => "varcope",
            MapType::T => "t",
            MapType::Z => "z",
        }
    }

    /// Parse a `dataset.json` map key.
    pub fn parse(name: &str) -> Option<MapType> {
        MapType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A per-study covariate value: a number, or a category label.
#[derive(Clone, Debug, PartialEq)]
pub enum Covariate {
    /// Numeric (e.g. mean age).
    Number(f64),
    /// Categorical (e.g. scanner site).
    Label(String),
}

/// One study of a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    /// Unique id, `[A-Za-z0-9_.-]+`.
    pub id: String,
    /// Total subjects N, if given.
    pub sample_size: Option<f64>,
    /// Map type → absolute or manifest-relative-resolved path.
    pub maps: BTreeMap<MapType, PathBuf>,
    /// Optional per-study covariates (`"covariates": {"age": 31.5, "site": "A"}`).
    pub covariates: BTreeMap<String, Covariate>,
}

/// Where a manifest came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// An `ibma-dataset` v1 `dataset.json`.
    #[default]
    IbmaDataset,
    /// NiMARE's dataset JSON, converted (docs/dataset-format.md §8).
    NimareJson,
}

/// A parsed, structurally valid `dataset.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Free-text name (`""` if absent).
    pub name: String,
    /// Analysis mask, resolved; `None` means the union of usable voxels (§6).
    pub mask: Option<PathBuf>,
    /// Studies in file order.
    pub studies: Vec<Study>,
    /// Non-fatal remarks (e.g. a non-integer sample size), for the caller to print.
    pub warnings: Vec<String>,
    /// The format it was read from.
    pub source: Source,
}

impl Manifest {
    /// Read `dataset.json` (or NiMARE's dataset JSON), or `<dir>/dataset.json` when `path` is a
    /// directory.
    pub fn load(path: &Path) -> Result<Manifest> {
        Manifest::load_with(path, false)
    }

    /// [`Manifest::load`]; `treat_as_independent` accepts several contrasts per study in NiMARE JSON.
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

    /// Parse the text of a `dataset.json` at `path` (paths inside resolve against its folder).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        Manifest::parse_with(text, path, false)
    }

    fn parse_with(text: &str, path: &Path, treat_as_independent: bool) -> Result<Manifest> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            field: format!("line {} column {}", e.line(), e.column()),
            msg: format!("invalid JSON: {e}"),
        })?;
        if crate::nimare_json::is_nimare_json(&value) {
            let base = path.parent().unwrap_or(Path::new("."));
            return crate::nimare_json::convert(&value, path, base, treat_as_independent);
        }
        Parser { path }.manifest(&value)
    }

    /// Directory that relative paths are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Write this manifest as an `ibma-dataset` v1 `dataset.json` at `path` (atomically), with
    /// its paths as they are (absolute, or relative to `path`'s folder) and `extra` top-level
    /// fields (provenance, a description, ...).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, path: &Path, extra: Map<String, Value>) -> Result<()> {
        // dataset.json holds paths as JSON text: a path that is not UTF-8 cannot be written.
        let paths = self.studies.iter().flat_map(|s| s.maps.values()).chain(&self.mask);
        if let Some(odd) = paths.into_iter().find(|p| p.to_str().is_none()) {
            return Err(Error::Manifest {
                path: path.to_path_buf(),
                field: "maps".into(),
                msg: format!("{} is not UTF-8 text, which dataset.json cannot hold; rename it", odd.display()),
            });
        }
        let text = |p: &Path| Value::String(p.to_string_lossy().into_owned());
        let studies: Vec<Value> = self
            .studies
            .iter()
            .map(|s| {
                let mut study = Map::new();
                study.insert("id".into(), s.id.clone().into());
                if let Some(n) = s.sample_size {
                    study.insert("sample_size".into(), n.into());
                }
                let maps: Map<String, Value> = s.maps.iter().map(|(t, p)| (t.name().to_string(), text(p))).collect();
                study.insert("maps".into(), maps.into());
                if !s.covariates.is_empty() {
                    let covariates: Map<String, Value> = s
                        .covariates
                        .iter()
                        .map(|(k, c)| {
                            let v = match c {
                                Covariate::Number(x) => Value::from(*x),
                                Covariate::Label(l) => Value::from(l.clone()),
                            };
                            (k.clone(), v)
                        })
                        .collect();
                    study.insert("covariates".into(), covariates.into());
                }
                Value::Object(study)
            })
            .collect();
        let mut manifest = Map::new();
        manifest.insert("format".into(), "ibma-dataset".into());
        manifest.insert("format_version".into(), 1.into());
        manifest.insert("name".into(), self.name.clone().into());
        manifest.insert("mask".into(), self.mask.as_deref().map_or(Value::Null, text));
        manifest.extend(extra);
        manifest.insert("studies".into(), studies.into());
        crate::atomic::write_json(path, &Value::Object(manifest))
    }
}

struct Parser<'a> {
    path: &'a Path,
}

impl Parser<'_> {
    fn err(&self, field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Manifest { path: self.path.to_path_buf(), field: field.into(), msg: msg.into() }
    }

    fn manifest(&self, value: &Value) -> Result<Manifest> {
        let obj = value.as_object().ok_or_else(|| self.err("(top level)", "expected a JSON object"))?;
        match obj.get("format").and_then(Value::as_str) {
            Some("ibma-dataset") => {}
            Some(other) => return Err(self.err("format", format!("expected \"ibma-dataset\", found {other:?}"))),
            None => return Err(self.err("format", "missing (expected \"ibma-dataset\")")),
        }
        match obj.get("format_version") {
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => {
                return Err(self.err("format_version", format!("unsupported version {v}; this ibma reads version 1")))
            }
            None => return Err(self.err("format_version", "missing (expected 1)")),
        }
        let name = match obj.get("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(self.err("name", "expected a string")),
        };
        let mask = match obj.get("mask") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(self.existing_path(s, "mask")?),
            Some(_) => return Err(self.err("mask", "expected a path string or null")),
        };
        let studies = obj
            .get("studies")
            .ok_or_else(|| self.err("studies", "missing (expected an array of study objects)"))?
            .as_array()
            .ok_or_else(|| self.err("studies", "expected an array of study objects"))?;
        if studies.is_empty() {
            return Err(self.err("studies", "empty: a dataset needs at least one study"));
        }
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(studies.len());
        for (i, s) in studies.iter().enumerate() {
            let study = self.study(i, s, &mut warnings)?;
            if !seen.insert(study.id.clone()) {
                return Err(self.err(format!("studies[{i}].id"), format!("duplicate study id {:?}", study.id)));
            }
            parsed.push(study);
        }
        Ok(Manifest {
            path: self.path.to_path_buf(),
            name,
            mask,
            studies: parsed,
            warnings,
            source: Source::IbmaDataset,
        })
    }

    fn study(&self, i: usize, value: &Value, warnings: &mut Vec<String>) -> Result<Study> {
        let obj: &Map<String, Value> =
            value.as_object().ok_or_else(|| self.err(format!("studies[{i}]"), "expected a study object"))?;
        let id = match obj.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(self.err(format!("studies[{i}].id"), "expected a string")),
            None => return Err(self.err(format!("studies[{i}].id"), "missing")),
        };
        let at = format!("studies[{i}] ({id})");
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(self.err(format!("{at}.id"), "must match [A-Za-z0-9_.-]+"));
        }
        let sample_size = match obj.get("sample_size") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = v
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| self.err(format!("{at}.sample_size"), format!("expected a number, found {v}")))?;
                if n < 2.0 {
                    return Err(self.err(format!("{at}.sample_size"), format!("{n} is below 2")));
                }
                if n.fract() != 0.0 {
                    warnings.push(format!("{at}.sample_size {n} is not an integer; used as given"));
                }
                Some(n)
            }
        };
        let maps_obj = match obj.get("maps") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(self.err(format!("{at}.maps"), "expected an object of map type → path")),
            None => return Err(self.err(format!("{at}.maps"), "missing")),
        };
        let mut maps = BTreeMap::new();
        for (key, v) in maps_obj {
            let field = format!("{at}.maps.{key}");
            let ty = MapType::parse(key)
                .ok_or_else(|| self.err(&field, "unknown map type; known types are con, se, varcope, t, z"))?;
            match v {
                Value::Null => {}
                Value::String(p) => {
                    maps.insert(ty, self.existing_path(p, &field)?);
                }
                _ => return Err(self.err(&field, "expected a path string")),
            }
        }
        let mut covariates = BTreeMap::new();
        match obj.get("covariates") {
            None | Some(Value::Null) => {}
            Some(Value::Object(c)) => {
                for (name, v) in c {
                    let value = match v {
                        Value::Number(n) => n.as_f64().map(Covariate::Number),
                        Value::String(s) => Some(Covariate::Label(s.clone())),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        self.err(format!("{at}.covariates.{name}"), "expected a number or a string label")
                    })?;
                    covariates.insert(name.clone(), value);
                }
            }
            Some(_) => return Err(self.err(format!("{at}.covariates"), "expected an object of name → number or label")),
        }
        Ok(Study { id, sample_size, maps, covariates })
    }

    fn existing_path(&self, p: &str, field: &str) -> Result<PathBuf> {
        existing_file(self.path, self.path.parent().unwrap_or(Path::new(".")), p, field)
    }
}

/// `p` resolved against `base`, if it names a regular file; else an error about the manifest at
/// `manifest`'s `field` saying what the path is.
pub(crate) fn existing_file(manifest: &Path, base: &Path, p: &str, field: &str) -> Result<PathBuf> {
    let full = base.join(p);
    let err = |msg: String| Error::Manifest { path: manifest.to_path_buf(), field: field.to_string(), msg };
    match std::fs::metadata(&full) {
        Err(_) => Err(err(format!("file not found: {}", full.display()))),
        Ok(meta) => match crate::files::regular(&full, &meta) {
            Ok(()) => Ok(full),
            Err(Error::Io { source, .. }) => Err(err(format!("{}: {source}", full.display()))),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, json: &str) -> PathBuf {
        std::fs::write(dir.join("a.nii.gz"), b"x").unwrap();
        let p = dir.join("dataset.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    fn load_err(json: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), json);
        Manifest::load(&p).unwrap_err().to_string()
    }

    const HEAD: &str = r#""format": "ibma-dataset", "format_version": 1"#;

    #[test]
    fn valid_manifest_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &format!(
                r#"{{{HEAD}, "mask": "a.nii.gz", "studies": [{{"id": "s1", "sample_size": 20, "maps": {{"con": "a.nii.gz"}}}}]}}"#
            ),
        );
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!(m.studies[0].maps[&MapType::Con], dir.path().join("a.nii.gz"));
        assert_eq!(m.studies[0].sample_size, Some(20.0));
        assert_eq!(m.mask, Some(dir.path().join("a.nii.gz")));
    }

    #[test]
    fn missing_field_is_named() {
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{{"id": "s1"}}]}}"#));
        assert!(e.contains("studies[0] (s1).maps: missing"), "{e}");
        let e = load_err(r#"{"format_version": 1, "studies": []}"#);
        assert!(e.contains("format: missing"), "{e}");
    }

    #[test]
    fn duplicate_id_is_an_error() {
        let s = r#"{"id": "s1", "maps": {"con": "a.nii.gz"}}"#;
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{s}, {s}]}}"#));
        assert!(e.contains("studies[1].id: duplicate study id \"s1\""), "{e}");
    }

    #[test]
    fn bad_path_names_study_and_type() {
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{{"id": "s1", "maps": {{"varcope": "nope.nii.gz"}}}}]}}"#));
        assert!(e.contains("studies[0] (s1).maps.varcope: file not found"), "{e}");
    }

    #[test]
    fn unknown_map_type_lists_known_ones() {
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{{"id": "s1", "maps": {{"beta": "a.nii.gz"}}}}]}}"#));
        assert!(e.contains("maps.beta: unknown map type; known types are con, se, varcope, t, z"), "{e}");
    }

    #[test]
    fn covariates_are_numbers_or_labels() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &format!(
                r#"{{{HEAD}, "studies": [{{"id": "s1", "maps": {{}}, "covariates": {{"age": 30.5, "site": "A"}}}}]}}"#
            ),
        );
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!(m.studies[0].covariates["age"], Covariate::Number(30.5));
        assert_eq!(m.studies[0].covariates["site"], Covariate::Label("A".into()));
        let e = load_err(&format!(
            r#"{{{HEAD}, "studies": [{{"id": "s1", "maps": {{}}, "covariates": {{"age": [1]}}}}]}}"#
        ));
        assert!(e.contains("studies[0] (s1).covariates.age: expected a number or a string label"), "{e}");
    }

    #[test]
    fn wrong_version_and_sample_size() {
        let e = load_err(r#"{"format": "ibma-dataset", "format_version": 2, "studies": []}"#);
        assert!(e.contains("format_version: unsupported version 2"), "{e}");
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{{"id": "s1", "sample_size": 1, "maps": {{}}}}]}}"#));
        assert!(e.contains("sample_size: 1 is below 2"), "{e}");
    }
}
