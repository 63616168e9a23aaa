//! Native FLAME stage 1 (FSL flameo `--runmode=flame1`) and its `fe` / `ols` run modes
//! (`docs/flame1.md`). Per voxel and variance group, σ̂² is the REML estimate found in the voxel's
//! normalised units (`flame/optimise.rs`); then weighted least squares, a t or F contrast, and
//! z by tail matching with DOF = the smallest n_g − p_g of the groups the contrast touches.
//!
//! Missing data are listwise: each voxel uses the studies whose con and varcope are not NaN.
//! A voxel is NaN where the contrast needs a column that is zero in all its studies, where a
//! touched group has n_g − p_g < 1 (its σ² is not identifiable; flameo would report an arbitrary
//! value), or where XᵀWX is singular. Columns untouched by the contrast that are zero in every
//! study of a voxel are dropped there (separability makes XᵀWX block-diagonal by group).

mod flips;
mod fsl;
mod global;
mod node;
mod optimise;

use crate::design::{Contrast, Design};
use crate::linalg::{Cholesky, SmallMat, MAX_P};
pub use flips::{flame1_flip_max_null, flame1_flip_z, flame1_flip_z_above};
use ibma_stats::transform::{nlogp_to_z, t_to_nlogp, t_to_z, TToZ, Tail};
use ibma_stats::{fdist, StudyVoxels};
use node::Weights;
use optimise::{GroupRows, Scratch, SIGMA2_FLOOR};
use rayon::prelude::*;

/// How FLAME1 searches for σ̂² (`docs/flame1.md`, The σ² search).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimizer {
    /// The global minimum of the REML energy over σ² ∈ [0, 1e10·Σy²/n], certified by bounds
    /// between evaluated points (`flame/global.rs`; ibma default).
    Global,
    /// flameo's search: one Brent run from σ² = ŝ² on its single-precision energy, with its
    /// bookkeeping; may stop in a worse basin.
    Fsl,
}

/// What flameo's `--runmode` fits.
#[derive(Clone, Debug, PartialEq)]
pub enum RunMode {
    /// Mixed effects: σ̂² per variance group by REML, weights 1/(s + σ̂²).
    Flame1(Optimizer),
    /// Fixed effects, weights 1/s. DOF = min(Σ study_dof over the voxel's studies, 1000) − P;
    /// an empty `study_dof` means no per-study DOF: DOF = 1000.
    Fe {
        /// Per-study DOF (one per study of the design, e.g. sample size − 1), or empty.
        study_dof: Vec<f64>,
    },
    /// Ordinary least squares on the copes (varcopes only decide validity), DOF = N − P.
    Ols,
}

/// FLAME outputs, one value per voxel, NaN where undefined (`docs/flame1.md`, Output maps).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlameMaps {
    /// cγ̂ (FSL `cope`); NaN for an F contrast.
    pub est: Vec<f64>,
    /// √varcope; NaN for an F contrast.
    pub se: Vec<f64>,
    /// c Cov cᵀ; NaN for an F contrast.
    pub varcope: Vec<f64>,
    /// t (or F for an F contrast).
    pub stat: Vec<f64>,
    /// z by tail matching with the DOF rounded to an integer (from the F upper tail for F).
    pub z: Vec<f64>,
    /// ln p: two-sided for t, upper tail for F.
    pub nlogp: Vec<f64>,
    /// DOF of t (denominator DOF of F; the numerator DOF is the contrast's row count).
    pub dof: Vec<f64>,
    /// σ̂² in original units, one map per variance group (empty for `fe` and `ols`); NaN in a
    /// group with fewer than p_g + 1 studies at the voxel.
    pub tau2: Vec<Vec<f64>>,
}

/// REML energy (docs/flame1.md, The model; original units) of one variance group with copes
/// `y`, variances `s` and design rows `x` (row-major, `p` columns) at between-study variance
/// `sigma2`; +∞ where undefined. Lower is better; FLAME1's σ̂² minimises it. Panics if the
/// shapes disagree or `p` > [`MAX_P`].
pub fn reml_energy(y: &[f64], s: &[f64], x: &[f64], p: usize, sigma2: f64) -> f64 {
    assert!(p <= MAX_P && y.len() == s.len() && x.len() == y.len() * p, "shapes of y, s, x");
    let cols: [usize; MAX_P] = std::array::from_fn(|j| j);
    GroupRows { y, s, x, stride: p, cols: &cols[..p] }.energy(sigma2)
}

