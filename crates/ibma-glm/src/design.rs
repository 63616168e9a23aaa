//! Design matrices, variance groups and contrasts of the GLM estimators (`docs/flame1.md`, The model).
//!
//! A [`Design`] covers all K studies of a dataset; each voxel later uses only its valid rows.
//! Variance groups must be separable: every design column is non-zero only in the rows of one
//! group, so XᵀWX is block-diagonal by group and each group's σ² can be fitted on its own.

use crate::linalg::MAX_P;
use std::fmt;

/// Why a design or contrast was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum DesignError {
    /// No studies or no columns.
    Empty,
    /// More columns than [`MAX_P`] (or more variance groups than [`MAX_P`]).
    TooWide(usize),
    /// Column `.0` has `.1` rows instead of the number of studies.
    ColumnLength(usize, usize),
    /// A design or contrast entry is NaN or infinite.
    NonFinite,
    /// Column `.0` is zero in every study.
    ZeroColumn(usize),
    /// The group labels do not number the studies, or label `.0` (< the largest) has no study.
    Groups(usize),
    /// A column is non-zero in rows of two variance groups.
    Nonseparable,
    /// Contrast rows have `.0` entries, the design `.1` columns.
    ContrastWidth(usize, usize),
    /// A contrast row is all zero, or there are more rows than columns.
    ContrastRows,
}

impl fmt::Display for DesignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesignError::Empty => write!(f, "empty design matrix"),
            DesignError::TooWide(n) => {
                write!(f, "{n} design columns or variance groups; at most {MAX_P} are supported")
            }
            DesignError::ColumnLength(j, n) => write!(f, "design column {j} has {n} rows, not one per study"),
            DesignError::NonFinite => write!(f, "design or contrast entry is not finite"),
            DesignError::ZeroColumn(j) => write!(f, "design column {j} is zero in every study"),
            DesignError::Groups(g) => write!(f, "variance group labels must be 0..G with every group used (group {g})"),
            DesignError::Nonseparable => write!(f, "nonseparable design matrix and variance groups"),
            DesignError::ContrastWidth(c, p) => write!(f, "contrast has {c} entries but the design has {p} columns"),
            DesignError::ContrastRows => write!(f, "contrast rows must be non-zero and at most as many as columns"),
        }
    }
}

impl std::error::Error for DesignError {}

/// K × P design matrix over all studies, with each study's variance group (0..G).
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    k: usize,
    p: usize,
    /// Row-major K × P.
    x: Vec<f64>,
    groups: Vec<usize>,
    n_groups: usize,
    /// The group whose rows hold column j.
    column_group: Vec<usize>,
}

impl Design {
    /// The one-sample design: a column of ones, one variance group.
    pub fn intercept(k: usize) -> Design {
        Design { k, p: 1, x: vec![1.0; k], groups: vec![0; k], n_groups: 1, column_group: vec![0] }
    }

    /// A design from its columns (each one value per study) and optional per-study variance
    /// group labels 0..G (default: one group). Rejects empty, too wide, non-finite or all-zero
    /// columns, unused group labels and non-separable groups.
    pub fn new(columns: Vec<Vec<f64>>, groups: Option<Vec<usize>>) -> Result<Design, DesignError> {
        let p = columns.len();
        let k = columns.first().map_or(0, Vec::len);
        if p == 0 || k == 0 {
            return Err(DesignError::Empty);
        }
        if p > MAX_P {
            return Err(DesignError::TooWide(p));
        }
        if let Some(j) = columns.iter().position(|c| c.len() != k) {
            return Err(DesignError::ColumnLength(j, columns[j].len()));
        }
        if columns.iter().flatten().any(|v| !v.is_finite()) {
            return Err(DesignError::NonFinite);
        }
        let groups = groups.unwrap_or_else(|| vec![0; k]);
        if groups.len() != k {
            return Err(DesignError::Groups(groups.len()));
        }
        let n_groups = groups.iter().max().map_or(0, |&g| g + 1);
        if n_groups > MAX_P {
            return Err(DesignError::TooWide(n_groups));
        }
        if let Some(g) = (0..n_groups).find(|g| !groups.contains(g)) {
            return Err(DesignError::Groups(g));
        }
        let mut column_group = Vec::with_capacity(p);
        for (j, col) in columns.iter().enumerate() {
            let mut owner = None;
            for (&v, &g) in col.iter().zip(&groups) {
                if v != 0.0 {
                    match owner {
                        None => owner = Some(g),
                        Some(o) if o != g => return Err(DesignError::Nonseparable),
                        Some(_) => {}
                    }
                }
            }
            column_group.push(owner.ok_or(DesignError::ZeroColumn(j))?);
        }
        let x = (0..k).flat_map(|i| columns.iter().map(move |c| c[i])).collect();
        Ok(Design { k, p, x, groups, n_groups, column_group })
    }

