//! Parameters as text, at the edge: `--set key=value` on the command line and keyword
//! arguments in Python, with NiMARE's names.
//!
//! A parameter is declared once, as a field of its estimator's type: its serialised name is
//! NiMARE's, its type decides which values it takes. This module reads text (or a JSON value)
//! into those fields through serde, and [`HELP`] describes every name for `ibma estimators`.

use crate::estimators::{AnyEstimator, CATALOGUE};
use crate::{Error, Estimator, Result};
use serde_json::Value;

/// What each parameter name means, with its values: one row per name, shared by every
/// estimator that has it.
pub const HELP: &[(&str, &str, &str)] = &[
    ("use_sample_size", "true|false", "weight each study by its sample size"),
    ("two_sided", "true|false", "true: two-sided (concordant) test; false: upper tail only"),
    ("inference", "ffx|rfx", "ffx: Stouffer's Z; rfx: one-sample t-test of the z maps (NiMARE 0.0.1)"),
    ("null", "theoretical|empirical", "the t-test's null: Student t, or a voxelwise sign-flip null (n_iters, seed)"),
    ("n_iters", "integer >= 1", "sign flips (--n-iters): of the empirical null, or of the permutation corrections"),
    ("seed", "integer < 2^32", "seed of the sign flips (--seed; NiMARE's MT19937 stream)"),
    ("exact_flips", "true|false", "enumerate all 2^K - 1 sign vectors when there are no more than n_iters"),
    ("legacy_undirected", "true|false", "NiMARE 0.0.1's undirected statistic -2 sum ln(2 Phi-bar(|z|)) (legacy)"),
    ("tau2", ">= 0", "fixed between-study variance"),
    ("method", "ml|reml", "maximum or restricted maximum likelihood"),
    (
        "small_sample_correction",
        "wald|knapp-hartung|knapp-hartung-conservative",
        "inference on the pooled estimate (auto: this estimator's default); with dependence groups CR2 replaces it",
    ),
    ("nimare_strict", "true|false", "fail the whole fit when a coverage pattern's sample sizes are all equal, as NiMARE"),
    (
        "weight_scheme",
        "rescale|individual|collapse",
        "with dependence groups: rescale (a group weighs as one image), individual, or one row per group",
    ),
    ("rho", "0 to 1", "with dependence groups: assumed correlation of a group's images (rescale, collapse)"),
    ("moderators", "covariate names, comma-separated", "meta-regression on study covariates (intercept kept)"),
    ("contrast", "weights per design column; rows split by ';' give F", "default: the intercept"),
    ("groups", "a label covariate", "one mean and one between-study variance per level"),
    ("standardize", "true|false", "legacy (NiMARE 0.0.1): divide each con map by its SD over the mask"),
    ("q", "(0, 1)", "GRF cluster-level family-wise error rate"),
    ("fsl_compat", "true|false", "GRF with FSL's smoothness correction and float32 p-values"),
    ("write_weights", "true|false", "also write weights.nii.gz: 1/(varcope + tau2) per study (4-D)"),
    ("optimizer", "global|fsl", "REML search: global (the certified global optimum) or fsl (flameo's own search)"),
    ("t_to_z", "exact|fsl", "t -> z: exact tail matching, or FSL's asymptotic form above |t| = 7.5 (FSL tables)"),
    ("cdt", "p in (0, 1) or z > 1", "cluster-forming threshold (GRF, cluster-size, cluster-mass, TFCE)"),
    ("cdt_tail", "two|one", "tail of the cdt p to z conversion"),
    ("connectivity", "6|18|26", "voxels that count as neighbours in a cluster"),
    ("aggressive_mask", "true|false", "keep only voxels covered by every study (false: fit each coverage pattern on its own studies)"),
    ("derive", "auto|true|false", "derive missing map types; auto: yes for ibma-dataset, no for NiMARE JSON"),
    (
        "groupby",
        "study|none|<covariate>",
        "which images are dependent: those of one study (default), none (inflates significance when images share a study), or those with one value of a covariate",
    ),
    (
        "resample",
        "none|linear|nearest",
        "interpolate maps on another grid onto the mask grid (NiMARE resample__interpolation); none: such a map is an error",
    ),
];

