//! What an estimator fits: studies with their maps over the voxels of a mask, in memory.
//!
//! [`Inputs`] is what a caller builds (from arrays, or with [`crate::Dataset::inputs`] from
//! files). An estimator [prepares](Inputs::prepare) it: it keeps the map types it needs
//! (deriving missing ones where allowed), applies NiMARE's validity rule, drops studies
//! without usable data and, with `aggressive_mask`, voxels missing in any study. Each image
//! kept gets its dependence group (`groupby`, docs/dependence.md). What it fits is a
//! [`Prepared`] set, whole or in voxel [`Block`]s.

use crate::derive::{derivable, derive_maps};
use crate::options::GroupBy;
use crate::options::{Derive, InputOptions};
use crate::{Error, Result};
use ibma_io::{Covariate, MapType, Mask, Source};
use ibma_stats::groups::{DependenceWarning, Grouping};
use ibma_stats::nullcorr::{null_correlation, CorrMatrix};
use ibma_stats::StudyVoxels;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;

/// NiMARE 0.22.1 treats a varcope at or below 1/√(float32 max) as missing (compared in float32).
const VARCOPE_FLOOR_F32: f32 = 5.421_011_5e-20;

/// One image (a study's map set): its id, the study it comes from, sample size, covariates and
/// masked maps (float32, one value per mask voxel; 0 or NaN where it has no data).
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct StudyInputs {
    /// Unique id.
    pub id: String,
    /// The study it comes from when a study has several images (they are then dependent:
    /// `groupby=study`); None: a study of its own.
    pub study: Option<String>,
    /// Total subjects N, if known.
    pub sample_size: Option<f64>,
    /// Covariates for meta-regression designs.
    pub covariates: BTreeMap<String, Covariate>,
    /// Masked map values by type.
    pub maps: BTreeMap<MapType, Vec<f32>>,
}

impl StudyInputs {
    /// Every map has one value per mask voxel (`v` of them).
    fn check_voxels(&self, v: usize) -> Result<()> {
        match self.maps.iter().find(|(_, m)| m.len() != v) {
            Some((ty, values)) => Err(Error::Invalid(format!(
                "study {}: {} map has {} values for {v} mask voxels",
                self.id,
                ty.name(),
                values.len()
            ))),
            None => Ok(()),
        }
    }

    /// A study with no maps yet.
    pub fn new(id: impl Into<String>) -> StudyInputs {
        StudyInputs { id: id.into(), ..StudyInputs::default() }
    }

    /// As one of the images of study `study`.
    pub fn study(mut self, study: impl Into<String>) -> StudyInputs {
        self.study = Some(study.into());
        self
    }

    /// The study it comes from: its `study`, else its own id.
    pub fn study_id(&self) -> &str {
        self.study.as_deref().unwrap_or(&self.id)
    }

    /// With its sample size.
    pub fn sample_size(mut self, n: f64) -> StudyInputs {
        self.sample_size = Some(n);
        self
    }

    /// With a covariate.
    pub fn covariate(mut self, name: impl Into<String>, value: Covariate) -> StudyInputs {
        self.covariates.insert(name.into(), value);
        self
    }

    /// With a map (values are rounded to float32, as every input is).
    pub fn map(mut self, ty: MapType, values: impl IntoIterator<Item = f64>) -> StudyInputs {
        self.maps.insert(ty, values.into_iter().map(|x| x as f32).collect());
        self
    }
}

/// Studies and their maps over one mask.
#[derive(Clone, Debug)]
pub struct Inputs {
    mask: Mask,
    studies: Vec<StudyInputs>,
    source: Option<Source>,
    warnings: Vec<String>,
}

impl Inputs {
    /// No studies yet, on `mask` (whose voxels the map values follow, in order).
    pub fn new(mask: Mask) -> Inputs {
        Inputs { mask, studies: Vec::new(), source: None, warnings: Vec::new() }
    }

    /// Inputs read from a dataset of kind `source` (decides what `derive=auto` means).
    pub(crate) fn from_dataset(mask: Mask, source: Source) -> Inputs {
        Inputs { source: Some(source), ..Inputs::new(mask) }
    }

