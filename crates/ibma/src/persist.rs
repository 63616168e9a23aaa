//! Saving and loading estimators and results (NiMARE's `save(filename, compress=True)` /
//! `load(filename, compressed=True)`), as gzip-compressed JSON in a versioned envelope:
//!
//! ```json
//! {"format": "ibma", "kind": "estimator" | "result", "version": 2, "ibma_version": "0.1.0", ...}
//! ```
//!
//! * An estimator is its parameters as it serialises them (NiMARE's names, the command name in
//!   `estimator`), read back with the same type.
//! * A result is the [`MetaResult`] itself (maps over the mask voxels only, the mask as its grid
//!   and run lengths ([`ibma_io::Mask`]; an earlier file's index list still loads), the
//!   estimator, studies, diagnostics, tables) and, when `ibma fit` wrote it, where the data came
//!   from and the corrections applied ([`FitSource`]), so `ibma correct` can rerun
//!   permutations. [`MetaResult::save`] stores the result alone: no dataset path. `ibma fit`
//!   stores the maps once, as the NIfTI files beside the saved result ([`save_fit`]).
//!
//! Maps are stored as float32, each as the base64 text of its little-endian bytes (exact, and
//! fast to write beside every fit): float32 is what the NIfTI maps hold and what
//! [`MetaResult::correct`] reads (it rounds p, log p and z to float32 first), so a correction of
//! a loaded result equals the correction of the fitted one bit for bit, at half the size of
//! float64.
//!
//! A file of another format version, of the other kind, not gzip-compressed when it should be,
//! truncated or corrupt is one error naming the file. Files are written atomically.

use crate::correct::Corrections;
use crate::estimators::AnyEstimator;
use crate::maps::Map;
use crate::{Error, Estimator, MetaResult, Result};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use flate2::{write::GzEncoder, Compression};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The `format` field of every ibma file.
pub const FORMAT: &str = "ibma";
/// Format version written and the only one read; bumped when the layout changes.
pub const FORMAT_VERSION: u64 = 2;
/// File name of the saved result `ibma fit` writes into its output folder.
pub const RESULT_FILE: &str = "result.ibma.json.gz";

/// Where a saved result's data came from: enough to reload the dataset as `ibma fit` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitSource {
    /// The dataset's manifest (absolute path).
    #[serde(with = "ibma_io::path_serde")]
    pub dataset: PathBuf,
    /// `--mask` of the fit (absolute path), if given.
    #[serde(with = "ibma_io::path_serde::option")]
    pub mask: Option<PathBuf>,
    /// `--treat-as-independent` of the fit.
    pub treat_as_independent: bool,
    /// Corrections applied so far, in order, with their options.
    pub corrections: Corrections,
}

/// A result as `ibma fit` saves it: the result and, optionally, its data source.
#[derive(Clone, Debug)]
pub struct SavedResult {
    /// The fitted result (its estimator included).
    pub result: MetaResult,
    /// Where the data came from (None for [`MetaResult::save`]).
    pub source: Option<FitSource>,
}

/// `save(path, compress)` for every estimator (NiMARE `Estimator.save`).
pub trait SaveEstimator {
    /// Write this estimator (its parameters) to `path`, gzip-compressed when `compress`.
    ///
    /// # Errors
    /// When the file cannot be written.
    fn save(&self, path: &Path, compress: bool) -> Result<()>;
}

impl<E: Estimator + ?Sized> SaveEstimator for E {
    fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = EstimatorFile { header: Header::new("estimator"), estimator: self.catalogued() };
        write_file(path, &file, compress)
    }
}

/// Load an estimator saved with [`SaveEstimator::save`] (NiMARE `Estimator.load`).
///
/// # Errors
/// A missing, corrupt or foreign file, another format version, a saved result, or a parameter
/// this ibma does not know: one message naming the file.
pub fn load_estimator(path: &Path, compressed: bool) -> Result<AnyEstimator> {
    let text = read_file(path, compressed, MAX_SAVED_BYTES)?;
    check_header(path, &text, "estimator")?;
    let file: EstimatorFileIn = parse(path, &text)?;
    estimator(path, file.estimator)
}

