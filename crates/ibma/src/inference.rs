//! Permutation inference for one-sample estimators (estimators.md §9): the sign-flip matrix
//! (NiMARE's MT19937 stream by default), the null distribution of the maximum z over voxels,
//! and the voxel-level FWE maps `*_level-voxel_corr-FWE_method-montecarlo`.
//!
//! PermutedOLS uses the blocked t engine and reproduces NiMARE 0.22.1 exactly; every other
//! estimator refits its kernel on sign-flipped inputs (con, z or t; variances unchanged).

use crate::dataset::Inputs;
use crate::{Dataset, Error, Estimator, MetaResult, Result};
use ibma_stats::bags::bags;
use ibma_stats::permute::{fwe_maps, max_cr2_null, max_null_by_init, max_t_null, FlipMatrix};
use ibma_stats::Tail;

/// Suffix of the Monte-Carlo FWE maps (NiMARE's name).
pub const MONTECARLO_SUFFIX: &str = "_level-voxel_corr-FWE_method-montecarlo";

/// The flip matrix for `n_studies`: NiMARE's (MT19937 seeded with `seed`, odd → +1).
pub fn flips(n_iters: usize, n_studies: usize, seed: u64) -> Result<FlipMatrix> {
    let seed =
        u32::try_from(seed).map_err(|_| Error::Invalid(format!("--seed {seed}: must be at most {}", u32::MAX)))?;
    Ok(FlipMatrix::nimare(n_iters, n_studies, seed))
}

/// Every sign vector but the identity when 2^K − 1 ≤ `n_iters` (`--set exact_flips=true`):
/// the +1 of the permutation p is then the observed labelling itself, so p = (count + 1)/2^K is
/// the exact permutation p-value. None when there are too many.
pub fn exact_flips(n_iters: usize, n_studies: usize) -> Option<FlipMatrix> {
    if n_studies > 20 {
        return None;
    }
    let rows = (1usize << n_studies) - 1;
    if rows > n_iters {
        return None;
    }
    let all = FlipMatrix::exact(n_studies);
    let signs: Vec<f64> = (1..=rows).flat_map(|i| all.row(i).to_vec()).collect();
    Some(FlipMatrix::from_signs(n_studies, signs))
}

/// The flips a fit uses: exact enumeration if asked for and small enough, else NiMARE's.
pub fn flips_for(est: &dyn Estimator, n_studies: usize) -> Result<FlipMatrix> {
    let c = est.common();
    match c.exact_flips.then(|| exact_flips(c.n_iters, n_studies)).flatten() {
        Some(f) => Ok(f),
        None => flips(c.n_iters, n_studies, c.seed),
    }
}

/// The estimator's tail: two-sided unless its `two_sided` parameter says otherwise.
fn tail(est: &dyn Estimator) -> Tail {
    let one_sided = est.get_params().iter().any(|p| p.name == "two_sided" && p.value == false);
    if one_sided {
        Tail::One
    } else {
        Tail::Two
    }
}

fn param_is(est: &dyn Estimator, name: &str, value: bool) -> bool {
    est.get_params().iter().any(|p| p.name == name && p.value == value)
}

/// Add the voxel-level Monte-Carlo FWE maps to `result` and keep the null of the maximum in
/// its diagnostics (so a user can re-threshold).
pub fn montecarlo(est: &dyn Estimator, dataset: &Dataset, inputs: &Inputs, result: &mut MetaResult) -> Result<()> {
    if est.get_params().iter().any(|p| p.name == "null" && p.value == "empirical") {
        return Err(Error::Invalid(format!(
            "{}: --correct montecarlo needs null=theoretical (an empirical null inside every permutation would nest permutations)",
            est.name()
        )));
    }
    let signed = est.needs().maps[0];
    let x = &inputs.maps[&signed];
    let flips = flips_for(est, x.n_studies())?;
    let tail = tail(est);
    let h0 = if est.name() == "permuted-ols" {
        let models = bags(x, 2);
        if param_is(est, "use_sample_size", true) {
            let n: Vec<f64> = inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN)).collect();
            max_cr2_null(x, &n, &models, &flips, tail)
        } else {
            max_t_null(x, &models, &flips, tail)
        }
    } else if let Some(optimizer) = mfx_one_sample(est) {
        // Exactly the refit's maxima, without refitting voxels that cannot reach them.
        let var = &inputs.maps[&ibma_io::MapType::Varcope];
        ibma_glm::flame::flame1_flip_max_null(x, var, &flips, optimizer, tail)
    } else {
        refit_null(est, dataset, inputs, &flips, tail)?
    };
    let z_obs = result.map("z").ok_or_else(|| Error::Invalid(format!("{} has no z map to correct", est.name())))?;
    let maps = fwe_maps(z_obs, &h0, tail);
    result.insert(&format!("p{MONTECARLO_SUFFIX}"), maps.p);
    result.insert(&format!("z{MONTECARLO_SUFFIX}"), maps.z);
    result.insert(&format!("logp{MONTECARLO_SUFFIX}"), maps.logp);
    let d = &mut result.diagnostics;
    d.insert("montecarlo_n_iters".into(), flips.n_iters().into());
    d.insert("montecarlo_requested_n_iters".into(), est.common().n_iters.into());
    d.insert("montecarlo_seed".into(), est.common().seed.into());
    d.insert(
        "montecarlo_null_max_z".into(),
        h0.iter().map(|&z| if z.is_finite() { z.into() } else { serde_json::Value::Null }).collect(),
    );
    Ok(())
}

