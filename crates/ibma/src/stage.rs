//! Staged inputs: a fit's checked float32 inputs in one file, so that a fit larger than memory,
//! or a shard of one, holds only the voxels it fits. Each study is read once (inflated, derived
//! and checked as [`crate::Inputs::prepare`] checks it) and its maps are written study-major:
//! one stretch of V float32 per study and map type. A block of voxels is then K·T contiguous
//! reads, and fitting the blocks gives the in-memory fit bit for bit. Whole-map steps (GRF) read
//! the first map type study by study from the file.
//!
//! `ibma fit` stages into a temporary file when the inputs would exceed [`SPILL_BYTES`]; the
//! shards of one fit stage once into a folder they share (`crate::shard`, docs/cluster.md).

use crate::inputs::{Checked, Needs, Prepared, Streamed, StudyValues};
use crate::progress::Progress;
use crate::{blocks, Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::MapType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Prepared float32 inputs (all needed map types together) above which `ibma fit` stages them.
pub const SPILL_BYTES: usize = 1 << 30;

/// How one study came through the checks (over the whole mask).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Why it is not fitted; None: its maps are in the file.
    pub dropped: Option<String>,
    /// Its varcope values NiMARE's validity rule set aside.
    pub invalid_varcope: usize,
}

/// The shape of a stage file: V voxels, T map types, one [`Outcome`] per manifest study.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Mask voxels V.
    pub n_voxels: usize,
    /// The map types staged, in the estimator's order.
    pub types: Vec<MapType>,
    /// Every study of the manifest, in its order.
    pub studies: Vec<Outcome>,
}

impl Layout {
    fn bytes(&self) -> u64 {
        (self.studies.len() * self.types.len() * self.n_voxels * 4) as u64
    }
}

/// A stage file and its layout; a temporary one is removed when dropped.
#[derive(Debug)]
pub struct Stage {
    file: File,
    path: PathBuf,
    layout: Layout,
    temporary: bool,
}

impl Drop for Stage {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Stage {
    /// Read every study of `dataset` once, check it for `needs` and write its maps to a new
    /// file `path` (removed when the stage is dropped if `temporary`).
    ///
    /// # Errors
    /// What reading and checking the inputs reject; a file that cannot be written.
    pub fn build(path: &Path, dataset: &Dataset, needs: &Needs, temporary: bool) -> Result<Stage> {
        if may_depend(dataset, needs)? {
            return Err(Error::Invalid(format!(
                "{}: images with dependence groups are fitted over the whole mask at once and cannot be staged; run without a stage (--set groupby=none treats them as independent)",
                needs.estimator
            )));
        }
        let file = File::options().read(true).write(true).create(true).truncate(true).open(path);
        let file = file.map_err(|source| io_error(path, source))?;
        let studies = dataset.manifest.studies.len();
        let layout = Layout {
            n_voxels: dataset.mask.len(),
            types: needs.maps.to_vec(),
            studies: vec![Outcome::default(); studies],
        };
        let mut stage = Stage { file, path: path.to_path_buf(), layout, temporary };
        stage.file.set_len(stage.layout.bytes()).map_err(|e| stage.error(e))?;
        let outcomes: Vec<Mutex<Outcome>> = (0..studies).map(|_| Mutex::default()).collect();
        let keep = |k: usize, checked: &Checked| {
            if let Ok(maps) = &checked.maps {
                stage.write(k, maps)?;
            }
            let dropped = checked.maps.as_ref().err().cloned();
            *outcomes[k].lock().unwrap_or_else(PoisonError::into_inner) =
                Outcome { dropped, invalid_varcope: checked.invalid_varcope };
            Ok(())
        };
        dataset.prepare_keeping(needs, 0..0, Some(&keep))?;
        stage.layout.studies =
            outcomes.into_iter().map(|o| o.into_inner().unwrap_or_else(PoisonError::into_inner)).collect();
        Ok(stage)
    }

    /// Open the stage file `path` written by [`Stage::build`] with `layout`.
    ///
    /// # Errors
    /// A missing file, or one of another size than `layout` says (truncated, or another stage's).
    pub fn open(path: &Path, layout: Layout) -> Result<Stage> {
        let file = File::open(path).map_err(|source| io_error(path, source))?;
        let stage = Stage { file, path: path.to_path_buf(), layout, temporary: false };
        let size = stage.file.metadata().map_err(|e| stage.error(e))?.len();
        if size != stage.layout.bytes() {
            return Err(Error::Invalid(format!(
                "{}: {size} bytes, but its stage description says {}; the stage is incomplete: remove its folder and stage again",
                path.display(),
                stage.layout.bytes()
            )));
        }
        Ok(stage)
    }

