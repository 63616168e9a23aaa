//! `cargo xtask validate-dependence`: NiMARE 0.22.1's dependence handling (several images per
//! study, `groupby`) on its multi-contrast fixture, through the kernels directly.
//!
//! Until the facade reads datasets with several images per study, this reads the NiMARE JSON
//! and the images itself, as NiMARE does (a repeated contrast key keeps its last value; image ids
//! `study-contrast` in sorted order; an image lacking an input is dropped for that estimator;
//! usable = finite and non-zero, AND over the estimator's inputs), runs the dependence-aware
//! kernels per model (liberal bags or the aggressive-mask model) and compares every map,
//! FDR and Monte-Carlo FWE maps included, with the references at docs/validation.md's tolerances.
//! Its rows are meant to move into `cargo xtask validate` once the facade is wired.

use crate::{compare_dir, compare_with, Label, Row};
use ibma::estimators::AnyEstimator;
use ibma::glm::hedges_fe::hedges_g;
use ibma::glm::likelihood::Method;
use ibma::glm::metareg::Tau2;
use ibma::glm::ols::permuted_ols_grouped;
use ibma::glm::robust::likelihood::{grouped_sample_size_likelihood, grouped_variance_likelihood};
use ibma::glm::robust::{grouped_moments, GroupedFit, Working};
use ibma::glm::SmallSampleCorrection;
use ibma::io::Mask;
use ibma::maps::{self, Map, Stat};
use ibma::stats::bags::{bags, Bag};
use ibma::stats::correct::Correction;
use ibma::stats::groups::{DependenceWarning, Grouping};
use ibma::stats::nullcorr::{null_correlation, CorrMatrix};
use ibma::stats::permute::{fwe_maps, max_t_null, FlipMatrix};
use ibma::stats::{StudyVoxels, Tail};
use ibma::tol;
use ibma::MetaResult;
use ibma_combine::grouped::{combine_grouped, Test};
use ibma_combine::Direction;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fixture, its mask and the reference folder (relative to `../shared/data`).
const JSON: &str = "nimare_test_pain_10x10x10/nimare_test_pain_dataset_multiple_contrasts.json";
const MASK: &str = "nimare_test_pain_10x10x10/mask.nii.gz";
const REFS: &str = "reference_outputs/nimare-0.22.1/nimare_test_pain_multiple_contrasts";

/// (reference variant, groupby=False, aggressive_mask).
const VARIANTS: &[(&str, bool, bool)] = &[
    ("default", false, false),
    ("aggressive_mask", false, true),
    ("groupby_false", true, false),
    ("groupby_false_aggressive_mask", true, true),
];

/// Monte-Carlo FWE iterations and seed of the references.
const FWE_ITERS: usize = 1000;
const FWE_SEED: u32 = 42;

/// NiMARE's varcope floor, 1/√(float32 max), compared in float32.
const MIN_VARCOPE: f32 = 5.421_011e-20;

/// One image of the NiMARE dataset.
struct Image {
    study: String,
    /// Masked values per NiMARE image key ("beta", "varcope", "t", "z").
    maps: BTreeMap<String, Vec<f64>>,
    sample_size: Option<f64>,
}

/// The estimators of the references, with their inputs.
#[derive(Clone, Copy)]
enum Kind {
    Fishers,
    Stouffers { weighted: bool },
    Moments(Tau2, SmallSampleCorrection),
    Vbl(Method),
    Ssbl(Method),
    PermutedOls,
    Feh,
}

impl Kind {
    /// NiMARE image inputs and whether sample sizes are needed.
    fn needs(self) -> (&'static [&'static str], bool) {
        match self {
            Kind::Fishers => (&["z"], false),
            Kind::Stouffers { weighted } => (&["z"], weighted),
            Kind::Moments(..) | Kind::Vbl(_) => (&["beta", "varcope"], false),
            Kind::Ssbl(_) | Kind::PermutedOls => (&["beta"], matches!(self, Kind::Ssbl(_))),
            Kind::Feh => (&["t"], true),
        }
    }
}

