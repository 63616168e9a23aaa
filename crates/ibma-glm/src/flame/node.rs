//! The REML energy of one variance group at one σ², split into two monotone parts with their
//! first two derivatives: the material of the certified search (`global.rs`).
//!
//! E(σ²) = ½(f + q) with f = Σ ln u_k + ln|ZᵀU⁻¹Z| and q = Σ w_k r_k² (u_k = s_k + σ²,
//! w_k = 1/u_k, r = y − Zγ̂, γ̂ the WLS fit). Harville's identity ln|U| + ln|ZᵀU⁻¹Z| =
//! ln|ZᵀZ| + ln|KᵀUK| (K an orthonormal basis of the residual space, KᵀZ = 0) gives
//! f = const + Σ_j ln(λ_j + σ²) and q = yᵀK(KᵀUK)⁻¹Kᵀy = Σ_j c_j²/(λ_j + σ²), with λ_j > 0 the
//! eigenvalues of KᵀSK and c_j the coordinates of Kᵀy in its eigenvectors. So on σ² ≥ 0:
//! f is increasing and concave (f′ > 0 falls, f″ < 0 rises) and q is decreasing and convex
//! (q′ < 0 rises, q″ > 0 falls). Derivatives (P = K(KᵀUK)⁻¹Kᵀ, Pv = W r for any v = y):
//! f′ = tr P = Σw − tr(A⁻¹B₂), f″ = −tr P² = −Σw² + 2 tr(A⁻¹B₃) − tr((A⁻¹B₂)²),
//! q′ = −|Py|² = −Σw²r², q″ = 2(Wr)ᵀP(Wr) = 2Σw³r² − 2 gᵀA⁻¹g,
//! with A = ZᵀWZ, B_k = ZᵀW^kZ, g = ZᵀW²r.

use crate::likelihood::split_exponent;
use crate::linalg::{Cholesky, SmallMat, MAX_P};

/// The energy's parts at one σ²: f, q and their first and second derivatives in σ².
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Node {
    pub s2: f64,
    pub f: f64,
    pub q: f64,
    pub f1: f64,
    pub q1: f64,
    pub f2: f64,
    pub q2: f64,
}

impl Node {
    /// E = ½(f + q).
    pub fn energy(&self) -> f64 {
        0.5 * (self.f + self.q)
    }

    /// dE/dσ².
    pub fn slope(&self) -> f64 {
        0.5 * (self.f1 + self.q1)
    }

    /// d²E/d(σ²)².
    pub fn curvature(&self) -> f64 {
        0.5 * (self.f2 + self.q2)
    }

    fn finite(self) -> Option<Node> {
        let all = [self.f, self.q, self.f1, self.q1, self.f2, self.q2];
        all.iter().all(|x| x.is_finite()).then_some(self)
    }
}

/// The y-free half of a one-sample node (design column of ones): the weights w, w², w³ at σ²
/// and their sums, with Σ ln u. Sign flips of y leave all of it unchanged, so the permutation
/// kernel computes it once per voxel and σ² and [`Weights::node`] finishes each flip's node,
/// with the same bits as a refit of the flipped copes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Weights {
    s2: f64,
    w: Vec<f64>,
    w2: Vec<f64>,
    w3: Vec<f64>,
    sum_w: f64,
    sum_w2: f64,
    sum_w3: f64,
    ln_u: f64,
}

/// Rows between exact renormalisations of the lane products of u (Σ ln u = ln Π u, kept as
/// mantissa · 2^exponent): 4 lanes × 8 rows stay in range for u within 1e±38; other u take
/// the plain sum of logarithms.
const PRODUCT_ROWS: usize = 32;

/// Lane-wise accumulators of [`Weights::set`].
struct WeightSums {
    prod: [f64; 4],
    umin: [f64; 4],
    sw: [f64; 4],
    sw2: [f64; 4],
    sw3: [f64; 4],
}

impl Default for WeightSums {
    fn default() -> Self {
        WeightSums { prod: [1.0; 4], umin: [f64::INFINITY; 4], sw: [0.0; 4], sw2: [0.0; 4], sw3: [0.0; 4] }
    }
}

impl WeightSums {
    #[inline(always)]
    fn row(&mut self, l: usize, u: f64, w: &mut f64, w2: &mut f64, w3: &mut f64) {
        self.umin[l] = if u < self.umin[l] { u } else { self.umin[l] };
        self.prod[l] *= u;
        *w = 1.0 / u;
        *w2 = *w * *w;
        *w3 = *w2 * *w;
        self.sw[l] += *w;
        self.sw2[l] += *w2;
        self.sw3[l] += *w3;
    }
}

