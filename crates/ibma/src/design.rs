//! Designs from study covariates: `--set moderators=…`, `--set groups=…`, `--set contrast=…`
//! (docs/dataset-covariates.md). The default is the one-sample design: X = 1, c = (1).

use crate::inputs::StudyInfo;
use crate::{Error, Result};
use ibma_io::Covariate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the user asked for, before it meets the studies: moderators and a contrast (MFX_GLM
/// also takes variance `groups`, a field of its own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesignSpec {
    /// Covariates added as columns after the intercept (written `age,site`).
    #[serde(with = "comma_list")]
    pub moderators: Vec<String>,
    /// Contrast rows over the design columns (None: the default contrast; written `0 1; 1 0`).
    #[serde(with = "contrast_text")]
    pub contrast: Option<Vec<Vec<f64>>>,
}

/// A design matched to the studies of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// The K × P matrix in the order of the fit's studies, with each study's variance group
    /// (one group unless `groups` were asked for).
    pub matrix: ibma_glm::design::Design,
    /// Column names.
    pub columns: Vec<String>,
    /// Contrast rows (one row: t; several: F).
    pub contrast: Vec<Vec<f64>>,
}

impl DesignSpec {
    /// True for the plain one-sample design (with no `groups`).
    pub fn is_one_sample(&self) -> bool {
        self.moderators.is_empty() && self.contrast.is_none()
    }