    /// Add a study.
    ///
    /// # Errors
    /// A map without one value per mask voxel, or an id already used.
    pub fn push(&mut self, study: StudyInputs) -> Result<()> {
        study.check_voxels(self.mask.len())?;
        if self.studies.iter().any(|s| s.id == study.id) {
            return Err(Error::Invalid(format!("study {}: the id is used twice", study.id)));
        }
        self.studies.push(study);
        Ok(())
    }

    /// [`Inputs::push`], chained.
    ///
    /// # Errors
    /// As [`Inputs::push`].
    pub fn with(mut self, study: StudyInputs) -> Result<Inputs> {
        self.push(study)?;
        Ok(self)
    }

    /// The mask the values follow.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// The studies, in order.
    pub fn studies(&self) -> &[StudyInputs] {
        &self.studies
    }

    /// Keep what `needs` asks for: see the module documentation.
    ///
    /// # Errors
    /// [`Error::TooFewStudies`] when fewer than two studies are usable.
    pub fn prepare(&self, needs: &Needs) -> Result<Prepared> {
        let derive = derives(needs, self.source);
        let groups = group_labels(&self.studies, &needs.options.groupby)?;
        let checked: Vec<Checked> =
            self.studies.par_iter().zip(&groups).map(|(s, g)| check(s, needs, derive, g.is_some())).collect();
        assemble(&self.studies, groups, checked, self.mask.clone(), self.mask.len(), self.warnings.clone(), needs)
    }

    /// [`Inputs::prepare`] of the inputs `read` returns study by study, keeping only the mask
    /// voxels `voxels`: each study is read whole (validity and the choice of studies look at
    /// every voxel) but only its values in `voxels` are held, so the result is the prepared
    /// whole restricted to `voxels`, at a fraction of the memory. `studies` are the studies
    /// without their maps (ids, groups, covariates); `read(k)` reads study k's maps.
    ///
    /// # Errors
    /// As [`Inputs::prepare`], and what `read` returns; dependent images (whose null correlation
    /// and warnings look at every voxel) on part of the mask. `keep(k, checked)` is given each
    /// study's checked maps over the whole mask (to store them elsewhere), if asked for.
    pub(crate) fn prepare_voxels(
        studies: &[StudyInputs],
        read: &(dyn Fn(usize) -> Result<StudyInputs> + Sync),
        mask: &Mask,
        source: Source,
        needs: &Needs,
        voxels: Range<usize>,
        keep: Option<&KeepStudy<'_>>,
    ) -> Result<Prepared> {
        for (k, s) in studies.iter().enumerate() {
            if studies[..k].iter().any(|t| t.id == s.id) {
                return Err(Error::Invalid(format!("study {}: the id is used twice", s.id)));
            }
        }
        let derive = derives(needs, Some(source));
        let groups = group_labels(studies, &needs.options.groupby)?;
        let v = mask.len();
        let checked: Vec<Checked> = (0..studies.len())
            .into_par_iter()
            .map(|k| {
                let study = read(k)?;
                study.check_voxels(v)?;
                let mut checked = check(&study, needs, derive, groups[k].is_some());
                if let Some(keep) = keep {
                    keep(k, &checked)?;
                }
                if let Ok(maps) = &mut checked.maps {
                    maps.iter_mut().for_each(|m| *m = m[voxels.clone()].to_vec());
                }
                Ok(checked)
            })
            .collect::<Result<_>>()?;
        Inputs::from_checked(studies, checked, mask, needs, voxels)
    }