/// Pairwise sum of four lanes (the one summation order of this module).
#[inline(always)]
fn lanes(a: [f64; 4]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

impl Weights {
    /// Fill for variances `s` at σ²; false where some s + σ² is not positive and finite.
    pub fn set(&mut self, s: &[f64], s2: f64) -> bool {
        let n = s.len();
        if self.w.len() != n {
            for v in [&mut self.w, &mut self.w2, &mut self.w3] {
                v.resize(n, 0.0);
            }
        }
        self.s2 = s2;
        let (mut acc, mut expo, mut ok) = (WeightSums::default(), 0i64, true);
        let chunks = s.chunks(PRODUCT_ROWS).zip(self.w.chunks_mut(PRODUCT_ROWS));
        for ((sc, wc), (w2c, w3c)) in chunks.zip(self.w2.chunks_mut(PRODUCT_ROWS).zip(self.w3.chunks_mut(PRODUCT_ROWS)))
        {
            let full = sc.len() - sc.len() % 4;
            for (((s4, w4), w24), w34) in sc[..full]
                .chunks_exact(4)
                .zip(wc[..full].chunks_exact_mut(4))
                .zip(w2c[..full].chunks_exact_mut(4))
                .zip(w3c[..full].chunks_exact_mut(4))
            {
                for l in 0..4 {
                    acc.row(l, s4[l] + s2, &mut w4[l], &mut w24[l], &mut w34[l]);
                }
            }
            for r in full..sc.len() {
                acc.row(r - full, sc[r] + s2, &mut wc[r], &mut w2c[r], &mut w3c[r]);
            }
            for p in &mut acc.prod {
                ok &= p.is_normal() && *p > 0.0;
                let (m, k) = split_exponent(*p);
                (*p, expo) = (m, expo + k);
            }
        }
        self.ln_u = if ok && acc.umin.iter().all(|&u| u > 0.0) {
            acc.prod.iter().product::<f64>().ln() + expo as f64 * std::f64::consts::LN_2
        } else {
            // Extreme or invalid totals: the plain sum of logarithms decides.
            if s.iter().any(|&sk| !(sk + s2 > 0.0 && (sk + s2).is_finite())) {
                return false;
            }
            s.iter().map(|&sk| (sk + s2).ln()).sum()
        };
        (self.sum_w, self.sum_w2, self.sum_w3) = (lanes(acc.sw), lanes(acc.sw2), lanes(acc.sw3));
        self.sum_w.is_finite() && self.sum_w > 0.0 && self.sum_w3.is_finite() && self.ln_u.is_finite()
    }

    /// The node for copes `y` (one per weight), x = 1.
    pub fn node(&self, y: &[f64]) -> Option<Node> {
        let n = self.w.len();
        let (y, w, w2, w3) = (&y[..n], &self.w[..n], &self.w2[..n], &self.w3[..n]);
        let full = n - n % 4;
        let mut b = [0.0f64; 4];
        for (y4, w4) in y[..full].chunks_exact(4).zip(w[..full].chunks_exact(4)) {
            for l in 0..4 {
                b[l] += w4[l] * y4[l];
            }
        }
        for r in full..n {
            b[r - full] += w[r] * y[r];
        }
        let gamma = lanes(b) / self.sum_w;
        let (mut a0, mut a1, mut a2, mut a3) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        let mut row = |l: usize, y: f64, w: f64, w2: f64, w3: f64| {
            let res = y - gamma;
            let rr = res * res;
            a0[l] += w * rr;
            a1[l] += w2 * rr;
            a2[l] += w3 * rr;
            a3[l] += w2 * res;
        };
        let quads = y[..full].chunks_exact(4).zip(w[..full].chunks_exact(4));
        for ((y4, w4), (w24, w34)) in quads.zip(w2[..full].chunks_exact(4).zip(w3[..full].chunks_exact(4))) {
            for l in 0..4 {
                row(l, y4[l], w4[l], w24[l], w34[l]);
            }
        }
        for r in full..n {
            row(r - full, y[r], w[r], w2[r], w3[r]);
        }
        let (wr2, w2r2, w3r2, w2r) = (lanes(a0), lanes(a1), lanes(a2), lanes(a3));
        let m2 = self.sum_w2 / self.sum_w;
        Node {
            s2: self.s2,
            f: self.ln_u + self.sum_w.ln(),
            q: wr2,
            f1: self.sum_w - m2,
            q1: -w2r2,
            f2: -self.sum_w2 + 2.0 * self.sum_w3 / self.sum_w - m2 * m2,
            q2: 2.0 * w3r2 - 2.0 * w2r * w2r / self.sum_w,
        }
        .finite()
    }
}

/// Points of a [`FlipBank`]: the permutation kernel's bound grid.
pub(crate) const BANK_POINTS: usize = 16;

/// What the permutation kernel's bound needs of one voxel's one-sample nodes at
/// [`BANK_POINTS`] values of σ², split into what sign flips of y leave unchanged (per point,
/// [`FlipInvariants`]) and the per-row terms w·y and w²·y that take the row's sign.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlipBank {
    n: usize,
    pub inv: Vec<FlipInvariants>,
    /// Point j's w·y and w²·y at `j * n..(j + 1) * n`.
    wy: Vec<f64>,
    w2y: Vec<f64>,
}

