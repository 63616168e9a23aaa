//! PermutedOLS's statistic (NiMARE `_permuted_ols`, docs/estimators.md §9): the one-sample t, and
//! its sample-size-weighted CR2 form with a Satterthwaite dof.

use ibma_stats::bags::{owners, Bag};
use ibma_stats::cr2::Cr2Weights;
use ibma_stats::groups::{group_means, group_model, Grouping};
use ibma_stats::transform::{t_to_nlogp, t_to_z};
use ibma_stats::ttest::{one_sample_t, t_statistic, TTestMaps};
use ibma_stats::{StudyVoxels, Tail};
use rayon::prelude::*;

/// The unweighted one-sample t (also RFX_GLM's and the `ols` mode's statistic).
pub fn permuted_ols(con: &StudyVoxels, tail: Tail) -> TTestMaps {
    one_sample_t(con, tail)
}

/// Weighted (`use_sample_size=True`) t and dof at one voxel over its valid studies: the
/// intercept-only CR2 statistic with q_k = n_k ([`Cr2Weights`]: t = Σq x/√meat, Satterthwaite
/// dof floored at 1).
pub fn cr2_t(xs: &[f64], n: &[f64]) -> (f64, f64) {
    let (x, q): (Vec<f64>, Vec<f64>) = xs.iter().zip(n).filter(|(x, _)| !x.is_nan()).unzip();
    if x.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let fit = Cr2Weights::new(&q).fit(&x);
    (fit.t, fit.dof)
}

/// The weighted PermutedOLS t map with its per-voxel Satterthwaite dof.
#[track_caller]
pub fn permuted_ols_weighted(con: &StudyVoxels, sample_sizes: &[f64], tail: Tail) -> TTestMaps {
    assert_eq!(con.n_studies(), sample_sizes.len(), "one sample size per study");
    let per_voxel: Vec<(f64, f64)> = con.par_voxels().map(|xs| cr2_t(xs, sample_sizes)).collect();
    t_maps(per_voxel, tail)
}

fn t_maps(per_voxel: Vec<(f64, f64)>, tail: Tail) -> TTestMaps {
    let mut out = TTestMaps::default();
    for (t, dof) in per_voxel {
        out.t.push(t);
        out.test.z.push(t_to_z(t, dof));
        out.test.nlogp.push(t_to_nlogp(t, dof, tail));
        out.test.dof.push(dof);
    }
    out
}

/// PermutedOLS with dependence groups (NiMARE 0.22.1 `_permuted_ols` with exchangeability
/// blocks, `docs/dependence.md`): every group contributes the mean of its images valid at the
/// voxel ([`group_means`]), and the statistic is taken over those contributions.
///
/// Unweighted (`sample_sizes` None): the one-sample t over group means, dof = groups − 1.
/// Weighted: the CR2 t over group means with q_g = the mean sample size of the group's images in
/// the model (so it can differ between bags), Satterthwaite dof. `models` are the bags (or the
/// aggressive-mask model) over images; a model with fewer than two groups is NaN. Returns the
/// maps and, per model, its group-level form (rows of [`group_means`]) and group weights, which
/// [`ibma_stats::permute::max_t_null`] / [`ibma_stats::permute::max_cr2_null_per_bag`] take
/// for the sign-flip null with one flip per group.
#[track_caller]
pub fn permuted_ols_grouped(
    con: &StudyVoxels,
    grouping: &Grouping,
    models: &[Bag],
    sample_sizes: Option<&[f64]>,
    tail: Tail,
) -> GroupedOls {
    assert_eq!(con.n_studies(), grouping.n_images(), "one group code per image");
    let means = group_means(con, grouping);
    let mut group_models = Vec::new();
    let mut weights = Vec::new();
    for model in models {
        let groups = grouping.in_model(&model.studies);
        if !groups.supports_inference() {
            continue;
        }
        let bag = group_model(model, grouping);
        // Weights in the group model's (ascending code) order.
        let w = match sample_sizes {
            Some(n) => {
                let per_group = groups.group_means(&model.studies.iter().map(|&i| n[i]).collect::<Vec<_>>());
                bag.studies.iter().map(|c| per_group[groups.codes.iter().position(|g| g == c).unwrap_or(0)]).collect()
            }
            None => vec![1.0; bag.studies.len()],
        };
        group_models.push(bag);
        weights.push(w);
    }
    let per_voxel: Vec<(f64, f64)> = owners(con.n_voxels(), &group_models)
        .par_iter()
        .enumerate()
        .map(|(v, m)| match m {
            None => (f64::NAN, f64::NAN),
            Some(m) => {
                let x: Vec<f64> = group_models[*m].studies.iter().map(|&g| means.voxel(v)[g]).collect();
                match sample_sizes {
                    None => t_statistic(&x),
                    Some(_) => {
                        let fit = Cr2Weights::new(&weights[*m]).fit(&x);
                        (fit.t, fit.dof)
                    }
                }
            }
        })
        .collect();
    GroupedOls { maps: t_maps(per_voxel, tail), means, models: group_models, weights }
}

/// The result of [`permuted_ols_grouped`].
#[derive(Clone, Debug, PartialEq)]
pub struct GroupedOls {
    /// t, z, ln p and dof.
    pub maps: TTestMaps,
    /// One row per group: the mean of its images valid at each voxel.
    pub means: StudyVoxels,
    /// The fitted models over group rows (models with fewer than two groups left out).
    pub models: Vec<Bag>,
    /// Each model's group weights (sample-size means, or 1), in its study order.
    pub weights: Vec<Vec<f64>>,
}
