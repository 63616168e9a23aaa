//! The null correlation between input maps, which Brown's Fisher and the group-level Stouffer
//! need to account for dependent images (NiMARE 0.22.1 `_null_correlation` with PyMARE 0.0.13's
//! `undo_centering_shrinkage`; `docs/dependence.md`).
//!
//! Every map carries the shared activation, so the raw maps correlate even for independent
//! studies. The shared signal is removed first: at each voxel the mean over the images valid
//! there is subtracted. Each pair is then correlated over the voxels where both images are valid
//! (pairwise, because images need not cover the same voxels), and the shrinkage that centering
//! induces is inverted within each group.

use crate::bags::Bag;
use crate::groups::Grouping;
use crate::StudyVoxels;
use rayon::prelude::*;

/// A symmetric K × K correlation matrix, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrMatrix {
    n: usize,
    values: Vec<f64>,
}

impl CorrMatrix {
    /// Wrap row-major values of an n × n matrix.
    #[track_caller]
    pub fn new(n: usize, values: Vec<f64>) -> CorrMatrix {
        assert_eq!(values.len(), n * n, "a correlation matrix needs n * n values");
        CorrMatrix { n, values }
    }

    /// Its size n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Entry (i, j).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.n + j]
    }

    /// Row-major values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Mean of the block over `rows` × `rows`, all n² entries (diagonal included): the variance
    /// of the mean of those images' z under the null (PyMARE's group variance).
    pub fn block_mean(&self, rows: &[usize]) -> f64 {
        let sum: f64 = rows.iter().flat_map(|&i| rows.iter().map(move |&j| self.get(i, j))).sum();
        sum / (rows.len() * rows.len()) as f64
    }
}

/// NiMARE's usable value: finite and not exactly 0 (the placeholder of uncovered voxels).
fn usable(x: f64) -> bool {
    x.is_finite() && x != 0.0
}

/// The estimated null correlation between the K maps of `maps` (one per image, over the mask
/// voxels; unusable values are NaN, ±∞ or 0), de-shrunk within the groups of `grouping`.
///
/// Per voxel the mean over the images usable there is removed; entry (i, j) is the Pearson
/// correlation of the two residual maps over the voxels where both are usable. A pair with fewer
/// than two such voxels, or with a constant residual there, is 0 (never read: a model only holds
/// images usable at the same voxels). Entries are clipped to [−1, 1] before
/// [`undo_centering_shrinkage`]. None when no pair is estimable and some value is unusable
/// (NiMARE then warns that the correlation cannot be estimated); when every value is usable,
/// NiMARE takes PyMARE's `estimate_null_correlation`, the same numbers, which never gives None.
#[track_caller]
pub fn null_correlation(maps: &StudyVoxels, grouping: &Grouping) -> Option<CorrMatrix> {
    let (k, v) = (maps.n_studies(), maps.n_voxels());
    assert_eq!(grouping.n_images(), k, "one group code per map");
    // Image-major residuals (0 where unusable) and usability.
    let mut resid = vec![0.0; k * v];
    let mut valid = vec![false; k * v];
    let mut all_valid = true;
    for (vox, xs) in maps.voxels().enumerate() {
        let (mut total, mut count) = (0.0, 0usize);
        for &x in xs.iter().filter(|&&x| usable(x)) {
            total += x;
            count += 1;
        }
        all_valid &= count == k;
        let mean = if count > 0 { total / count as f64 } else { 0.0 };
        for (i, &x) in xs.iter().enumerate() {
            if usable(x) {
                resid[i * v + vox] = x - mean;
                valid[i * v + vox] = true;
            }
        }
    }
    let rows: Vec<Vec<(usize, Option<f64>)>> = (0..k)
        .into_par_iter()
        .map(|i| ((i + 1)..k).map(|j| (j, pair_correlation(&resid, &valid, v, i, j))).collect())
        .collect();
    let mut corr = vec![0.0; k * k];
    let mut estimable = false;
    for (i, row) in rows.into_iter().enumerate() {
        corr[i * k + i] = 1.0;
        for (j, r) in row {
            estimable |= r.is_some();
            let r = r.map_or(0.0, |r| r.clamp(-1.0, 1.0));
            corr[i * k + j] = r;
            corr[j * k + i] = r;
        }
    }
    if !estimable && !all_valid {
        return None;
    }
    Some(undo_centering_shrinkage(&CorrMatrix::new(k, corr), grouping))
}