    /// The prepared inputs over the mask voxels `voxels` from every study's [`Checked`] maps
    /// (over `voxels` only) and the facts checked over the whole `mask`.
    ///
    /// # Errors
    /// As [`Inputs::prepare_voxels`].
    pub(crate) fn from_checked(
        studies: &[StudyInputs],
        checked: Vec<Checked>,
        mask: &Mask,
        needs: &Needs,
        voxels: Range<usize>,
    ) -> Result<Prepared> {
        let groups = group_labels(studies, &needs.options.groupby)?;
        let v = mask.len();
        let part = Mask { grid: mask.grid.clone(), indices: mask.indices[voxels.clone()].to_vec() };
        let prepared = assemble(studies, groups, checked, part, v, Vec::new(), needs)?;
        if prepared.has_dependence() && voxels.len() < v {
            return Err(Error::Invalid(format!(
                "{}: images with dependence groups are fitted over the whole mask at once; a voxel shard cannot take them (--set groupby=none treats them as independent)",
                needs.estimator
            )));
        }
        Ok(prepared)
    }
}

/// Takes each study's [`Checked`] maps over the whole mask, with its position among the inputs.
pub(crate) type KeepStudy<'a> = dyn Fn(usize, &Checked) -> Result<()> + Sync + 'a;

/// Whether missing map types are derived for inputs from `source`.
fn derives(needs: &Needs, source: Option<Source>) -> bool {
    match (needs.options.derive, source) {
        (Derive::Auto, None) => true,
        (d, Some(source)) => d.applies(source),
        (d, None) => d == Derive::Always,
    }
}

/// A study's needed maps after NiMARE's validity rule, or why it is dropped; and how many of its
/// varcope values were unusable.
pub(crate) struct Checked {
    pub(crate) maps: std::result::Result<Vec<Vec<f32>>, String>,
    pub(crate) invalid_varcope: usize,
}

/// Check one study (see [`Inputs::prepare`]); `grouped`: it has a group label.
fn check(study: &StudyInputs, needs: &Needs, derive: bool, grouped: bool) -> Checked {
    let (mut maps, invalid_varcope) = match (needed_maps(study, needs, derive), grouped) {
        (Err(missing), _) => return Checked { maps: Err(format!("no {}", missing.join(", "))), invalid_varcope: 0 },
        (Ok(_), false) => {
            let reason = format!("no covariate {}, its groupby", needs.options.groupby_name());
            return Checked { maps: Err(reason), invalid_varcope: 0 };
        }
        (Ok(mut maps), true) => {
            let invalid = apply_validity(&mut maps, needs.maps);
            (maps, invalid)
        }
    };
    if !maps[0].iter().any(|x| !x.is_nan()) {
        maps.clear();
        return Checked { maps: Err("no usable voxel".into()), invalid_varcope };
    }
    Checked { maps: Ok(maps), invalid_varcope }
}

/// The prepared set from each study's [`Checked`] maps over `mask` (the whole mask of
/// `n_mask_voxels` voxels, or part of it): studies kept, warnings, groups, aggressive mask.
fn assemble(
    studies: &[StudyInputs],
    groups: Vec<Option<String>>,
    checked: Vec<Checked>,
    mask: Mask,
    n_mask_voxels: usize,
    mut warnings: Vec<String>,
    needs: &Needs,
) -> Result<Prepared> {
    let (mut kept, mut per_type, mut dropped) = (Vec::new(), vec![Vec::new(); needs.maps.len()], Vec::new());
    let mut invalid_varcope = 0;
    for ((study, checked), group) in studies.iter().zip(checked).zip(groups) {
        invalid_varcope += checked.invalid_varcope;
        match (checked.maps, group) {
            (Ok(maps), Some(group)) => {
                kept.push(StudyInfo {
                    id: study.id.clone(),
                    study: study.study_id().to_string(),
                    group,
                    sample_size: study.sample_size,
                    covariates: study.covariates.clone(),
                });
                per_type.iter_mut().zip(maps).for_each(|(slot, m)| slot.push(m));
            }
            (Err(reason), _) => dropped.push(format!("{} ({reason})", study.id)),
            (Ok(_), None) => unreachable!("a study without a group label is dropped by check"),
        }
    }
    if invalid_varcope > 0 {
        let total = studies.len() * n_mask_voxels;
        warnings.push(format!(
            "{invalid_varcope} of the {total} in-mask varcope values ({:.1}%) are 0, negative, not finite or at most 5.4e-20: as in NiMARE, a study has no data where its varcope is one of these (usually its zeros outside its own brain mask), and each voxel is fitted on the studies that do have data there",
            100.0 * invalid_varcope as f64 / total.max(1) as f64
        ));
    }
    warnings.extend(dropped.iter().map(|d| format!("{}: dropping study {d}", needs.estimator)));
    if kept.len() < 2 {
        let detail = if dropped.is_empty() { String::new() } else { format!(" (dropped: {})", dropped.join("; ")) };
        return Err(Error::TooFewStudies { estimator: needs.estimator.to_string(), found: kept.len(), detail });
    }
    if needs.options.groupby == crate::options::GroupBy::Independent {
        warnings.extend(independence_warning(&kept));
    }
    let mut prepared = Prepared {
        studies: kept,
        maps: needs.maps.iter().copied().zip(per_type).collect(),
        mask,
        warnings,
        grouping: Grouping::independent(0),
        null_correlation: None,
        needs_null_correlation: needs.null_correlation,
        streamed: None,
    };
    // Before the aggressive mask: NiMARE estimates the correlation on every voxel.
    prepared.resolve_dependence();
    if needs.options.aggressive_mask {
        prepared.mask_aggressively();
    }
    Ok(prepared)
}