/// What dependence groups do, for `ibma estimators` (docs/dependence.md says more).
pub const DEPENDENCE_HELP: &str = "\
Several images per study (NiMARE contrasts, NIMADS analyses, dataset.json version 2) share participants.
With groupby=study (the default) the images of a study form one group, as in NiMARE 0.22.1:
  regression estimators  working weights (weight_scheme, rho), cluster-robust CR2 standard errors,
                         Satterthwaite dof (the dof map) and a t reference; no heterogeneity maps
  fishers                Brown's scaled chi-squared with the images' estimated null correlation
  stouffers              one variance-standardised z per group, then Stouffer over groups
  permuted-ols           the t over group means; --correct montecarlo flips whole groups
  any permutation        one sign per group (the group's images flipped together)
  rfx/ffx/mfx-glm        refused (no dependence-aware form): use groupby=none or another estimator
Robust inference is asymptotic in the number of groups: with 10 or fewer groups, or Satterthwaite
dof below 4, its p-values may be too small (a warning says so). See docs/dependence.md.
";

/// Other names accepted for a parameter: NiMARE's and the seed's.
const ALIASES: &[(&str, &str)] = &[("resample__interpolation", "resample")];

/// The parameters of `estimator` with their values, in declaration order.
pub fn params(estimator: &AnyEstimator) -> Vec<(String, Value)> {
    fields(estimator).into_iter().filter(|(k, _)| k != "estimator").collect()
}

/// Set the parameter `key` of `estimator` from its text form (`--set key=value`).
///
/// # Errors
/// [`Error::Param`]: an unknown key (listing the valid ones) or a value it does not take
/// (listing the valid values).
pub fn set(estimator: &mut AnyEstimator, key: &str, text: &str) -> Result<()> {
    let name = estimator.name();
    let key = canonical(key);
    // The seed's `missing=listwise|fsl` (FLAME estimators) is `aggressive_mask=false|true`.
    if key == "missing"
        && matches!(estimator, AnyEstimator::RfxGlm(_) | AnyEstimator::FfxGlm(_) | AnyEstimator::MfxGlm(_))
    {
        let aggressive = match text {
            "listwise" => "false",
            "fsl" => "true",
            _ => return Err(Error::param(name, key, text, "listwise, fsl")),
        };
        return set(estimator, "aggressive_mask", aggressive);
    }
    // `auto` is each estimator's own default correction.
    if key == "small_sample_correction" && ["auto", "none"].contains(&text.to_ascii_lowercase().as_str()) {
        let default = AnyEstimator::by_name(name)?;
        let value = fields(&default).into_iter().find(|(k, _)| k == key).map_or(Value::Null, |(_, v)| v);
        return set_value(estimator, key, value);
    }
    set_field(estimator, name, key, text).map_err(|e| match e {
        Error::Param { estimator, key, msg } if ["moderators", "contrast", "groups"].contains(&key.as_str()) && msg.starts_with("unknown") => {
            let msg = format!(
                "no design here: meta-regression is available in weighted-least-squares, dersimonian-laird, hedges, variance-based-likelihood and the GLM estimators, groups in mfx-glm ({msg})"
            );
            Error::Param { estimator, key, msg }
        }
        e => e,
    })
}

/// Set the parameter `key` of `estimator` to a JSON value (a Python keyword argument).
///
/// # Errors
/// As [`set`].
pub fn set_value(estimator: &mut AnyEstimator, key: &str, value: Value) -> Result<()> {
    let name = estimator.name();
    set_field_value(estimator, name, canonical(key), value)
}

/// True if `estimator` has the parameter `key`.
pub fn has(estimator: &AnyEstimator, key: &str) -> bool {
    params(estimator).iter().any(|(k, _)| k == canonical(key))
}

/// NiMARE's name for an alias.
fn canonical(key: &str) -> &str {
    ALIASES.iter().find(|(a, _)| *a == key).map_or(key, |(_, k)| k)
}

/// Set the field `key` of any options struct `target` (named `owner` in messages) from text.
///
/// # Errors
/// As [`set`].
pub fn set_field<T: serde::Serialize + serde::de::DeserializeOwned>(
    target: &mut T,
    owner: &str,
    key: &str,
    text: &str,
) -> Result<()> {
    let current = current(target, owner, key)?;
    let value = from_text(owner, key, text, &current)?;
    set_field_value(target, owner, key, value)
}

/// Set the field `key` of `target` to a JSON value.
fn set_field_value<T: serde::Serialize + serde::de::DeserializeOwned>(
    target: &mut T,
    owner: &str,
    key: &str,
    value: Value,
) -> Result<()> {
    current(target, owner, key)?;
    let mut object = serde_json::to_value(&*target).map_err(|e| Error::Invalid(e.to_string()))?;
    let shown = value.as_str().map_or_else(|| value.to_string(), str::to_string);
    object[key] = value;
    *target = serde_json::from_value(object).map_err(|e| {
        let msg = e.to_string();
        let msg = if msg.starts_with("invalid value") { msg } else { format!("invalid value {shown:?} ({msg})") };
        Error::Param { estimator: owner.to_string(), key: key.to_string(), msg }
    })?;
    Ok(())
}

/// The current value of `key`, or the unknown-parameter error listing the valid ones.
fn current<T: serde::Serialize>(target: &T, owner: &str, key: &str) -> Result<Value> {
    let fields: Vec<(String, Value)> = fields(target).into_iter().filter(|(k, _)| k != "estimator").collect();
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).ok_or_else(|| Error::Param {
        estimator: owner.to_string(),
        key: key.to_string(),
        msg: format!(
            "unknown parameter; valid parameters: {}",
            fields.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// The serialised fields of `target`, in declaration order.
fn fields<T: serde::Serialize>(target: &T) -> Vec<(String, Value)> {
    ordered_object(&serde_json::to_string(target).unwrap_or_default())
}

/// `text` as a JSON value of the kind `current` is: a bool, a number, or text.
fn from_text(owner: &str, key: &str, text: &str, current: &Value) -> Result<Value> {
    match current {
        Value::Bool(_) => {
            parse_bool(text).map(Value::Bool).ok_or_else(|| Error::param(owner, key, text, "true, false"))
        }
        Value::Number(n) if n.is_u64() => {
            text.parse::<u64>().map(Value::from).map_err(|_| Error::param(owner, key, text, "a whole number >= 0"))
        }
        Value::Number(_) => match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::from(x)),
            _ => Err(Error::param(owner, key, text, "a finite number")),
        },
        _ => Ok(Value::String(text.to_string())),
    }
}

/// `true` or `false`, in any case (Python writes `True`).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A JSON object's fields in the order of the text.
fn ordered_object(text: &str) -> Vec<(String, Value)> {
    struct Fields(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Fields {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Fields, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Fields;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Fields, A::Error> {
                    let mut fields = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Value>()? {
                        fields.push(entry);
                    }
                    Ok(Fields(fields))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Fields>(text).map(|f| f.0).unwrap_or_default()
}

/// The text of `ibma estimators [NAME]`: each estimator with its own parameters and defaults,
/// the parameters every estimator shares once at the end.
///
/// # Errors
/// An unknown estimator name.
pub fn describe(name: Option<&str>) -> Result<String> {
    // Parameters several estimators share, each listed once after the estimators.
    const SHARED: [(&str, &[&str]); 3] = [
        ("Every estimator also takes", &["aggressive_mask", "derive", "resample", "groupby"]),
        ("Every estimator with a design matrix also takes", &["moderators", "contrast"]),
        ("The regression estimators also take", &["weight_scheme", "rho"]),
    ];
    let shared = |key: &str| SHARED.iter().any(|(_, keys)| keys.contains(&key));
    let line = |key: &str, value: &Value| {
        let (choices, help) = HELP.iter().find(|h| h.0 == key).map_or(("", ""), |h| (h.1, h.2));
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        let value = if value.is_empty() { "-".to_string() } else { value };
        format!("    {key:<24} = {value:<14} [{choices}] {help}\n")
    };
    let wanted: Vec<&(&str, &str, &str)> = match name {
        Some(n) => {
            let est = AnyEstimator::by_name(n)?;
            CATALOGUE.iter().filter(|c| c.0 == est.name()).collect()
        }
        None => CATALOGUE.iter().collect(),
    };
    let mut s = String::new();
    let mut taken = Vec::new();
    for (command, class, reads) in wanted {
        let est = AnyEstimator::by_name(command)?;
        s += &format!("{command} (NiMARE {class}); needs {reads}\n");
        let est_params = params(&est);
        for (key, value) in est_params.iter().filter(|(k, _)| !shared(k)) {
            s += &line(key, value);
        }
        taken.extend(est_params.into_iter().filter(|(k, _)| shared(k)));
    }
    for (heading, keys) in SHARED {
        let group: Vec<_> = keys.iter().filter_map(|key| taken.iter().find(|(k, _)| k == key)).collect();
        if !group.is_empty() {
            s += &format!("\n{heading}:\n");
            for (key, value) in group {
                s += &line(key, value);
            }
        }
    }
    s += "\n";
    s += DEPENDENCE_HELP;
    s += "\nWith --correct montecarlo, cluster-size, cluster-mass or tfce (set by --n-iters, --seed, --set):\n";
    let flips = fields(&crate::options::Flips::default());
    let clusters = fields(&crate::options::ClusterOptions::default());
    for (key, value) in flips.iter().chain(&clusters) {
        s += &line(key, value);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ibma estimators` explains every parameter: a new field without its HELP row fails here.
    #[test]
    fn every_parameter_has_a_help_row() {
        let flips = fields(&crate::options::Flips::default());
        let clusters = fields(&crate::options::ClusterOptions::default());
        let mut keys: Vec<String> = flips.into_iter().chain(clusters).map(|(k, _)| k).collect();
        for (command, _, _) in CATALOGUE {
            keys.extend(params(&AnyEstimator::by_name(command).unwrap()).into_iter().map(|(k, _)| k));
        }
        let missing: Vec<&String> = keys.iter().filter(|k| !HELP.iter().any(|h| h.0 == k.as_str())).collect();
        assert!(missing.is_empty(), "parameters without a HELP row: {missing:?}");
    }
}
