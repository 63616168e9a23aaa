//! The `ibma-dataset` manifest, `dataset.json`: version 1 lists one image per study
//! (`"studies"`), version 2 lists images (`"images"`), several of which may come from one study
//! (docs/dataset-format.md; docs/dependence.md, "Datasets with several images per study").
//!
//! Only structure is checked here (keys, types, ids, paths); whether an image has the maps an
//! estimator needs is the facade's business. [`crate::dataset_file`] decides which reader a
//! file needs.

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The newest `format_version` this ibma reads and writes.
pub const FORMAT_VERSION: u64 = 2;

/// The five map types of a study (docs/dataset-format.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// A covariate value of an image: a number, or a category label.
#[derive(Clone, Debug, PartialEq)]
pub enum Covariate {
    /// Numeric (e.g. mean age).
    Number(f64),
    /// Categorical (e.g. scanner site).
    Label(String),
}

impl Covariate {
    /// The value as a group label (`groupby=<covariate>`): a label as it is, a number as Rust
    /// writes it (`25`, `2.5`).
    pub fn label(&self) -> String {
        match self {
            Covariate::Number(x) => x.to_string(),
            Covariate::Label(l) => l.clone(),
        }
    }
}

/// One image entry of a manifest: a study of its own (version 1), or one of a study's images
/// (version 2, NiMARE's contrasts, NIMADS analyses).
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    /// Unique id, `[A-Za-z0-9_.-]+`.
    pub id: String,
    /// The study the image comes from, when several images may share one (their participants
    /// overlap, so they are dependent); `None`: the image is a study of its own.
    pub study: Option<String>,
    /// Total subjects N, if given.
    pub sample_size: Option<f64>,
    /// Map type → absolute or manifest-relative-resolved path.
    pub maps: BTreeMap<MapType, PathBuf>,
    /// Optional covariates (`"covariates": {"age": 31.5, "site": "A"}`).
    pub covariates: BTreeMap<String, Covariate>,
}

impl Study {
    /// The id of the study the image comes from: its `study`, else its own id.
    pub fn study_id(&self) -> &str {
        self.study.as_deref().unwrap_or(&self.id)
    }
}

/// Where a manifest came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// An `ibma-dataset` `dataset.json`.
    #[default]
    IbmaDataset,
    /// NiMARE's dataset JSON, converted (docs/dataset-format.md §8).
    NimareJson,
    /// A NIMADS studyset (NiMARE's `Studyset.to_nimads`), converted.
    Nimads,
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
    /// Directory that relative paths are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// True if some image shares its study with another (a version 2 manifest is needed).
    pub fn has_shared_studies(&self) -> bool {
        let mut seen = HashSet::new();
        self.studies.iter().any(|s| !seen.insert(s.study_id()))
    }

    /// Write this manifest as an `ibma-dataset` `dataset.json` at `path` (atomically), with its
    /// paths as they are (absolute, or relative to `path`'s folder) and `extra` top-level fields
    /// (provenance, a description, ...): version 1 when every image is a study of its own (any
    /// ibma reads it), else version 2 with each image's `study`.
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
        // Without a shared study, grouping by study is grouping by image: version 1 says it all.
        let version2 = self.has_shared_studies();
        let entries: Vec<Value> = self
            .studies
            .iter()
            .map(|s| {
                let mut entry = Map::new();
                entry.insert("id".into(), s.id.clone().into());
                if version2 {
                    entry.insert("study".into(), s.study_id().into());
                }
                if let Some(n) = s.sample_size {
                    entry.insert("sample_size".into(), n.into());
                }
                let maps: Map<String, Value> = s.maps.iter().map(|(t, p)| (t.name().to_string(), text(p))).collect();
                entry.insert("maps".into(), maps.into());
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
                    entry.insert("covariates".into(), covariates.into());
                }
                Value::Object(entry)
            })
            .collect();
        let mut manifest = Map::new();
        manifest.insert("format".into(), "ibma-dataset".into());
        manifest.insert("format_version".into(), (if version2 { 2 } else { 1 }).into());
        manifest.insert("name".into(), self.name.clone().into());
        manifest.insert("mask".into(), self.mask.as_deref().map_or(Value::Null, text));
        manifest.extend(extra);
        manifest.insert((if version2 { "images" } else { "studies" }).into(), entries.into());
        crate::atomic::write_json(path, &Value::Object(manifest))
    }
}