/// Pearson correlation of residual rows i and j over their common voxels (None if fewer than two
/// or not finite).
fn pair_correlation(resid: &[f64], valid: &[bool], v: usize, i: usize, j: usize) -> Option<f64> {
    let (ri, rj) = (&resid[i * v..(i + 1) * v], &resid[j * v..(j + 1) * v]);
    let (vi, vj) = (&valid[i * v..(i + 1) * v], &valid[j * v..(j + 1) * v]);
    let (mut n, mut si, mut sj, mut sii, mut sjj, mut sij) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0);
    for vox in 0..v {
        if vi[vox] && vj[vox] {
            let (a, b) = (ri[vox], rj[vox]);
            n += 1;
            si += a;
            sj += b;
            sii += a * a;
            sjj += b * b;
            sij += a * b;
        }
    }
    if n < 2 {
        return None;
    }
    let n = n as f64;
    let (mi, mj) = (si / n, sj / n);
    let r = (sij / n - mi * mj) / ((sii / n - mi * mi) * (sjj / n - mj * mj)).sqrt();
    r.is_finite().then_some(r)
}

/// Pearson correlation between the images of `model` over its voxels (NumPy `corrcoef` of the
/// rows, clipped to [−1, 1]; NaN for a constant row), in `model.studies` order.
///
/// `centered`: each voxel's mean over the model's images is removed first, unless all of them
/// are identical (PyMARE's in-model estimate, used when no null correlation is available);
/// otherwise the raw rows (NiMARE's check for mirror-image pairs).
pub fn model_correlation(z: &StudyVoxels, model: &Bag, centered: bool) -> CorrMatrix {
    let (k, v) = (model.studies.len(), model.voxels.len());
    let mut rows = vec![0.0; k * v];
    for (j, &vox) in model.voxels.iter().enumerate() {
        let zs = z.voxel(vox);
        for (i, &img) in model.studies.iter().enumerate() {
            rows[i * v + j] = zs[img];
        }
    }
    let identical = (1..k).all(|i| rows[i * v..(i + 1) * v] == rows[..v]);
    if centered && !identical {
        for j in 0..v {
            let mean = (0..k).map(|i| rows[i * v + j]).sum::<f64>() / k as f64;
            for i in 0..k {
                rows[i * v + j] -= mean;
            }
        }
    }
    let row = |i: usize| &rows[i * v..(i + 1) * v];
    let demeaned: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let m = row(i).iter().sum::<f64>() / v as f64;
            row(i).iter().map(|x| x - m).collect()
        })
        .collect();
    let ss: Vec<f64> = demeaned.iter().map(|d| d.iter().map(|x| x * x).sum()).collect();
    let mut out = vec![0.0; k * k];
    for i in 0..k {
        for j in i..k {
            let cross: f64 = demeaned[i].iter().zip(&demeaned[j]).map(|(a, b)| a * b).sum();
            let r = clamp(cross / (ss[i] * ss[j]).sqrt(), -1.0, 1.0);
            out[i * k + j] = r;
            out[j * k + i] = r;
        }
    }
    CorrMatrix::new(k, out)
}