/// What an estimator reads, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The estimator's name (for messages).
    pub estimator: &'static str,
    /// Map types read; a voxel is usable where every one of them is. The first is the one
    /// sign flips act on (con, z or t).
    pub maps: &'static [MapType],
    /// True if every study needs a sample size.
    pub sample_size: bool,
    /// Masking, derivation, resampling, grouping.
    pub options: InputOptions,
    /// Estimate the null correlation between the images' first map when they are dependent
    /// (the combination tests, NiMARE's `_requires_corr_matrix`).
    pub null_correlation: bool,
}

impl Needs {
    /// `estimator` reads `maps` (and sample sizes if `sample_size`) as `options` say.
    pub fn new(estimator: &'static str, maps: &'static [MapType], sample_size: bool, options: &InputOptions) -> Needs {
        Needs { estimator, maps, sample_size, options: options.clone(), null_correlation: false }
    }

    /// Also the null correlation between dependent images.
    pub fn with_null_correlation(self) -> Needs {
        Needs { null_correlation: true, ..self }
    }
}

/// A study's needed maps in order, derived where allowed; or what it lacks.
fn needed_maps(
    study: &StudyInputs,
    needs: &Needs,
    derive: bool,
) -> std::result::Result<Vec<Vec<f32>>, Vec<&'static str>> {
    let mut missing: Vec<&'static str> = Vec::new();
    let have_all = needs.maps.iter().all(|t| study.maps.contains_key(t));
    let available = if derive && !have_all {
        derivable(&study.maps.keys().copied().collect(), study.sample_size)
    } else {
        study.maps.keys().copied().collect()
    };
    missing.extend(needs.maps.iter().filter(|t| !available.contains(t)).map(|t| t.name()));
    if needs.sample_size && study.sample_size.is_none() {
        missing.push("sample_size");
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    if have_all {
        return Ok(needs.maps.iter().map(|t| study.maps[t].clone()).collect());
    }
    let stored = study.maps.iter().map(|(&t, m)| (t, m.iter().map(|&x| f64::from(x)).collect())).collect();
    let all = derive_maps(stored, study.sample_size);
    Ok(needs.maps.iter().map(|t| all[t].iter().map(|&x| x as f32).collect()).collect())
}

/// NiMARE's validity rule for one value of a map of type `ty`: finite and non-zero, and a
/// varcope above the float32 floor.
#[inline]
pub fn usable(ty: MapType, x: f32) -> bool {
    // Without branches, so that loops over a map vectorise.
    x.is_finite() & (x != 0.0) & ((ty != MapType::Varcope) | (x > VARCOPE_FLOOR_F32))
}

