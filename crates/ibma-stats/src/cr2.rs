//! Cluster-robust (CR2) inference on an intercept, with Satterthwaite degrees of freedom
//! (Bell & McCaffrey 2002; Hedges, Tipton & Johnson 2010; Tipton 2015; `docs/dependence.md`).
//!
//! With an intercept-only model every group enters only through its total working weight
//! q_g = Σ_{i∈g} w_i and its weighted mean x_g = Σ w_i y_i / q_g, whatever the weights inside
//! the group: the CR2 adjustment of a group is a rank-one correction along its (whitened)
//! column of ones. So PyMARE 0.0.13's `cluster_robust_cov` and `satterthwaite_dof` reduce to the
//! group-level sums below, which serve the regression estimators with groups, weighted
//! PermutedOLS (one row per group) and its sign-flip null.

/// PyMARE's floor on 1 − h_g: a group whose leverage reaches 1 has no residual left, and its
/// CR2 adjustment is floored rather than infinite (PyMARE then warns of full leverage).
pub const MIN_LEVERAGE_COMPLEMENT: f64 = 1e-10;

/// Below this many groups PyMARE warns that robust variance estimation is anti-conservative
/// (`MIN_CLUSTERS_FOR_RVE`: "at or below about 10").
pub const MAX_FEW_GROUPS: usize = 10;

/// Below these degrees of freedom the Satterthwaite approximation is outside the range where
/// it is known to control the type I error (Tipton 2015; PyMARE `MIN_DOF_FOR_SATTERTHWAITE`).
pub const MIN_SATTERTHWAITE_DOF: f64 = 4.0;

/// The per-group constants of the intercept-only CR2 statistic for fixed weights q_g.
#[derive(Clone, Debug, PartialEq)]
pub struct Cr2Weights {
    /// q_g.
    pub q: Vec<f64>,
    /// q_g² / c_g with c_g = max(1 − h_g, [`MIN_LEVERAGE_COMPLEMENT`]), h_g = q_g/W: the meat's
    /// weights.
    pub meat: Vec<f64>,
    /// W = Σ q_g.
    pub total: f64,
    /// Satterthwaite degrees of freedom, floored at 1.
    pub dof: f64,
    /// Some group's leverage complement was floored (PyMARE's "full leverage" warning).
    pub full_leverage: bool,
}

impl Cr2Weights {
    /// Constants for group weights `q` (positive).
    ///
    /// With a_g = h_g/√c_g the Satterthwaite matrix is S = [diag(h/c) − a aᵀ]/W, so
    /// ν = (tr S)²/tr S² = (Σ h(1 − h)/c)² / [Σ h²(1 − 2h)/c² + (Σ h²/c)²], non-finite → 1,
    /// floored at 1 (PyMARE `satterthwaite_dof` for X = 1). It is m − 1 for equal weights.
    pub fn new(q: &[f64]) -> Cr2Weights {
        let total: f64 = q.iter().sum();
        let (mut tr, mut a, mut b) = (0.0, 0.0, 0.0);
        let mut full_leverage = false;
        let mut meat = Vec::with_capacity(q.len());
        for &qg in q {
            let h = qg / total;
            let complement = 1.0 - h;
            full_leverage |= complement < MIN_LEVERAGE_COMPLEMENT;
            let c = complement.max(MIN_LEVERAGE_COMPLEMENT);
            tr += h * complement / c;
            a += h * h * (1.0 - 2.0 * h) / (c * c);
            b += h * h / c;
            meat.push(qg * qg / c);
        }
        let dof = tr * tr / (a + b * b);
        let dof = if dof.is_finite() { dof.max(1.0) } else { 1.0 };
        Cr2Weights { q: q.to_vec(), meat, total, dof, full_leverage }
    }

    /// The estimate μ = Σ q x / W, its CR2 standard error √(Σ q²(x − μ)²/c)/W and
    /// t = μW/√meat (NaN where the meat is not positive) for group values `x`.
    #[track_caller]
    pub fn fit(&self, x: &[f64]) -> Cr2Fit {
        assert_eq!(x.len(), self.q.len(), "one value per group");
        let mu = x.iter().zip(&self.q).map(|(x, q)| q * x).sum::<f64>() / self.total;
        let meat: f64 = x.iter().zip(&self.meat).map(|(x, g)| g * (x - mu).powi(2)).sum();
        let t = if meat > 0.0 { mu * self.total / meat.sqrt() } else { f64::NAN };
        Cr2Fit { est: mu, se: meat.sqrt() / self.total, t, dof: self.dof }
    }
}

/// One intercept-only CR2 fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cr2Fit {
    /// Weighted mean of the group values.
    pub est: f64,
    /// Its CR2 standard error.
    pub se: f64,
    /// est / se, NaN where se is 0.
    pub t: f64,
    /// Satterthwaite degrees of freedom.
    pub dof: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol;

    #[test]
    fn equal_weights_give_the_one_sample_t() {
        let x = [1.0, 2.0, 3.0, 6.0];
        let fit = Cr2Weights::new(&[2.0; 4]).fit(&x);
        // mean 3, sd sqrt(14/3): HC2 with equal weights is the ordinary one-sample t.
        assert!(tol::close(fit.est, 3.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(fit.t, 3.0 / ((14.0f64 / 3.0).sqrt() / 2.0), tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(fit.dof, 3.0, tol::SUMMATION_ORDER_RTOL, 0.0));
    }

    #[test]
    fn dominant_group_floors_dof_and_flags_full_leverage() {
        let w = Cr2Weights::new(&[1.0, 1e12]);
        assert!(w.full_leverage);
        assert!(w.dof >= 1.0);
        assert!(!Cr2Weights::new(&[1.0, 2.0, 3.0]).full_leverage);
    }
}
