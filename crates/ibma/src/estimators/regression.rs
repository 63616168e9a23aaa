//! The PyMARE regression family as NiMARE 0.22.1 wraps it: WeightedLeastSquares,
//! DerSimonianLaird, Hedges, VarianceBasedLikelihood, SampleSizeBasedLikelihood and
//! FixedEffectsHedges (estimators.md §5–9). One struct, because they share their options.

use crate::dataset::{Inputs, Needs};
use crate::design::DesignSpec;
use crate::estimator::{bad_choice, parse_bool, parse_f64, unknown_param, Common, Estimator, Param};
use crate::{Dataset, Error, MetaResult, Result};
use ibma_glm::heterogeneity::heterogeneity;
use ibma_glm::likelihood::{
    sample_size_based_likelihood, variance_based_likelihood, variance_based_likelihood_design, Method,
};
use ibma_glm::metareg::{meta_regression, Tau2};
use ibma_glm::{hedges_fe, moments, wls, RegressionMaps, SmallSampleCorrection};
use ibma_io::MapType;
use ibma_stats::bags::bags;
use ibma_stats::StudyVoxels;

/// Which regression estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `WeightedLeastSquares(tau2=0)`: fixed τ², Wald.
    WeightedLeastSquares,
    /// `DerSimonianLaird()`: moment τ², Knapp–Hartung.
    DerSimonianLaird,
    /// `Hedges()`: Hedges' τ², Knapp–Hartung.
    Hedges,
    /// `VarianceBasedLikelihood(method)`: ML/REML τ², Knapp–Hartung.
    VarianceBasedLikelihood,
    /// `SampleSizeBasedLikelihood(method)`: ML/REML τ² and σ² from con and n, Knapp–Hartung.
    SampleSizeBasedLikelihood,
    /// `FixedEffectsHedges(tau2=0)`: Hedges' g from t and n, fixed τ², Wald.
    FixedEffectsHedges,
}