impl MetaResult {
    /// Write the result alone (no dataset path) to `path`, gzip-compressed when `compress`
    /// (NiMARE `MetaResult.save`).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = ResultFileRef { header: Header::new("result"), result: self, source: None };
        write_file(path, &file, compress)
    }

    /// Load a result saved by [`MetaResult::save`] or `ibma fit` (NiMARE `MetaResult.load`).
    ///
    /// # Errors
    /// As [`load_estimator`], and maps that do not fit the saved mask.
    pub fn load(path: &Path, compressed: bool) -> Result<MetaResult> {
        Ok(SavedResult::load(path, compressed)?.result)
    }
}

impl SavedResult {
    /// Write result and source to `path` (gzip-compressed when `compress`), with the maps inside.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = ResultFileRef { header: Header::new("result"), result: &self.result, source: self.source.as_ref() };
        write_file(path, &file, compress)
    }

    /// Load what [`SavedResult::save`], [`save_fit`] or [`MetaResult::save`] wrote.
    ///
    /// # Errors
    /// As [`MetaResult::load`], and (maps beside the file) a map that is missing or was changed
    /// since ibma wrote it.
    pub fn load(path: &Path, compressed: bool) -> Result<SavedResult> {
        let text = read_file(path, compressed, MAX_SAVED_BYTES)?;
        check_header(path, &text, "result")?;
        let file: ResultFile = parse(path, &text)?;
        let mut body = file.result;
        let beside: Option<Vec<Map>> = body.get("map_files").map(|v| parse_value(path, v.clone())).transpose()?;
        if beside.is_some() {
            body["maps"] = Value::Array(Vec::new());
        }
        let mut result: MetaResult = parse_value(path, body.clone())?;
        result.estimator = estimator(path, body.get("estimator").cloned().unwrap_or(Value::Null))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for map in beside.into_iter().flatten() {
            let name = format!("{map}.nii.gz");
            if !ibma_io::out_folder::unchanged(dir, &name) {
                return Err(Error::Invalid(format!(
                    "{}: its map {name} is not beside it as ibma wrote it (missing or changed since)",
                    path.display()
                )));
            }
            result.insert(map, result.mask.read_masked(&dir.join(&name))?);
        }
        check_shapes(path, &result)?;
        Ok(SavedResult { result, source: file.source })
    }
}

/// Write `result` and where its data came from to `path` (gzip-compressed) as `ibma fit` does:
/// the maps are not repeated inside, they are the `<map>.nii.gz` files beside it in an output
/// folder whose ledger tells whether they are still as ibma wrote them, so each map is stored
/// once. [`SavedResult::save`] writes a self-contained file instead.
///
/// # Errors
/// When the file cannot be written.
pub fn save_fit(path: &Path, result: &MetaResult, source: Option<&FitSource>) -> Result<()> {
    let mut body = serde_json::to_value(result).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    body["maps"] = Value::Array(Vec::new());
    body["map_files"] = result.maps().map(|(m, _)| Value::String(m.to_string())).collect();
    let file = ResultFileBeside { header: Header::new("result"), result: body, source };
    write_file(path, &file, true)
}

/// The fields every ibma file starts with.
#[derive(Serialize)]
struct Header {
    format: String,
    kind: String,
    version: u64,
    ibma_version: String,
}

impl Header {
    fn new(kind: &str) -> Header {
        Header {
            format: FORMAT.into(),
            kind: kind.into(),
            version: FORMAT_VERSION,
            ibma_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Serialize)]
struct EstimatorFile {
    #[serde(flatten)]
    header: Header,
    estimator: AnyEstimator,
}

/// The body of an estimator file (the header was checked first).
#[derive(Deserialize)]
struct EstimatorFileIn {
    estimator: Value,
}

#[derive(Serialize)]
struct ResultFileRef<'a> {
    #[serde(flatten)]
    header: Header,
    result: &'a MetaResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a FitSource>,
}

#[derive(Serialize)]
struct ResultFileBeside<'a> {
    #[serde(flatten)]
    header: Header,
    result: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a FitSource>,
}

#[derive(Deserialize)]
struct ResultFile {
    result: Value,
    source: Option<FitSource>,
}

