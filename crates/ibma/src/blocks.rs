//! Fitting large datasets in voxel blocks: inputs stay float32 and study-major
//! ([`Prepared`]); each block of voxels becomes a small float64 matrix, is fitted, and the
//! block results are joined. Memory is then ~4·K·V bytes per map type instead of 8·K·V twice
//! over, and time stays linear in K. Only estimators whose voxels are independent
//! ([`crate::estimators::Capabilities::voxelwise`]) take this path; the results equal a whole fit.

use crate::inputs::Prepared;
use crate::progress::Progress;
use crate::{Error, Estimator, MetaResult, Result};
use ibma_io::Mask;
use std::collections::HashMap;

/// Float64 bytes of input matrix one block may hold (all map types together).
pub const BLOCK_BYTES: usize = 256 << 20;

/// Voxels per block for `inputs` under [`BLOCK_BYTES`].
pub fn block_voxels(inputs: &Prepared) -> usize {
    let per_voxel = 8 * inputs.n_studies() * inputs.maps.len().max(1);
    (BLOCK_BYTES / per_voxel.max(1)).max(1024)
}

/// Fit `estimator` on `inputs`: whole when one block holds them, the estimator needs every
/// voxel at once, or the images have dependence groups (whose warnings count models over the
/// whole mask), otherwise in blocks of [`block_voxels`].
///
/// # Errors
/// What the estimator's fit returns, or [`Error::Cancelled`].
pub fn fit<E: Estimator + ?Sized>(estimator: &E, inputs: &Prepared, progress: &dyn Progress) -> Result<MetaResult> {
    let block = block_voxels(inputs);
    if !estimator.capabilities().voxelwise || block >= inputs.n_voxels() || inputs.has_dependence() {
        let mut result = estimator.fit_block(&inputs.whole())?;
        estimator.finish(inputs, &mut result)?;
        return Ok(result);
    }
    fit_in_blocks(estimator, inputs, block, progress)
}

/// Fit a voxelwise `estimator` block by block (`block` voxels each) and join the results.
///
/// # Errors
/// As [`fit`].
pub fn fit_in_blocks<E: Estimator + ?Sized>(
    estimator: &E,
    inputs: &Prepared,
    block: usize,
    progress: &dyn Progress,
) -> Result<MetaResult> {
    let n = inputs.n_voxels();
    let starts: Vec<usize> = (0..n).step_by(block.max(1)).collect();
    progress.start(&format!("{}: voxel blocks", estimator.name()), starts.len());
    let mut parts = Vec::with_capacity(starts.len());
    for &start in &starts {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        parts.push(estimator.fit_block(&inputs.block(start..(start + block).min(n)))?);
        progress.advance(1);
    }
    progress.finish();
    let mut result = join(parts, &inputs.mask)?;
    coverage_diagnostics(inputs, &mut result);
    estimator.finish(inputs, &mut result)?;
    Ok(result)
}