    /// What the file holds.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What [`Dataset::prepare_voxels`] gives for `needs` over the mask voxels `voxels`, read
    /// from the file.
    ///
    /// # Errors
    /// A stage of other map types or another mask than `dataset`'s; a read that fails; what
    /// preparing the inputs rejects.
    pub fn prepare(&self, dataset: &Dataset, needs: &Needs, voxels: Range<usize>) -> Result<Prepared> {
        self.fits(dataset, needs)?;
        self.prepare_types(dataset, needs, voxels, needs.maps)
    }

    /// [`Stage::prepare`] holding only the map types `types` (whole-map steps read one).
    fn prepare_types(
        &self,
        dataset: &Dataset,
        needs: &Needs,
        voxels: Range<usize>,
        types: &[MapType],
    ) -> Result<Prepared> {
        let checked = self
            .layout
            .studies
            .par_iter()
            .enumerate()
            .map(|(k, outcome)| {
                let maps = match &outcome.dropped {
                    Some(why) => Err(why.clone()),
                    None => Ok((0..self.layout.types.len())
                        .filter(|&t| types.contains(&self.layout.types[t]))
                        .map(|t| self.read(k, t, voxels.clone()))
                        .collect::<Result<Vec<_>>>()?),
                };
                Ok(Checked { maps, invalid_varcope: outcome.invalid_varcope })
            })
            .collect::<Result<Vec<_>>>()?;
        let needs = Needs { maps: &needs.maps[..types.len()], ..needs.clone() };
        crate::Inputs::from_checked(&dataset.studies_without_maps(), checked, &dataset.mask, &needs, voxels)
    }

    /// Fit `est` on the voxels `voxels` block by block from the file, without whole-map steps,
    /// with the coverage facts of those voxels (`block`: voxels per block; None: as
    /// [`blocks::block_voxels`] says).
    ///
    /// # Errors
    /// As [`Stage::prepare`] and [`Estimator::fit_block`]; [`Error::Cancelled`].
    pub(crate) fn fit_voxels(
        &self,
        est: &dyn Estimator,
        dataset: &Dataset,
        voxels: Range<usize>,
        block: Option<usize>,
        progress: &dyn Progress,
    ) -> Result<(MetaResult, HashMap<Vec<u64>, usize>)> {
        let needs = est.needs();
        let block = match block {
            Some(b) => b.max(1),
            None => blocks::block_voxels(&self.prepare(dataset, &needs, 0..0)?),
        };
        let starts: Vec<usize> = voxels.clone().step_by(block).collect();
        progress.start(&format!("{}: voxel blocks", est.name()), starts.len());
        let mut parts = Vec::with_capacity(starts.len());
        let mut coverage: HashMap<Vec<u64>, usize> = HashMap::new();
        for &start in &starts {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let inputs = self.prepare(dataset, &needs, start..(start + block).min(voxels.end))?;
            parts.push(est.fit_block(&inputs.whole())?);
            for (key, count) in blocks::coverage(&inputs) {
                *coverage.entry(key).or_default() += count;
            }
            progress.advance(1);
        }
        progress.finish();
        let part = ibma_io::Mask { grid: dataset.mask.grid.clone(), indices: dataset.mask.indices[voxels].to_vec() };
        let mut result = blocks::join(parts, &part)?;
        blocks::set_coverage(coverage.clone(), &mut result);
        Ok((result, coverage))
    }