/// One point of a [`FlipBank`]: σ², 1/Σw, 1/√Σw, f, f′, Σw², Σwy², Σw²y², Σ|wy|.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlipInvariants {
    pub s2: f64,
    pub inv_sum_w: f64,
    pub inv_root: f64,
    pub f: f64,
    pub f1: f64,
    pub sum_w2: f64,
    pub wyy: f64,
    pub w2yy: f64,
    pub abs_wy: f64,
}

impl FlipBank {
    /// Empty, for `n` rows.
    pub fn reset(&mut self, n: usize) {
        self.n = n;
        self.inv.clear();
        self.wy.clear();
        self.w2y.clear();
    }

    /// Add the point of `w` for copes `y`.
    // Rows index y and the weights together.
    #[allow(clippy::needless_range_loop)]
    #[track_caller]
    pub fn push(&mut self, w: &Weights, y: &[f64]) {
        assert!(
            self.inv.len() < BANK_POINTS && w.w.len() == self.n,
            "a flip bank holds {BANK_POINTS} points of n rows"
        );
        let (mut wyy, mut w2yy, mut abs_wy) = (0.0, 0.0, 0.0);
        for r in 0..self.n {
            let (wy, w2y) = (w.w[r] * y[r], w.w2[r] * y[r]);
            self.wy.push(wy);
            self.w2y.push(w2y);
            wyy += wy * y[r];
            w2yy += w2y * y[r];
            abs_wy += wy.abs();
        }
        let m2 = w.sum_w2 / w.sum_w;
        self.inv.push(FlipInvariants {
            s2: w.s2,
            inv_sum_w: 1.0 / w.sum_w,
            inv_root: 1.0 / w.sum_w.sqrt(),
            f: w.ln_u + w.sum_w.ln(),
            f1: w.sum_w - m2,
            sum_w2: w.sum_w2,
            wyy,
            w2yy,
            abs_wy,
        });
    }

    /// Point j's w·y and w²·y, one per row.
    pub fn terms(&self, j: usize) -> (&[f64], &[f64]) {
        let r = j * self.n..(j + 1) * self.n;
        (&self.wy[r.clone()], &self.w2y[r])
    }
}