/// A slow reference for validating FLAME1's σ̂² search, independent of it: the lowest REML
/// energy (as [`reml_energy`]) of one group over σ² ∈ [`lo`, `hi`], from `points` log-spaced
/// evaluations and a golden-section refinement (to 1e−10 in ln σ²) between the neighbours of
/// every local minimum among them. Returns (σ², energy). A basin narrower than the spacing can
/// escape it; the certified search cannot (`flame/global.rs`).
pub fn reference_min(y: &[f64], s: &[f64], x: &[f64], p: usize, lo: f64, hi: f64, points: usize) -> (f64, f64) {
    assert!(points >= 3 && lo > 0.0 && hi > lo, "reference_min needs 3 points on a positive range");
    let ln = |i: usize| lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (points - 1) as f64;
    let e = |t: f64| reml_energy(y, s, x, p, t.exp());
    let grid: Vec<f64> = (0..points).map(|i| e(ln(i))).collect();
    let mut best = (lo, f64::INFINITY);
    for i in 0..points {
        let left = i == 0 || grid[i] <= grid[i - 1];
        let right = i + 1 == points || grid[i] <= grid[i + 1];
        if !(left && right) {
            continue;
        }
        let (mut a, mut b) = (ln(i.saturating_sub(1)), ln((i + 1).min(points - 1)));
        let g = 0.5 * (3.0 - 5f64.sqrt());
        let (mut c, mut d) = (a + g * (b - a), b - g * (b - a));
        let (mut fc, mut fd) = (e(c), e(d));
        while b - a > 1e-10 {
            if fc <= fd {
                (b, d, fd) = (d, c, fc);
                c = a + g * (b - a);
                fc = e(c);
            } else {
                (a, c, fc) = (c, d, fd);
                d = b - g * (b - a);
                fd = e(d);
            }
        }
        for (t, f) in [(ln(i), grid[i]), (c, fc), (d, fd)] {
            if f < best.1 {
                best = (t.exp(), f);
            }
        }
    }
    best
}

/// Fit `mode` at every voxel and test `contrast` (docs/flame1.md, Per-voxel estimation, and
/// `fe` and `ols`).
///
/// A voxel with no usable DOF is NaN (flameo would write 214748368, the float32 of INT_MAX/10).
/// Panics if the shapes of `con`, `var`, `design`, `contrast` (and `study_dof`) disagree.
/// Bit-identical for any number of rayon threads.
pub fn flame(con: &StudyVoxels, var: &StudyVoxels, design: &Design, contrast: &Contrast, mode: &RunMode) -> FlameMaps {
    let k = design.n_studies();
    assert_eq!((con.n_studies(), con.n_voxels()), (var.n_studies(), var.n_voxels()), "con and varcope shapes differ");
    assert_eq!(con.n_studies(), k, "design rows must equal the number of studies");
    assert_eq!(contrast.n_columns(), design.n_columns(), "contrast and design widths differ");
    if let RunMode::Fe { study_dof } = mode {
        assert!(study_dof.is_empty() || study_dof.len() == k, "one study DOF per study");
    }
    let ctx = Ctx::new(design, contrast, mode);
    let out: Vec<VoxelOut> =
        con.par_voxels().zip(var.par_voxels()).map_init(|| Buf::new(k), |buf, (c, s)| ctx.voxel(c, s, buf)).collect();
    let pick = |f: fn(&VoxelOut) -> f64| out.iter().map(f).collect::<Vec<f64>>();
    let n_tau2 = if matches!(mode, RunMode::Flame1(_)) { design.n_groups() } else { 0 };
    FlameMaps {
        est: pick(|o| o.est),
        se: pick(|o| o.varcope.sqrt()),
        varcope: pick(|o| o.varcope),
        stat: pick(|o| o.stat),
        z: pick(|o| o.z),
        nlogp: pick(|o| o.nlogp),
        dof: pick(|o| o.dof),
        tau2: (0..n_tau2).map(|g| out.iter().map(|o| o.tau2[g]).collect()).collect(),
    }
}

#[derive(Clone, Copy)]
struct VoxelOut {
    est: f64,
    varcope: f64,
    stat: f64,
    z: f64,
    nlogp: f64,
    dof: f64,
    tau2: [f64; MAX_P],
}

const NAN_OUT: VoxelOut = VoxelOut {
    est: f64::NAN,
    varcope: f64::NAN,
    stat: f64::NAN,
    z: f64::NAN,
    nlogp: f64::NAN,
    dof: f64::NAN,
    tau2: [f64::NAN; MAX_P],
};

