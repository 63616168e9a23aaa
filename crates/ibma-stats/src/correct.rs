//! Multiple-comparison corrections of a map of log p-values (NiMARE 0.22.1 `nimare/correct.py`).
//!
//! All work is done on ln p so that nothing underflows; NaN entries are excluded from the
//! family and stay NaN.

/// A voxelwise correction of a p map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    /// Benjamini–Hochberg FDR (`FDRCorrector(method="indep")`).
    FdrIndep,
    /// Benjamini–Yekutieli FDR (`FDRCorrector(method="negcorr")`).
    FdrNegcorr,
    /// Bonferroni FWE (`FWECorrector(method="bonferroni")`).
    Bonferroni,
}

impl Correction {
    /// NiMARE's map-name suffix, e.g. `_corr-FDR_method-indep`.
    pub fn suffix(self) -> &'static str {
        match self {
            Correction::FdrIndep => "_corr-FDR_method-indep",
            Correction::FdrNegcorr => "_corr-FDR_method-negcorr",
            Correction::Bonferroni => "_corr-FWE_method-bonferroni",
        }
    }

    /// Corrected ln p for every entry of `nlogp` (NaN in, NaN out; n = number of non-NaN).
    pub fn apply(self, nlogp: &[f64]) -> Vec<f64> {
        match self {
            Correction::Bonferroni => bonferroni(nlogp),
            Correction::FdrIndep => fdr(nlogp, false),
            Correction::FdrNegcorr => fdr(nlogp, true),
        }
    }
}

fn family_size(nlogp: &[f64]) -> usize {
    nlogp.iter().filter(|x| !x.is_nan()).count()
}

/// ln p_c = min(ln p + ln n, 0).
pub fn bonferroni(nlogp: &[f64]) -> Vec<f64> {
    let ln_n = (family_size(nlogp) as f64).ln();
    nlogp.iter().map(|&l| if l.is_nan() { l } else { (l + ln_n).min(0.0) }).collect()
}

/// Benjamini–Hochberg (`negcorr = false`) or Benjamini–Yekutieli (`negcorr = true`) in log space:
/// a_i = ln p_(i) − ln(i/n) [+ ln Σ 1/j], reverse cumulative minimum, capped at 0.
pub fn fdr(nlogp: &[f64], negcorr: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..nlogp.len()).filter(|&i| !nlogp[i].is_nan()).collect();
    order.sort_by(|&a, &b| nlogp[a].total_cmp(&nlogp[b]));
    let n = order.len();
    let ln_n = (n as f64).ln();
    let by = if negcorr { (1..=n).map(|j| 1.0 / j as f64).sum::<f64>().ln() } else { 0.0 };
    let mut out = vec![f64::NAN; nlogp.len()];
    let mut running = 0.0_f64;
    for (rank0, &idx) in order.iter().enumerate().rev() {
        let rank = (rank0 + 1) as f64;
        let a = nlogp[idx] - rank.ln() + ln_n + by;
        running = running.min(a);
        out[idx] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol;

    /// Slow, direct BH on plain p values: p_c(i) = min_{j ≥ i} p_(j)·n/j, capped at 1.
    fn naive_bh(p: &[f64]) -> Vec<f64> {
        let n = p.len();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
        let mut out = vec![0.0; n];
        for (r, &i) in idx.iter().enumerate() {
            let m = idx[r..]
                .iter()
                .enumerate()
                .map(|(k, &j)| p[j] * n as f64 / (r + k + 1) as f64)
                .fold(f64::INFINITY, f64::min);
            out[i] = m.min(1.0);
        }
        out
    }

    #[test]
    fn fdr_matches_direct_formula() {
        let p = [0.01, 0.04, 0.03, 0.5, 0.001, 0.2, 0.03];
        let nlogp: Vec<f64> = p.iter().map(|x: &f64| x.ln()).collect();
        let got = fdr(&nlogp, false);
        for (g, e) in got.iter().zip(naive_bh(&p)) {
            assert!(tol::close(g.exp(), e, 1e-14, 0.0), "{} vs {e}", g.exp());
        }
    }

    #[test]
    fn nan_is_excluded_from_the_family() {
        let got = bonferroni(&[(0.01f64).ln(), f64::NAN, (0.5f64).ln()]);
        assert!(got[1].is_nan());
        assert!(tol::close(got[0].exp(), 0.02, 1e-14, 0.0));
        assert!(tol::close(got[2], 0.0, 0.0, 0.0));
    }

    #[test]
    fn deep_tail_does_not_underflow() {
        let got = fdr(&[-2000.0, -1.0], false);
        assert!(tol::close(got[0], -2000.0 + 2f64.ln(), 1e-15, 0.0));
    }
}
