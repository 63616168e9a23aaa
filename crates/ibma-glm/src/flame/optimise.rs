//! FLAME1's per-group search for σ² (docs/flame1.md, The σ² search): the REML energy of one
//! variance group ([`GroupRows`]) and the two searches, `global` (the certified global minimum,
//! `global.rs`) and `fsl` (flameo's single Brent run, `fsl.rs`).

use super::fsl;
use super::global::{global_min, SearchScratch};
use super::node::{matrix_node, Node, Weights};
use super::Optimizer;
use crate::likelihood::one_column_sums;
use crate::linalg::{Cholesky, SmallMat, MAX_P};

/// Smallest σ² returned, in units of the copes' sample variance (flameo's floor).
pub(crate) const SIGMA2_FLOOR: f64 = 1e-10;
/// Largest group whose design column [`GroupRows::energy_one_column`] gathers on the stack
/// for the fast kernel (larger groups take the plain path).
const GATHER_MAX: usize = 64;
/// The global search's starting points, in units of the copes' mean square (Σy²/n, which sign
/// flips leave unchanged): 0, a log-spaced ladder over the usual range of σ̂², and flameo's
/// upper end 1e10 (the energy only rises beyond the data's scale).
pub(crate) const GLOBAL_GRID: [f64; 6] = [0.0, 1e-3, 0.03, 0.3, 3.0, 1e10];

/// The rows of one variance group: copes `y`, within-study variances `s`, design rows in `x`
/// (row r at `x[r * stride..]`), of which the columns `cols` belong to the group.
pub(crate) struct GroupRows<'a> {
    pub y: &'a [f64],
    pub s: &'a [f64],
    pub x: &'a [f64],
    pub stride: usize,
    pub cols: &'a [usize],
}

impl GroupRows<'_> {
    /// E(σ²) = ½ Σ ln(s_i + σ²) + ½ ln|ZᵀU⁻¹Z| + ½ Σ (y_i − z_iᵀγ̂)²/(s_i + σ²); +∞ where it is
    /// undefined (a non-positive total variance or a singular ZᵀU⁻¹Z).
    pub fn energy(&self, sigma2: f64) -> f64 {
        if self.cols.len() == 1 {
            return self.energy_one_column(sigma2);
        }
        let p = self.cols.len();
        let mut a = SmallMat::zeros(p);
        let mut b = [0.0; MAX_P];
        let mut z = [0.0; MAX_P];
        let mut slog = 0.0;
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let u = s + sigma2;
            if u.is_nan() || u <= 0.0 {
                return f64::INFINITY;
            }
            slog += u.ln();
            let w = 1.0 / u;
            self.row(r, &mut z);
            a.add_outer(&z[..p], w);
            for (bj, &zj) in b.iter_mut().zip(&z[..p]) {
                *bj += w * y * zj;
            }
        }
        let Some(chol) = Cholesky::new(&a) else { return f64::INFINITY };
        chol.solve(&mut b[..p]);
        // Residual form of y'U⁻¹y − γ̂ᵀ(ZᵀU⁻¹Z)γ̂: no cancellation.
        let mut rss = 0.0;
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            self.row(r, &mut z);
            let fit: f64 = z[..p].iter().zip(&b[..p]).map(|(zj, gj)| zj * gj).sum();
            rss += (y - fit).powi(2) / (s + sigma2);
        }
        let e = 0.5 * (slog + chol.log_det() + rss);
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    }

    /// [`Self::energy`] for one column (the one-sample case), without the matrix machinery:
    /// the hot path of whole-brain maps.
    // x == 1 exactly selects the kernel's ones path (same bits either way).
    #[allow(clippy::float_cmp)]
    fn energy_one_column(&self, sigma2: f64) -> f64 {
        let j = self.cols[0];
        let n = self.y.len();
        if n <= GATHER_MAX {
            // The fast kernel (one logarithm per call) on the contiguous column; x = 1 (the
            // one-sample case) is passed as None, which gives the same bits, faster.
            let mut z = [0.0; GATHER_MAX];
            for (r, z) in z[..n].iter_mut().enumerate() {
                *z = self.x[r * self.stride + j];
            }
            let x = (!z[..n].iter().all(|&z| z == 1.0)).then_some(&z[..n]);
            if let Some([slog, _, _, rss]) = one_column_sums(self.y, self.s, x, sigma2, true) {
                let e = 0.5 * (slog + rss);
                return if e.is_nan() { f64::INFINITY } else { e };
            }
        }
        // The plain path: also where the kernel declines (non-positive or extreme totals).
        let (mut slog, mut a, mut b) = (0.0, 0.0, 0.0);
        for (r, (&y, &s)) in self.y.iter().zip(self.s).enumerate() {
            let u = s + sigma2;
            if u.is_nan() || u <= 0.0 {
                return f64::INFINITY;
            }
            let z = self.x[r * self.stride + j];
            let w = 1.0 / u;
            slog += u.ln();
            a += w * z * z;
            b += w * y * z;
        }
        if !(a.is_finite() && a > 0.0) {
            return f64::INFINITY;
        }
        let gamma = b / a;
        let rss: f64 = (self.y.iter().zip(self.s).enumerate())
            .map(|(r, (&y, &s))| (y - self.x[r * self.stride + j] * gamma).powi(2) / (s + sigma2))
            .sum();
        let e = 0.5 * (slog + a.ln() + rss);
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    }

    fn row(&self, r: usize, z: &mut [f64; MAX_P]) {
        let xr = &self.x[r * self.stride..];
        for (zj, &j) in z.iter_mut().zip(self.cols) {
            *zj = xr[j];
        }
    }
}