/// The saved estimator `value`: every key must be a parameter this ibma knows.
fn estimator(path: &Path, value: Value) -> Result<AnyEstimator> {
    let bad = |msg: String| Error::Invalid(format!("{}: estimator: {msg}", path.display()));
    let est: AnyEstimator = serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?;
    let known = crate::params::params(&est);
    let unknown = value
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| *k != "estimator" && !known.iter().any(|(n, _)| n == *k));
    if let Some(k) = unknown {
        return Err(bad(format!("{} has no parameter {k:?} in ibma {}", est.name(), env!("CARGO_PKG_VERSION"))));
    }
    Ok(est)
}

/// Serialise `value` as JSON to `path` atomically, gzip-compressed when `compress`.
fn write_file<T: Serialize>(path: &Path, value: &T, compress: bool) -> Result<()> {
    Ok(ibma_io::atomic::write_with(path, |w| {
        if compress {
            // Fast compression, as for the maps: float text barely compresses further. The
            // encoder gets large writes: flate2 re-initialises its output per write call.
            let mut gz = BufWriter::with_capacity(1 << 16, GzEncoder::new(w, Compression::fast()));
            serde_json::to_writer(&mut gz, value)?;
            gz.into_inner().map_err(|e| e.into_error())?.finish().map(drop)
        } else {
            serde_json::to_writer(w, value).map_err(std::io::Error::from)
        }
    })?)
}

/// The JSON text of `path`, gunzipped when `compressed`.
/// Largest inflated saved file read back: 512 MiB. A saved file has no header saying its size,
/// so this bounds a gzip bomb's memory; what ibma saves stays far below (a self-contained
/// result of 40 maps over a 1 mm whole-brain mask is about 390 MB, `ibma fit`'s a few KB).
const MAX_SAVED_BYTES: usize = 512 << 20;

fn read_file(path: &Path, compressed: bool, limit: usize) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| ibma_io::Error::Io { path: path.to_path_buf(), source })?;
    let bad = |msg: &str| Error::Invalid(format!("{}: {msg}", path.display()));
    let gzipped = raw.starts_with(&[0x1f, 0x8b]);
    match (compressed, gzipped) {
        (true, true) => ibma_io::gunzip_at_most(&raw, limit).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("truncated gzip data"),
            std::io::ErrorKind::FileTooLarge => {
                bad(&format!("inflates to more than {} MiB: not a file ibma saved", limit >> 20))
            }
            _ => bad(&format!("corrupt gzip data ({e})")),
        }),
        (true, false) => Err(bad("not gzip-compressed (corrupt, or saved with compress=false)")),
        (false, true) => Err(bad("gzip-compressed; load it with compressed=true")),
        (false, false) => Ok(raw),
    }
}

/// Check format, version and kind before reading the body, so a wrong file says what it is.
fn check_header(path: &Path, text: &[u8], kind: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Peek {
        format: Option<Value>,
        kind: Option<Value>,
        version: Option<Value>,
        ibma_version: Option<Value>,
    }
    let bad = |msg: String| Error::Invalid(format!("{}: {msg}", path.display()));
    let peek: Peek = serde_json::from_slice(text).map_err(|e| bad(format!("not an ibma file: invalid JSON ({e})")))?;
    if peek.format.as_ref().and_then(Value::as_str) != Some(FORMAT) {
        return Err(bad(format!("not an ibma file (format field {:?}, expected \"{FORMAT}\")", peek.format)));
    }
    let written_by = peek.ibma_version.as_ref().and_then(Value::as_str).unwrap_or("an unknown version").to_string();
    if peek.version.as_ref().and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(bad(format!(
            "format version {} (written by ibma {written_by}); ibma {} reads version {FORMAT_VERSION} only",
            peek.version.map_or_else(|| "missing".into(), |v| v.to_string()),
            env!("CARGO_PKG_VERSION")
        )));
    }
    match peek.kind.as_ref().and_then(Value::as_str) {
        Some(k) if k == kind => Ok(()),
        Some(k) => Err(bad(format!("holds an ibma {k}, not an ibma {kind}"))),
        None => Err(bad("kind field missing".into())),
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &[u8]) -> Result<T> {
    serde_json::from_slice(text).map_err(|e| Error::Invalid(format!("{}: malformed ibma file: {e}", path.display())))
}

fn parse_value<T: serde::de::DeserializeOwned>(path: &Path, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Invalid(format!("{}: malformed ibma file: {e}", path.display())))
}