    /// Number of studies K.
    pub fn n_studies(&self) -> usize {
        self.k
    }

    /// Number of columns P.
    pub fn n_columns(&self) -> usize {
        self.p
    }

    /// Number of variance groups G.
    pub fn n_groups(&self) -> usize {
        self.n_groups
    }

    /// Study `k`'s row of the design.
    pub fn row(&self, k: usize) -> &[f64] {
        &self.x[k * self.p..(k + 1) * self.p]
    }

    /// Study `k`'s variance group.
    pub fn group(&self, k: usize) -> usize {
        self.groups[k]
    }

    /// The variance group whose rows hold column `j`.
    pub fn column_group(&self, j: usize) -> usize {
        self.column_group[j]
    }
}

/// A t contrast (one row) or an F contrast (several rows, or one row via [`Contrast::f`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Contrast {
    p: usize,
    /// Row-major q × P.
    c: Vec<f64>,
    f_test: bool,
}

impl Contrast {
    /// One row is a t contrast, several rows an F contrast.
    pub fn new(rows: Vec<Vec<f64>>) -> Result<Contrast, DesignError> {
        let f_test = rows.len() > 1;
        Contrast::build(rows, f_test)
    }

    /// An F contrast, also for a single row (then F = t²).
    pub fn f(rows: Vec<Vec<f64>>) -> Result<Contrast, DesignError> {
        Contrast::build(rows, true)
    }

    /// The t contrast selecting coefficient `j` of `p`.
    #[track_caller]
    pub fn unit(p: usize, j: usize) -> Contrast {
        assert!(j < p && p <= MAX_P, "coefficient {j} of {p}");
        let mut c = vec![0.0; p];
        c[j] = 1.0;
        Contrast { p, c, f_test: false }
    }

    fn build(rows: Vec<Vec<f64>>, f_test: bool) -> Result<Contrast, DesignError> {
        let p = rows.first().map_or(0, Vec::len);
        if p == 0 {
            return Err(DesignError::Empty);
        }
        if p > MAX_P {
            return Err(DesignError::TooWide(p));
        }
        if let Some(r) = rows.iter().find(|r| r.len() != p) {
            return Err(DesignError::ContrastWidth(r.len(), p));
        }
        if rows.iter().flatten().any(|v| !v.is_finite()) {
            return Err(DesignError::NonFinite);
        }
        if rows.len() > p || rows.iter().any(|r| r.iter().all(|&v| v == 0.0)) {
            return Err(DesignError::ContrastRows);
        }
        Ok(Contrast { p, c: rows.concat(), f_test })
    }

    /// Number of rows q.
    pub fn n_rows(&self) -> usize {
        self.c.len() / self.p
    }

    /// Number of columns (must equal the design's).
    pub fn n_columns(&self) -> usize {
        self.p
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.c[i * self.p..(i + 1) * self.p]
    }

    /// Whether this is tested with F (else t).
    pub fn is_f(&self) -> bool {
        self.f_test
    }
}
