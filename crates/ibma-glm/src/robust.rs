//! The regression estimators with dependence groups, as PyMARE 0.0.13 fits them when NiMARE
//! 0.22.1 hands it group labels (`docs/dependence.md`): working weights and τ² per the weight
//! scheme, cluster-robust CR2 standard errors, Satterthwaite dof and a t reference.
//!
//! Every fit is per model (a liberal-mask bag or the aggressive-mask model). A model whose images
//! all come from different groups gets no labels in NiMARE and is fitted by the ordinary
//! estimator (with its small-sample correction); a model with a single group is NaN. The
//! intercept-only CR2 fit only needs each group's total working weight and weighted mean
//! ([`ibma_stats::cr2`]), which is how the weight schemes differ:
//!
//! | scheme | τ² from | group weight q_g | group value x_g |
//! |---|---|---|---|
//! | `Rescale` (NiMARE's default) | DL: correlated-effects moments; others: one aggregate row per group | 1/(v̄_g + τ²) | ȳ_g |
//! | `Individual` | the image rows | Σ_{i∈g} 1/(v_i + τ²) | weighted mean |
//! | `Collapse` | one aggregate row per group | 1/(v_g^agg + τ²) | ȳ_g |
//!
//! with v̄_g the mean variance of the group's images and v_g^agg = [Σv + ρ((Σ√v)² − Σv)]/s²
//! the variance of the mean of s images correlated at ρ (PyMARE `collapse_groups`).

pub mod likelihood;

use crate::metareg::Tau2;
use crate::moments::{dersimonian_laird_tau2, hedges_tau2, Mean};
use crate::wls::{fe_stats, t_reference};
use crate::{RegressionMaps, SmallSampleCorrection, VoxelFit};
use ibma_stats::bags::{owners, Bag};
use ibma_stats::cr2::Cr2Weights;
use ibma_stats::groups::{DependenceWarning, Grouping, ModelGroups, WarningTally};
use ibma_stats::StudyVoxels;
use rayon::prelude::*;

/// PyMARE's (and robumeta's) default within-group correlation.
pub const DEFAULT_RHO: f64 = 0.8;

/// How images within a group are weighted (PyMARE `weight_scheme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightScheme {
    /// Every image of group g weighs 1/(s_g(v̄_g + τ²)): a group's total does not grow with its
    /// image count (the correlated-effects weights of Hedges, Tipton & Johnson 2010, as in
    /// Fisher & Tipton 2015). NiMARE's default.
    #[default]
    Rescale,
    /// Every image weighs 1/(v_i + τ²), as if independent; only the standard errors are robust.
    Individual,
    /// One row per group (mean and its variance under correlation ρ) before anything is fitted.
    Collapse,
}

/// The working model: weight scheme and assumed within-group correlation ρ ∈ [0, 1] (used by
/// `Rescale` and `Collapse`; results are weakly sensitive to it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Working {
    /// Weight scheme.
    pub scheme: WeightScheme,
    /// Within-group correlation.
    pub rho: f64,
}

impl Default for Working {
    fn default() -> Working {
        Working { scheme: WeightScheme::Rescale, rho: DEFAULT_RHO }
    }
}

/// Maps and warnings of a fit with dependence groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupedFit {
    /// est, se, tau2 (if estimated), sigma2 (SSBL), z, ln p, dof (Satterthwaite where robust).
    pub maps: RegressionMaps,
    /// What to tell the user (few groups, low dof, skipped models, ...).
    pub warnings: Vec<DependenceWarning>,
}

/// How a model is fitted.
pub(crate) enum ModelKind {
    /// One group only: NaN.
    Skipped,
    /// Every image its own group: the ordinary estimator.
    Ordinary,
    /// Some group holds several images: cluster-robust.
    Robust(ModelGroups),
}

/// How each model is fitted; `grouping` must have a code for each of the `n_studies` studies
/// and ρ must lie in [0, 1] (caller bugs).
#[track_caller]
pub(crate) fn classify(n_studies: usize, grouping: &Grouping, models: &[Bag], working: Working) -> Vec<ModelKind> {
    assert_eq!(n_studies, grouping.n_images(), "one group code per study");
    assert!((0.0..=1.0).contains(&working.rho), "rho {} is not in [0, 1]", working.rho);
    let kind = |model: &Bag| {
        let groups = grouping.in_model(&model.studies);
        if !groups.supports_inference() {
            ModelKind::Skipped
        } else if groups.has_dependence() {
            ModelKind::Robust(groups)
        } else {
            ModelKind::Ordinary
        }
    };
    models.iter().map(kind).collect()
}