/// Parse an `ibma-dataset` manifest already read as JSON (`path` names it in errors and
/// resolves relative paths).
///
/// # Errors
/// A structural problem, naming the field.
pub(crate) fn from_value(value: &Value, path: &Path) -> Result<Manifest> {
    Parser { path }.manifest(value)
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
        let version = match obj.get("format_version") {
            Some(v) if matches!(v.as_u64(), Some(1..=FORMAT_VERSION)) => v.as_u64().unwrap_or(1),
            Some(v) => {
                return Err(self.err(
                    "format_version",
                    format!("unsupported version {v}; this ibma reads versions 1 and {FORMAT_VERSION}"),
                ))
            }
            None => return Err(self.err("format_version", format!("missing (expected 1 or {FORMAT_VERSION})"))),
        };
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
        // Version 1 lists studies, version 2 images (each naming its study).
        let (key, other, what) =
            if version == 1 { ("studies", "images", "study") } else { ("images", "studies", "image") };
        if obj.contains_key(other) && !obj.contains_key(key) {
            return Err(self.err(
                other,
                format!("format_version {version} lists its entries under \"{key}\" (\"studies\": version 1, one image per study; \"images\": version 2)"),
            ));
        }
        let studies = obj
            .get(key)
            .ok_or_else(|| self.err(key, format!("missing (expected an array of {what} objects)")))?
            .as_array()
            .ok_or_else(|| self.err(key, format!("expected an array of {what} objects")))?;
        if studies.is_empty() {
            return Err(self.err(key, format!("empty: a dataset needs at least one {what}")));
        }
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(studies.len());
        for (i, s) in studies.iter().enumerate() {
            let study = self.study(key, i, s, version, &mut warnings)?;
            if !seen.insert(study.id.clone()) {
                return Err(self.err(format!("{key}[{i}].id"), format!("duplicate {what} id {:?}", study.id)));
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

    /// Entry `i` of the array `key` (`studies` in version 1, `images` in version 2).
    fn study(&self, key: &str, i: usize, value: &Value, version: u64, warnings: &mut Vec<String>) -> Result<Study> {
        let obj: &Map<String, Value> =
            value.as_object().ok_or_else(|| self.err(format!("{key}[{i}]"), "expected an object"))?;
        let id = match obj.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(self.err(format!("{key}[{i}].id"), "expected a string")),
            None => return Err(self.err(format!("{key}[{i}].id"), "missing")),
        };
        let at = format!("{key}[{i}] ({id})");
        let valid_id = |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid_id(&id) {
            return Err(self.err(format!("{at}.id"), "must match [A-Za-z0-9_.-]+"));
        }
        let study = match obj.get("study") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if version >= 2 && valid_id(s) => Some(s.clone()),
            Some(Value::String(_)) if version >= 2 => {
                return Err(self.err(format!("{at}.study"), "must match [A-Za-z0-9_.-]+"))
            }
            Some(_) if version >= 2 => return Err(self.err(format!("{at}.study"), "expected a study id string")),
            // Version 1 readers ignore unknown keys; a study of its own.
            Some(_) => None,
        };
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
        Ok(Study { id, study, sample_size, maps, covariates })
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
        let e = load_err(r#"{"format": "ibma-dataset", "format_version": 3, "studies": []}"#);
        assert!(e.contains("format_version: unsupported version 3; this ibma reads versions 1 and 2"), "{e}");
        let e = load_err(&format!(r#"{{{HEAD}, "studies": [{{"id": "s1", "sample_size": 1, "maps": {{}}}}]}}"#));
        assert!(e.contains("sample_size: 1 is below 2"), "{e}");
    }

    const V2: &str = r#""format": "ibma-dataset", "format_version": 2"#;

    #[test]
    fn version_2_lists_images_with_their_study() {
        let dir = tempfile::tempdir().unwrap();
        let image =
            |id: &str, study: &str| format!(r#"{{"id": "{id}", "study": "{study}", "maps": {{"z": "a.nii.gz"}}}}"#);
        let images = [image("s1-a", "s1"), image("s1-b", "s1"), r#"{"id": "s2", "maps": {"z": "a.nii.gz"}}"#.into()];
        write(dir.path(), &format!(r#"{{{V2}, "images": [{}]}}"#, images.join(", ")));
        let m = Manifest::load(dir.path()).unwrap();
        let studies: Vec<&str> = m.studies.iter().map(Study::study_id).collect();
        assert_eq!(studies, ["s1", "s1", "s2"]);
        assert!(m.has_shared_studies());
        // Written back as version 2 (a study is shared), and read the same.
        let copy = dir.path().join("copy.json");
        m.write(&copy, Map::new()).unwrap();
        let text = std::fs::read_to_string(&copy).unwrap();
        assert!(text.contains(r#""format_version": 2"#) && text.contains(r#""images""#), "{text}");
        assert_eq!(
            Manifest::load(&copy).unwrap().studies,
            m.studies.iter().map(|s| Study { study: Some(s.study_id().into()), ..s.clone() }).collect::<Vec<_>>()
        );
    }

    #[test]
    fn version_1_is_written_when_no_study_is_shared() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &format!(
                r#"{{{V2}, "images": [{{"id": "a-1", "study": "a", "maps": {{}}}}, {{"id": "b-1", "study": "b", "maps": {{}}}}]}}"#
            ),
        );
        let m = Manifest::load(dir.path()).unwrap();
        assert!(!m.has_shared_studies());
        let copy = dir.path().join("copy.json");
        m.write(&copy, Map::new()).unwrap();
        let text = std::fs::read_to_string(&copy).unwrap();
        assert!(text.contains(r#""format_version": 1"#) && !text.contains(r#""study""#), "{text}");
    }

    #[test]
    fn versions_name_their_entries() {
        let e = load_err(&format!(r#"{{{V2}, "studies": [{{"id": "s1", "maps": {{}}}}]}}"#));
        assert!(e.contains(r#"studies: format_version 2 lists its entries under "images""#), "{e}");
        let e = load_err(&format!(r#"{{{HEAD}, "images": [{{"id": "s1", "maps": {{}}}}]}}"#));
        assert!(e.contains(r#"images: format_version 1 lists its entries under "studies""#), "{e}");
        let e = load_err(&format!(r#"{{{V2}, "images": [{{"id": "s1", "study": "a b", "maps": {{}}}}]}}"#));
        assert!(e.contains("images[0] (s1).study: must match [A-Za-z0-9_.-]+"), "{e}");
        let s = r#"{"id": "s1", "maps": {}}"#;
        let e = load_err(&format!(r#"{{{V2}, "images": [{s}, {s}]}}"#));
        assert!(e.contains(r#"images[1].id: duplicate image id "s1""#), "{e}");
        // Version 1 ignores keys it does not know, "study" among them.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &format!(r#"{{{HEAD}, "studies": [{{"id": "s1", "study": 3, "maps": {{}}}}]}}"#));
        assert_eq!(Manifest::load(dir.path()).unwrap().studies[0].study, None);
    }
}