    /// Build the design for `studies`, with variance groups from the label covariate `groups`.
    ///
    /// # Errors
    /// A covariate a study lacks, groups with one level, a contrast of the wrong width, a design
    /// [`ibma_glm::design::Design::new`] rejects (an all-zero or non-finite column, too many
    /// columns).
    pub fn build(&self, estimator: &str, groups: Option<&str>, studies: &[StudyInfo]) -> Result<Design> {
        let covariate = |s: &StudyInfo, name: &str| -> Result<Covariate> {
            s.covariates.get(name).cloned().ok_or_else(|| {
                Error::Invalid(format!(
                    "study {}: covariate {name:?} (needed by {estimator}'s design) is missing",
                    s.id
                ))
            })
        };
        let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
        let mut group_of = None;
        match groups {
            None => columns.push(("intercept".into(), vec![1.0; studies.len()])),
            Some(g) => {
                let labels = studies.iter().map(|s| covariate(s, g).map(|c| label(&c))).collect::<Result<Vec<_>>>()?;
                let mut levels: Vec<String> = labels.clone();
                levels.sort();
                levels.dedup();
                if levels.len() < 2 {
                    return Err(Error::Invalid(format!(
                        "{estimator}: groups={g} has only one level among the studies"
                    )));
                }
                for level in &levels {
                    columns.push((
                        format!("{g}={level}"),
                        labels.iter().map(|l| f64::from(u8::from(l == level))).collect(),
                    ));
                }
                group_of = Some(labels.iter().map(|l| levels.iter().position(|x| x == l).unwrap_or(0)).collect());
            }
        }
        for m in &self.moderators {
            let values = studies.iter().map(|s| covariate(s, m)).collect::<Result<Vec<_>>>()?;
            if values.iter().all(|v| matches!(v, Covariate::Number(_))) {
                columns.push((
                    m.clone(),
                    values.iter().map(|v| if let Covariate::Number(x) = v { *x } else { 0.0 }).collect(),
                ));
            } else {
                // A label moderator: one indicator per level but the first (the reference).
                let labels: Vec<String> = values.iter().map(label).collect();
                let mut levels = labels.clone();
                levels.sort();
                levels.dedup();
                for level in levels.iter().skip(1) {
                    columns.push((
                        format!("{m}={level}"),
                        labels.iter().map(|l| f64::from(u8::from(l == level))).collect(),
                    ));
                }
            }
        }
        let p = columns.len();
        let contrast = match &self.contrast {
            Some(rows) => {
                if let Some(bad) = rows.iter().find(|r| r.len() != p) {
                    return Err(Error::Invalid(format!(
                        "{estimator}: contrast row has {} weights but the design has {p} columns ({})",
                        bad.len(),
                        columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                rows.clone()
            }
            None => default_contrast(p, group_of.as_ref().map(|g: &Vec<usize>| g.iter().max().map_or(1, |m| m + 1))),
        };
        let (names, columns): (Vec<String>, Vec<Vec<f64>>) = columns.into_iter().unzip();
        let matrix = ibma_glm::design::Design::new(columns, group_of)
            .map_err(|e| Error::Invalid(format!("{estimator}: {e}")))?;
        Ok(Design { matrix, columns: names, contrast })
    }
}

fn label(c: &Covariate) -> String {
    match c {
        Covariate::Number(x) => x.to_string(),
        Covariate::Label(s) => s.clone(),
    }
}

/// The intercept (or, with G groups, group 1 − group 2 for G = 2 and all differences from
/// group 1 for G > 2).
fn default_contrast(p: usize, n_groups: Option<usize>) -> Vec<Vec<f64>> {
    let unit = |j: usize| (0..p).map(|i| f64::from(u8::from(i == j))).collect::<Vec<f64>>();
    match n_groups {
        None => vec![unit(0)],
        Some(g) => (1..g).map(|j| unit(0).iter().zip(unit(j)).map(|(a, b)| a - b).collect()).collect(),
    }
}

/// `"0 1"`, `"0,1"` or `"1 0; 0 1"` (rows separated by `;`); None if a weight is not a number.
fn parse_contrast(value: &str) -> Option<Vec<Vec<f64>>> {
    value
        .split(';')
        .filter(|row| !row.trim().is_empty())
        .map(|row| {
            row.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(|w| w.parse::<f64>().ok().filter(|x| x.is_finite()))
                .collect::<Option<Vec<f64>>>()
        })
        .collect()
}

/// `moderators` written as `age,site`.
mod comma_list {
    use super::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(names: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&names.join(","))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
    }
}

/// `contrast` written as `1 0; 0 1` (empty: the default).
mod contrast_text {
    use super::{parse_contrast, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(rows: &Option<Vec<Vec<f64>>>, s: S) -> Result<S::Ok, S::Error> {
        let text = rows.as_ref().map_or_else(String::new, |rows| {
            rows.iter()
                .map(|r| r.iter().map(f64::to_string).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        });
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Vec<f64>>>, D::Error> {
        let text = String::deserialize(d)?;
        let rows = parse_contrast(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid value {text:?}; valid values: numbers, rows separated by ';', e.g. \"0 1\""
            ))
        })?;
        Ok(Some(rows).filter(|r| !r.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrasts_parse_and_default() {
        assert_eq!(parse_contrast("0 1; 1,-1").unwrap(), vec![vec![0.0, 1.0], vec![1.0, -1.0]]);
        assert!(parse_contrast("0 a").is_none());
        assert_eq!(default_contrast(3, None), vec![vec![1.0, 0.0, 0.0]]);
        assert_eq!(default_contrast(3, Some(3)), vec![vec![1.0, -1.0, 0.0], vec![1.0, 0.0, -1.0]]);
    }

    #[test]
    fn designs_hold_the_glm_matrix_and_its_checks() {
        let study = |id: &str, age: f64, site: &str| StudyInfo {
            id: id.into(),
            study: id.into(),
            group: id.into(),
            sample_size: None,
            covariates: [("age".into(), Covariate::Number(age)), ("site".into(), Covariate::Label(site.into()))]
                .into_iter()
                .collect(),
        };
        let studies = [study("a", 30.0, "x"), study("b", 40.0, "y"), study("c", 0.0, "y")];
        let spec = DesignSpec { moderators: vec!["age".into(), "site".into()], contrast: None };
        let d = spec.build("dersimonian-laird", None, &studies).unwrap();
        assert_eq!(d.columns, ["intercept", "age", "site=y"]);
        assert_eq!((d.matrix.n_studies(), d.matrix.n_columns(), d.matrix.n_groups()), (3, 3, 1));
        assert_eq!(d.matrix.row(1), [1.0, 40.0, 1.0]);
        let grouped = DesignSpec::default().build("mfx-glm", Some("site"), &studies).unwrap();
        assert_eq!((grouped.matrix.group(0), grouped.matrix.group(2)), (0, 1));
        // A covariate that is zero in every study is refused by name, not fitted as all-NaN maps.
        let zeros = [study("a", 0.0, "x"), study("b", 0.0, "y")];
        let err = DesignSpec { moderators: vec!["age".into()], contrast: None }
            .build("dersimonian-laird", None, &zeros)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dersimonian-laird: design column 1 is zero in every study"), "{err}");
    }
}
