//! A dataset on disk and the study-by-voxel inputs an estimator asks of it
//! (`../shared/docs/dataset-format.md`, `../shared/docs/estimators.md` §2).

use crate::derive::derive_maps;
use crate::{Error, Result};
use ibma_io::{Manifest, MapType, Mask};
use ibma_stats::StudyVoxels;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// NiMARE 0.22.1 treats a varcope at or below 1/√(float32 max) as missing (compared in float32).
const VARCOPE_FLOOR_F32: f32 = 5.421_011_5e-20;

/// An `ibma-dataset`: the manifest and its analysis mask.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The parsed `dataset.json`.
    pub manifest: Manifest,
    /// The analysis mask (from the manifest, or the union of usable voxels).
    pub mask: Mask,
}

/// How to read a dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Analysis mask overriding the manifest's (`--mask`; NiMARE JSON has none).
    pub mask: Option<PathBuf>,
    /// Accept several contrasts per study in NiMARE JSON as independent studies.
    pub treat_as_independent: bool,
}

/// What an estimator reads: map types, and whether it needs sample sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Map types read (validity is ANDed over them).
    pub maps: &'static [MapType],
    /// True if every study needs a `sample_size`.
    pub sample_size: bool,
}

/// How to turn a dataset into estimator inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputOptions {
    /// Derive missing map types (dataset-format.md §3).
    pub derive: bool,
    /// Keep only voxels where every study is valid (NiMARE `aggressive_mask=True`).
    pub aggressive_mask: bool,
    /// Resample maps on another grid onto the mask grid (`--set resample`); None: an error.
    pub resample: Option<ibma_io::Interpolation>,
}

/// The studies an estimator fits, their maps held compactly: one float32 vector per study and
/// map type (inputs are float32-rounded anyway, so nothing is lost) with a shared NaN pattern.
/// Estimators fit [`Inputs`] made from it, whole or, for large datasets, in voxel blocks.
#[derive(Clone, Debug)]
pub struct CompactInputs {
    /// Ids of the studies kept, in dataset order.
    pub study_ids: Vec<String>,
    /// Their sample sizes (None where not given).
    pub sample_sizes: Vec<Option<f64>>,
    /// Per requested map type, one masked vector per kept study.
    pub maps: BTreeMap<MapType, Vec<Vec<f32>>>,
    /// Messages for the user (dropped studies, invalid varcopes, ...).
    pub warnings: Vec<String>,
}

impl CompactInputs {
    /// Number of studies K.
    pub fn n_studies(&self) -> usize {
        self.study_ids.len()
    }

    /// Number of mask voxels V.
    pub fn n_voxels(&self) -> usize {
        self.maps.values().next().and_then(|m| m.first()).map_or(0, Vec::len)
    }

    /// The estimator inputs of the mask voxels `voxels` (positions in mask order).
    pub fn block(&self, voxels: Range<usize>) -> Inputs {
        Inputs {
            study_ids: self.study_ids.clone(),
            sample_sizes: self.sample_sizes.clone(),
            maps: self.maps.iter().map(|(&t, studies)| (t, voxel_major(studies, voxels.clone()))).collect(),
            warnings: self.warnings.clone(),
        }
    }

    /// The estimator inputs of every mask voxel.
    pub fn to_inputs(&self) -> Inputs {
        self.block(0..self.n_voxels())
    }
}

/// Study-major float32 vectors to a voxel-major float64 matrix over `voxels`.
fn voxel_major(studies: &[Vec<f32>], voxels: Range<usize>) -> StudyVoxels {
    const CHUNK: usize = 4096;
    let k = studies.len();
    let mut data = vec![0.0; k * voxels.len()];
    data.par_chunks_mut(k * CHUNK).enumerate().for_each(|(c, out)| {
        let start = voxels.start + c * CHUNK;
        for (s, values) in studies.iter().enumerate() {
            for (i, &x) in values[start..start + out.len() / k].iter().enumerate() {
                out[i * k + s] = f64::from(x);
            }
        }
    });
    StudyVoxels::new(k, data)
}

/// One map type's values, read study by study (NaN where a study is not valid), whether held
/// as a voxel-major matrix or as compact study vectors.
pub trait StudyValues: Sync {
    /// Number of studies.
    fn n_studies(&self) -> usize;
    /// Study `k`'s value at every voxel, into `out`.
    fn study_into(&self, k: usize, out: &mut [f64]);
}