    /// Run the whole-map steps of `est` ([`Estimator::finish`]) on `result`, reading the first
    /// map type study by study from the file when they read inputs.
    ///
    /// # Errors
    /// As [`Estimator::finish`]; a read that fails.
    pub(crate) fn finish(&self, est: &dyn Estimator, dataset: &Dataset, result: &mut MetaResult) -> Result<()> {
        if !est.finish_reads_inputs() {
            return est.finish(&Prepared::none(dataset.mask.clone()), result);
        }
        let needs = est.needs();
        self.fits(dataset, &needs)?;
        let mut inputs = self.prepare_types(dataset, &needs, 0..0, &needs.maps[..1])?;
        let rows = self.layout.studies.iter().enumerate().filter(|(_, o)| o.dropped.is_none()).map(|(k, _)| k);
        let values = Arc::new(FirstMap {
            file: self.file.try_clone().map_err(|e| self.error(e))?,
            path: self.path.clone(),
            layout: self.layout.clone(),
            rows: rows.collect(),
            complete: None,
            failed: Mutex::new(None),
        });
        let values = if needs.options.aggressive_mask { Arc::new(values.with_complete()?) } else { values };
        inputs.mask = dataset.mask.clone();
        inputs.maps.clear();
        inputs.streamed = Some(Streamed(needs.maps[0], values.clone()));
        est.finish(&inputs, result)?;
        let failed = values.failed.lock().unwrap_or_else(PoisonError::into_inner).take();
        failed.map_or(Ok(()), Err)
    }

    /// Refuse a stage of other map types or another mask than `needs` and `dataset` have.
    fn fits(&self, dataset: &Dataset, needs: &Needs) -> Result<()> {
        let layout = &self.layout;
        if layout.types != needs.maps
            || layout.n_voxels != dataset.mask.len()
            || layout.studies.len() != dataset.manifest.studies.len()
        {
            return Err(Error::Invalid(format!(
                "{}: staged for another fit ({} studies, {} voxels, maps {:?}) than this one ({} studies, {} voxels, maps {:?})",
                self.path.display(),
                layout.studies.len(),
                layout.n_voxels,
                layout.types,
                dataset.manifest.studies.len(),
                dataset.mask.len(),
                needs.maps
            )));
        }
        Ok(())
    }

    fn offset(&self, study: usize, ty: usize, voxel: usize) -> u64 {
        offset(&self.layout, study, ty, voxel)
    }