/// The node of a group with any design columns: rows `y`, `s`, design row r at
/// `x[r * stride..]` restricted to `cols`. None where ZᵀU⁻¹Z is singular or a total variance
/// is not positive.
pub(crate) fn matrix_node(y: &[f64], s: &[f64], x: &[f64], stride: usize, cols: &[usize], s2: f64) -> Option<Node> {
    let p = cols.len();
    let row = |r: usize| -> [f64; MAX_P] { std::array::from_fn(|j| cols.get(j).map_or(0.0, |&c| x[r * stride + c])) };
    let (mut a, mut b2, mut b3) = (SmallMat::zeros(p), SmallMat::zeros(p), SmallMat::zeros(p));
    let mut gamma = [0.0; MAX_P];
    let (mut ln_u, mut sw, mut sw2) = (0.0, 0.0, 0.0);
    for (r, (&yr, &sr)) in y.iter().zip(s).enumerate() {
        let u = sr + s2;
        if !(u > 0.0 && u.is_finite()) {
            return None;
        }
        let w = 1.0 / u;
        ln_u += u.ln();
        sw += w;
        sw2 += w * w;
        let z = row(r);
        a.add_outer(&z[..p], w);
        b2.add_outer(&z[..p], w * w);
        b3.add_outer(&z[..p], w * w * w);
        for (g, zj) in gamma.iter_mut().zip(&z[..p]) {
            *g += w * yr * zj;
        }
    }
    let chol = Cholesky::new(&a)?;
    chol.solve(&mut gamma[..p]);
    let (mut wr2, mut w2r2, mut w3r2) = (0.0, 0.0, 0.0);
    let mut g = [0.0; MAX_P];
    for (r, (&yr, &sr)) in y.iter().zip(s).enumerate() {
        let w = 1.0 / (sr + s2);
        let z = row(r);
        let res = yr - z[..p].iter().zip(&gamma[..p]).map(|(z, g)| z * g).sum::<f64>();
        wr2 += w * res * res;
        w2r2 += w * w * res * res;
        w3r2 += w * w * w * res * res;
        for (gj, zj) in g.iter_mut().zip(&z[..p]) {
            *gj += w * w * res * zj;
        }
    }
    // A⁻¹B₂ and A⁻¹B₃ column by column; their traces, and tr((A⁻¹B₂)²).
    let solved = |m: &SmallMat| {
        let mut out = SmallMat::zeros(p);
        for j in 0..p {
            let mut col = [0.0; MAX_P];
            for (i, c) in col.iter_mut().enumerate().take(p) {
                *c = m.get(i, j);
            }
            chol.solve(&mut col[..p]);
            for (i, &c) in col[..p].iter().enumerate() {
                out.set(i, j, c);
            }
        }
        out
    };
    let (m2, m3) = (solved(&b2), solved(&b3));
    let tr = |m: &SmallMat| (0..p).map(|i| m.get(i, i)).sum::<f64>();
    let tr_sq: f64 = (0..p).flat_map(|i| (0..p).map(move |j| (i, j))).map(|(i, j)| m2.get(i, j) * m2.get(j, i)).sum();
    let mut ag = g;
    chol.solve(&mut ag[..p]);
    let g_ag: f64 = g[..p].iter().zip(&ag[..p]).map(|(a, b)| a * b).sum();
    Node {
        s2,
        f: ln_u + chol.log_det(),
        q: wr2,
        f1: sw - tr(&m2),
        q1: -w2r2,
        f2: -sw2 + 2.0 * tr(&m3) - tr_sq,
        q2: 2.0 * w3r2 - 2.0 * g_ag,
    }
    .finite()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibma_stats::tol;

    fn check_derivatives(node: impl Fn(f64) -> Node, s2: f64) {
        let h = 1e-4 * s2;
        let (lo, mid, hi) = (node(s2 - h), node(s2), node(s2 + h));
        let close = |a: f64, b: f64, what: &str| {
            assert!(tol::close(a, b, tol::FINITE_DIFFERENCE_RTOL, 0.0), "{what} at {s2}: {a} vs {b}")
        };
        close(mid.f1, (hi.f - lo.f) / (2.0 * h), "f'");
        close(mid.q1, (hi.q - lo.q) / (2.0 * h), "q'");
        close(mid.f2, (hi.f1 - lo.f1) / (2.0 * h), "f''");
        close(mid.q2, (hi.q1 - lo.q1) / (2.0 * h), "q''");
        // The shape facts the search relies on.
        assert!(mid.f1 > 0.0 && mid.f2 < 0.0 && mid.q1 < 0.0 && mid.q2 > 0.0, "{mid:?}");
    }

    const Y: [f64; 7] = [0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 3.1];
    const S: [f64; 7] = [0.5, 0.2, 1.5, 0.8, 0.3, 2.0, 0.6];

    #[test]
    fn one_sample_derivatives_match_finite_differences_and_the_matrix_form() {
        let mut wt = Weights::default();
        let node = |s2: f64| {
            let mut wt = Weights::default();
            assert!(wt.set(&S, s2));
            wt.node(&Y).unwrap()
        };
        for s2 in [0.05, 0.7, 3.0] {
            check_derivatives(node, s2);
            assert!(wt.set(&S, s2));
            let (a, b) = (wt.node(&Y).unwrap(), matrix_node(&Y, &S, &[1.0; 7], 1, &[0], s2).unwrap());
            for (x, y) in [(a.f, b.f), (a.q, b.q), (a.f1, b.f1), (a.q1, b.q1), (a.f2, b.f2), (a.q2, b.q2)] {
                assert!(tol::close(x, y, tol::SUMMATION_ORDER_RTOL, 0.0), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn matrix_derivatives_match_finite_differences() {
        // Two columns: intercept and a covariate.
        let x: Vec<f64> = [1.0, 0.5, 2.0, 1.0, -1.0, 0.3, 1.5].iter().flat_map(|&c| [1.0, c]).collect();
        let node = |s2: f64| matrix_node(&Y, &S, &x, 2, &[0, 1], s2).unwrap();
        for s2 in [0.05, 0.7, 3.0] {
            check_derivatives(node, s2);
        }
        // One non-constant column.
        let x1 = [1.0, 0.5, 2.0, 1.0, -1.0, 0.3, 1.5];
        for s2 in [0.05, 0.7, 3.0] {
            check_derivatives(|s2| matrix_node(&Y, &S, &x1, 1, &[0], s2).unwrap(), s2);
        }
    }
}