impl StudyValues for StudyVoxels {
    fn n_studies(&self) -> usize {
        StudyVoxels::n_studies(self)
    }
    fn study_into(&self, k: usize, out: &mut [f64]) {
        out.iter_mut().zip(self.voxels()).for_each(|(o, x)| *o = x[k]);
    }
}

impl StudyValues for Vec<Vec<f32>> {
    fn n_studies(&self) -> usize {
        self.len()
    }
    fn study_into(&self, k: usize, out: &mut [f64]) {
        out.iter_mut().zip(&self[k]).for_each(|(o, &x)| *o = f64::from(x));
    }
}

/// The studies an estimator fits and their masked maps (NaN where a study is not valid).
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Ids of the studies kept, in dataset order.
    pub study_ids: Vec<String>,
    /// Their sample sizes (None where not given).
    pub sample_sizes: Vec<Option<f64>>,
    /// One K×V matrix per requested map type, float32-rounded, with a shared NaN pattern.
    pub maps: BTreeMap<MapType, StudyVoxels>,
    /// Messages for the user (dropped studies, invalid varcopes, ...).
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Read `dataset.json` (or a directory holding one, or NiMARE's dataset JSON) and its mask.
    pub fn load(path: &Path) -> Result<Dataset> {
        Dataset::load_with(path, &LoadOptions::default())
    }

    /// [`Dataset::load`] with a mask from the command line and NiMARE-JSON options.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Dataset> {
        let mut manifest = Manifest::load_with(path, options.treat_as_independent)?;
        if let Some(mask) = &options.mask {
            if !mask.is_file() {
                return Err(Error::Invalid(format!("--mask {}: file not found", mask.display())));
            }
            manifest.mask = Some(mask.clone());
        }
        let mask = match &manifest.mask {
            Some(p) => Mask::from_volume(&ibma_io::read_volume(p)?),
            None => union_mask(&manifest)?,
        };
        if mask.is_empty() {
            let what = manifest.mask.as_ref().map_or_else(|| manifest.path.clone(), PathBuf::clone);
            return Err(Error::Invalid(format!("{}: the analysis mask has no voxels", what.display())));
        }
        Ok(Dataset { manifest, mask })
    }

    /// Masked, validated inputs for an estimator named `estimator`.
    pub fn inputs(&self, estimator: &str, needs: Needs, opts: InputOptions) -> Result<Inputs> {
        Ok(self.compact_inputs(estimator, needs, opts)?.to_inputs())
    }

    /// [`Dataset::inputs`], held compactly for fitting in voxel blocks.
    pub fn compact_inputs(&self, estimator: &str, needs: Needs, opts: InputOptions) -> Result<CompactInputs> {
        let mut warnings = Vec::new();
        let read: Vec<Result<Option<Vec<Vec<f32>>>>> =
            self.manifest.studies.par_iter().map(|s| self.study_inputs(s, needs, opts)).collect();
        let mut kept = Vec::new();
        let mut per_type: Vec<Vec<Vec<f32>>> = vec![Vec::new(); needs.maps.len()];
        let mut dropped = Vec::new();
        let mut invalid_varcope = 0;
        for (study, maps) in self.manifest.studies.iter().zip(read) {
            let missing: Vec<&str> = missing_requirements(study, needs, opts.derive);
            let Some(maps) = maps? else {
                dropped.push(format!("{} (no {})", study.id, missing.join(", ")));
                continue;
            };
            let mut maps = maps;
            invalid_varcope += apply_validity(&mut maps, needs.maps);
            if !maps[0].iter().any(|x| !x.is_nan()) {
                dropped.push(format!("{} (no usable voxel)", study.id));
                continue;
            }
            kept.push(study);
            for (slot, m) in per_type.iter_mut().zip(maps) {
                slot.push(m);
            }
        }
        if invalid_varcope > 0 {
            warnings.push(format!(
                "{invalid_varcope} in-mask varcope values are not finite or <= 5.4210115e-20 (1/sqrt(float32 max)) and count as missing"
            ));
        }
        for d in &dropped {
            warnings.push(format!("{estimator}: dropping study {d}"));
        }
        if kept.len() < 2 {
            let detail = if dropped.is_empty() { String::new() } else { format!(" (dropped: {})", dropped.join("; ")) };
            return Err(Error::TooFewStudies { estimator: estimator.to_string(), found: kept.len(), detail });
        }
        if opts.aggressive_mask {
            aggressive(&mut per_type);
        }
        Ok(CompactInputs {
            study_ids: kept.iter().map(|s| s.id.clone()).collect(),
            sample_sizes: kept.iter().map(|s| s.sample_size).collect(),
            maps: needs.maps.iter().copied().zip(per_type).collect(),
            warnings,
        })
    }

    /// One study's masked maps of the needed types, or None if it lacks one.
    fn study_inputs(&self, study: &ibma_io::Study, needs: Needs, opts: InputOptions) -> Result<Option<Vec<Vec<f32>>>> {
        if !missing_requirements(study, needs, opts.derive).is_empty() {
            return Ok(None);
        }
        // Derivation reads every stored map, but only when a needed type is not stored.
        let derive = opts.derive && !needs.maps.iter().all(|t| study.maps.contains_key(t));
        let mut stored = BTreeMap::new();
        for (&ty, path) in &study.maps {
            if derive || needs.maps.contains(&ty) {
                stored.insert(ty, self.mask.read_masked_resampled(path, opts.resample)?);
            }
        }
        let all = if derive { derive_maps(stored, study.sample_size) } else { stored };
        Ok(Some(needs.maps.iter().map(|t| all[t].iter().map(|&x| x as f32).collect()).collect()))
    }
}