/// Per-model warnings from the fitted voxels (`full[v]`: some group had full leverage).
pub(crate) fn tally(kinds: &[ModelKind], models: &[Bag], fits: &[VoxelFit], full: &[bool]) -> WarningTally {
    let mut tally = WarningTally::default();
    for (kind, model) in kinds.iter().zip(models) {
        match kind {
            ModelKind::Skipped => tally.single_group_model(model.voxels.len()),
            ModelKind::Ordinary => {}
            ModelKind::Robust(groups) => {
                let min_dof =
                    model.voxels.iter().map(|&v| fits[v].dof).filter(|d| !d.is_nan()).fold(f64::NAN, f64::min);
                // NaN: not fitted (sample sizes all equal).
                if !min_dof.is_nan() {
                    tally.robust_model(groups.n_groups(), min_dof, model.voxels.iter().any(|&v| full[v]));
                }
            }
        }
    }
    tally
}

/// Group means ȳ_g and aggregate variances v_g^agg = [Σv + ρ((Σ√v)² − Σv)]/s², in local group
/// order (PyMARE `collapse_groups`).
pub(crate) fn collapse(y: &[f64], v: &[f64], groups: &ModelGroups, rho: f64, ybar: &mut Vec<f64>, vagg: &mut Vec<f64>) {
    let m = groups.n_groups();
    let (mut sy, mut sv, mut ssd) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
    for ((&g, &y), &v) in groups.local.iter().zip(y).zip(v) {
        sy[g] += y;
        sv[g] += v;
        ssd[g] += v.sqrt();
    }
    ybar.clear();
    vagg.clear();
    for g in 0..m {
        let s = groups.sizes[g] as f64;
        ybar.push(sy[g] / s);
        vagg.push(if groups.sizes[g] == 1 { sv[g] } else { (sv[g] + rho * (ssd[g] * ssd[g] - sv[g])) / (s * s) });
    }
}

/// Effective sample size per group, s²/[Σ1/n + ρ((Σ1/√n)² − Σ1/n)] (PyMARE `collapse_groups_by_n`;
/// s n/(1 + ρ(s − 1)) for s images of one sample of n): the aggregate variance is σ²/n_eff.
pub(crate) fn effective_n(n: &[f64], groups: &ModelGroups, rho: f64) -> Vec<f64> {
    let m = groups.n_groups();
    let (mut inv, mut inv_sd, mut first) = (vec![0.0; m], vec![0.0; m], vec![f64::NAN; m]);
    for (&g, &n) in groups.local.iter().zip(n) {
        inv[g] += 1.0 / n;
        inv_sd[g] += 1.0 / n.sqrt();
        if first[g].is_nan() {
            first[g] = n;
        }
    }
    (0..m)
        .map(|g| {
            let s = groups.sizes[g] as f64;
            if groups.sizes[g] == 1 {
                first[g]
            } else {
                s * s / (inv[g] + rho * (inv_sd[g] * inv_sd[g] - inv[g]))
            }
        })
        .collect()
}

