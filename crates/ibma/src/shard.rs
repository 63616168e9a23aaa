//! One fit split over machines (docs/cluster.md): shard I of N fits its own block of voxels
//! (voxelwise estimators) and its own slice of the sign flips (permutation corrections), with
//! exactly the values and flips the whole run gives them; [`merge`] joins the shards and runs
//! the whole-map steps (GRF clusters, FDR, FWE maps from the joined nulls), so the merged result
//! is the whole run's bit for bit.
//!
//! A shard without permutations holds only its voxels of every map (memory ∝ K·V/N). With
//! permutations every shard needs every voxel (each flip refits the whole map); the flips are
//! what is split then. An estimator that is not voxelwise (the likelihood searches, dependent
//! images) is fitted whole by shard 0 and splits only its flips.
//!
//! Every shard reading the compressed maps would inflate each of them N times; with a shared
//! [stage](stage_in) folder the first shard stages the checked inputs once (`crate::stage`) and
//! every shard reads its voxels from there.

use crate::correct::{Corrections, Nulls};
use crate::estimators::AnyEstimator;
use crate::maps::{Map, PerStudyMap};
use crate::persist::FitSource;
use crate::progress::Progress;
use crate::stage::{Layout, Stage};
use crate::{Dataset, Error, Estimator, MetaResult, Result};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ibma_io::Mask;
use ibma_stats::cluster::MaxStats;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// File name of a shard's partial result inside its output folder.
pub const SHARD_FILE: &str = "shard.ibma.json.gz";

/// Largest inflated shard file read back: 4 GiB (a shard of a whole fit on a 1 mm mask holds its
/// maps in float64; the bound keeps a corrupt or hostile file from exhausting memory).
const MAX_SHARD_BYTES: usize = 4 << 30;

/// `--shard I/N`: shard I (0-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// I, from 0.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl ShardSpec {
    /// Read `I/N`.
    ///
    /// # Errors
    /// Not two numbers, N = 0 or I ≥ N.
    pub fn parse(text: &str) -> Result<ShardSpec> {
        let bad = |why: &str| {
            Error::Invalid(format!("--shard {text:?}: {why}; expected I/N with 0 <= I < N, e.g. --shard 0/8"))
        };
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(&format!("{s:?} is not a whole number")));
        let spec = ShardSpec { index: number(i)?, count: number(n)? };
        if spec.count == 0 || spec.index >= spec.count {
            return Err(bad("I must be below N"));
        }
        Ok(spec)
    }

    /// This shard's part of `0..total` (parts in order, sizes differing by at most one).
    pub fn slice(&self, total: usize) -> Range<usize> {
        let at = |i: usize| (total as u128 * i as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What every shard of one fit shares: the estimator, the corrections, the dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The estimator with its parameters.
    pub estimator: AnyEstimator,
    /// Its name as the user wrote it.
    pub estimator_requested: String,
    /// Dataset, mask, reading options and corrections (as a saved result records them).
    pub source: FitSource,
    /// Digest of the manifest, the mask and every map file's name, size and modification time.
    pub dataset_digest: String,
}

impl Identity {
    /// The identity of a fit of `estimator` with `source` on `dataset`.
    ///
    /// # Errors
    /// A map file that cannot be looked at.
    pub fn new(estimator: AnyEstimator, requested: &str, source: FitSource, dataset: &Dataset) -> Result<Identity> {
        Ok(Identity { estimator, estimator_requested: requested.to_string(), source, dataset_digest: digest(dataset)? })
    }
}

/// FNV-1a over the manifest's bytes, the mask, and every map's path, size and modification time:
/// shards of one dataset agree, a dataset changed between shards does not.
fn digest(dataset: &Dataset) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    let io = |path: &Path, source| Error::from(ibma_io::Error::Io { path: path.to_path_buf(), source });
    let manifest = &dataset.manifest.path;
    eat(&std::fs::read(manifest).map_err(|e| io(manifest, e))?);
    eat(dataset.mask.grid.describe().as_bytes());
    dataset.mask.indices.iter().for_each(|i| eat(&i.to_le_bytes()));
    for study in &dataset.manifest.studies {
        eat(study.id.as_bytes());
        for path in study.maps.values() {
            let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let absolute = std::fs::canonicalize(path).map_err(|e| io(path, e))?;
            eat(absolute.to_string_lossy().as_bytes());
            eat(&meta.len().to_le_bytes());
            eat(&modified.map_or(0, |d| d.as_nanos()).to_le_bytes());
        }
    }
    Ok(format!("{h:016x}"))
}