/// Per-thread scratch: the voxel's valid studies grouped by variance group.
struct Buf {
    y: Vec<f64>,
    s: Vec<f64>,
    /// Design rows, stride [`MAX_P`].
    x: Vec<f64>,
    /// Study index of each row (for `fe` DOF).
    study: Vec<usize>,
    /// Weights, then normalised copes / variances.
    w: Vec<f64>,
    yn: Vec<f64>,
    sn: Vec<f64>,
    /// The σ² searches' scratch.
    search: Scratch,
    /// One-sample global search: the rows' weights at the grid points, precomputed by the
    /// permutation kernel (`flips.rs`) for every flip of the voxel; used when `grid_set`.
    grid: Vec<Weights>,
    grid_set: bool,
}

impl Buf {
    fn new(k: usize) -> Buf {
        let v = || Vec::with_capacity(k);
        Buf {
            y: v(),
            s: v(),
            x: Vec::with_capacity(k * MAX_P),
            study: Vec::with_capacity(k),
            w: v(),
            yn: v(),
            sn: v(),
            search: Scratch::default(),
            grid: Vec::new(),
            grid_set: false,
        }
    }
}

struct Ctx<'a> {
    design: &'a Design,
    contrast: &'a Contrast,
    mode: &'a RunMode,
    /// Studies ordered by group; group g is `order[ends[g - 1]..ends[g]]`.
    order: Vec<usize>,
    ends: [usize; MAX_P],
    /// Columns and groups with a non-zero contrast weight.
    touched_col: [bool; MAX_P],
    touched_group: [bool; MAX_P],
    /// t → z at each whole DOF up to the number of studies (FLAME1 and OLS never exceed it).
    t_to_z: Vec<TToZ>,
}

