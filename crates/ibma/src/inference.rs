//! Permutation inference for one-sample estimators (docs/inference.md): the sign-flip matrix
//! (NiMARE's MT19937 stream by default), the null distribution of the maximum z over voxels,
//! and the voxel-level FWE maps `*_level-voxel_corr-FWE_method-montecarlo`.
//!
//! PermutedOLS uses the blocked t engine and reproduces NiMARE 0.22.1 exactly; one-sample
//! MFX_GLM uses FLAME1's sign-flip kernel (the refits' maxima, exactly, without refitting voxels
//! that cannot reach them); every other estimator refits its kernel on sign-flipped inputs (con,
//! z or t; variances unchanged).
//! With dependence groups a flip is one sign per group (NiMARE's exchangeability blocks,
//! docs/dependence.md): PermutedOLS flips the group means, a refit flips every image of a group
//! together.

use crate::estimators::{Estimator, Permutation};
use crate::inputs::{Block, Prepared};
use crate::maps::{Map, Method};
use crate::options::Flips;
use crate::progress::Progress;
use crate::result::MontecarloFacts;
use crate::{Error, MetaResult, Result};
use ibma_glm::flame::flame1_flip_max_null;
use ibma_glm::ols::permuted_ols_grouped;
use ibma_io::MapType;
use ibma_stats::bags::bags;
use ibma_stats::groups::Grouping;
use ibma_stats::permute::{fwe_maps, max_cr2_null, max_cr2_null_per_bag, max_null_by_init, max_t_null, FlipMatrix};
use ibma_stats::{StudyVoxels, Tail};

/// Add the voxel-level Monte-Carlo FWE maps of `result`'s z map and keep the null of the
/// maximum in its diagnostics (so a user can re-threshold).
///
/// # Errors
/// An estimator whose own null is already permutation-based, bad flips, a failing refit, or
/// [`Error::Cancelled`].
pub fn montecarlo(
    est: &dyn Estimator,
    inputs: &Prepared,
    flips: &Flips,
    result: &mut MetaResult,
    progress: &dyn Progress,
) -> Result<()> {
    let capabilities = est.capabilities();
    let tail = capabilities.tail;
    let signed = est.needs().maps[0];
    if let Permutation::Nested = capabilities.permutation {
        return Err(Error::Invalid(format!(
            "{}: --correct montecarlo needs null=theoretical (an empirical null inside every permutation would nest permutations)",
            est.name()
        )));
    }
    let grouping = inputs.grouping();
    let block = inputs.whole();
    let x = block.map(signed);
    let models = bags(x, 2);
    // With dependent images the one-sample t engine runs on the group means, one sign per group.
    let grouped = match capabilities.permutation {
        Permutation::OneSampleT { weighted } if grouping.has_dependence() => {
            let n = weighted.then(|| block.sample_sizes());
            Some(permuted_ols_grouped(x, grouping, &models, n.as_deref(), tail))
        }
        _ => None,
    };
    let n_rows = flips.stream(grouping.n_groups())?.n_iters();
    progress.start(&format!("{} sign flips", est.name()), n_rows);
    let h0 = flips.chunked(grouping.n_groups(), |chunk| {
        let null = match (capabilities.permutation, &grouped) {
            (Permutation::OneSampleT { weighted: true }, Some(ols)) => {
                max_cr2_null_per_bag(&ols.means, &ols.models, &ols.weights, chunk, tail)
            }
            (Permutation::OneSampleT { weighted: false }, Some(ols)) => {
                max_t_null(&ols.means, &ols.models, chunk, tail)
            }
            (Permutation::OneSampleT { weighted: true }, None) => {
                max_cr2_null(x, &block.sample_sizes(), &models, chunk, tail)
            }
            (Permutation::OneSampleT { weighted: false }, None) => max_t_null(x, &models, chunk, tail),
            (Permutation::Flame1(optimizer), _) => {
                flame1_null(x, block.map(MapType::Varcope), chunk, optimizer, tail, progress)?
            }
            _ => refit_null(est, &block, &image_flips(chunk, grouping), tail, progress)?,
        };
        if matches!(capabilities.permutation, Permutation::OneSampleT { .. }) {
            progress.advance(chunk.n_iters());
        }
        Ok(null)
    });
    progress.finish();
    let h0 = h0?;
    let z_obs = result.map(Map::Z).ok_or_else(|| Error::Invalid(format!("{} has no z map to correct", est.name())))?;
    let maps = fwe_maps(z_obs, &h0, tail);
    result.insert_corrected(Method::Montecarlo, maps.p, maps.z, maps.logp);
    result.warnings.extend(flips.too_few());
    result.diagnostics.montecarlo = Some(MontecarloFacts {
        montecarlo_n_iters: n_rows,
        montecarlo_requested_n_iters: flips.n_iters,
        montecarlo_seed: flips.seed,
        montecarlo_null_max_z: h0.iter().map(|&z| z.is_finite().then_some(z)).collect(),
    });
    Ok(())
}