/// One shard's partial result.
#[derive(Clone, Debug)]
pub struct Shard {
    /// The fit it belongs to.
    pub identity: Identity,
    /// Which shard.
    pub spec: ShardSpec,
    /// Its mask voxels (positions in mask order); empty if it fits none.
    pub voxels: Range<usize>,
    /// Its rows of the sign flips; empty without permutations.
    pub flips: Range<usize>,
    /// The whole mask.
    pub mask: Mask,
    /// The fit of its voxels (before whole-map steps); None if it has no voxels.
    pub part: Option<MetaResult>,
    /// Voxels per coverage pattern among its voxels (see `blocks::coverage`).
    pub coverage: HashMap<Vec<u64>, usize>,
    /// Its rows of the permutation nulls.
    pub nulls: Nulls,
    /// The stage folder it read its inputs from (`merge` reads the whole-map steps' inputs there).
    pub stage: Option<PathBuf>,
}

/// Refuse a shard that cannot split anything: the voxels of an estimator that is not voxelwise,
/// without sign flips to split.
///
/// # Errors
/// That case, with what to do instead.
pub fn check(est: &AnyEstimator, corrections: &Corrections, spec: ShardSpec) -> Result<()> {
    if !est.capabilities().voxelwise && !corrections.permutes() && spec.count > 1 {
        return Err(Error::Invalid(format!(
            "--shard {spec}: {} is not voxelwise (it searches whole bags of voxels at once), so its voxels cannot be split; --shard splits its sign flips when --correct asks for montecarlo, cluster-size, cluster-mass or tfce, otherwise run it without --shard",
            est.name()
        )));
    }
    Ok(())
}

/// Fit shard `spec` of the fit `identity` describes on `dataset` (already loaded as it says),
/// reading its inputs from `stage` when given (see [`stage_in`]).
///
/// # Errors
/// A voxel shard of an estimator that is not voxelwise, what reading and fitting reject.
pub fn fit(
    identity: Identity,
    dataset: &Dataset,
    spec: ShardSpec,
    stage: Option<&Stage>,
    progress: &dyn Progress,
) -> Result<Shard> {
    let est = &identity.estimator;
    let corrections = &identity.source.corrections;
    check(est, corrections, spec)?;
    let needs = est.needs();
    let n_voxels = dataset.mask.len();
    let voxelwise = est.capabilities().voxelwise;
    let prepare = |voxels: Range<usize>| match stage {
        Some(stage) => stage.prepare(dataset, &needs, voxels),
        None => dataset.prepare_voxels(&needs, voxels),
    };
    let mut shard = Shard {
        identity: identity.clone(),
        spec,
        voxels: 0..0,
        flips: 0..0,
        mask: dataset.mask.clone(),
        part: None,
        coverage: HashMap::new(),
        nulls: Nulls::default(),
        stage: None,
    };
    if !corrections.permutes() {
        // Only our voxels are held: from the stage block by block, or cut from each map read.
        shard.voxels = spec.slice(n_voxels);
        if !shard.voxels.is_empty() {
            let (part, coverage) = match stage {
                Some(stage) => stage.fit_voxels(est, dataset, shard.voxels.clone(), None, progress)?,
                None => {
                    let inputs = prepare(shard.voxels.clone())?;
                    (crate::blocks::fit_unfinished(est, &inputs, progress)?, crate::blocks::coverage(&inputs))
                }
            };
            (shard.part, shard.coverage) = (Some(part), coverage);
        }
        return Ok(shard);
    }
    // With permutations every voxel is read: each flip refits the whole map.
    let inputs = prepare(0..n_voxels)?;
    shard.voxels = match (voxelwise && !inputs.has_dependence(), spec.index) {
        (true, _) => spec.slice(n_voxels),
        (false, 0) => 0..n_voxels,
        (false, _) => 0..0,
    };
    shard.flips = spec.slice(corrections.flips.stream(inputs.grouping().n_groups())?.n_iters());
    shard.nulls = corrections.nulls(est, &inputs, shard.flips.clone(), progress)?;
    let ours = match shard.voxels.len() {
        0 => None,
        n if n == n_voxels => Some(inputs),
        _ => Some(inputs.restricted(shard.voxels.clone())),
    };
    if let Some(inputs) = ours {
        shard.part = Some(crate::blocks::fit_unfinished(est, &inputs, progress)?);
        shard.coverage = crate::blocks::coverage(&inputs);
    }
    Ok(shard)
}