/// DerSimonian–Laird τ² under the correlated-effects working model (Hedges, Tipton & Johnson
/// 2010; Fisher & Tipton 2015 eqs. 8–9), intercept only: with w_g = 1/(s_g v̄_g), W = Σ 1/v̄_g,
/// β = Σ w_g Σ_i y_i / W, Q_E = Σ_g w_g Σ_{i∈g} (y_i − β)², within = Σ w_g / W:
/// τ² = max(0, [Q_E − m + within + ρ(1 − within)] / [W − Σ 1/v̄_g² / W]).
pub(crate) fn correlated_effects_tau2(y: &[f64], v: &[f64], groups: &ModelGroups, rho: f64) -> f64 {
    let m = groups.n_groups();
    let mut vsum = vec![0.0; m];
    for (&g, &v) in groups.local.iter().zip(v) {
        vsum[g] += v;
    }
    let vbar: Vec<f64> = vsum.iter().zip(&groups.sizes).map(|(s, &n)| s / n as f64).collect();
    let w: Vec<f64> = vbar.iter().zip(&groups.sizes).map(|(vb, &n)| 1.0 / (n as f64 * vb)).collect();
    let (mut sw, mut swy) = (0.0, 0.0);
    for (&g, &y) in groups.local.iter().zip(y) {
        sw += w[g];
        swy += w[g] * y;
    }
    let beta = swy / sw;
    let q_e: f64 = groups.local.iter().zip(y).map(|(&g, &y)| w[g] * (y - beta).powi(2)).sum();
    let total: f64 = vbar.iter().map(|v| 1.0 / v).sum();
    let within = w.iter().sum::<f64>() / total;
    let numerator = q_e - m as f64 + within + rho * (1.0 - within);
    let denominator = total - vbar.iter().map(|v| 1.0 / (v * v)).sum::<f64>() / total;
    (numerator / denominator).max(0.0)
}

/// Scratch of [`robust_fit`].
#[derive(Default)]
pub(crate) struct Scratch {
    x: Vec<f64>,
    q: Vec<f64>,
    ybar: Vec<f64>,
    vagg: Vec<f64>,
}

/// The cluster-robust fit of one model's images at one voxel at between-study variance τ²:
/// group weights and values per the scheme (module table), CR2 se, Satterthwaite dof, t
/// reference. Also whether some group had full leverage.
pub(crate) fn robust_fit(
    y: &[f64],
    v: &[f64],
    tau2: f64,
    groups: &ModelGroups,
    working: Working,
    s: &mut Scratch,
) -> (VoxelFit, bool) {
    let m = groups.n_groups();
    s.x.clear();
    s.q.clear();
    match working.scheme {
        WeightScheme::Individual => {
            s.x.resize(m, 0.0);
            s.q.resize(m, 0.0);
            for ((&g, &y), &v) in groups.local.iter().zip(y).zip(v) {
                let w = 1.0 / (v + tau2);
                s.q[g] += w;
                s.x[g] += w * y;
            }
            for (x, q) in s.x.iter_mut().zip(&s.q) {
                *x /= q;
            }
        }
        WeightScheme::Rescale => {
            // v̄_g is the plain mean: the aggregate variance with ρ is only for τ².
            s.q.extend(groups.group_means(v).iter().map(|vbar| 1.0 / (vbar + tau2)));
            s.x.extend(groups.group_means(y));
        }
        WeightScheme::Collapse => {
            collapse(y, v, groups, working.rho, &mut s.ybar, &mut s.vagg);
            s.q.extend(s.vagg.iter().map(|va| 1.0 / (va + tau2)));
            s.x.extend_from_slice(&s.ybar);
        }
    }
    let weights = Cr2Weights::new(&s.q);
    let fit = weights.fit(&s.x);
    (t_reference(fit.est, fit.se, fit.t, tau2, fit.dof), weights.full_leverage)
}

/// τ² of one robust model's images at one voxel for the moment estimators and fixed τ².
fn moment_tau2(y: &[f64], v: &[f64], tau2: Tau2, groups: &ModelGroups, working: Working, s: &mut Scratch) -> f64 {
    let collapsed = |s: &mut Scratch| collapse(y, v, groups, working.rho, &mut s.ybar, &mut s.vagg);
    match (tau2, working.scheme) {
        (Tau2::Fixed(t), _) => t,
        (Tau2::DerSimonianLaird, WeightScheme::Rescale) => correlated_effects_tau2(y, v, groups, working.rho),
        (Tau2::DerSimonianLaird, WeightScheme::Individual) => dersimonian_laird_tau2(y, v, Mean::Intercept).max(0.0),
        (Tau2::Hedges, WeightScheme::Individual) => hedges_tau2(y, v),
        (Tau2::DerSimonianLaird, WeightScheme::Collapse) => {
            collapsed(s);
            dersimonian_laird_tau2(&s.ybar, &s.vagg, Mean::Intercept).max(0.0)
        }
        (Tau2::Hedges, WeightScheme::Rescale | WeightScheme::Collapse) => {
            collapsed(s);
            hedges_tau2(&s.ybar, &s.vagg)
        }
    }
}

