//! Fitting large datasets in voxel blocks: inputs stay float32 and study-major
//! ([`CompactInputs`]); each block of voxels becomes a small float64 matrix, is fitted, and the
//! block results are joined. Memory is then ~4·K·V bytes per map type instead of 8·K·V twice
//! over, and time stays linear in K. Only estimators whose voxels are independent
//! ([`Estimator::voxelwise`]) take this path; the results equal a whole fit.

use crate::dataset::CompactInputs;
use crate::progress::Progress;
use crate::{Dataset, Error, Estimator, MetaResult, Result};
use ibma_io::Mask;
use std::collections::HashMap;

/// Float64 bytes of input matrix one block may hold (all map types together).
pub const BLOCK_BYTES: usize = 256 << 20;

/// Voxels per block for `inputs` under [`BLOCK_BYTES`].
pub fn block_voxels(inputs: &CompactInputs) -> usize {
    let per_voxel = 8 * inputs.n_studies() * inputs.maps.len().max(1);
    (BLOCK_BYTES / per_voxel.max(1)).max(1024)
}

/// Fit `estimator` on `inputs`: whole when one block holds them or the estimator needs every
/// voxel at once, otherwise in blocks of [`block_voxels`].
pub fn fit<E: Estimator + ?Sized>(
    estimator: &E,
    dataset: &Dataset,
    inputs: &CompactInputs,
    progress: &dyn Progress,
) -> Result<MetaResult> {
    let block = block_voxels(inputs);
    if !estimator.voxelwise() || block >= inputs.n_voxels() {
        return estimator.fit_inputs(dataset, &inputs.to_inputs());
    }
    fit_in_blocks(estimator, dataset, inputs, block, progress)
}

/// Fit a voxelwise `estimator` block by block (`block` voxels each) and join the results.
pub fn fit_in_blocks<E: Estimator + ?Sized>(
    estimator: &E,
    dataset: &Dataset,
    inputs: &CompactInputs,
    block: usize,
    progress: &dyn Progress,
) -> Result<MetaResult> {
    let n = inputs.n_voxels();
    let starts: Vec<usize> = (0..n).step_by(block.max(1)).collect();
    progress.start(&format!("{}: voxel blocks", estimator.name()), starts.len());
    let mut parts = Vec::with_capacity(starts.len());
    for &start in &starts {
        let voxels = start..(start + block).min(n);
        let part = Dataset {
            manifest: dataset.manifest.clone(),
            mask: Mask { grid: dataset.mask.grid.clone(), indices: dataset.mask.indices[voxels.clone()].to_vec() },
        };
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        parts.push(estimator.fit_voxels(&part, &inputs.block(voxels))?);
        progress.advance(1);
    }
    progress.finish();
    let mut result = join(parts, &dataset.mask)?;
    coverage_diagnostics(inputs, &mut result);
    estimator.finish(dataset, inputs, &mut result)?;
    Ok(result)
}

/// One result from block results in voxel order: maps and per-study maps concatenated,
/// parameters and diagnostics from the first block, warnings deduplicated.
fn join(parts: Vec<MetaResult>, mask: &Mask) -> Result<MetaResult> {
    let mut parts = parts.into_iter();
    let first = parts.next().ok_or_else(|| Error::Invalid("no voxels to fit".into()))?;
    let names: Vec<String> = first.map_names().map(str::to_string).collect();
    let mut maps: Vec<Vec<f64>> = names.iter().map(|n| first.map(n).unwrap_or_default().to_vec()).collect();
    let mut per_study: Vec<(String, Vec<Vec<f64>>)> =
        first.per_study_maps().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
    let mut joined = MetaResult::new(&first.estimator, first.params.clone(), mask.clone());
    joined.studies.clone_from(&first.studies);
    joined.warnings.clone_from(&first.warnings);
    joined.diagnostics.clone_from(&first.diagnostics);
    joined.tables.clone_from(&first.tables);
    for part in parts {
        for (name, values) in names.iter().zip(&mut maps) {
            values.extend_from_slice(part.map(name).unwrap_or_default());
        }
        for ((_, volumes), (_, more)) in per_study.iter_mut().zip(part.per_study_maps()) {
            volumes.iter_mut().zip(more).for_each(|(v, m)| v.extend_from_slice(m));
        }
        for w in part.warnings {
            if !joined.warnings.contains(&w) {
                joined.warnings.push(w);
            }
        }
    }
    for (name, values) in names.iter().zip(maps) {
        joined.insert(name, values);
    }
    for (name, volumes) in per_study {
        joined.insert_per_study(&name, volumes);
    }
    Ok(joined)
}

/// The coverage facts of [`MetaResult::from_inputs`] over all voxels (blocks see only theirs).
fn coverage_diagnostics(inputs: &CompactInputs, result: &mut MetaResult) {
    let Some(studies) = inputs.maps.values().next() else { return };
    let words = studies.len().div_ceil(64);
    let mut keys = vec![0u64; inputs.n_voxels() * words];
    for (k, values) in studies.iter().enumerate() {
        for (key, x) in keys.chunks_exact_mut(words).zip(values) {
            if !x.is_nan() {
                key[k / 64] |= 1 << (k % 64);
            }
        }
    }
    let mut bags: HashMap<&[u64], usize> = HashMap::new();
    for key in keys.chunks_exact(words) {
        *bags.entry(key).or_default() += 1;
    }
    let members = |key: &[u64]| key.iter().map(|w| w.count_ones() as usize).sum::<usize>();
    let (fitted, too_few): (Vec<_>, Vec<_>) = bags.into_iter().partition(|(key, _)| members(key) >= 2);
    let d = &mut result.diagnostics;
    d.insert("bags_fitted".into(), fitted.len().into());
    d.insert("voxels_in_largest_bag".into(), fitted.iter().map(|b| b.1).max().unwrap_or(0).into());
    d.insert("voxels_nan_fewer_than_2_studies".into(), too_few.iter().map(|b| b.1).sum::<usize>().into());
}