/// A regression estimator with NiMARE's parameters.
///
/// | parameter | default (NiMARE 0.22.1) | estimators |
/// |---|---|---|
/// | `tau2` | 0 | WeightedLeastSquares, FixedEffectsHedges |
/// | `method` | `ml` | VarianceBasedLikelihood, SampleSizeBasedLikelihood |
/// | `small_sample_correction` | `auto`: Wald for WLS and FEH, Knapp–Hartung otherwise | all |
/// | `nimare_strict` | false | SampleSizeBasedLikelihood: fail the whole fit on a bag with all-equal n, as NiMARE |
/// | `aggressive_mask`, `derive` | false, true | all ([`Common`]) |
///
/// # Errors
/// Fewer than two usable studies; FixedEffectsHedges with a sample size ≤ 3; with
/// `nimare_strict=true`, SampleSizeBasedLikelihood on a bag whose sample sizes are all equal.
///
/// # Examples
///
/// One per estimator, on the [example dataset](crate::docs::example_dataset) (8 studies, 216
/// voxels, the first 108 with a true effect of 0.8 and τ² = 0.04).
///
/// NiMARE `WeightedLeastSquares(tau2=0.04)`:
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::{tol, Estimator};
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut wls = Regression::new(Kind::WeightedLeastSquares);
/// wls.set_param("tau2", "0.04")?;
/// let result = wls.fit(&dataset)?;
/// let (est, se, z) = (result.map("est").unwrap(), result.map("se").unwrap(), result.map("z").unwrap());
/// // Wald inference, NiMARE's default for this estimator: z = est / se.
/// assert!((0..est.len()).all(|v| tol::close(z[v], est[v] / se[v], tol::SUMMATION_ORDER_RTOL, 0.0)));
/// assert!(result.map("tau2").is_none()); // a fixed τ² is a parameter, not a map (as in NiMARE)
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `DerSimonianLaird(small_sample_correction="wald")` (NiMARE 0.3–0.20's inference)
/// against the default Knapp–Hartung:
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let knapp_hartung = Regression::new(Kind::DerSimonianLaird).fit(&dataset)?;
/// let mut dl = Regression::new(Kind::DerSimonianLaird);
/// dl.set_param("small_sample_correction", "wald")?;
/// let wald = dl.fit(&dataset)?;
/// // The correction changes the inference, not the estimates.
/// assert_eq!(wald.map("tau2"), knapp_hartung.map("tau2"));
/// assert_eq!(wald.map("est"), knapp_hartung.map("est"));
/// assert!(wald.map("tau2").unwrap().iter().all(|&t| t >= 0.0));
/// // Heterogeneity maps (an ibma addition): I² is a percentage.
/// assert!(wald.map("i2").unwrap().iter().all(|i2| (0.0..=100.0).contains(i2)));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `Hedges(small_sample_correction="knapp-hartung-conservative")`, whose rescaling
/// factor is never below 1, so its SE is never below the Wald SE:
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let fit = |correction: &str| {
///     let mut hedges = Regression::new(Kind::Hedges);
///     hedges.set_param("small_sample_correction", correction)?;
///     hedges.fit(&dataset)
/// };
/// let (conservative, wald) = (fit("knapp-hartung-conservative")?, fit("wald")?);
/// let (se_c, se_w) = (conservative.map("se").unwrap(), wald.map("se").unwrap());
/// assert!(se_c.iter().zip(se_w).all(|(c, w)| c >= w));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `VarianceBasedLikelihood(method="reml")`:
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut vbl = Regression::new(Kind::VarianceBasedLikelihood);
/// vbl.set_param("method", "reml")?;
/// let result = vbl.fit(&dataset)?;
/// assert!(result.map("tau2").unwrap().iter().all(|&t| t >= 0.0));
/// assert!(result.map("dof").unwrap().iter().all(|&dof| dof == 7.0)); // Knapp–Hartung: K − 1
/// assert!(result.map("z").unwrap()[..108].iter().all(|&z| z > 0.0));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `SampleSizeBasedLikelihood(method="reml")` (con maps and sample sizes only; the
/// sample sizes must differ between studies):
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let mut ssbl = Regression::new(Kind::SampleSizeBasedLikelihood);
/// ssbl.set_param("method", "reml")?;
/// let result = ssbl.fit(&dataset)?;
/// let (tau2, sigma2) = (result.map("tau2").unwrap(), result.map("sigma2").unwrap());
/// // Between- and within-study variance: neither negative, not both zero.
/// assert!(tau2.iter().zip(sigma2).all(|(&t, &s)| t >= 0.0 && s >= 0.0 && t + s > 0.0));
/// # Ok::<(), ibma::Error>(())
/// ```
///
/// NiMARE `FixedEffectsHedges(tau2=0)`: Hedges' g from the t maps (derived here from con and
/// varcope) and the sample sizes, so `est` is in standardised units:
///
/// ```
/// use ibma::estimators::{Kind, Regression};
/// use ibma::Estimator;
/// # let dir = tempfile::tempdir().unwrap();
/// # let dataset = ibma::docs::example_dataset(dir.path())?;
/// let result = Regression::new(Kind::FixedEffectsHedges).fit(&dataset)?;
/// let (g, z) = (result.map("est").unwrap(), result.map("z").unwrap());
/// assert!(g.iter().zip(z).all(|(g, z)| g.signum() == z.signum()));
/// assert!(g[..108].iter().all(|&g| g > 0.1));
/// # Ok::<(), ibma::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Regression {
    /// Which estimator.
    pub kind: Kind,
    /// Fixed τ² (WLS, FEH).
    pub tau2: f64,
    /// ML or REML (likelihood estimators).
    pub method: Method,
    /// None: the estimator's default.
    pub correction: Option<SmallSampleCorrection>,
    /// Reproduce NiMARE's whole-fit failure (SSBL).
    pub nimare_strict: bool,
    /// Moderators and contrast (WLS, DL, Hedges).
    pub design: DesignSpec,
    /// Shared options.
    pub common: Common,
}

impl Regression {
    /// An estimator of `kind` with NiMARE's defaults.
    pub fn new(kind: Kind) -> Regression {
        Regression {
            kind,
            tau2: 0.0,
            method: Method::Ml,
            correction: None,
            nimare_strict: false,
            design: DesignSpec::default(),
            common: Common::default(),
        }
    }

    fn correction(&self) -> SmallSampleCorrection {
        self.correction.unwrap_or(match self.kind {
            Kind::WeightedLeastSquares | Kind::FixedEffectsHedges => SmallSampleCorrection::Wald,
            _ => SmallSampleCorrection::KnappHartung,
        })
    }

    fn has_tau2_param(&self) -> bool {
        matches!(self.kind, Kind::WeightedLeastSquares | Kind::FixedEffectsHedges)
    }

    fn takes_design(&self) -> bool {
        matches!(
            self.kind,
            Kind::WeightedLeastSquares | Kind::DerSimonianLaird | Kind::Hedges | Kind::VarianceBasedLikelihood
        )
    }

    fn is_likelihood(&self) -> bool {
        matches!(self.kind, Kind::VarianceBasedLikelihood | Kind::SampleSizeBasedLikelihood)
    }
}

fn correction_name(c: Option<SmallSampleCorrection>) -> &'static str {
    match c {
        None => "auto",
        Some(SmallSampleCorrection::Wald) => "wald",
        Some(SmallSampleCorrection::KnappHartung) => "knapp-hartung",
        Some(SmallSampleCorrection::KnappHartungConservative) => "knapp-hartung-conservative",
    }
}