/// Per-thread buffers of the searches.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    weights: Weights,
    search: SearchScratch,
    start: Vec<Node>,
}

/// σ̂² of one group in the units of its rows (callers normalise): flameo's Brent, or the
/// certified global minimum over [0, 1e10] from [`GLOBAL_GRID`]. `grid`, if given, holds the
/// weights of these rows at the [`GLOBAL_GRID`] points (the permutation kernel computes them
/// once per voxel; the same numbers as computing them here).
/// None where the energy is undefined (a singular ZᵀU⁻¹Z).
// x == 1 exactly selects the one-sample kernel (the same numbers as the matrix form).
#[allow(clippy::float_cmp)]
pub(crate) fn optimise(
    g: &GroupRows,
    optimizer: Optimizer,
    scratch: &mut Scratch,
    grid: Option<&[Weights]>,
) -> Option<f64> {
    match optimizer {
        // flameo passes x and σ² = eˣ in single precision and keeps the energy there: its
        // plateaus decide where Brent stops.
        Optimizer::Fsl => {
            let energy = |x: f64| g.energy(f64::from(f64::from(x as f32).exp() as f32)) as f32 as f64;
            Some(f64::from(f64::from(fsl::brent(energy) as f32).exp() as f32))
        }
        Optimizer::Global => {
            let ones = g.cols.len() == 1 && (0..g.y.len()).all(|r| g.x[r * g.stride + g.cols[0]] == 1.0);
            let Scratch { weights: wt, search, start } = scratch;
            let mut eval = |s2: f64| {
                if ones {
                    wt.set(g.s, s2).then(|| wt.node(g.y)).flatten()
                } else {
                    matrix_node(g.y, g.s, g.x, g.stride, g.cols, s2)
                }
            };
            start.clear();
            match grid {
                Some(grid) if ones => {
                    for w in grid {
                        start.push(w.node(g.y)?);
                    }
                }
                _ => {
                    for &s2 in &GLOBAL_GRID {
                        start.push(eval(s2)?);
                    }
                }
            }
            global_min(start, &mut eval, search).map(|n| n.s2)
        }
    }
}