/// Flips of one-sample FLAME1 handed to its kernel this many at a time: each batch shares its
/// bounds across voxels, and between batches progress moves and a cancel is seen.
pub(crate) const FLAME1_FLIP_BATCH: usize = 128;

/// The null of max z of one-sample FLAME1 by its sign-flip kernel, batch by batch.
fn flame1_null(
    con: &StudyVoxels,
    var: &StudyVoxels,
    flips: &FlipMatrix,
    optimizer: ibma_glm::flame::Optimizer,
    tail: Tail,
    progress: &dyn Progress,
) -> Result<Vec<f64>> {
    let mut null = Vec::with_capacity(flips.n_iters());
    for batch in flips.batches(FLAME1_FLIP_BATCH) {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        null.extend(flame1_flip_max_null(con, var, &batch, optimizer, tail));
        progress.advance(batch.n_iters());
    }
    Ok(null)
}

/// One sign per image from one sign per group (`flips` has a column per group): the images of a
/// group are flipped together. Without dependence every image is its own group, in order.
pub(crate) fn image_flips(flips: &FlipMatrix, grouping: &Grouping) -> FlipMatrix {
    if grouping.has_dependence() {
        flips.expand(grouping.codes())
    } else {
        flips.clone()
    }
}

/// The null of max z by refitting the estimator on sign-flipped inputs, one buffer per thread.
fn refit_null(
    est: &dyn Estimator,
    block: &Block,
    flips: &FlipMatrix,
    tail: Tail,
    progress: &dyn Progress,
) -> Result<Vec<f64>> {
    let signed = est.needs().maps[0];
    let original = block.map(signed);
    let failure = std::sync::Mutex::new(None);
    let h0 = max_null_by_init(
        flips,
        block.mask.len(),
        tail,
        || block.clone(),
        |buffer, signs, z_out| {
            let fail = |e: Error| {
                failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
            };
            progress.advance(1);
            if progress.cancelled() {
                return fail(Error::Cancelled);
            }
            if let Some(x) = buffer.maps.get_mut(&signed) {
                original.flip_into(signs, x);
            }
            match est.fit_block(buffer) {
                Ok(r) => {
                    if let Some(z) = r.map(Map::Z) {
                        z_out.copy_from_slice(z);
                    }
                }
                Err(e) => fail(e),
            }
        },
    );
    match failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some(e) => Err(e),
        None => Ok(h0),
    }
}

/// The empirical voxelwise null of a one-sample t-test on `x`: maps t, z, p, logp, dof into
/// `result`, with the flips of `flips`.
///
/// # Errors
/// Bad flips.
pub fn empirical_t(x: &StudyVoxels, tail: Tail, flips: &Flips, result: &mut MetaResult) -> Result<()> {
    let matrix = flips.matrix(x.n_studies())?;
    let null = ibma_stats::permute::empirical_voxel_p(x, &matrix, tail);
    result.insert(Map::T, null.t);
    result.insert_test(null.test);
    result.diagnostics.empirical_null_n_iters = Some(matrix.n_iters());
    result.warnings.extend(flips.too_few());
    Ok(())
}