/// NiMARE `WeightedLeastSquares(tau2)` (`Tau2::Fixed`), `DerSimonianLaird()`, `Hedges()` and,
/// on Hedges' g and var(g) from [`crate::hedges_fe::hedges_g`], `FixedEffectsHedges(tau2)`, with
/// dependence groups (NiMARE's `groupby`).
///
/// `grouping` has one code per study of `con`; `models` are the bags (or the aggressive-mask
/// model), each of whose studies must be valid in `con` and `var` at all its voxels. Robust
/// models: τ² per `working` (module table), CR2 inference with Satterthwaite dof. Ordinary models
/// (no group repeats there): the ordinary estimator with `correction` and dof K − 1. Single-group
/// models and voxels in no model: NaN. Maps est, se, tau2 (unless fixed), z, ln p, dof.
#[track_caller]
pub fn grouped_moments(
    con: &StudyVoxels,
    var: &StudyVoxels,
    grouping: &Grouping,
    models: &[Bag],
    tau2: Tau2,
    working: Working,
    correction: SmallSampleCorrection,
) -> GroupedFit {
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    let kinds = classify(con.n_studies(), grouping, models, working);
    let owner = owners(con.n_voxels(), models);
    let per_voxel: Vec<(VoxelFit, bool)> = owner
        .par_iter()
        .enumerate()
        .map_init(
            || (Vec::new(), Vec::new(), Scratch::default()),
            |(y, v, s), (vox, owner)| {
                let Some(m) = *owner else { return (VoxelFit::NAN, false) };
                let (c, e) = (con.voxel(vox), var.voxel(vox));
                y.clear();
                v.clear();
                y.extend(models[m].studies.iter().map(|&k| c[k]));
                v.extend(models[m].studies.iter().map(|&k| e[k]));
                match &kinds[m] {
                    ModelKind::Skipped => (VoxelFit::NAN, false),
                    ModelKind::Ordinary => {
                        let t2 = match tau2 {
                            Tau2::Fixed(t) => t,
                            Tau2::DerSimonianLaird => dersimonian_laird_tau2(y, v, Mean::Intercept).max(0.0),
                            Tau2::Hedges => hedges_tau2(y, v),
                        };
                        (fe_stats(y, v, t2, correction), false)
                    }
                    ModelKind::Robust(groups) => {
                        let t2 = moment_tau2(y, v, tau2, groups, working, s);
                        robust_fit(y, v, t2, groups, working, s)
                    }
                }
            },
        )
        .collect();
    let (fits, full): (Vec<VoxelFit>, Vec<bool>) = per_voxel.into_iter().unzip();
    let warnings = tally(&kinds, models, &fits, &full).into_warnings();
    GroupedFit { maps: crate::collect(&fits, !matches!(tau2, Tau2::Fixed(_)), false), warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    fn groups(labels: &[&str]) -> ModelGroups {
        Grouping::from_labels(labels).in_model(&(0..labels.len()).collect::<Vec<_>>())
    }

    #[test]
    fn singleton_groups_reduce_to_dersimonian_laird() {
        let (y, v) = ([1.0, 2.5, 0.3, 1.7], [0.5, 1.0, 0.8, 0.3]);
        let g = groups(&["a", "b", "c", "d"]);
        let ce = correlated_effects_tau2(&y, &v, &g, DEFAULT_RHO);
        assert!(tol::close(
            ce,
            dersimonian_laird_tau2(&y, &v, Mean::Intercept),
            tol::SUMMATION_ORDER_RTOL,
            tol::REFERENCE_ATOL
        ));
    }

    #[test]
    fn rescale_weights_do_not_grow_with_replication() {
        // Group a reported twice with the same value and variance: rescale gives it the weight
        // of one image, individual the weight of two.
        let g = groups(&["a", "a", "b", "c"]);
        let (y, v) = ([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]);
        let mut s = Scratch::default();
        let (rescale, _) = robust_fit(&y, &v, 0.0, &g, Working::default(), &mut s);
        let individual = Working { scheme: WeightScheme::Individual, ..Working::default() };
        let (indiv, _) = robust_fit(&y, &v, 0.0, &g, individual, &mut s);
        assert!(tol::close(rescale.est, 1.0 / 3.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(indiv.est, 0.5, tol::SUMMATION_ORDER_RTOL, 0.0));
    }
}