/// What `study` lacks for `needs` (after derivation, if on): map type and field names.
fn missing_requirements(study: &ibma_io::Study, needs: Needs, derive: bool) -> Vec<&'static str> {
    let available = if derive {
        crate::derive::derivable(&study.maps, study.sample_size)
    } else {
        study.maps.keys().copied().collect()
    };
    let mut missing: Vec<&str> = needs.maps.iter().filter(|t| !available.contains(t)).map(|t| t.name()).collect();
    if needs.sample_size && study.sample_size.is_none() {
        missing.push("sample_size");
    }
    missing
}

/// NiMARE's validity rule for one value of a map of type `ty` (estimators.md §2): finite and
/// non-zero, and a varcope above the float32 floor.
pub fn usable(ty: MapType, x: f32) -> bool {
    x.is_finite() && x != 0.0 && (ty != MapType::Varcope || x > VARCOPE_FLOOR_F32)
}

/// NaN wherever a value is unusable in any of the study's maps (NiMARE's validity rule,
/// estimators.md §2); returns how many varcope values fell under the float32 cutoff.
fn apply_validity(maps: &mut [Vec<f32>], types: &[MapType]) -> usize {
    let mut invalid_varcope = 0;
    let n = maps[0].len();
    for v in 0..n {
        let mut ok = true;
        for (m, &t) in maps.iter().zip(types) {
            let x = m[v];
            if !usable(t, x) {
                invalid_varcope += usize::from(t == MapType::Varcope);
                ok = false;
            }
        }
        if !ok {
            for m in maps.iter_mut() {
                m[v] = f32::NAN;
            }
        }
    }
    invalid_varcope
}

/// Keep a voxel only where every study is valid.
fn aggressive(per_type: &mut [Vec<Vec<f32>>]) {
    let n_voxels = per_type[0][0].len();
    for v in 0..n_voxels {
        if per_type[0].iter().any(|s| s[v].is_nan()) {
            for studies in per_type.iter_mut() {
                for s in studies.iter_mut() {
                    s[v] = f32::NAN;
                }
            }
        }
    }
}

/// Without a mask: every voxel where some study has a usable value in some map (§6).
fn union_mask(manifest: &Manifest) -> Result<Mask> {
    let mut union: Option<ibma_io::Volume> = None;
    for study in &manifest.studies {
        for path in study.maps.values() {
            let vol = ibma_io::read_volume(path)?;
            match &mut union {
                None => {
                    let mut u = vol;
                    u.data.iter_mut().for_each(|x| *x = f64::from(u8::from(x.is_finite() && *x != 0.0)));
                    union = Some(u);
                }
                Some(u) => {
                    if !vol.grid.same_as(&u.grid) {
                        // Resampling needs a target grid, and guessing one (the first map's)
                        // would make the result depend on the study order: ask for a mask.
                        return Err(Error::Invalid(format!(
                            "{}: grid {} differs from the other maps' grid {}; without an analysis mask all maps must share one grid: give a mask (--mask, or \"mask\" in dataset.json) and --set resample=linear to resample onto it",
                            path.display(),
                            vol.grid.describe(),
                            u.grid.describe()
                        )));
                    }
                    for (a, b) in u.data.iter_mut().zip(&vol.data) {
                        if b.is_finite() && *b != 0.0 {
                            *a = 1.0;
                        }
                    }
                }
            }
        }
    }
    let vol = union.ok_or_else(|| Error::Invalid(format!("{}: no study lists any map", manifest.path.display())))?;
    Ok(Mask::from_volume(&vol))
}
