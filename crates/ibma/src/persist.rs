//! Saving and loading estimators and results (NiMARE's `save(filename, compress=True)` /
//! `load(filename, compressed=True)`), as gzip-compressed JSON in a versioned envelope:
//!
//! ```json
//! {"format": "ibma", "kind": "estimator" | "result", "version": 1, "ibma_version": "0.1.0", ...}
//! ```
//!
//! * An estimator is its command name, its parameters as `get_params` shows them, and the shared
//!   options `get_params` does not list (`n_iters`, `seed`, `exact_flips`, `cdt`, `cdt_tail`,
//!   `connectivity`); loading rebuilds it with [`estimators::by_name`] and `set_param`.
//! * A result is the [`MetaResult`] itself (maps over the mask voxels only, the mask as its grid
//!   and run lengths ([`ibma_io::Mask`]; an earlier file's index list still loads), parameters,
//!   studies, diagnostics, tables) and, when `ibma fit` wrote it, the estimator and
//!   where the data came from ([`FitSource`]), so `ibma correct` can rerun permutations.
//!   [`MetaResult::save`] stores the result alone: no inputs, no dataset path.
//!
//! Maps are stored as float32, each as the base64 text of its little-endian bytes (exact, and
//! fast to write beside every fit): float32 is what the NIfTI maps hold and what [`MetaResult::correct`] reads (it
//! rounds p, log p and z to float32 first), so a correction of a loaded result equals the
//! correction of the fitted one bit for bit, at half the size of float64.
//!
//! A file of another format version, of the other kind, not gzip-compressed when it should be,
//! truncated or corrupt is one error naming the file. Files are written atomically.

use crate::estimator::Estimator;
use crate::{estimators, Error, MetaResult, Result};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use flate2::{write::GzEncoder, Compression};
use ibma_stats::cluster::Connectivity;
use ibma_stats::Tail;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The `format` field of every ibma file.
pub const FORMAT: &str = "ibma";
/// Format version written and the only one read; bumped when the layout changes.
pub const FORMAT_VERSION: u64 = 1;
/// File name of the saved result `ibma fit` writes into its output folder.
pub const RESULT_FILE: &str = "result.ibma.json.gz";

/// Where a saved result's data came from: enough to reload the dataset as `ibma fit` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitSource {
    /// The dataset's manifest (absolute path).
    pub dataset: PathBuf,
    /// `--mask` of the fit (absolute path), if given.
    pub mask: Option<PathBuf>,
    /// `--treat-as-independent` of the fit.
    pub treat_as_independent: bool,
    /// Corrections applied so far, in order (`ibma fit --correct`, then `ibma correct`).
    pub corrections: Vec<String>,
}

/// A result as `ibma fit` saves it: the result, and optionally its estimator and data source.
pub struct SavedResult {
    /// The fitted result.
    pub result: MetaResult,
    /// The estimator that produced it (None for [`MetaResult::save`]).
    pub estimator: Option<Box<dyn Estimator>>,
    /// Where the data came from (None for [`MetaResult::save`]).
    pub source: Option<FitSource>,
}

/// `save(path, compress)` for every estimator (NiMARE `Estimator.save`).
pub trait SaveEstimator {
    /// Write this estimator (name, parameters, shared options) to `path`, gzip-compressed when
    /// `compress`.
    ///
    /// # Errors
    /// When the file cannot be written.
    fn save(&self, path: &Path, compress: bool) -> Result<()>;
}

impl<E: Estimator + ?Sized> SaveEstimator for E {
    fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = EstimatorFile { header: Header::new("estimator"), estimator: EstimatorBody::of(self) };
        write_file(path, &file, compress)
    }
}

/// Load an estimator saved with [`SaveEstimator::save`] (NiMARE `Estimator.load`).
///
/// # Errors
/// A missing, corrupt or foreign file, another format version, a saved result, or a parameter
/// this ibma does not know: one message naming the file.
pub fn load_estimator(path: &Path, compressed: bool) -> Result<Box<dyn Estimator>> {
    let text = read_file(path, compressed)?;
    check_header(path, &text, "estimator")?;
    let file: EstimatorFileIn = parse(path, &text)?;
    file.estimator.build(path)
}