/// One result from block results in voxel order: maps and per-study maps concatenated,
/// estimator and diagnostics from the first block, warnings deduplicated.
fn join(parts: Vec<MetaResult>, mask: &Mask) -> Result<MetaResult> {
    let mut parts = parts.into_iter();
    let first = parts.next().ok_or_else(|| Error::Invalid("no voxels to fit".into()))?;
    let mut maps: Vec<_> = first.maps().map(|(m, v)| (m, v.to_vec())).collect();
    let mut per_study: Vec<_> = first.per_study_maps().map(|(m, v)| (m, v.to_vec())).collect();
    let mut joined = MetaResult::new(first.estimator.clone(), mask.clone());
    joined.studies.clone_from(&first.studies);
    joined.warnings.clone_from(&first.warnings);
    joined.diagnostics.clone_from(&first.diagnostics);
    joined.tables.clone_from(&first.tables);
    for part in parts {
        for (map, values) in &mut maps {
            values.extend_from_slice(part.map(*map).unwrap_or_default());
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
    maps.into_iter().for_each(|(map, values)| joined.insert(map, values));
    per_study.into_iter().for_each(|(map, volumes)| joined.insert_per_study(map, volumes));
    Ok(joined)
}

/// The coverage facts of [`MetaResult::of_block`] over all voxels (blocks see only theirs).
fn coverage_diagnostics(inputs: &Prepared, result: &mut MetaResult) {
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
    d.bags_fitted = fitted.len();
    d.voxels_in_largest_bag = fitted.iter().map(|b| b.1).max().unwrap_or(0);
    d.voxels_nan_fewer_than_2_studies = too_few.iter().map(|b| b.1).sum();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::AnyEstimator;
    use crate::{Dataset, Inputs};
    use ibma_io::Covariate;

    fn same_values(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    fn assert_same(whole: &MetaResult, blocks: &MetaResult, what: &str) {
        let names: Vec<_> = whole.maps().map(|(m, _)| m).collect();
        assert_eq!(names, blocks.maps().map(|(m, _)| m).collect::<Vec<_>>(), "{what}: map names");
        for name in names {
            assert!(same_values(whole.map(name).unwrap(), blocks.map(name).unwrap()), "{what}: map {name} differs");
        }
        for ((n, a), (_, b)) in whole.per_study_maps().zip(blocks.per_study_maps()) {
            assert!(a.iter().zip(b).all(|(x, y)| same_values(x, y)), "{what}: 4-D map {n} differs");
        }
        assert_eq!(whole.tables, blocks.tables, "{what}: tables");
        assert_eq!(whole.diagnostics, blocks.diagnostics, "{what}: diagnostics");
        assert_eq!(whole.warnings, blocks.warnings, "{what}: warnings");
        assert_eq!(whole.mask.indices, blocks.mask.indices, "{what}: mask");
    }

    /// NiMARE's fixture (partial coverage: many bags) with each study's sample size as a covariate.
    fn fixture(needs: &crate::inputs::Needs) -> Option<Inputs> {
        let ds = Dataset::load(&ibma_testkit::shared_data("nimare_test_pain_10x10x10")?).unwrap();
        let read = ds.inputs(needs).unwrap();
        let mut inputs = Inputs::new(read.mask().clone());
        for study in read.studies() {
            let n = study.sample_size.unwrap_or(f64::NAN);
            inputs.push(study.clone().covariate("n", Covariate::Number(n))).unwrap();
        }
        Some(inputs)
    }

    /// Fitted whole and in 97-voxel blocks (blocks that split bags and end mid-row): the same
    /// result bit for bit. None if the estimator does not fit in blocks.
    fn check(name: &str, sets: &[(&str, &str)]) -> Option<bool> {
        let mut est = AnyEstimator::by_name(name).unwrap();
        for (k, v) in sets {
            crate::params::set(&mut est, k, v).unwrap();
        }
        if !est.capabilities().voxelwise {
            return Some(false);
        }
        let inputs = fixture(&est.needs())?.prepare(&est.needs()).unwrap();
        let mut whole = est.fit_block(&inputs.whole()).unwrap();
        est.finish(&inputs, &mut whole).unwrap();
        let blocks = fit_in_blocks(&est, &inputs, 97, &crate::progress::Quiet).unwrap();
        assert_same(&whole, &blocks, &format!("{name} {sets:?}"));
        Some(true)
    }

    #[test]
    fn blockwise_fits_equal_whole_fits() {
        let mut blockwise = Vec::new();
        for name in AnyEstimator::names() {
            match check(name, &[]) {
                None => return,
                Some(true) => blockwise.push(name),
                Some(false) => {}
            }
        }
        for name in ["dersimonian-laird", "weighted-least-squares", "mfx-glm", "ffx-glm"] {
            let voxelwise = check(name, &[("moderators", "n"), ("contrast", "0 1")]);
            assert_eq!(voxelwise, Some(true), "{name} with a design is voxelwise");
        }
        for name in ["stouffers", "fishers", "dersimonian-laird", "hedges", "mfx-glm", "ffx-glm", "permuted-ols"] {
            assert!(blockwise.contains(&name), "{name} fits in blocks");
        }
        assert!(!blockwise.contains(&"variance-based-likelihood"), "lock-step searches need whole bags");
    }
}