/// Files of a stage folder: the values, their description (written last: a stage without it is
/// incomplete), the lock the first shard holds while it stages.
const STAGE_VALUES: &str = "inputs.f32";
const STAGE_INFO: &str = "stage.json";
const STAGE_LOCK: &str = "stage.lock";

#[derive(Serialize)]
struct StageInfoRef<'a> {
    #[serde(flatten)]
    header: crate::persist::Header,
    identity: &'a Identity,
    layout: &'a Layout,
}

#[derive(Deserialize)]
struct StageInfo {
    identity: Identity,
    layout: Layout,
}

/// The staged inputs of the fit `identity` describes in the folder `dir`, shared by its shards:
/// the first shard there stages them (reading each map once) while the others wait on the
/// folder's lock, then every shard reads its voxels from the file. A stage of another dataset or
/// other inputs is refused, and so is a folder holding files ibma did not write there.
///
/// # Errors
/// Those cases; what [`Stage::build`] rejects.
pub fn stage_in(dir: &Path, identity: &Identity, dataset: &Dataset) -> Result<Stage> {
    let io = |path: &Path, source| Error::from(ibma_io::Error::Io { path: path.to_path_buf(), source });
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    // Before the lock file is made: ours, and the description while another shard writes it.
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let name = entry.map_err(|e| io(dir, e))?.file_name();
        let name = name.to_string_lossy();
        let ours = [STAGE_VALUES, STAGE_INFO, STAGE_LOCK].contains(&name.as_ref())
            || name.starts_with(&format!(".{STAGE_INFO}.tmp-"));
        if !ours {
            return Err(Error::Invalid(format!(
                "--stage {}: holds {name} which ibma did not write; give a new or empty folder for the stage",
                dir.display()
            )));
        }
    }
    let lock_path = dir.join(STAGE_LOCK);
    let lock = std::fs::File::create(&lock_path).map_err(|e| io(&lock_path, e))?;
    lock.lock().map_err(|e| io(&lock_path, e))?;
    let (info_path, values) = (dir.join(STAGE_INFO), dir.join(STAGE_VALUES));
    if info_path.exists() {
        let text = crate::persist::read_file(&info_path, false, 1 << 30)?;
        crate::persist::check_header(&info_path, &text, "stage")?;
        let info: StageInfo = crate::persist::parse(&info_path, &text)?;
        if !same_inputs(&info.identity, identity) {
            return Err(Error::Invalid(format!(
                "--stage {}: staged for another fit (its {} differs); give each fit its own stage folder",
                dir.display(),
                differs(&info.identity, identity)
            )));
        }
        return Stage::open(&values, info.layout);
    }
    let stage = Stage::build(&values, dataset, &identity.estimator.needs(), false)?;
    let info = StageInfoRef { header: crate::persist::Header::new("stage"), identity, layout: stage.layout() };
    crate::persist::write_file(&info_path, &info, false)?;
    Ok(stage)
}

/// Two fits read the same staged inputs: the same needs of the same dataset content.
fn same_inputs(a: &Identity, b: &Identity) -> bool {
    a.estimator.needs() == b.estimator.needs()
        && a.dataset_digest == b.dataset_digest
        && a.source.dataset == b.source.dataset
}