/// The FLAME1 optimiser of a one-sample MFX_GLM (no moderators, groups or contrast), whose
/// sign flips the FLAME1 permutation kernel computes; None for any other estimator.
pub(crate) fn mfx_one_sample(est: &dyn Estimator) -> Option<ibma_glm::flame::Optimizer> {
    let params = est.get_params();
    let value = |name: &str| params.iter().find(|p| p.name == name).map(|p| p.value.clone());
    let unset = |name: &str| value(name).is_some_and(|v| v == "");
    if est.name() != "mfx-glm" || !(unset("moderators") && unset("groups") && unset("contrast")) {
        return None;
    }
    match value("optimizer")?.as_str()? {
        "global" => Some(ibma_glm::flame::Optimizer::Global),
        "fsl" => Some(ibma_glm::flame::Optimizer::Fsl),
        _ => None,
    }
}

/// The null of max z by refitting the estimator on sign-flipped inputs, one buffer per thread.
fn refit_null(
    est: &dyn Estimator,
    dataset: &Dataset,
    inputs: &Inputs,
    flips: &FlipMatrix,
    tail: Tail,
) -> Result<Vec<f64>> {
    let signed = est.needs().maps[0];
    let original = &inputs.maps[&signed];
    let failure = std::sync::Mutex::new(None);
    let pb = crate::progress::bar(flips.n_iters(), &format!("{} sign flips", est.name()));
    let h0 = max_null_by_init(
        flips,
        dataset.mask.len(),
        tail,
        || inputs.clone(),
        |buffer, signs, z_out| {
            if let Some(x) = buffer.maps.get_mut(&signed) {
                original.flip_into(signs, x);
            }
            pb.inc(1);
            match est.fit_inputs(dataset, buffer) {
                Ok(r) => {
                    if let Some(z) = r.map("z") {
                        z_out.copy_from_slice(z);
                    }
                }
                Err(e) => {
                    let mut slot = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    slot.get_or_insert(e);
                }
            }
        },
    );
    pb.finish_and_clear();
    match failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some(e) => Err(e),
        None => Ok(h0),
    }
}

/// The null a one-sample t-test is referred to (the seed API's `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Null {
    /// Student t with K − 1 dof.
    #[default]
    Theoretical,
    /// Voxelwise sign-flip null with fair flips (NiMARE 0.0.1's biased flips corrected).
    Empirical,
}

impl Null {
    /// Name in `--set null=…`.
    pub fn name(self) -> &'static str {
        match self {
            Null::Theoretical => "theoretical",
            Null::Empirical => "empirical",
        }
    }

    /// Parse `theoretical|empirical`.
    pub fn parse(estimator: &str, value: &str) -> Result<Null> {
        match value {
            "theoretical" => Ok(Null::Theoretical),
            "empirical" => Ok(Null::Empirical),
            _ => Err(crate::estimator::bad_choice(estimator, "null", value, "theoretical, empirical")),
        }
    }
}

/// The empirical voxelwise null of a one-sample t-test on `x` (estimators.md §9): maps t, z,
/// p, logp, dof into `result`, with `n_iters` NiMARE flips from `seed`.
pub fn empirical_t(x: &ibma_stats::StudyVoxels, tail: Tail, flips: &FlipMatrix, result: &mut MetaResult) -> Result<()> {
    let n_iters = flips.n_iters();
    let null = ibma_stats::permute::empirical_voxel_p(x, flips, tail);
    result.insert("t", null.t);
    result.insert_test(null.test);
    result.diagnostics.insert("empirical_null_n_iters".into(), n_iters.into());
    Ok(())
}
