//! Fitting inputs larger than memory should hold: each study is read once, checked as
//! [`crate::Inputs::prepare`] checks it, and its float32 maps are written to a scratch file
//! (study-major, one stretch of V values per study and map type); the voxel blocks are then read
//! back from that file and fitted as `blocks` fits them. Memory is one block's inputs and
//! the result maps, not K·V; the result equals the in-memory fit bit for bit. Whole-map steps
//! that read inputs (GRF) get the first map type whole, as the in-memory fit gives it them.

use crate::inputs::{Needs, Prepared};
use crate::progress::Progress;
use crate::{blocks, Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::{MapType, Mask};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Prepared float32 inputs (all needed map types together) above which `ibma fit` spills them.
pub const SPILL_BYTES: usize = 1 << 30;

/// The scratch file, removed when dropped.
struct Scratch {
    file: File,
    path: PathBuf,
    n_voxels: usize,
    n_types: usize,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Scratch {
    fn offset(&self, study: usize, ty: usize, voxel: usize) -> u64 {
        (((study * self.n_types + ty) * self.n_voxels + voxel) * 4) as u64
    }

    fn write(&self, study: usize, maps: &[Vec<f32>]) -> Result<()> {
        for (t, values) in maps.iter().enumerate() {
            let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.file.write_all_at(&bytes, self.offset(study, t, 0)).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn read(&self, study: usize, ty: usize, voxels: Range<usize>) -> Result<Vec<f32>> {
        let mut bytes = vec![0u8; voxels.len() * 4];
        self.file.read_exact_at(&mut bytes, self.offset(study, ty, voxels.start)).map_err(|e| self.error(e))?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn error(&self, source: std::io::Error) -> Error {
        Error::from(ibma_io::Error::Io { path: self.path.clone(), source })
    }
}

/// True if `ibma fit` should fit `est` on `dataset` through a scratch file: a voxelwise estimator
/// whose prepared inputs would exceed [`SPILL_BYTES`], on images without dependence.
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

/// Fit `est` on `dataset` through a scratch file in `dir` (see the module documentation),
/// in blocks of `blocks::block_voxels`.
///
/// # Errors
/// As [`Estimator::fit_prepared`], and a scratch file that cannot be written or read.
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
    let needs = est.needs();
    let path = dir.join(format!(".ibma-inputs-{}.scratch", std::process::id()));
    let file = File::options().read(true).write(true).create(true).truncate(true).open(&path);
    let file = file.map_err(|source| Error::from(ibma_io::Error::Io { path: path.clone(), source }))?;
    let scratch = Scratch { file, path, n_voxels: dataset.mask.len(), n_types: needs.maps.len() };
    let keep = |k: usize, maps: &[Vec<f32>]| scratch.write(k, maps);
    // The kept studies, warnings and groups, without voxels: their values are in the file.
    let meta = dataset.prepare_keeping(&needs, 0..0, Some(&keep))?;
    let rows: Vec<usize> = meta
        .studies
        .iter()
        .map(|s| dataset.manifest.studies.iter().position(|m| m.id == s.id).unwrap_or_default())
        .collect();
    let n = dataset.mask.len();
    let part = |voxels: Range<usize>, types: &[MapType]| -> Result<Prepared> {
        let mut maps = BTreeMap::new();
        for (t, &ty) in needs.maps.iter().enumerate().filter(|(_, ty)| types.contains(ty)) {
            let studies = rows.iter().map(|&k| scratch.read(k, t, voxels.clone())).collect::<Result<Vec<_>>>()?;
            maps.insert(ty, studies);
        }
        let mask = Mask { grid: dataset.mask.grid.clone(), indices: dataset.mask.indices[voxels].to_vec() };
        Ok(meta.with_maps(maps, mask, needs.options.aggressive_mask))
    };
    let block = match block {
        Some(b) => b.max(1),
        None => blocks::block_voxels(&part(0..0, needs.maps)?),
    };
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    progress.start(&format!("{}: voxel blocks", est.name()), starts.len());
    let mut parts = Vec::with_capacity(starts.len());
    let mut coverage: HashMap<Vec<u64>, usize> = HashMap::new();
    for &start in &starts {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let inputs = part(start..(start + block).min(n), needs.maps)?;
        parts.push(est.fit_block(&inputs.whole())?);
        for (key, count) in blocks::coverage(&inputs) {
            *coverage.entry(key).or_default() += count;
        }
        progress.advance(1);
    }
    progress.finish();
    let mut result = blocks::join(parts, &dataset.mask)?;
    blocks::set_coverage(coverage, &mut result);
    // Whole-map steps read the first map type (con for GRF): only that one is held whole.
    let whole =
        if est.finish_reads_inputs() { part(0..n, &needs.maps[..1])? } else { Prepared::none(dataset.mask.clone()) };
    est.finish(&whole, &mut result)?;
    Ok(result)
}

/// The inputs of `est` on `dataset` holding only the first map type, over the whole mask (what
/// whole-map steps such as GRF read): half the memory of all of them, or less.
///
/// # Errors
/// As [`Dataset::prepare_voxels`].
pub(crate) fn first_map_whole(est: &dyn Estimator, dataset: &Dataset) -> Result<Prepared> {
    let needs = est.needs();
    let slots: Vec<std::sync::Mutex<Vec<f32>>> = dataset.manifest.studies.iter().map(|_| Default::default()).collect();
    let keep = |k: usize, maps: &[Vec<f32>]| {
        *slots[k].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = maps[0].clone();
        Ok(())
    };
    let meta = dataset.prepare_keeping(&needs, 0..0, Some(&keep))?;
    let mut slots: Vec<Vec<f32>> =
        slots.into_iter().map(|s| s.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)).collect();
    let first: Vec<Vec<f32>> = meta
        .studies
        .iter()
        .map(|s| {
            dataset
                .manifest
                .studies
                .iter()
                .position(|m| m.id == s.id)
                .map(|k| std::mem::take(&mut slots[k]))
                .unwrap_or_default()
        })
        .collect();
    Ok(meta.with_maps(
        [(needs.maps[0], first)].into_iter().collect(),
        dataset.mask.clone(),
        needs.options.aggressive_mask,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::AnyEstimator;

    /// Through the scratch file in 97-voxel blocks: the in-memory fit, bit for bit.
    #[test]
    fn spilled_fits_equal_in_memory_fits() {
        let Some(data) = ibma_testkit::shared_data("nimare_test_pain_10x10x10") else { return };
        let dataset = Dataset::load(&data).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, sets) in [
            ("dersimonian-laird", &[][..]),
            ("dersimonian-laird", &[("aggressive_mask", "true")][..]),
            ("mfx-glm", &[][..]),
            ("stouffers", &[][..]),
            ("permuted-ols", &[][..]),
        ] {
            let mut est = AnyEstimator::by_name(name).unwrap();
            for (k, v) in sets {
                crate::params::set(&mut est, k, v).unwrap();
            }
            let inputs = dataset.inputs(&est.needs()).unwrap().prepare(&est.needs()).unwrap();
            let memory = est.fit_prepared(&inputs, &crate::progress::Quiet).unwrap();
            let spilled = fit_with_block(&est, &dataset, dir.path(), Some(97), &crate::progress::Quiet).unwrap();
            let what = format!("{name} {sets:?}");
            let bits = |r: &MetaResult| -> Vec<(String, Vec<u64>)> {
                r.maps().map(|(m, v)| (m.to_string(), v.iter().map(|x| x.to_bits()).collect())).collect()
            };
            assert_eq!(bits(&memory), bits(&spilled), "{what}: maps");
            assert_eq!(memory.diagnostics, spilled.diagnostics, "{what}: diagnostics");
            assert_eq!(memory.warnings, spilled.warnings, "{what}: warnings");
            assert_eq!(memory.tables, spilled.tables, "{what}: tables");
            assert_eq!(memory.studies, spilled.studies, "{what}: studies");
            assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{what}: the scratch file is left");
        }
    }
}
