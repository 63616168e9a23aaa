//! One voxel's rows of a weighted least-squares fit with a design (K × P): what
//! meta-regression, the DerSimonian–Laird τ² of a design and heterogeneity share.

use crate::linalg::{Cholesky, SmallMat, MAX_P};

/// The rows of one voxel's valid studies: responses y, variances v and design rows x (K × P).
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// Responses.
    pub y: &'a [f64],
    /// Within-study variances.
    pub v: &'a [f64],
    /// Design rows, row-major K × P.
    pub x: &'a [f64],
    /// Columns P.
    pub p: usize,
}

impl Rows<'_> {
    pub(crate) fn k(&self) -> usize {
        self.y.len()
    }

    pub(crate) fn row(&self, k: usize) -> &[f64] {
        &self.x[k * self.p..(k + 1) * self.p]
    }

    /// (XᵀWX, XᵀWy) for weights w_k = weight(k).
    pub(crate) fn normal_equations(&self, weight: impl Fn(usize) -> f64) -> (SmallMat, [f64; MAX_P]) {
        let mut xtwx = SmallMat::zeros(self.p);
        let mut xtwy = [0.0; MAX_P];
        for k in 0..self.k() {
            let (w, row) = (weight(k), self.row(k));
            xtwx.add_outer(row, w);
            for (acc, xj) in xtwy.iter_mut().zip(row) {
                *acc += w * xj * self.y[k];
            }
        }
        (xtwx, xtwy)
    }

    /// β̂ and the Cholesky factor of XᵀWX, or None if the design is singular at this voxel.
    pub(crate) fn fit(&self, weight: impl Fn(usize) -> f64) -> Option<([f64; MAX_P], Cholesky)> {
        let (xtwx, mut beta) = self.normal_equations(weight);
        let chol = Cholesky::new(&xtwx)?;
        chol.solve(&mut beta[..self.p]);
        Some((beta, chol))
    }

    pub(crate) fn residual(&self, k: usize, beta: &[f64]) -> f64 {
        self.y[k] - self.row(k).iter().zip(beta).map(|(a, b)| a * b).sum::<f64>()
    }
}