impl<'a> Ctx<'a> {
    fn new(design: &'a Design, contrast: &'a Contrast, mode: &'a RunMode) -> Ctx<'a> {
        let mut order: Vec<usize> = (0..design.n_studies()).collect();
        order.sort_by_key(|&k| design.group(k));
        let mut ends = [0; MAX_P];
        for (g, end) in ends.iter_mut().enumerate().take(design.n_groups()) {
            *end = order.partition_point(|&k| design.group(k) <= g);
        }
        let mut touched_col = [false; MAX_P];
        let mut touched_group = [false; MAX_P];
        for j in 0..design.n_columns() {
            touched_col[j] = (0..contrast.n_rows()).any(|i| contrast.row(i)[j] != 0.0);
            touched_group[design.column_group(j)] |= touched_col[j];
        }
        let t_to_z = (0..=design.n_studies()).map(|d| TToZ::new(d as f64)).collect();
        Ctx { design, contrast, mode, order, ends, touched_col, touched_group, t_to_z }
    }

    fn voxel(&self, c: &[f64], s: &[f64], buf: &mut Buf) -> VoxelOut {
        let (d, p, n_groups) = (self.design, self.design.n_columns(), self.design.n_groups());
        for v in [&mut buf.y, &mut buf.s, &mut buf.x, &mut buf.w, &mut buf.yn, &mut buf.sn] {
            v.clear();
        }
        buf.study.clear();
        let mut ends = [0; MAX_P];
        let mut start = 0;
        for (end, &group_end) in ends.iter_mut().zip(&self.ends).take(n_groups) {
            for &k in &self.order[start..group_end] {
                if !c[k].is_nan() && !s[k].is_nan() {
                    buf.y.push(c[k]);
                    buf.s.push(s[k]);
                    buf.study.push(k);
                    buf.x.extend_from_slice(d.row(k));
                    buf.x.resize(buf.y.len() * MAX_P, 0.0);
                }
            }
            start = group_end;
            *end = buf.y.len();
        }
        let n = buf.y.len();
        // Columns present at this voxel; the contrast must not need an absent one.
        let (mut act, mut pa) = ([0; MAX_P], 0);
        for j in 0..p {
            if (0..n).any(|r| buf.x[r * MAX_P + j] != 0.0) {
                act[pa] = j;
                pa += 1;
            } else if self.touched_col[j] {
                return NAN_OUT;
            }
        }
        let act = &act[..pa];
        let mut tau2 = [f64::NAN; MAX_P];
        let (dof, scale) = match self.mode {
            RunMode::Ols => {
                if n <= pa {
                    return NAN_OUT;
                }
                buf.w.resize(n, 1.0);
                ((n - pa) as f64, None)
            }
            RunMode::Fe { study_dof } => {
                // One study alone is no meta-analysis: NaN, as for every other estimator.
                if n < 2 {
                    return NAN_OUT;
                }
                buf.w.extend(buf.s.iter().map(|s| 1.0 / s));
                let dof = if study_dof.is_empty() {
                    FE_DOF_CAP
                } else {
                    buf.study.iter().map(|&k| study_dof[k]).sum::<f64>().min(FE_DOF_CAP) - pa as f64
                };
                (dof, Some(1.0))
            }
            RunMode::Flame1(opt) => {
                let Some(dof) = self.flame1_tau2(buf, &ends, act, *opt, &mut tau2) else {
                    return NAN_OUT;
                };
                (dof, Some(1.0))
            }
        };
        let Some((gamma, cov)) = wls(buf, act, scale) else { return NAN_OUT };
        let out = self.test(&gamma, &cov, act, dof);
        VoxelOut { tau2, ..out }
    }

    /// σ̂²_g for every group into `tau2` (original units) and the weights into `buf.w`;
    /// returns the DOF, or `None` if a touched group has n_g − p_g < 1.
    fn flame1_tau2(
        &self,
        buf: &mut Buf,
        ends: &[usize; MAX_P],
        act: &[usize],
        optimizer: Optimizer,
        tau2: &mut [f64; MAX_P],
    ) -> Option<f64> {
        let n_groups = self.design.n_groups();
        let n = buf.y.len();
        let mut dof = f64::INFINITY;
        for g in 0..n_groups {
            let n_g = ends[g] - if g == 0 { 0 } else { ends[g - 1] };
            let p_g = act.iter().filter(|&&j| self.design.column_group(j) == g).count();
            if self.touched_group[g] {
                if n_g < p_g + 1 {
                    return None;
                }
                dof = dof.min((n_g - p_g) as f64);
            }
        }
        if !dof.is_finite() {
            return None;
        }
        // flameo's units: the copes' sample variance ŝ² (n ≥ 2 here) gives the floor and, with
        // ŝ in single precision as flameo holds it, the fsl search's units; the global search
        // works in units of the mean square Σy²/n, which sign flips leave unchanged (the
        // permutation kernel relies on it).
        let mean = buf.y.iter().sum::<f64>() / n as f64;
        let var = buf.y.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let (sd, unit) = units(optimizer, &buf.y, var);
        buf.yn.extend(buf.y.iter().map(|y| y / sd));
        buf.sn.extend(buf.s.iter().map(|s| s / unit));
        for g in 0..n_groups {
            let rows = if g == 0 { 0 } else { ends[g - 1] }..ends[g];
            let (mut cols, mut p_g) = ([0; MAX_P], 0);
            for &j in act.iter().filter(|&&j| self.design.column_group(j) == g) {
                cols[p_g] = j;
                p_g += 1;
            }
            if rows.len() < p_g + 1 {
                continue; // not identifiable; untouched by the contrast (checked above)
            }
            tau2[g] = if var > 0.0 {
                let rows = GroupRows {
                    y: &buf.yn[rows.clone()],
                    s: &buf.sn[rows.clone()],
                    x: &buf.x[rows.start * MAX_P..rows.end * MAX_P],
                    stride: MAX_P,
                    cols: &cols[..p_g],
                };
                let grid = (buf.grid_set && n_groups == 1).then_some(&buf.grid[..]);
                match optimise::optimise(&rows, optimizer, &mut buf.search, grid) {
                    Some(s2) => (s2 * unit).max(SIGMA2_FLOOR * var),
                    None if self.touched_group[g] => return None,
                    None => f64::NAN,
                }
            } else {
                0.0 // all copes identical: FSL divides by zero; ibma uses fixed-effects weights
            };
        }
        for g in 0..n_groups {
            let rows = if g == 0 { 0 } else { ends[g - 1] }..ends[g];
            // A non-identifiable group's weights only enter its own, untouched, block.
            let t = if tau2[g].is_nan() { 0.0 } else { tau2[g] };
            buf.w.extend(buf.s[rows].iter().map(|s| 1.0 / (s + t)));
        }
        Some(dof)
    }

    /// Contrast estimate, varcope, t or F, z, ln p.
    fn test(&self, gamma: &[f64; MAX_P], cov: &SmallMat, act: &[usize], dof: f64) -> VoxelOut {
        let q = self.contrast.n_rows();
        let mut cv = [[0.0; MAX_P]; MAX_P];
        let mut est = [0.0; MAX_P];
        for i in 0..q {
            let row = self.contrast.row(i);
            for (a, &j) in act.iter().enumerate() {
                cv[i][a] = row[j];
            }
            est[i] = (0..act.len()).map(|a| cv[i][a] * gamma[a]).sum();
        }
        let mut m = SmallMat::zeros(q);
        for i in 0..q {
            for j in 0..q {
                let mut sum = 0.0;
                for a in 0..act.len() {
                    for b in 0..act.len() {
                        sum += cv[i][a] * cov.get(a, b) * cv[j][b];
                    }
                }
                m.set(i, j, sum);
            }
        }
        let dof_z = (dof + 0.5).floor();
        if !self.contrast.is_f() {
            let varcope = m.get(0, 0);
            let out = VoxelOut { est: est[0], varcope, dof, ..NAN_OUT };
            if !(varcope.is_finite() && varcope > 0.0) {
                return out;
            }
            let t = est[0] / varcope.sqrt();
            let (z, nlogp) = match self.t_to_z.get(dof_z as usize) {
                Some(ttoz) if dof_z >= 0.0 => ttoz.z_and_two_sided_nlogp(t),
                _ => (t_to_z(t, dof_z), t_to_nlogp(t, dof_z, Tail::Two)),
            };
            return VoxelOut { stat: t, z, nlogp, ..out };
        }
        let out = VoxelOut { dof, ..NAN_OUT };
        let Some(chol) = Cholesky::new(&m) else { return out };
        let mut x = est;
        chol.solve(&mut x[..q]);
        let f = est[..q].iter().zip(&x[..q]).map(|(e, x)| e * x).sum::<f64>() / q as f64;
        let nlogp = fdist::log_sf(f, q as f64, dof_z);
        VoxelOut { stat: f, z: nlogp_to_z(nlogp, Tail::One), nlogp, ..out }
    }
}

/// (ŝ, ŝ²) the σ² search works in for copes `y` with sample variance `var`: flameo holds ŝ in
/// single precision and squares it there; the global search uses the mean square Σy²/n.
fn units(optimizer: Optimizer, y: &[f64], var: f64) -> (f64, f64) {
    match optimizer {
        Optimizer::Fsl => {
            let sd = var.sqrt() as f32;
            (f64::from(sd), f64::from(sd * sd))
        }
        Optimizer::Global => {
            let unit = y.iter().map(|y| y * y).sum::<f64>() / y.len() as f64;
            (unit.sqrt(), unit)
        }
    }
}

/// flameo's cap on fixed-effects DOF.
const FE_DOF_CAP: f64 = 1000.0;

/// γ̂ and Cov = (XᵀWX)⁻¹ over the active columns with weights `buf.w`. `scale` None means
/// OLS: Cov is multiplied by σ̂² = RSS/(N − P). None if XᵀWX is singular.
fn wls(buf: &Buf, act: &[usize], scale: Option<f64>) -> Option<([f64; MAX_P], SmallMat)> {
    let pa = act.len();
    let mut a = SmallMat::zeros(pa);
    let mut gamma = [0.0; MAX_P];
    let row = |r: usize| -> [f64; MAX_P] { std::array::from_fn(|i| act.get(i).map_or(0.0, |&j| buf.x[r * MAX_P + j])) };
    for (r, (&y, &w)) in buf.y.iter().zip(&buf.w).enumerate() {
        let z = row(r);
        a.add_outer(&z[..pa], w);
        for (g, zj) in gamma.iter_mut().zip(&z[..pa]) {
            *g += w * y * zj;
        }
    }
    let chol = Cholesky::new(&a)?;
    chol.solve(&mut gamma[..pa]);
    let mut cov = chol.inverse();
    let sigma2 = scale.unwrap_or_else(|| {
        let rss: f64 = buf
            .y
            .iter()
            .enumerate()
            .map(|(r, &y)| (y - row(r)[..pa].iter().zip(&gamma[..pa]).map(|(z, g)| z * g).sum::<f64>()).powi(2))
            .sum();
        rss / (buf.y.len() - pa) as f64
    });
    for i in 0..pa {
        for j in 0..pa {
            cov.set(i, j, cov.get(i, j) * sigma2);
        }
    }
    Some((gamma, cov))
}