/// NaN wherever a value is unusable in any of the study's maps; returns how many varcope
/// values were unusable.
fn apply_validity(maps: &mut [Vec<f32>], types: &[MapType]) -> usize {
    // Map by map (linear passes), then the NaNs: the same as voxel by voxel, faster.
    let mut ok = vec![true; maps[0].len()];
    let mut invalid_varcope = 0;
    for (m, &t) in maps.iter().zip(types) {
        let varcope = t == MapType::Varcope;
        for (o, &x) in ok.iter_mut().zip(m) {
            let usable = usable(t, x);
            invalid_varcope += usize::from(varcope & !usable);
            *o &= usable;
        }
    }
    for m in maps.iter_mut() {
        m.iter_mut().zip(&ok).for_each(|(x, &o)| *x = if o { *x } else { f32::NAN });
    }
    invalid_varcope
}

/// Keep a voxel only where every study is valid.
fn aggressive(per_type: &mut [Vec<Vec<f32>>]) {
    for v in 0..per_type[0][0].len() {
        if per_type[0].iter().any(|s| s[v].is_nan()) {
            per_type.iter_mut().flatten().for_each(|s| s[v] = f32::NAN);
        }
    }
}

/// An image of a fit: what the kernels and designs need besides its maps.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyInfo {
    /// Id.
    pub id: String,
    /// The study it comes from.
    pub study: String,
    /// Its dependence group's label (`groupby`).
    pub group: String,
    /// Sample size, if known.
    pub sample_size: Option<f64>,
    /// Covariates.
    pub covariates: BTreeMap<String, Covariate>,
}

/// Inputs prepared for one estimator: the studies kept, one float32 vector per study and
/// needed map type (inputs are float32-rounded anyway, so nothing is lost) with a shared NaN
/// pattern (NaN = not usable).
#[derive(Clone, Debug)]
pub struct Prepared {
    pub(crate) studies: Vec<StudyInfo>,
    pub(crate) maps: BTreeMap<MapType, Vec<Vec<f32>>>,
    pub(crate) mask: Mask,
    pub(crate) warnings: Vec<String>,
    pub(crate) grouping: Grouping,
    pub(crate) null_correlation: Option<CorrMatrix>,
    needs_null_correlation: bool,
    /// A map type read study by study from disk instead of held in `maps` (whole-map steps of
    /// a fit too large to hold its inputs: `crate::stage`).
    pub(crate) streamed: Option<Streamed>,
}

/// One map type's values, read study by study when asked for.
#[derive(Clone)]
pub(crate) struct Streamed(pub(crate) MapType, pub(crate) std::sync::Arc<dyn StudyValues + Send>);

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Streamed({}, {} studies)", self.0.name(), self.1.n_studies())
    }
}

impl Prepared {
    /// Number of studies K.
    pub fn n_studies(&self) -> usize {
        self.studies.len()
    }

    /// Number of mask voxels V.
    pub fn n_voxels(&self) -> usize {
        self.mask.len()
    }

    /// The studies kept.
    pub fn studies(&self) -> &[StudyInfo] {
        &self.studies
    }

    /// The mask.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// Messages for the user (dropped studies, invalid varcopes, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The images' dependence groups.
    pub fn grouping(&self) -> &Grouping {
        &self.grouping
    }

    /// Some group holds several images: the estimators' dependence-aware forms apply.
    pub fn has_dependence(&self) -> bool {
        self.grouping.has_dependence()
    }

    /// The grouping of the images, and their null correlation if asked for (from the first map
    /// over every voxel it holds).
    fn resolve_dependence(&mut self) {
        self.grouping = grouping(&self.studies);
        self.null_correlation = None;
        if self.needs_null_correlation && self.grouping.has_dependence() {
            let first = self.maps.values().next().map(|m| voxel_major(m, 0..self.mask.len()));
            let (corr, warning) = first.map_or((None, None), |m| correlation(&m, &self.grouping));
            self.null_correlation = corr;
            // A subset (`without`) keeps the warnings of the whole.
            self.warnings.extend(warning.filter(|w| !self.warnings.contains(w)));
        }
    }

