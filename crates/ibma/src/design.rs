//! Designs from study covariates: `--set moderators=…`, `--set groups=…`, `--set contrast=…`
//! (docs/dataset-covariates.md). The default is the one-sample design: X = 1, c = (1).

use crate::{Dataset, Error, Result};
use ibma_io::Covariate;

/// What the user asked for, before it meets the studies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesignSpec {
    /// Covariates added as columns after the intercept.
    pub moderators: Vec<String>,
    /// A label covariate whose levels become groups (one column and one variance each).
    pub groups: Option<String>,
    /// Contrast rows over the design columns (None: the default contrast).
    pub contrast: Option<Vec<Vec<f64>>>,
}

/// A design matched to the studies of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// K × P, row-major, in the order of the fit's studies.
    pub x: Vec<f64>,
    /// Column names.
    pub columns: Vec<String>,
    /// Contrast rows (one row: t; several: F).
    pub contrast: Vec<Vec<f64>>,
    /// Variance group of each study (0-based), when groups were asked for.
    pub groups: Option<Vec<usize>>,
}

impl DesignSpec {
    /// True for the plain one-sample design.
    pub fn is_one_sample(&self) -> bool {
        self.moderators.is_empty() && self.groups.is_none() && self.contrast.is_none()
    }

    /// Parameters as `get_params` shows them.
    pub fn describe(&self) -> (String, String, String) {
        let contrast = self.contrast.as_ref().map_or_else(String::new, |rows| {
            rows.iter()
                .map(|r| r.iter().map(f64::to_string).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        });
        (self.moderators.join(","), self.groups.clone().unwrap_or_default(), contrast)
    }

    /// Set `moderators`, `groups` or `contrast`; `Ok(false)` for any other key.
    pub fn set(&mut self, estimator: &str, key: &str, value: &str) -> Result<bool> {
        match key {
            "moderators" => {
                self.moderators = value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
            }
            "groups" => self.groups = Some(value.trim().to_string()).filter(|s| !s.is_empty()),
            "contrast" => self.contrast = Some(parse_contrast(estimator, value)?).filter(|c| !c.is_empty()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Build the design for the studies `ids` of `dataset`.
    pub fn build(&self, estimator: &str, dataset: &Dataset, ids: &[String]) -> Result<Design> {
        let studies: Vec<&ibma_io::Study> =
            ids.iter().filter_map(|id| dataset.manifest.studies.iter().find(|s| &s.id == id)).collect();
        let covariate = |s: &ibma_io::Study, name: &str| -> Result<Covariate> {
            s.covariates.get(name).cloned().ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: study {}: covariate {name:?} (needed by {estimator}'s design) is missing",
                    dataset.manifest.path.display(),
                    s.id
                ))
            })
        };
        let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
        let mut groups = None;
        match &self.groups {
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
                groups = Some(labels.iter().map(|l| levels.iter().position(|x| x == l).unwrap_or(0)).collect());
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
            None => default_contrast(p, groups.as_ref().map(|g: &Vec<usize>| g.iter().max().map_or(1, |m| m + 1))),
        };
        let k = studies.len();
        let x = (0..k).flat_map(|i| columns.iter().map(move |c| c.1[i])).collect();
        Ok(Design { x, columns: columns.into_iter().map(|c| c.0).collect(), contrast, groups })
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

/// `"0 1"`, `"0,1"` or `"1 0; 0 1"` (rows separated by `;`).
fn parse_contrast(estimator: &str, value: &str) -> Result<Vec<Vec<f64>>> {
    value
        .split(';')
        .filter(|row| !row.trim().is_empty())
        .map(|row| {
            row.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(|w| w.parse::<f64>().ok().filter(|x| x.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    crate::estimator::bad_choice(
                        estimator,
                        "contrast",
                        value,
                        "numbers, rows separated by ';', e.g. \"0 1\"",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrasts_parse_and_default() {
        assert_eq!(parse_contrast("x", "0 1; 1,-1").unwrap(), vec![vec![0.0, 1.0], vec![1.0, -1.0]]);
        assert!(parse_contrast("x", "0 a").is_err());
        assert_eq!(default_contrast(3, None), vec![vec![1.0, 0.0, 0.0]]);
        assert_eq!(default_contrast(3, Some(3)), vec![vec![1.0, -1.0, 0.0], vec![1.0, 0.0, -1.0]]);
    }
}