/// Every map one value per mask voxel, mask indices ascending inside the grid.
fn check_shapes(path: &Path, r: &MetaResult) -> Result<()> {
    let bad = |msg: String| Error::Invalid(format!("{}: {msg}", path.display()));
    let n = r.mask.grid.n_voxels();
    if !r.mask.indices.windows(2).all(|w| w[0] < w[1]) || r.mask.indices.last().is_some_and(|&i| i >= n) {
        return Err(bad(format!("mask indices are not ascending inside the {n}-voxel grid")));
    }
    let v = r.mask.len();
    for (name, values) in r.maps() {
        if values.len() != v {
            return Err(bad(format!("map {name} has {} values for {v} mask voxels", values.len())));
        }
    }
    for (name, volumes) in r.per_study_maps() {
        if volumes.iter().any(|x| x.len() != v) {
            return Err(bad(format!("4-D map {name}: a volume does not have {v} values")));
        }
    }
    Ok(())
}

/// Serde of a vector as the base64 text of its float32 little-endian bytes: exact for every
/// float32 (NaN, ±∞, −0 and subnormals included) and ~10x faster to write than decimal text.
struct F32Values<'a>(&'a [f64]);

impl Serialize for F32Values<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect();
        s.serialize_str(&BASE64.encode(bytes))
    }
}

/// A float32 vector read back as float64.
struct F32Vec(Vec<f64>);

impl<'de> Deserialize<'de> for F32Vec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<F32Vec, D::Error> {
        use serde::de::Error as _;
        let bytes = BASE64.decode(String::deserialize(d)?).map_err(|e| D::Error::custom(format!("map values: {e}")))?;
        if bytes.len() % 4 != 0 {
            return Err(D::Error::custom("map values: not a whole number of float32 values"));
        }
        Ok(F32Vec(bytes.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect()))
    }
}

/// `#[serde(with)]` for [`MetaResult`]'s maps: `[{"name": "z", "values": "<base64>"}, ...]`.
pub(crate) mod f32_maps {
    use super::{F32Values, F32Vec};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct NamedRef<'a, N> {
        name: &'a N,
        values: F32Values<'a>,
    }

    #[derive(Deserialize)]
    struct Named<N> {
        name: N,
        values: F32Vec,
    }

    pub fn serialize<N: Serialize, S: Serializer>(maps: &[(N, Vec<f64>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(maps.iter().map(|(name, v)| NamedRef { name, values: F32Values(v) }))
    }

    pub fn deserialize<'de, N: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Vec<(N, Vec<f64>)>, D::Error> {
        Ok(Vec::<Named<N>>::deserialize(d)?.into_iter().map(|m| (m.name, m.values.0)).collect())
    }
}

/// `#[serde(with)]` for [`MetaResult`]'s 4-D maps: `[{"name": ..., "volumes": ["<base64>", ...]}]`.
pub(crate) mod f32_volumes {
    use super::{F32Values, F32Vec};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct NamedRef<'a, N> {
        name: &'a N,
        volumes: Vec<F32Values<'a>>,
    }

    #[derive(Deserialize)]
    struct Named<N> {
        name: N,
        volumes: Vec<F32Vec>,
    }

    pub fn serialize<N: Serialize, S: Serializer>(maps: &[(N, Vec<Vec<f64>>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(maps.iter().map(|(name, v)| NamedRef { name, volumes: v.iter().map(|x| F32Values(x)).collect() }))
    }

    /// Name and volumes of each 4-D map.
    type Maps4d<N> = Vec<(N, Vec<Vec<f64>>)>;

    pub fn deserialize<'de, N: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Maps4d<N>, D::Error> {
        Ok(Vec::<Named<N>>::deserialize(d)?
            .into_iter()
            .map(|m| (m.name, m.volumes.into_iter().map(|v| v.0).collect()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip bomb is refused after inflating at most the limit, in one line naming the file.
    #[test]
    fn saved_files_inflate_within_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &vec![b' '; 3 << 20]).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let err = read_file(&path, true, 2 << 20).unwrap_err().to_string();
        assert!(err.contains("bomb.json.gz") && err.contains("more than 2 MiB"), "{err}");
        assert_eq!(read_file(&path, true, 4 << 20).unwrap().len(), 3 << 20);
    }
}