const KH: SmallSampleCorrection = SmallSampleCorrection::KnappHartung;
const WALD: SmallSampleCorrection = SmallSampleCorrection::Wald;

fn estimators() -> Vec<(Label, Kind)> {
    vec![
        (Label::new("Fishers", "fishers", &[]), Kind::Fishers),
        (Label::new("Stouffers", "stouffers", &[]), Kind::Stouffers { weighted: false }),
        (Label::new("Stouffers_weighted", "stouffers", &[]), Kind::Stouffers { weighted: true }),
        (Label::new("WeightedLeastSquares", "", &[]), Kind::Moments(Tau2::Fixed(0.0), WALD)),
        (Label::new("DerSimonianLaird", "", &[]), Kind::Moments(Tau2::DerSimonianLaird, KH)),
        (Label::new("Hedges", "", &[]), Kind::Moments(Tau2::Hedges, KH)),
        (Label::likelihood("VarianceBasedLikelihood_ML", "", &[]), Kind::Vbl(Method::Ml)),
        (Label::likelihood("VarianceBasedLikelihood_REML", "", &[]), Kind::Vbl(Method::Reml)),
        (Label::likelihood("SampleSizeBasedLikelihood_ML", "", &[]), Kind::Ssbl(Method::Ml)),
        (Label::likelihood("SampleSizeBasedLikelihood_REML", "", &[]), Kind::Ssbl(Method::Reml)),
        (Label::new("PermutedOLS", "permuted-ols", &[]), Kind::PermutedOls),
        (Label::new("FixedEffectsHedges", "", &[]), Kind::Feh),
    ]
}

/// Every row of the multi-contrast fixture: estimator × grouping × mask, every map.
pub(crate) fn rows(root: &Path) -> Result<Vec<Row>, String> {
    let shared = root.join("../shared/data");
    let mask = Mask::read(&shared.join(MASK)).map_err(|e| e.to_string())?;
    let images = read_dataset(&shared.join(JSON), &mask)?;
    let out_root = root.join("target/validate-dependence");
    let mut rows = Vec::new();
    for &(variant, groupby_false, aggressive) in VARIANTS {
        for (label, kind) in estimators() {
            let what = format!("multiple_contrasts/{variant}/{}", label.name);
            let Fitted { result, warnings, corr, null } = fit(&images, &mask, kind, groupby_false, aggressive)?;
            let out = out_root.join(variant).join(label.name);
            if out.exists() {
                std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            }
            result.save_maps(&out).map_err(|e| format!("{what}: {e}"))?;
            let mut compared = compare_dir(&shared.join(REFS).join(variant).join(label.name), &out, &what, &label)?;
            if let Some(first) = compared.first_mut() {
                let note: Vec<String> = warnings.iter().map(ToString::to_string).collect();
                if !note.is_empty() {
                    first.note = Some(format!("warnings: {}", note.join("; ")));
                }
            }
            rows.extend(compared);
            let diagnostics = shared.join(REFS).join(variant).join(label.name).join("diagnostics.json");
            let diagnostics = read_json(&diagnostics)?;
            rows.extend(compare_corr(&diagnostics, corr.as_ref(), &what));
            if let Some(null) = null {
                let reference: Vec<f64> = diagnostics["fwe_null_max_z"]
                    .as_array()
                    .ok_or(format!("{what}: diagnostics.json has no fwe_null_max_z"))?
                    .iter()
                    .map(|x| x.as_f64().unwrap_or(f64::NAN))
                    .collect();
                // The max-z null (not rounded to float32): only the t tail routines differ.
                rows.push(compare_with(
                    &reference,
                    &null,
                    format!("{what}/fwe_null_max_z (diagnostics.json)"),
                    |t, r, _| tol::close(t, r, tol::REFERENCE_RTOL, 0.0),
                ));
            }
        }
    }
    Ok(rows)
}

