//! VarianceBasedLikelihood and SampleSizeBasedLikelihood with dependence groups (PyMARE 0.0.13
//! with group labels): the variance components are fitted by the lock-step bounded search of
//! [`crate::likelihood`] on one aggregate row per group (`Rescale`, `Collapse`) or on the image
//! rows (`Individual`); the fixed effect is then the cluster-robust fit of
//! `robust_fit` at the fitted τ² (and σ²).

use super::{
    classify, collapse, effective_n, robust_fit, tally, GroupedFit, ModelKind, Scratch, WeightScheme, Working,
};
use crate::likelihood::{
    all_equal_sample_sizes, fit_models, Method, ModelFit, SampleSizeModel, SampleSizeNll, VarianceModel, VarianceNll,
    U_MAX,
};
use crate::moments::{dersimonian_laird_tau2, Mean};
use crate::{SmallSampleCorrection, VoxelFit};
use ibma_stats::bags::Bag;
use ibma_stats::groups::{Grouping, ModelGroups};
use ibma_stats::StudyVoxels;

/// One voxel's fit and whether some group had full leverage.
type Out = (VoxelFit, bool);

/// Per-voxel scratch: the model's image rows, the rows the likelihood is fitted to, the search
/// scale and the robust fit's scratch.
#[derive(Default)]
struct Buf {
    y: Vec<f64>,
    v: Vec<f64>,
    fit_y: Vec<f64>,
    fit_v: Vec<f64>,
    scale: f64,
    scratch: Scratch,
}

struct GroupedVariance<'a> {
    con: &'a StudyVoxels,
    var: &'a StudyVoxels,
    studies: &'a [usize],
    groups: &'a ModelGroups,
    working: Working,
    reml: bool,
}

impl ModelFit for GroupedVariance<'_> {
    const LO: f64 = 0.0;
    const HI: f64 = U_MAX;
    type Buf = Buf;
    type Obj<'b>
        = VarianceNll<'b>
    where
        Self: 'b;
    type Out = Out;
    const NONE: Out = (VoxelFit::NAN, false);

    fn buf(&self) -> Buf {
        Buf::default()
    }

    fn load(&self, vox: usize, b: &mut Buf) {
        let (c, s) = (self.con.voxel(vox), self.var.voxel(vox));
        b.y.clear();
        b.v.clear();
        b.y.extend(self.studies.iter().map(|&k| c[k]));
        b.v.extend(self.studies.iter().map(|&k| s[k]));
        if self.working.scheme == WeightScheme::Individual {
            b.fit_y.clone_from(&b.y);
            b.fit_v.clone_from(&b.v);
        } else {
            collapse(&b.y, &b.v, self.groups, self.working.rho, &mut b.fit_y, &mut b.fit_v);
        }
        let sc = dersimonian_laird_tau2(&b.fit_y, &b.fit_v, Mean::Intercept)
            + b.fit_v.iter().sum::<f64>() / b.fit_v.len() as f64;
        b.scale = if sc.is_finite() && sc > 0.0 { sc } else { 1.0 };
    }

    fn objective<'b>(&'b self, b: &'b Buf) -> VarianceNll<'b> {
        VarianceNll { y: &b.fit_y, v: &b.fit_v, scale: b.scale, reml: self.reml }
    }

    fn finish(&self, b: &mut Buf, u: f64) -> Out {
        let tau2 = self.objective(b).tau2(u);
        robust_fit(&b.y, &b.v, tau2, self.groups, self.working, &mut b.scratch)
    }
}

/// Take each model's voxels from the robust or the ordinary fits.
fn merge(kinds: &[ModelKind], models: &[Bag], robust: Vec<Out>, ordinary: Vec<VoxelFit>) -> (Vec<VoxelFit>, Vec<bool>) {
    let mut fits = vec![VoxelFit::NAN; robust.len()];
    let mut full = vec![false; robust.len()];
    for (kind, model) in kinds.iter().zip(models) {
        for &v in &model.voxels {
            match kind {
                ModelKind::Robust(_) => (fits[v], full[v]) = robust[v],
                ModelKind::Ordinary => fits[v] = ordinary[v],
                ModelKind::Skipped => {}
            }
        }
    }
    (fits, full)
}

/// NiMARE `VarianceBasedLikelihood(method)` with dependence groups.
///
/// Robust models (some group repeats): τ² by ML or REML (lock-step per model, search scale
/// τ²_DL + mean v of the fitted rows) on one aggregate row per group (`Rescale`, `Collapse`) or
/// on the images (`Individual`), then the cluster-robust fit at τ². Ordinary models: as
/// [`crate::likelihood::variance_based_likelihood`] with `correction`. Single-group models: NaN.
/// Maps est, se, tau2, z, ln p, dof.
#[track_caller]
pub fn grouped_variance_likelihood(
    con: &StudyVoxels,
    var: &StudyVoxels,
    grouping: &Grouping,
    models: &[Bag],
    method: Method,
    working: Working,
    correction: SmallSampleCorrection,
) -> GroupedFit {
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    let kinds = classify(con.n_studies(), grouping, models, working);
    let reml = method == Method::Reml;
    let robust = fit_models(con.n_voxels(), models, |i, bag| match &kinds[i] {
        ModelKind::Robust(groups) => Some(GroupedVariance { con, var, studies: &bag.studies, groups, working, reml }),
        _ => None,
    });
    let ordinary = fit_models(con.n_voxels(), models, |i, bag| {
        matches!(kinds[i], ModelKind::Ordinary).then_some(VarianceModel {
            con,
            var,
            studies: &bag.studies,
            reml,
            correction,
        })
    });
    let (fits, full) = merge(&kinds, models, robust, ordinary);
    let warnings = tally(&kinds, models, &fits, &full).into_warnings();
    GroupedFit { maps: crate::collect(&fits, true, false), warnings }
}