/// Join the shards of one fit into the result the whole run gives (before its corrections'
/// files are written): checks they belong together, joins voxels and nulls, runs the whole-map
/// steps and the corrections. Whole-map steps that read inputs read them study by study from
/// the shards' stage, or from a temporary one in `scratch`. `shards` are named by their folders
/// in messages.
///
/// # Errors
/// Shards of different fits, missing, duplicated or inconsistent shards (one message naming the
/// shard); what the whole-map steps reject.
pub fn merge(shards: Vec<(PathBuf, Shard)>, scratch: &Path) -> Result<MetaResult> {
    let slots = in_order(shards)?;
    let identity = slots[0].1.identity.clone();
    let stage = slots[0].1.stage.clone();
    let mask = slots[0].1.mask.clone();
    let bad = |dir: &Path, msg: String| Error::Invalid(format!("{}: {msg}", dir.display()));
    let nulls = join_nulls(&slots)?;
    // The parts, in voxel order, must cover the mask once.
    let mut next = 0;
    let mut parts = Vec::new();
    let mut coverage: HashMap<Vec<u64>, usize> = HashMap::new();
    for (dir, shard) in slots {
        if shard.voxels.is_empty() {
            continue;
        }
        let Some(part) = shard.part.filter(|_| shard.voxels.start == next) else {
            let msg = format!("its voxels {:?} do not follow the earlier shards' (up to {next})", shard.voxels);
            return Err(bad(&dir, msg));
        };
        next = shard.voxels.end;
        parts.push(part);
        for (key, n) in shard.coverage {
            *coverage.entry(key).or_default() += n;
        }
    }
    if next != mask.len() {
        return Err(Error::Invalid(format!(
            "the shards fit voxels 0..{next} of {}; a shard is incomplete",
            mask.len()
        )));
    }
    let mut result = if parts.len() == 1 {
        let mut whole = parts.remove(0);
        whole.mask = mask.clone();
        whole
    } else {
        let mut joined = crate::blocks::join(parts, &mask)?;
        crate::blocks::set_coverage(coverage, &mut joined);
        joined
    };
    let est = &identity.estimator;
    if est.finish_reads_inputs() {
        // GRF reads the inputs study by study: from the shards' stage, or from a new one.
        let source = &identity.source;
        let load = crate::dataset::LoadOptions {
            mask: source.mask.clone(),
            treat_as_independent: source.treat_as_independent,
        };
        let dataset = Dataset::load_with(&source.dataset, &load)?;
        if digest(&dataset)? != identity.dataset_digest {
            return Err(Error::Invalid(format!(
                "{}: the dataset changed since the shards were fitted (a manifest, mask or map file differs); fit the shards again",
                source.dataset.display()
            )));
        }
        let stage = match &stage {
            Some(dir) => stage_in(dir, &identity, &dataset)?,
            None => {
                let path = scratch.join(format!(".ibma-inputs-{}.scratch", std::process::id()));
                Stage::build(&path, &dataset, &est.needs(), true)?
            }
        };
        stage.finish(est, &dataset, &mut result)?;
    } else {
        est.finish(&crate::inputs::Prepared::none(mask), &mut result)?;
    }
    identity.source.corrections.apply_nulls(est, &mut result, &nulls)?;
    Ok(result)
}

/// The shards in the order of their index, once each checked to belong to one fit.
fn in_order(shards: Vec<(PathBuf, Shard)>) -> Result<Vec<(PathBuf, Shard)>> {
    let (first_dir, first) =
        shards.first().ok_or_else(|| Error::Invalid("ibma merge: give at least one shard folder".into()))?;
    let bad = |dir: &Path, msg: String| Error::Invalid(format!("{}: {msg}", dir.display()));
    let count = first.spec.count;
    let mut order: Vec<Option<usize>> = vec![None; count];
    for (position, (dir, shard)) in shards.iter().enumerate() {
        if shard.identity != first.identity {
            let what = differs(&shard.identity, &first.identity);
            return Err(bad(dir, format!("a shard of another fit than {}: its {what} differs", first_dir.display())));
        }
        if shard.spec.count != count {
            let (spec, n) = (shard.spec, shard.spec.count);
            return Err(bad(
                dir,
                format!("shard {spec} of a split into {n}, but {} is one of {count}", first_dir.display()),
            ));
        }
        if shard.mask.indices != first.mask.indices || !shard.mask.grid.same_as(&first.mask.grid) {
            return Err(bad(dir, format!("its mask differs from {}'s", first_dir.display())));
        }
        if let Some(other) = order[shard.spec.index] {
            let also = shards[other].0.display();
            return Err(bad(dir, format!("shard {} is given twice (also {also})", shard.spec)));
        }
        order[shard.spec.index] = Some(position);
    }
    if let Some(missing) = order.iter().position(Option::is_none) {
        let given: Vec<String> = shards.iter().map(|(d, _)| d.display().to_string()).collect();
        return Err(Error::Invalid(format!(
            "shard {missing}/{count} is missing (given: {}); run `ibma fit ... --shard {missing}/{count}` and merge again",
            given.join(", ")
        )));
    }
    let mut shards: Vec<Option<(PathBuf, Shard)>> = shards.into_iter().map(Some).collect();
    Ok(order.into_iter().flatten().filter_map(|p| shards[p].take()).collect())
}