impl MetaResult {
    /// Write the result alone (no estimator, no dataset path) to `path`, gzip-compressed when
    /// `compress` (NiMARE `MetaResult.save`).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = ResultFileRef { header: Header::new("result"), result: self, estimator: None, source: None };
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
    /// Write result, estimator and source to `path` (gzip-compressed when `compress`).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path, compress: bool) -> Result<()> {
        let file = ResultFileRef {
            header: Header::new("result"),
            result: &self.result,
            estimator: self.estimator.as_deref().map(EstimatorBody::of),
            source: self.source.as_ref(),
        };
        write_file(path, &file, compress)
    }

    /// Load what [`SavedResult::save`] or [`MetaResult::save`] wrote.
    ///
    /// # Errors
    /// As [`MetaResult::load`].
    pub fn load(path: &Path, compressed: bool) -> Result<SavedResult> {
        let text = read_file(path, compressed)?;
        check_header(path, &text, "result")?;
        let file: ResultFile = parse(path, &text)?;
        check_shapes(path, &file.result)?;
        let estimator = file.estimator.map(|e| e.build(path)).transpose()?;
        Ok(SavedResult { result: file.result, estimator, source: file.source })
    }

    /// The `--set` pairs that rebuild the saved estimator through `ibma fit` (its parameters,
    /// then the shared options `get_params` does not list); None without an estimator.
    pub fn estimator_sets(&self) -> Option<Vec<(String, String)>> {
        let est = self.estimator.as_deref()?;
        let mut sets: Vec<(String, String)> =
            est.get_params().iter().map(|p| (p.name.to_string(), value_text(&p.value))).collect();
        let c = EstimatorBody::of(est).common;
        sets.push(("exact_flips".into(), c.exact_flips.to_string()));
        sets.push(("cdt_tail".into(), c.cdt_tail.clone()));
        sets.push(("cdt".into(), c.cdt.to_string()));
        sets.push(("connectivity".into(), c.connectivity.to_string()));
        Some(sets)
    }
}

/// Write `<req.out>/result.ibma.json.gz` for `ibma fit`: the result, its estimator and where
/// the data came from (absolute paths), so `ibma correct` can add corrections later.
///
/// # Errors
/// When the file cannot be written.
pub fn save_fit(
    req: &crate::run::FitRequest,
    dataset: &crate::Dataset,
    estimator: &dyn Estimator,
    result: &MetaResult,
) -> Result<PathBuf> {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let source = FitSource {
        dataset: abs(&dataset.manifest.path),
        mask: req.load.mask.as_deref().map(abs),
        treat_as_independent: req.load.treat_as_independent,
        corrections: req.corrections.clone(),
    };
    let file = ResultFileRef {
        header: Header::new("result"),
        result,
        estimator: Some(EstimatorBody::of(estimator)),
        source: Some(&source),
    };
    let path = req.out.join(RESULT_FILE);
    write_file(&path, &file, true)?;
    Ok(path)
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
    estimator: EstimatorBody,
}

/// The body of an estimator file (the header was checked first).
#[derive(Deserialize)]
struct EstimatorFileIn {
    estimator: EstimatorBody,
}

#[derive(Serialize)]
struct ResultFileRef<'a> {
    #[serde(flatten)]
    header: Header,
    result: &'a MetaResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimator: Option<EstimatorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a FitSource>,
}

#[derive(Deserialize)]
struct ResultFile {
    result: MetaResult,
    estimator: Option<EstimatorBody>,
    source: Option<FitSource>,
}

/// An estimator on disk: command name, `get_params` values, shared options.
#[derive(Serialize, Deserialize)]
struct EstimatorBody {
    name: String,
    params: Map<String, Value>,
    common: CommonBody,
}

/// The shared options `get_params` does not list.
#[derive(Serialize, Deserialize)]
struct CommonBody {
    n_iters: usize,
    seed: u64,
    exact_flips: bool,
    cdt: f64,
    cdt_tail: String,
    connectivity: usize,
}

impl EstimatorBody {
    fn of<E: Estimator + ?Sized>(est: &E) -> EstimatorBody {
        let c = est.common();
        EstimatorBody {
            name: est.name().to_string(),
            params: est.get_params().into_iter().map(|p| (p.name.to_string(), p.value)).collect(),
            common: CommonBody {
                n_iters: c.n_iters,
                seed: c.seed,
                exact_flips: c.exact_flips,
                cdt: c.clusters.cdt,
                cdt_tail: if c.clusters.cdt_tail == Tail::One { "one" } else { "two" }.into(),
                connectivity: c.clusters.connectivity.neighbours(),
            },
        }
    }