    /// One map type's values, study by study.
    #[track_caller]
    pub fn values(&self, ty: MapType) -> &Vec<Vec<f32>> {
        self.maps.get(&ty).unwrap_or_else(|| panic!("{} was not prepared", ty.name()))
    }

    /// One map type's values, study by study, held or [streamed](Streamed).
    #[track_caller]
    pub(crate) fn study_values(&self, ty: MapType) -> &dyn StudyValues {
        match &self.streamed {
            Some(Streamed(t, values)) if *t == ty && !self.maps.contains_key(&ty) => values.as_ref(),
            _ => self.values(ty),
        }
    }

    /// The fit's inputs over the mask voxels `voxels` (positions in mask order).
    pub fn block(&self, voxels: Range<usize>) -> Block {
        Block {
            studies: self.studies.clone(),
            maps: self.maps.iter().map(|(&t, studies)| (t, voxel_major(studies, voxels.clone()))).collect(),
            mask: Mask { grid: self.mask.grid.clone(), indices: self.mask.indices[voxels].to_vec() },
            warnings: self.warnings.clone(),
            grouping: self.grouping.clone(),
            null_correlation: self.null_correlation.clone(),
        }
    }

    /// The same inputs over the mask voxels `voxels` only (a shard's part of a whole).
    pub(crate) fn restricted(&self, voxels: Range<usize>) -> Prepared {
        Prepared {
            maps: self.maps.iter().map(|(&t, s)| (t, s.iter().map(|m| m[voxels.clone()].to_vec()).collect())).collect(),
            mask: Mask { grid: self.mask.grid.clone(), indices: self.mask.indices[voxels].to_vec() },
            ..self.clone_without_maps()
        }
    }

    /// No studies on `mask` (for whole-map steps that read no inputs).
    pub(crate) fn none(mask: Mask) -> Prepared {
        Prepared {
            studies: Vec::new(),
            maps: BTreeMap::new(),
            mask,
            warnings: Vec::new(),
            grouping: Grouping::independent(0),
            null_correlation: None,
            needs_null_correlation: false,
            streamed: None,
        }
    }

    fn clone_without_maps(&self) -> Prepared {
        Prepared {
            studies: self.studies.clone(),
            maps: BTreeMap::new(),
            mask: self.mask.clone(),
            warnings: self.warnings.clone(),
            grouping: self.grouping.clone(),
            null_correlation: self.null_correlation.clone(),
            needs_null_correlation: self.needs_null_correlation,
            streamed: None,
        }
    }

    /// The fit's inputs over every mask voxel.
    pub fn whole(&self) -> Block {
        self.block(0..self.n_voxels())
    }

    /// The same studies but `left_out`, voxels re-masked aggressively if `aggressive` (a
    /// refit on a subset, as the jackknife does: groups and null correlation are those of the
    /// subset, the correlation estimated before the re-masking).
    pub fn without(&self, left_out: Option<usize>, aggressive_mask: bool) -> Prepared {
        let keep = |k: &usize| Some(*k) != left_out;
        let maps: BTreeMap<MapType, Vec<Vec<f32>>> = self
            .maps
            .iter()
            .map(|(&t, studies)| (t, (0..studies.len()).filter(keep).map(|k| studies[k].clone()).collect()))
            .collect();
        let mut subset = Prepared {
            studies: (0..self.studies.len()).filter(keep).map(|k| self.studies[k].clone()).collect(),
            maps,
            mask: self.mask.clone(),
            warnings: self.warnings.clone(),
            grouping: Grouping::independent(0),
            null_correlation: None,
            needs_null_correlation: self.needs_null_correlation,
            streamed: None,
        };
        subset.resolve_dependence();
        if aggressive_mask {
            subset.mask_aggressively();
        }
        subset
    }