/// The first field in which two identities differ, in words.
fn differs(a: &Identity, b: &Identity) -> &'static str {
    if a.estimator != b.estimator {
        "estimator or its parameters"
    } else if a.source.corrections != b.source.corrections {
        "--correct, --n-iters, --seed or cluster options"
    } else if a.source.dataset != b.source.dataset || a.source.mask != b.source.mask {
        "dataset or mask"
    } else if a.dataset_digest != b.dataset_digest {
        "dataset content (a manifest, mask or map file changed between shards)"
    } else {
        "reading options"
    }
}

/// Every shard's rows of the nulls, in order; they must tile the run's rows.
fn join_nulls(slots: &[(PathBuf, Shard)]) -> Result<Nulls> {
    let mut nulls = Nulls::default();
    let mut next = 0;
    for (dir, shard) in slots {
        let rows = shard.flips.len();
        if shard.flips.start != next {
            return Err(Error::Invalid(format!(
                "{}: its flips {:?} do not follow the earlier shards' (up to {next})",
                dir.display(),
                shard.flips
            )));
        }
        next = shard.flips.end;
        let bad = |what: &str, n: usize| {
            Error::Invalid(format!(
                "{}: {n} rows of the {what} null for flips {:?}; the shard is incomplete",
                dir.display(),
                shard.flips
            ))
        };
        if let Some(h0) = &shard.nulls.montecarlo {
            if h0.len() != rows {
                return Err(bad("montecarlo", h0.len()));
            }
            nulls.montecarlo.get_or_insert_with(Vec::new).extend_from_slice(h0);
        }
        if let Some(c) = &shard.nulls.clusters {
            if c.len() != rows {
                return Err(bad("cluster", c.len()));
            }
            nulls.clusters.get_or_insert_with(Vec::new).extend_from_slice(c);
        }
    }
    Ok(nulls)
}

// ---- the shard file ----

#[derive(Serialize)]
struct ShardFileRef<'a> {
    #[serde(flatten)]
    header: crate::persist::Header,
    shard: ShardSpec,
    identity: &'a Identity,
    voxels: [usize; 2],
    flips: [usize; 2],
    mask: &'a Mask,
    part: Option<Part>,
    coverage: Vec<(String, usize)>,
    nulls: NullsFile,
    stage: &'a Option<PathBuf>,
}

#[derive(Deserialize)]
struct ShardFileIn {
    shard: ShardSpec,
    identity: Identity,
    voxels: [usize; 2],
    flips: [usize; 2],
    mask: Mask,
    part: Option<Part>,
    coverage: Vec<(String, usize)>,
    nulls: NullsFile,
    #[serde(default)]
    stage: Option<PathBuf>,
}

/// A partial fit with its maps in float64 (later steps threshold and smooth them: exact values
/// keep the merged result the whole run's).
#[derive(Serialize, Deserialize)]
struct Part {
    /// The result without its maps.
    result: Value,
    maps: Vec<(Map, String)>,
    per_study: Vec<(PerStudyMap, Vec<String>)>,
}

#[derive(Default, Serialize, Deserialize)]
struct NullsFile {
    montecarlo: Option<String>,
    cluster_size: Option<Vec<usize>>,
    cluster_mass: Option<String>,
    cluster_tfce: Option<String>,
}

fn encode(values: &[f64]) -> String {
    BASE64.encode(values.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

fn decode(text: &str) -> std::result::Result<Vec<f64>, String> {
    let bytes = BASE64.decode(text).map_err(|e| e.to_string())?;
    if bytes.len() % 8 != 0 {
        return Err(format!("{} bytes is not a whole number of float64", bytes.len()));
    }
    Ok(bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default())).collect())
}

fn key_text(key: &[u64]) -> String {
    BASE64.encode(key.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>())
}