    fn write(&self, study: usize, maps: &[Vec<f32>]) -> Result<()> {
        for (t, values) in maps.iter().enumerate() {
            let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.file.write_all_at(&bytes, self.offset(study, t, 0)).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn read(&self, study: usize, ty: usize, voxels: Range<usize>) -> Result<Vec<f32>> {
        read_values(&self.file, self.offset(study, ty, voxels.start), voxels.len()).map_err(|e| self.error(e))
    }

    fn error(&self, source: std::io::Error) -> Error {
        io_error(&self.path, source)
    }
}

fn offset(layout: &Layout, study: usize, ty: usize, voxel: usize) -> u64 {
    (((study * layout.types.len() + ty) * layout.n_voxels + voxel) * 4) as u64
}

fn read_values(file: &File, at: u64, n: usize) -> std::io::Result<Vec<f32>> {
    let mut bytes = vec![0u8; n * 4];
    file.read_exact_at(&mut bytes, at)?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::from(ibma_io::Error::Io { path: path.to_path_buf(), source })
}

/// The kept studies' first map type read from a stage file one study at a time (memory: one
/// map), NaN where the aggressive mask drops a voxel. A failed read gives NaN and is kept in
/// `failed` for the caller.
struct FirstMap {
    file: File,
    path: PathBuf,
    layout: Layout,
    rows: Vec<usize>,
    complete: Option<Vec<bool>>,
    failed: Mutex<Option<Error>>,
}

impl FirstMap {
    /// The same, with the voxels where every kept study has data (one pass over the file).
    fn with_complete(&self) -> Result<FirstMap> {
        let mut complete = vec![true; self.layout.n_voxels];
        for &k in &self.rows {
            let values = self.read(k).map_err(|e| io_error(&self.path, e))?;
            complete.iter_mut().zip(values).for_each(|(c, x)| *c &= !x.is_nan());
        }
        Ok(FirstMap {
            file: self.file.try_clone().map_err(|e| io_error(&self.path, e))?,
            path: self.path.clone(),
            layout: self.layout.clone(),
            rows: self.rows.clone(),
            complete: Some(complete),
            failed: Mutex::new(None),
        })
    }

    fn read(&self, row: usize) -> std::io::Result<Vec<f32>> {
        read_values(&self.file, offset(&self.layout, row, 0, 0), self.layout.n_voxels)
    }
}

impl StudyValues for FirstMap {
    fn n_studies(&self) -> usize {
        self.rows.len()
    }
    fn study_into(&self, k: usize, out: &mut [f64]) {
        match self.read(self.rows[k]) {
            Ok(values) => out.iter_mut().zip(values).for_each(|(o, x)| *o = f64::from(x)),
            Err(e) => {
                out.fill(f64::NAN);
                self.failed.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(io_error(&self.path, e));
            }
        }
        if let Some(complete) = &self.complete {
            out.iter_mut().zip(complete).filter(|(_, c)| !**c).for_each(|(o, _)| *o = f64::NAN);
        }
    }
}

/// True if `ibma fit` should fit `est` on `dataset` through a temporary stage: a voxelwise
/// estimator whose prepared inputs would exceed [`SPILL_BYTES`], on images without dependence.
///
/// # Errors
/// Group labels that cannot be read.
pub fn worthwhile(est: &dyn Estimator, dataset: &Dataset) -> Result<bool> {
    let needs = est.needs();
    let bytes = 4 * dataset.manifest.studies.len() * needs.maps.len() * dataset.mask.len();
    Ok(bytes > SPILL_BYTES && est.capabilities().voxelwise && !may_depend(dataset, &needs)?)
}

/// Some images may share a dependence group (then the fit needs every voxel at once).
fn may_depend(dataset: &Dataset, needs: &Needs) -> Result<bool> {
    let labels = crate::inputs::group_labels(&dataset.studies_without_maps(), &needs.options.groupby)?;
    let mut seen = std::collections::HashSet::new();
    Ok(labels.iter().flatten().any(|l| !seen.insert(l)))
}

/// Fit `est` on `dataset` through a temporary stage file in `dir` (see the module
/// documentation).
///
/// # Errors
/// As [`Estimator::fit_prepared`], and a stage file that cannot be written or read.
pub fn fit(est: &dyn Estimator, dataset: &Dataset, dir: &Path, progress: &dyn Progress) -> Result<MetaResult> {
    fit_with_block(est, dataset, dir, None, progress)
}

fn fit_with_block(
    est: &dyn Estimator,
    dataset: &Dataset,
    dir: &Path,
    block: Option<usize>,
    progress: &dyn Progress,
) -> Result<MetaResult> {
    let path = dir.join(format!(".ibma-inputs-{}.scratch", std::process::id()));
    let stage = Stage::build(&path, dataset, &est.needs(), true)?;
    let (mut result, _) = stage.fit_voxels(est, dataset, 0..dataset.mask.len(), block, progress)?;
    stage.finish(est, dataset, &mut result)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::AnyEstimator;

    /// Through the stage file in 97-voxel blocks: the in-memory fit, bit for bit.
    #[test]
    fn staged_fits_equal_in_memory_fits() {
        let Some(data) = ibma_testkit::shared_data("nimare_test_pain_10x10x10") else { return };
        let dataset = Dataset::load(&data).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, sets) in [
            ("dersimonian-laird", &[][..]),
            ("dersimonian-laird", &[("aggressive_mask", "true")][..]),
            ("mfx-glm", &[][..]),
            ("mfx-glm", &[("aggressive_mask", "true")][..]),
            ("stouffers", &[][..]),
            ("permuted-ols", &[][..]),
        ] {
            let mut est = AnyEstimator::by_name(name).unwrap();
            for (k, v) in sets {
                crate::params::set(&mut est, k, v).unwrap();
            }
            let inputs = dataset.inputs(&est.needs()).unwrap().prepare(&est.needs()).unwrap();
            let memory = est.fit_prepared(&inputs, &crate::progress::Quiet).unwrap();
            let staged = fit_with_block(&est, &dataset, dir.path(), Some(97), &crate::progress::Quiet).unwrap();
            let what = format!("{name} {sets:?}");
            let bits = |r: &MetaResult| -> Vec<(String, Vec<u64>)> {
                r.maps().map(|(m, v)| (m.to_string(), v.iter().map(|x| x.to_bits()).collect())).collect()
            };
            assert_eq!(bits(&memory), bits(&staged), "{what}: maps");
            assert_eq!(memory.diagnostics, staged.diagnostics, "{what}: diagnostics");
            assert_eq!(memory.warnings, staged.warnings, "{what}: warnings");
            assert_eq!(memory.tables, staged.tables, "{what}: tables");
            assert_eq!(memory.studies, staged.studies, "{what}: studies");
            assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{what}: the stage file is left");
        }
    }
}