struct GroupedSampleSize<'a> {
    con: &'a StudyVoxels,
    studies: &'a [usize],
    groups: &'a ModelGroups,
    /// Sample sizes of the model's images.
    n: Vec<f64>,
    /// The sample sizes the likelihood sees (effective per group, or the images') and their
    /// reciprocals.
    fit_n: Vec<f64>,
    inv_fit_n: Vec<f64>,
    working: Working,
    reml: bool,
}

impl ModelFit for GroupedSampleSize<'_> {
    const LO: f64 = 0.0;
    const HI: f64 = 1.0;
    type Buf = Buf;
    type Obj<'b>
        = SampleSizeNll<'b>
    where
        Self: 'b;
    type Out = Out;
    const NONE: Out = (VoxelFit::NAN, false);

    fn buf(&self) -> Buf {
        Buf::default()
    }

    fn load(&self, vox: usize, b: &mut Buf) {
        let c = self.con.voxel(vox);
        b.y.clear();
        b.y.extend(self.studies.iter().map(|&k| c[k]));
        if self.working.scheme == WeightScheme::Individual {
            b.fit_y.clone_from(&b.y);
        } else {
            b.fit_y = self.groups.group_means(&b.y);
        }
    }

    fn objective<'b>(&'b self, b: &'b Buf) -> SampleSizeNll<'b> {
        SampleSizeNll { y: &b.fit_y, n: &self.fit_n, inv_n: &self.inv_fit_n, reml: self.reml }
    }

    fn finish(&self, b: &mut Buf, r: f64) -> Out {
        let (_, _, scale) = self.objective(b).parts(r);
        let (sigma2, tau2) = (scale * (1.0 - r), scale * r);
        b.v.clear();
        b.v.extend(self.n.iter().map(|&n| sigma2 / n));
        let (fit, full) = robust_fit(&b.y, &b.v, tau2, self.groups, self.working, &mut b.scratch);
        (VoxelFit { sigma2, ..fit }, full)
    }
}

/// NiMARE `SampleSizeBasedLikelihood(method)` with dependence groups.
///
/// Robust models: σ² and τ² by ML or REML (lock-step per model) on one row per group with its
/// effective sample size s²/[Σ1/n + ρ((Σ1/√n)² − Σ1/n)] (`Rescale`, `Collapse`) or on the images
/// (`Individual`); then v_i = σ²/n_i and the cluster-robust fit at τ². A model whose fitted
/// sample sizes are all equal (population SD < √eps) cannot be fitted: NaN, and its index is in
/// the second value (NiMARE fails the whole fit). Ordinary models: as
/// [`crate::likelihood::sample_size_based_likelihood`]. `sample_sizes[k]` is image k's n. Maps
/// est, se, tau2, sigma2, z, ln p, dof.
#[track_caller]
pub fn grouped_sample_size_likelihood(
    con: &StudyVoxels,
    sample_sizes: &[f64],
    grouping: &Grouping,
    models: &[Bag],
    method: Method,
    working: Working,
    correction: SmallSampleCorrection,
) -> (GroupedFit, Vec<usize>) {
    assert_eq!(sample_sizes.len(), con.n_studies(), "one sample size per study");
    let kinds = classify(con.n_studies(), grouping, models, working);
    let reml = method == Method::Reml;
    let n_of = |bag: &Bag| bag.studies.iter().map(|&k| sample_sizes[k]).collect::<Vec<f64>>();
    // The sample sizes each model's likelihood sees (None: skipped).
    let fit_n: Vec<Option<Vec<f64>>> = kinds
        .iter()
        .zip(models)
        .map(|(kind, bag)| match kind {
            ModelKind::Skipped => None,
            ModelKind::Ordinary => Some(n_of(bag)),
            ModelKind::Robust(_) if working.scheme == WeightScheme::Individual => Some(n_of(bag)),
            ModelKind::Robust(groups) => Some(effective_n(&n_of(bag), groups, working.rho)),
        })
        .collect();
    let degenerate: Vec<usize> =
        (0..models.len()).filter(|&i| fit_n[i].as_deref().is_some_and(all_equal_sample_sizes)).collect();
    let fitted = |i: usize| fit_n[i].is_some() && !degenerate.contains(&i);
    let robust = fit_models(con.n_voxels(), models, |i, bag| match &kinds[i] {
        ModelKind::Robust(groups) if fitted(i) => {
            let fit_n = fit_n[i].clone().unwrap_or_default();
            Some(GroupedSampleSize {
                con,
                studies: &bag.studies,
                groups,
                n: n_of(bag),
                inv_fit_n: fit_n.iter().map(|n| 1.0 / n).collect(),
                fit_n,
                working,
                reml,
            })
        }
        _ => None,
    });
    let ordinary = fit_models(con.n_voxels(), models, |i, bag| {
        let n = n_of(bag);
        (matches!(kinds[i], ModelKind::Ordinary) && fitted(i)).then(|| SampleSizeModel {
            con,
            studies: &bag.studies,
            inv_n: n.iter().map(|n| 1.0 / n).collect(),
            n,
            reml,
            correction,
        })
    });
    let (fits, full) = merge(&kinds, models, robust, ordinary);
    let warnings = tally(&kinds, models, &fits, &full).into_warnings();
    (GroupedFit { maps: crate::collect(&fits, true, true), warnings }, degenerate)
}