impl Shard {
    /// Write the shard to `path` (gzip JSON, atomically).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let part = self.part.as_ref().map(|r| -> Result<Part> {
            let mut result = serde_json::to_value(r).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
            result["maps"] = Value::Array(Vec::new());
            result["per_study"] = Value::Array(Vec::new());
            Ok(Part {
                result,
                maps: r.maps().map(|(m, v)| (m, encode(v))).collect(),
                per_study: r.per_study_maps().map(|(m, v)| (m, v.iter().map(|x| encode(x)).collect())).collect(),
            })
        });
        let clusters = self.nulls.clusters.as_ref();
        let mass = |f: fn(&MaxStats) -> f64| clusters.map(|c| encode(&c.iter().map(f).collect::<Vec<_>>()));
        let mut coverage: Vec<(String, usize)> = self.coverage.iter().map(|(k, n)| (key_text(k), *n)).collect();
        coverage.sort();
        let file = ShardFileRef {
            header: crate::persist::Header::new("shard"),
            shard: self.spec,
            identity: &self.identity,
            voxels: [self.voxels.start, self.voxels.end],
            flips: [self.flips.start, self.flips.end],
            mask: &self.mask,
            part: part.transpose()?,
            coverage,
            nulls: NullsFile {
                montecarlo: self.nulls.montecarlo.as_deref().map(encode),
                cluster_size: clusters.map(|c| c.iter().map(|m| m.size).collect()),
                cluster_mass: mass(|m| m.mass),
                cluster_tfce: mass(|m| m.tfce),
            },
            stage: &self.stage,
        };
        crate::persist::write_file(path, &file, true)
    }

    /// Read a shard written by [`Shard::save`].
    ///
    /// # Errors
    /// A missing, truncated or corrupt file, or another kind of ibma file, naming `path`.
    pub fn load(path: &Path) -> Result<Shard> {
        let text = crate::persist::read_file(path, true, MAX_SHARD_BYTES)?;
        crate::persist::check_header(path, &text, "shard")?;
        let file: ShardFileIn = crate::persist::parse(path, &text)?;
        let bad = |msg: String| Error::Invalid(format!("{}: malformed shard: {msg}", path.display()));
        let part = match file.part {
            None => None,
            Some(p) => {
                let mut result: MetaResult = serde_json::from_value(p.result).map_err(|e| bad(e.to_string()))?;
                let n = result.mask.len();
                for (map, text) in p.maps {
                    let values = decode(&text).map_err(&bad)?;
                    if values.len() != n {
                        return Err(bad(format!("map {map} has {} values for {n} voxels", values.len())));
                    }
                    result.insert(map, values);
                }
                for (map, volumes) in p.per_study {
                    let volumes =
                        volumes.iter().map(|t| decode(t)).collect::<std::result::Result<Vec<_>, _>>().map_err(&bad)?;
                    if volumes.iter().any(|v| v.len() != n) {
                        return Err(bad(format!("map {map} does not have {n} values per volume")));
                    }
                    result.insert_per_study(map, volumes);
                }
                Some(result)
            }
        };
        let mut coverage = HashMap::new();
        for (key, n) in file.coverage {
            let bytes = BASE64.decode(&key).map_err(|e| bad(e.to_string()))?;
            coverage.insert(
                bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())).collect(),
                n,
            );
        }
        let f = &file.nulls;
        let montecarlo = f.montecarlo.as_deref().map(decode).transpose().map_err(&bad)?;
        let clusters = match (&f.cluster_size, &f.cluster_mass, &f.cluster_tfce) {
            (Some(size), Some(mass), Some(tfce)) => {
                let (mass, tfce) = (decode(mass).map_err(&bad)?, decode(tfce).map_err(&bad)?);
                if mass.len() != size.len() || tfce.len() != size.len() {
                    return Err(bad("cluster nulls of different lengths".into()));
                }
                Some(
                    size.iter()
                        .zip(mass)
                        .zip(tfce)
                        .map(|((&size, mass), tfce)| MaxStats { size, mass, tfce })
                        .collect(),
                )
            }
            _ => None,
        };
        Ok(Shard {
            identity: file.identity,
            spec: file.shard,
            voxels: file.voxels[0]..file.voxels[1],
            flips: file.flips[0]..file.flips[1],
            mask: file.mask,
            part,
            coverage,
            nulls: Nulls { montecarlo, clusters },
            stage: file.stage,
        })
    }
}
