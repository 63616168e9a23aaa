//! Small dense symmetric positive-definite systems (p × p, p = design columns ≤ [`MAX_P`]),
//! solved by a hand-written Cholesky factorisation on the stack: no LAPACK, no allocation.

/// Largest design width supported per voxel.
pub const MAX_P: usize = 8;

/// A p × p matrix stored row-major in a fixed array.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmallMat {
    p: usize,
    a: [f64; MAX_P * MAX_P],
}

impl SmallMat {
    /// The p × p zero matrix.
    #[track_caller]
    pub fn zeros(p: usize) -> SmallMat {
        assert!(p <= MAX_P, "design has {p} columns; at most {MAX_P} are supported");
        SmallMat { p, a: [0.0; MAX_P * MAX_P] }
    }

    /// Dimension p.
    pub fn dim(&self) -> usize {
        self.p
    }

    /// Entry (i, j).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.a[i * MAX_P + j]
    }

    /// Set entry (i, j).
    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        self.a[i * MAX_P + j] = value;
    }

    /// Add `w · x xᵀ` (a weighted outer product, the building block of XᵀWX).
    pub fn add_outer(&mut self, x: &[f64], w: f64) {
        for i in 0..self.p {
            for j in 0..self.p {
                self.a[i * MAX_P + j] += w * x[i] * x[j];
            }
        }
    }
}

/// The lower-triangular Cholesky factor L of a symmetric positive-definite matrix (A = LLᵀ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cholesky {
    l: SmallMat,
}

/// Relative pivot size below which a matrix counts as rank-deficient.
const RANK_TOL: f64 = 1e-12;

impl Cholesky {
    /// Factorise `a`; `None` if it is not numerically positive definite (a pivot below
    /// 1e−12 times the largest diagonal entry, or not finite): the caller's voxel becomes NaN.
    pub fn new(a: &SmallMat) -> Option<Cholesky> {
        let p = a.p;
        let scale = (0..p).map(|i| a.get(i, i).abs()).fold(0.0, f64::max);
        let mut l = SmallMat::zeros(p);
        for j in 0..p {
            let mut d = a.get(j, j);
            for k in 0..j {
                d -= l.get(j, k) * l.get(j, k);
            }
            if !(d.is_finite() && d > RANK_TOL * scale) {
                return None;
            }
            let d = d.sqrt();
            l.set(j, j, d);
            for i in j + 1..p {
                let mut s = a.get(i, j);
                for k in 0..j {
                    s -= l.get(i, k) * l.get(j, k);
                }
                l.set(i, j, s / d);
            }
        }
        Some(Cholesky { l })
    }

    /// Solve A x = b in place.
    pub fn solve(&self, b: &mut [f64]) {
        let p = self.l.p;
        for i in 0..p {
            let s = b[i] - (0..i).map(|k| self.l.get(i, k) * b[k]).sum::<f64>();
            b[i] = s / self.l.get(i, i);
        }
        for i in (0..p).rev() {
            let s = b[i] - (i + 1..p).map(|k| self.l.get(k, i) * b[k]).sum::<f64>();
            b[i] = s / self.l.get(i, i);
        }
    }

    /// A⁻¹.
    pub fn inverse(&self) -> SmallMat {
        let p = self.l.p;
        let mut inv = SmallMat::zeros(p);
        for j in 0..p {
            let mut e = [0.0; MAX_P];
            e[j] = 1.0;
            self.solve(&mut e[..p]);
            for (i, &x) in e[..p].iter().enumerate() {
                inv.set(i, j, x);
            }
        }
        inv
    }

    /// ln det A.
    pub fn log_det(&self) -> f64 {
        (0..self.l.p).map(|i| 2.0 * self.l.get(i, i).ln()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    #[test]
    fn solves_and_inverts_a_known_system() {
        let mut a = SmallMat::zeros(2);
        a.set(0, 0, 4.0);
        a.set(0, 1, 2.0);
        a.set(1, 0, 2.0);
        a.set(1, 1, 3.0);
        let c = Cholesky::new(&a).unwrap();
        let mut b = [2.0, 1.0];
        c.solve(&mut b);
        // 4x + 2y = 2, 2x + 3y = 1  =>  x = 0.5, y = 0
        assert!(tol::close(b[0], 0.5, tol::SUMMATION_ORDER_RTOL, 0.0) && b[1].abs() < tol::REFERENCE_ATOL);
        let inv = c.inverse();
        assert!(tol::close(inv.get(0, 0), 3.0 / 8.0, tol::SUMMATION_ORDER_RTOL, 0.0));
        assert!(tol::close(c.log_det(), 8f64.ln(), tol::SUMMATION_ORDER_RTOL, 0.0));
    }

    #[test]
    fn rank_deficient_is_none() {
        let mut a = SmallMat::zeros(2);
        a.add_outer(&[1.0, 2.0], 1.0);
        assert!(Cholesky::new(&a).is_none());
    }
}