/// Invert the shrinkage that removing the across-image mean induces (PyMARE 0.0.13
/// `undo_centering_shrinkage`).
///
/// Centering maps y to Cy with C = I − J/K, so for images i ≠ j in a group of size b with
/// exchangeable correlation ρ, and S = Σ_h b_h(b_h − 1)ρ_h over all groups,
/// (CRC)_ij = ρ(1 − 2(b − 1)/K) + c and (CRC)_ii = −2ρ(b − 1)/K + 1 + c, c = −2/K + (K + S)/K²:
/// their ratio is the observed residual correlation r, affine over affine in ρ, so ρ follows in
/// closed form given S. S couples the groups; a fixed-point iteration (at most 50 steps, stop at
/// 1e−12) resolves it, each group's own share kept symbolic. r is clipped to the image of the
/// smallest exchangeable ρ = −1/(b − 1) and ρ to [−1/(b − 1), 1].
///
/// Within a group the block *mean* is inverted and each entry keeps its deviation from the mean
/// (shrunk only as needed to stay within [−1, 1]); entries between groups get the group-agnostic
/// rescaling (r + 1/(K − 1))/(1 + 1/(K − 1)), which maps independent images to 0. The diagonal is
/// 1 and everything is clipped to [−1, 1]. Not necessarily positive semi-definite; the
/// dependence corrections read block sums only.
#[track_caller]
pub fn undo_centering_shrinkage(corr: &CorrMatrix, grouping: &Grouping) -> CorrMatrix {
    let k = corr.n();
    assert_eq!(grouping.n_images(), k, "one group code per image");
    let kf = k as f64;
    let squared = kf * kf;
    let all: Vec<usize> = (0..k).collect();
    let groups = grouping.in_model(&all);
    let members: Vec<Vec<usize>> =
        (0..groups.n_groups()).map(|g| all.iter().copied().filter(|&i| groups.local[i] == g).collect()).collect();
    let pooled: Vec<usize> = (0..members.len()).filter(|&g| members[g].len() > 1).collect();
    // Off-diagonal entries of each pooled block (row-major) and their mean.
    let entries: Vec<Vec<f64>> = members
        .iter()
        .map(|m| m.iter().flat_map(|&i| m.iter().filter(move |&&j| j != i).map(move |&j| corr.get(i, j))).collect())
        .collect();
    let observed: Vec<f64> =
        entries.iter().map(|e| if e.is_empty() { 0.0 } else { e.iter().sum::<f64>() / e.len() as f64 }).collect();
    let solve = |r: f64, g: usize, others: f64| -> f64 {
        let size = members[g].len() as f64;
        let own = size * (size - 1.0) / squared;
        let numerator_slope = 1.0 - 2.0 * (size - 1.0) / kf + own;
        let denominator_slope = -2.0 * (size - 1.0) / kf + own;
        let outside = kf - size;
        let floor = -1.0 / (size - 1.0);
        let offset = -2.0 / kf + (kf + others) / squared;
        // A group spanning every image has no identifiable ρ: the map r(ρ) is flat.
        if (outside * (outside + 1.0) + others) / squared <= 0.0 {
            return clamp(r, -1.0, 1.0);
        }
        let shifted = 1.0 + offset;
        let low = (floor * numerator_slope + offset) / (floor * denominator_slope + shifted);
        let r = clamp(r, low, 1.0);
        let rho = (r * shifted - offset) / (numerator_slope - r * denominator_slope);
        clamp(rho, floor, 1.0)
    };
    let weights: Vec<f64> = members.iter().map(|m| (m.len() * (m.len().max(1) - 1)) as f64).collect();
    let mut contributions = vec![0.0; members.len()];
    for _ in 0..50 {
        let total: f64 = contributions.iter().sum();
        let mut updated = vec![0.0; members.len()];
        for &g in &pooled {
            updated[g] = weights[g] * solve(observed[g], g, total - contributions[g]);
        }
        if pooled.iter().all(|&g| (updated[g] - contributions[g]).abs() <= 1e-12) {
            break;
        }
        contributions = updated;
    }
    let offset = 1.0 / (kf - 1.0);
    let mut out: Vec<f64> = corr.values().iter().map(|&r| (r + offset) / (1.0 + offset)).collect();
    let total: f64 = contributions.iter().sum();
    for &g in &pooled {
        let mean = observed[g];
        let rho = solve(mean, g, total - contributions[g]);
        let (highest, lowest) =
            entries[g].iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(h, l), &e| (h.max(e - mean), l.min(e - mean)));
        let mut scale: f64 = 1.0;
        if highest > 0.0 {
            scale = scale.min((1.0 - rho) / highest);
        }
        if lowest < 0.0 {
            scale = scale.min((-1.0 - rho) / lowest);
        }
        let scale = scale.max(0.0);
        let m = &members[g];
        for &i in m {
            for &j in m.iter().filter(|&&j| j != i) {
                out[i * k + j] = rho + scale * (corr.get(i, j) - mean);
            }
        }
    }
    for i in 0..k {
        out[i * k + i] = 1.0;
    }
    CorrMatrix::new(k, out.into_iter().map(|r| clamp(r, -1.0, 1.0)).collect())
}

/// Confine to [low, high], NaN passing through (PyMARE `_clamp`).
fn clamp(x: f64, low: f64, high: f64) -> f64 {
    if x < low {
        low
    } else if x > high {
        high
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol;

    #[test]
    fn images_without_common_voxels_give_none() {
        let nan = f64::NAN;
        // Image 0 covers voxels 0-1, image 1 voxels 2-3, image 2 voxel 0 only.
        let z = StudyVoxels::new(3, vec![1.0, nan, 2.0, 2.0, nan, nan, nan, 0.5, nan, nan, 1.5, nan]);
        assert!(null_correlation(&z, &Grouping::from_labels(&["a", "a", "b"])).is_none());
    }

    #[test]
    fn mirror_rows_correlate_minus_one() {
        let z = StudyVoxels::new(2, vec![1.0, -1.0, 3.0, -3.0, 2.5, -2.5]);
        let model = Bag { studies: vec![0, 1], voxels: vec![0, 1, 2] };
        let raw = model_correlation(&z, &model, false);
        assert!(tol::close(raw.get(0, 1), -1.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(raw.block_mean(&[0, 1]), 0.0, 0.0, tol::SUMMATION_ORDER_RTOL));
    }
}