    /// Keep a voxel only where every study is valid.
    fn mask_aggressively(&mut self) {
        let types: Vec<MapType> = self.maps.keys().copied().collect();
        let mut per_type: Vec<Vec<Vec<f32>>> = std::mem::take(&mut self.maps).into_values().collect();
        aggressive(&mut per_type);
        self.maps = types.into_iter().zip(per_type).collect();
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

/// What the kernels fit: K×V float64 matrices (voxel-major) of some voxels of the mask.
#[derive(Clone, Debug)]
pub struct Block {
    /// The studies, in the matrices' order.
    pub studies: Vec<StudyInfo>,
    /// One matrix per needed map type, NaN where a study is not usable.
    pub maps: BTreeMap<MapType, StudyVoxels>,
    /// The voxels (the whole mask, or a block of it).
    pub mask: Mask,
    /// Messages carried into the result.
    pub warnings: Vec<String>,
    /// The studies' dependence groups.
    pub grouping: Grouping,
    /// Their null correlation (combination tests with dependence; None if not estimable).
    pub null_correlation: Option<CorrMatrix>,
}

impl Block {
    /// One map type's matrix.
    #[track_caller]
    pub fn map(&self, ty: MapType) -> &StudyVoxels {
        self.maps.get(&ty).unwrap_or_else(|| panic!("{} was not prepared", ty.name()))
    }

    /// Sample sizes in study order (NaN where not given).
    pub fn sample_sizes(&self) -> Vec<f64> {
        self.studies.iter().map(|s| s.sample_size.unwrap_or(f64::NAN)).collect()
    }

    /// Study ids in order.
    pub fn study_ids(&self) -> Vec<String> {
        self.studies.iter().map(|s| s.id.clone()).collect()
    }
}

/// One map type's values, read study by study (NaN where a study is not valid), whether held
/// as a voxel-major matrix or as prepared study vectors.
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

// Dependence groups of the inputs (docs/dependence.md); the kernels' side is `crate::dependence`.

/// One group label per image of `studies` under `groupby` (None where `groupby` names a
/// covariate the image lacks: it is dropped, as NiMARE drops an image without a required input).
///
/// # Errors
/// Explicit labels that are not one per image.
pub(crate) fn group_labels(studies: &[StudyInputs], groupby: &GroupBy) -> Result<Vec<Option<String>>> {
    Ok(match groupby {
        GroupBy::Study => studies.iter().map(|s| Some(s.study_id().to_string())).collect(),
        // NiMARE labels every image by its id: codes then follow the image order.
        GroupBy::Independent => studies.iter().map(|s| Some(s.id.clone())).collect(),
        GroupBy::Covariate(name) => studies.iter().map(|s| s.covariates.get(name).map(|c| c.label())).collect(),
        GroupBy::Labels(labels) => {
            if labels.len() != studies.len() {
                return Err(Error::Invalid(format!(
                    "groupby: {} labels for {} images; give one label per image, in the order of the inputs",
                    labels.len(),
                    studies.len()
                )));
            }
            labels.iter().cloned().map(Some).collect()
        }
    })
}

/// The grouping of a fit's images (by their labels).
pub(crate) fn grouping(studies: &[StudyInfo]) -> Grouping {
    Grouping::from_labels(&studies.iter().map(|s| s.group.as_str()).collect::<Vec<_>>())
}

/// NiMARE's warning for `groupby=none` when images share a study (it inflates significance).
pub(crate) fn independence_warning(studies: &[StudyInfo]) -> Option<String> {
    let shared = Grouping::from_labels(&studies.iter().map(|s| s.study.as_str()).collect::<Vec<_>>()).shared_images();
    (shared > 0).then(|| {
        format!(
            "{shared} image(s) share a group with another image, but groupby=none was requested, so they will be \
             treated as independent. This inflates significance."
        )
    })
}

/// The null correlation of the images' first map (`maps`: every mask voxel, NaN where not
/// usable) when the grouping has dependence, with the warning when it cannot be estimated.
pub(crate) fn correlation(maps: &StudyVoxels, grouping: &Grouping) -> (Option<CorrMatrix>, Option<String>) {
    if !grouping.has_dependence() {
        return (None, None);
    }
    match null_correlation(maps, grouping) {
        Some(corr) => (Some(corr), None),
        None => (None, Some(DependenceWarning::NoNullCorrelation.to_string())),
    }
}