/// The null correlation against the one NiMARE handed PyMARE (`diagnostics.json`
/// `corr_matrix`); no row where NiMARE computed none, a failure where only one side has it.
fn compare_corr(diagnostics: &Value, corr: Option<&CorrMatrix>, what: &str) -> Option<Row> {
    let reference: Vec<f64> = diagnostics["corr_matrix"]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten().map(|x| x.as_f64().unwrap_or(f64::NAN)))
        .collect();
    let what = format!("{what}/corr_matrix (diagnostics.json)");
    match (corr, reference.is_empty()) {
        (None, true) => None,
        (Some(c), false) if c.values().len() == reference.len() => {
            // Only summation order differs from NiMARE's matrix products.
            Some(compare_with(&reference, c.values(), what, |t, r, _| {
                tol::close(t, r, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL)
            }))
        }
        _ => Some(Row {
            what,
            nan_mismatch: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            failures: 1,
            note: Some("null correlation present on one side only".into()),
        }),
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One estimator's fit on the fixture.
struct Fitted {
    /// Maps with FDR (and, for PermutedOLS, Monte-Carlo FWE) maps.
    result: MetaResult,
    warnings: Vec<DependenceWarning>,
    /// The null correlation (combination tests with groups).
    corr: Option<CorrMatrix>,
    /// The max-z null of PermutedOLS.
    null: Option<Vec<f64>>,
}

/// The images of a NiMARE dataset JSON in NiMARE's order (ids sorted), read on `mask`.
fn read_dataset(path: &Path, mask: &Mask) -> Result<Vec<Image>, String> {
    // serde_json keeps the last of repeated keys, as Python's json does.
    let value = read_json(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut images: Vec<(String, Image)> = Vec::new();
    for (study, s) in value.as_object().ok_or("top level is not an object")? {
        for (contrast, c) in s["contrasts"].as_object().ok_or(format!("{study}: no contrasts"))? {
            let mut maps = BTreeMap::new();
            for (key, p) in c["images"].as_object().into_iter().flatten() {
                if let (Some(p), true) = (p.as_str(), ["beta", "varcope", "t", "z"].contains(&key.as_str())) {
                    let file: PathBuf = base.join(p);
                    // NiMARE's masker hands over float32 values.
                    let values = mask.read_masked(&file).map_err(|e| e.to_string())?;
                    maps.insert(key.clone(), values.into_iter().map(|x| f64::from(x as f32)).collect());
                }
            }
            let sizes: Vec<f64> = c
                .pointer("/metadata/sample_sizes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            let sample_size = (!sizes.is_empty()).then(|| sizes.iter().sum::<f64>() / sizes.len() as f64);
            images.push((format!("{study}-{contrast}"), Image { study: study.clone(), maps, sample_size }));
        }
    }
    images.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(images.into_iter().map(|(_, i)| i).collect())
}

/// Fit one estimator as NiMARE does on `images`; the result maps (FDR, FWE) and the warnings.
fn fit(images: &[Image], mask: &Mask, kind: Kind, groupby_false: bool, aggressive: bool) -> Result<Fitted, String> {
    let (keys, needs_n) = kind.needs();
    let used: Vec<&Image> = images
        .iter()
        .filter(|i| keys.iter().all(|k| i.maps.contains_key(*k)) && (!needs_n || i.sample_size.is_some()))
        .collect();
    let v = mask.len();
    // Validity: every input usable (finite, non-zero; varcope above NiMARE's floor).
    let valid = |img: &Image, vox: usize| {
        keys.iter().all(|k| {
            let x = img.maps[*k][vox];
            x.is_finite() && x != 0.0 && (*k != "varcope" || (x as f32) > MIN_VARCOPE)
        })
    };
    let keep_voxel: Vec<bool> = (0..v).map(|vox| !aggressive || used.iter().all(|i| valid(i, vox))).collect();
    let matrix = |key: &str| {
        let studies: Vec<Vec<f64>> = used
            .iter()
            .map(|img| {
                (0..v)
                    .map(|vox| if keep_voxel[vox] && valid(img, vox) { img.maps[key][vox] } else { f64::NAN })
                    .collect()
            })
            .collect();
        StudyVoxels::from_studies(&studies)
    };
    let grouping = if groupby_false {
        Grouping::independent(used.len())
    } else {
        Grouping::from_labels(&used.iter().map(|i| i.study.as_str()).collect::<Vec<_>>())
    };
    let n: Vec<f64> = used.iter().map(|i| i.sample_size.unwrap_or(f64::NAN)).collect();
    let first = matrix(keys[0]);
    let models: Vec<Bag> = if aggressive {
        vec![Bag { studies: (0..used.len()).collect(), voxels: (0..v).filter(|&x| keep_voxel[x]).collect() }]
    } else {
        bags(&first, 2)
    };
    let mut result = MetaResult::new(AnyEstimator::by_name("stouffers").map_err(|e| e.to_string())?, mask.clone());
    let regression = |result: &mut MetaResult, fit: GroupedFit| {
        result.insert_regression(fit.maps);
        fit.warnings
    };
    let warnings = match kind {
        Kind::Fishers | Kind::Stouffers { .. } => {
            // The null correlation is estimated on every image over all voxels, also under the
            // aggressive mask (NiMARE's inputs_ keep them).
            let all = StudyVoxels::from_studies(
                &used
                    .iter()
                    .map(|img| (0..v).map(|x| if valid(img, x) { img.maps["z"][x] } else { f64::NAN }).collect())
                    .collect::<Vec<_>>(),
            );
            let corr = if grouping.has_dependence() { null_correlation(&all, &grouping) } else { None };
            let (test, sizes) = match kind {
                Kind::Stouffers { weighted } => (Test::Stouffer, weighted.then_some(&n[..])),
                _ => (Test::Fisher, None),
            };
            let combined =
                combine_grouped(test, &first, &grouping, corr.as_ref(), &models, sizes, Direction::Concordant);
            result.insert_test(combined.maps);
            result.correct(Correction::FdrIndep).map_err(|e| e.to_string())?;
            return Ok(Fitted { result, warnings: combined.warnings, corr, null: None });
        }
        Kind::Moments(tau2, correction) => {
            let fit =
                grouped_moments(&first, &matrix("varcope"), &grouping, &models, tau2, Working::default(), correction);
            regression(&mut result, fit)
        }
        Kind::Vbl(method) => {
            let fit = grouped_variance_likelihood(
                &first,
                &matrix("varcope"),
                &grouping,
                &models,
                method,
                Working::default(),
                KH,
            );
            regression(&mut result, fit)
        }
        Kind::Ssbl(method) => {
            let (fit, degenerate) =
                grouped_sample_size_likelihood(&first, &n, &grouping, &models, method, Working::default(), KH);
            if !degenerate.is_empty() {
                return Err(format!("SSBL: {} models with all-equal sample sizes", degenerate.len()));
            }
            regression(&mut result, fit)
        }
        Kind::Feh => {
            let (g, var) = hedges_g(&first, &n);
            let fit = grouped_moments(&g, &var, &grouping, &models, Tau2::Fixed(0.0), Working::default(), WALD);
            regression(&mut result, fit)
        }
        Kind::PermutedOls => {
            let ols = permuted_ols_grouped(&first, &grouping, &models, None, Tail::Two);
            let flips = FlipMatrix::nimare(FWE_ITERS, grouping.n_groups(), FWE_SEED);
            let h0 = max_t_null(&ols.means, &ols.models, &flips, Tail::Two);
            let fwe = fwe_maps(&ols.maps.test.z, &h0, Tail::Two);
            result.insert(Map::T, ols.maps.t);
            result.insert_test(ols.maps.test);
            result.correct(Correction::FdrIndep).map_err(|e| e.to_string())?;
            result.insert(Map::Corrected(Stat::P, maps::Method::Montecarlo), fwe.p);
            result.insert(Map::Corrected(Stat::Z, maps::Method::Montecarlo), fwe.z);
            result.insert(Map::Corrected(Stat::Logp, maps::Method::Montecarlo), fwe.logp);
            return Ok(Fitted { result, warnings: Vec::new(), corr: None, null: Some(h0) });
        }
    };
    result.correct(Correction::FdrIndep).map_err(|e| e.to_string())?;
    Ok(Fitted { result, warnings, corr: None, null: None })
}