    /// The estimator: defaults by name, then every saved parameter in the estimator's own order.
    fn build(&self, path: &Path) -> Result<Box<dyn Estimator>> {
        let bad = |msg: String| Error::Invalid(format!("{}: estimator: {msg}", path.display()));
        let mut est = estimators::by_name(&self.name).map_err(|e| bad(e.to_string()))?;
        let known: Vec<&str> = est.get_params().iter().map(|p| p.name).collect();
        if let Some(k) = self.params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(format!("{} has no parameter {k:?} in ibma {}", self.name, env!("CARGO_PKG_VERSION"))));
        }
        for name in known {
            if let Some(v) = self.params.get(name) {
                est.set_param(name, &value_text(v)).map_err(|e| bad(e.to_string()))?;
            }
        }
        let c = &self.common;
        let common = est.common_mut();
        common.n_iters = c.n_iters;
        common.seed = c.seed;
        common.exact_flips = c.exact_flips;
        common.clusters.cdt = c.cdt;
        common.clusters.cdt_tail = match c.cdt_tail.as_str() {
            "one" => Tail::One,
            "two" => Tail::Two,
            other => return Err(bad(format!("cdt_tail {other:?}: expected one or two"))),
        };
        common.clusters.connectivity = Connectivity::from_neighbours(c.connectivity)
            .ok_or_else(|| bad(format!("connectivity {}: expected 6, 18 or 26", c.connectivity)))?;
        Ok(est)
    }
}

/// A parameter value as `set_param` reads it.
fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Serialise `value` as JSON to a temporary file beside `path`, then rename it into place.
fn write_file<T: Serialize>(path: &Path, value: &T, compress: bool) -> Result<()> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io_err = |source| Error::from(ibma_io::Error::Io { path: path.to_path_buf(), source });
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let file = BufWriter::new(std::fs::File::create(&tmp)?);
        let file = if compress {
            // Fast compression, as for the maps: float text barely compresses further. The
            // encoder gets large writes: flate2 re-initialises its output per write call.
            let mut gz = BufWriter::with_capacity(1 << 16, GzEncoder::new(file, Compression::fast()));
            serde_json::to_writer(&mut gz, value)?;
            gz.into_inner().map_err(|e| e.into_error())?.finish()?
        } else {
            let mut file = file;
            serde_json::to_writer(&mut file, value)?;
            file
        };
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(e)
    })
}

/// The JSON text of `path`, gunzipped when `compressed`.
fn read_file(path: &Path, compressed: bool) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| ibma_io::Error::Io { path: path.to_path_buf(), source })?;
    let bad = |msg: &str| Error::Invalid(format!("{}: {msg}", path.display()));
    let gzipped = raw.starts_with(&[0x1f, 0x8b]);
    match (compressed, gzipped) {
        (true, true) => ibma_io::gunzip(&raw).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("truncated gzip data"),
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

/// Every map one value per mask voxel, mask indices ascending inside the grid.
fn check_shapes(path: &Path, r: &MetaResult) -> Result<()> {
    let bad = |msg: String| Error::Invalid(format!("{}: {msg}", path.display()));
    let n = r.mask.grid.n_voxels();
    if !r.mask.indices.windows(2).all(|w| w[0] < w[1]) || r.mask.indices.last().is_some_and(|&i| i >= n) {
        return Err(bad(format!("mask indices are not ascending inside the {n}-voxel grid")));
    }
    let v = r.mask.len();
    for name in r.map_names() {
        let len = r.map(name).map_or(0, <[f64]>::len);
        if len != v {
            return Err(bad(format!("map {name} has {len} values for {v} mask voxels")));
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
    struct NamedRef<'a> {
        name: &'a str,
        values: F32Values<'a>,
    }

    #[derive(Deserialize)]
    struct Named {
        name: String,
        values: F32Vec,
    }

    pub fn serialize<S: Serializer>(maps: &[(String, Vec<f64>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(maps.iter().map(|(name, v)| NamedRef { name, values: F32Values(v) }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<f64>)>, D::Error> {
        Ok(Vec::<Named>::deserialize(d)?.into_iter().map(|m| (m.name, m.values.0)).collect())
    }
}

/// `#[serde(with)]` for [`MetaResult`]'s 4-D maps: `[{"name": ..., "volumes": ["<base64>", ...]}]`.
pub(crate) mod f32_volumes {
    use super::{F32Values, F32Vec};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct NamedRef<'a> {
        name: &'a str,
        volumes: Vec<F32Values<'a>>,
    }

    #[derive(Deserialize)]
    struct Named {
        name: String,
        volumes: Vec<F32Vec>,
    }

    pub fn serialize<S: Serializer>(maps: &[(String, Vec<Vec<f64>>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(maps.iter().map(|(name, v)| NamedRef { name, volumes: v.iter().map(|x| F32Values(x)).collect() }))
    }

    /// Name and volumes of each 4-D map.
    type Maps4d = Vec<(String, Vec<Vec<f64>>)>;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Maps4d, D::Error> {
        Ok(Vec::<Named>::deserialize(d)?
            .into_iter()
            .map(|m| (m.name, m.volumes.into_iter().map(|v| v.0).collect()))
            .collect())
    }
}