impl Estimator for Regression {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::WeightedLeastSquares => "weighted-least-squares",
            Kind::DerSimonianLaird => "dersimonian-laird",
            Kind::Hedges => "hedges",
            Kind::VarianceBasedLikelihood => "variance-based-likelihood",
            Kind::SampleSizeBasedLikelihood => "sample-size-based-likelihood",
            Kind::FixedEffectsHedges => "fixed-effects-hedges",
        }
    }

    fn needs(&self) -> Needs {
        match self.kind {
            Kind::SampleSizeBasedLikelihood => Needs { maps: &[MapType::Con], sample_size: true },
            Kind::FixedEffectsHedges => Needs { maps: &[MapType::T], sample_size: true },
            _ => Needs { maps: &[MapType::Con, MapType::Varcope], sample_size: false },
        }
    }

    fn get_params(&self) -> Vec<Param> {
        let mut p = Vec::new();
        if self.has_tau2_param() {
            p.push(Param::number("tau2", self.tau2, ">= 0", "fixed between-study variance"));
        }
        if self.is_likelihood() {
            let m = if self.method == Method::Ml { "ml" } else { "reml" };
            p.push(Param::choice("method", m, "ml|reml", "maximum or restricted maximum likelihood"));
        }
        p.push(Param::choice(
            "small_sample_correction",
            correction_name(self.correction),
            "auto|wald|knapp-hartung|knapp-hartung-conservative",
            "inference on the pooled estimate (auto: NiMARE's default for this estimator)",
        ));
        if self.takes_design() {
            let (moderators, _, contrast) = self.design.describe();
            p.push(Param::choice(
                "moderators",
                &moderators,
                "covariate names, comma-separated",
                "meta-regression on study covariates (intercept kept)",
            ));
            p.push(Param::choice(
                "contrast",
                &contrast,
                "weights per design column",
                "t contrast of the coefficients (default: the intercept)",
            ));
        }
        if self.kind == Kind::SampleSizeBasedLikelihood {
            p.push(Param::bool(
                "nimare_strict",
                self.nimare_strict,
                "fail the whole fit when a bag's sample sizes are all equal, as NiMARE does (default: NaN for those bags)",
            ));
        }
        p.extend(self.common.params());
        p
    }

    fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        let name = self.name();
        match key {
            "tau2" if self.has_tau2_param() => self.tau2 = parse_f64(name, key, value, 0.0)?,
            "method" if self.is_likelihood() => {
                self.method = match value {
                    "ml" => Method::Ml,
                    "reml" => Method::Reml,
                    _ => return Err(bad_choice(name, key, value, "ml, reml")),
                }
            }
            "small_sample_correction" => {
                self.correction = match value {
                    "auto" | "none" | "None" => None,
                    "wald" => Some(SmallSampleCorrection::Wald),
                    "knapp-hartung" => Some(SmallSampleCorrection::KnappHartung),
                    "knapp-hartung-conservative" => Some(SmallSampleCorrection::KnappHartungConservative),
                    _ => {
                        return Err(bad_choice(
                            name,
                            key,
                            value,
                            "auto, wald, knapp-hartung, knapp-hartung-conservative",
                        ))
                    }
                }
            }
            "nimare_strict" if self.kind == Kind::SampleSizeBasedLikelihood => {
                self.nimare_strict = parse_bool(name, key, value)?
            }
            "moderators" | "contrast" if self.takes_design() => {
                self.design.set(name, key, value)?;
            }
            "moderators" | "contrast" | "groups" => {
                return Err(bad_choice(
                    name,
                    key,
                    value,
                    "no design here: meta-regression is available in weighted-least-squares, dersimonian-laird, hedges, variance-based-likelihood and the GLM estimators",
                ))
            }
            _ if self.common.set(name, key, value)? => {}
            _ => return Err(unknown_param(self, key)),
        }
        Ok(())
    }

    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn voxelwise(&self) -> bool {
        // The likelihood searches run a bag's voxels in lock-step (NiMARE's convergence rule).
        !matches!(self.kind, Kind::VarianceBasedLikelihood | Kind::SampleSizeBasedLikelihood)
    }

    fn fit_inputs(&self, dataset: &Dataset, inputs: &Inputs) -> Result<MetaResult> {
        let mut result = MetaResult::from_inputs(self, dataset, inputs);
        let correction = self.correction();
        let sample_sizes = || -> Vec<f64> { inputs.sample_sizes.iter().map(|n| n.unwrap_or(f64::NAN)).collect() };
        // (con, within-study variances) for the heterogeneity maps, at τ² = 0 (estimators.md §5b).
        let mut het_inputs: Option<(StudyVoxels, StudyVoxels)> = None;
        let maps: RegressionMaps = match self.kind {
            Kind::VarianceBasedLikelihood if !self.design.is_one_sample() => {
                let design = self.design.build(self.name(), dataset, &inputs.study_ids)?;
                let [contrast] = design.contrast.as_slice() else {
                    return Err(Error::Invalid(format!(
                        "{}: F contrasts need mfx-glm, ffx-glm or rfx-glm",
                        self.name()
                    )));
                };
                result.diagnostics.insert("design_columns".into(), design.columns.clone().into());
                let con = &inputs.maps[&MapType::Con];
                let (models, var) = (bags(con, 2), &inputs.maps[&MapType::Varcope]);
                variance_based_likelihood_design(con, var, &design.x, contrast, &models, self.method, correction)
            }
            Kind::WeightedLeastSquares | Kind::DerSimonianLaird | Kind::Hedges if !self.design.is_one_sample() => {
                let design = self.design.build(self.name(), dataset, &inputs.study_ids)?;
                let [contrast] = design.contrast.as_slice() else {
                    return Err(Error::Invalid(format!(
                        "{}: F contrasts need mfx-glm, ffx-glm or rfx-glm",
                        self.name()
                    )));
                };
                let tau2 = match self.kind {
                    Kind::WeightedLeastSquares => Tau2::Fixed(self.tau2),
                    Kind::DerSimonianLaird => Tau2::DerSimonianLaird,
                    _ => Tau2::Hedges,
                };
                result.diagnostics.insert("design_columns".into(), design.columns.clone().into());
                let (con, var) = (&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope]);
                meta_regression(con, var, &design.x, contrast, tau2, correction)
            }
            Kind::WeightedLeastSquares => wls::weighted_least_squares(
                &inputs.maps[&MapType::Con],
                &inputs.maps[&MapType::Varcope],
                self.tau2,
                correction,
            ),
            Kind::DerSimonianLaird => {
                moments::dersimonian_laird(&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope], correction)
            }
            Kind::Hedges => moments::hedges(&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope], correction),
            Kind::VarianceBasedLikelihood => {
                let con = &inputs.maps[&MapType::Con];
                variance_based_likelihood(con, &inputs.maps[&MapType::Varcope], &bags(con, 2), self.method, correction)
            }
            Kind::SampleSizeBasedLikelihood => {
                let con = &inputs.maps[&MapType::Con];
                let models = bags(con, 2);
                let (maps, degenerate) =
                    sample_size_based_likelihood(con, &sample_sizes(), &models, self.method, correction);
                if !degenerate.is_empty() {
                    let voxels: usize = degenerate.iter().map(|&b| models[b].voxels.len()).sum();
                    if self.nimare_strict {
                        return Err(Error::Invalid(format!(
                            "{}: Sample size-based likelihood estimator cannot work with all-equal sample sizes, and {} of {} parallel datasets have them (nimare_strict=true)",
                            self.name(),
                            degenerate.len(),
                            models.len()
                        )));
                    }
                    result.warnings.push(format!(
                        "{} bags ({voxels} voxels) have studies that all share one sample size; tau2 and sigma2 are not identifiable there and those voxels are NaN (NiMARE fails the whole fit; --set nimare_strict=true reproduces that)",
                        degenerate.len()
                    ));
                    result.diagnostics.insert("bags_all_equal_sample_size".into(), degenerate.len().into());
                    result.diagnostics.insert("voxels_nan_all_equal_sample_size".into(), voxels.into());
                }
                maps
            }
            Kind::FixedEffectsHedges => {
                let n = sample_sizes();
                if let Some((id, n)) = inputs.study_ids.iter().zip(&n).find(|(_, n)| **n <= 3.0) {
                    return Err(Error::Invalid(format!(
                        "{}: study {id}: sample_size {n} must be greater than 3 (Hedges' g variance is undefined)",
                        self.name()
                    )));
                }
                let (g, var) = hedges_fe::hedges_g(&inputs.maps[&MapType::T], &n);
                let maps = hedges_fe::fixed_effects_hedges(&g, &var, self.tau2, correction);
                het_inputs = Some((g, var));
                maps
            }
        };
        // Meta-regressions get the residual heterogeneity of their design (df = K − P).
        let het = match (&het_inputs, self.kind) {
            _ if !self.design.is_one_sample() => {
                let design = self.design.build(self.name(), dataset, &inputs.study_ids)?;
                let (con, var) = (&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope]);
                Some(ibma_glm::heterogeneity::heterogeneity_design(con, var, &design.x, design.columns.len()))
            }
            (Some((y, v)), _) => Some(heterogeneity(y, v)),
            (None, Kind::SampleSizeBasedLikelihood) => {
                // SSBL's within-study variances are σ̂²/n_k at each voxel.
                let con = &inputs.maps[&MapType::Con];
                let n = sample_sizes();
                let var: Vec<f64> = con
                    .voxels()
                    .zip(&maps.sigma2)
                    .flat_map(|(c, s2)| {
                        c.iter().zip(&n).map(move |(ck, nk)| if ck.is_nan() { f64::NAN } else { s2 / nk })
                    })
                    .collect();
                Some(heterogeneity(con, &StudyVoxels::new(con.n_studies(), var)))
            }
            (None, _) => Some(heterogeneity(&inputs.maps[&MapType::Con], &inputs.maps[&MapType::Varcope])),
        };
        result.insert_regression(maps);
        if let Some(het) = het {
            result.insert_heterogeneity(het);
        }
        Ok(result)
    }
}
