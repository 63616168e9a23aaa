//! Threshold-free cluster enhancement (Smith & Nichols 2009; docs/inference.md §7).
//!
//! TFCE(v) = Σ_{k ≥ 1, k·dh ≤ z(v)} e_k(v)^E · (k·dh)^H · dh, e_k(v) the size of v's cluster among
//! the voxels with z ≥ k·dh. Instead of labelling every level from scratch, one sweep adds the
//! voxels level by level from the top into a union–find (clusters only merge as the level drops)
//! and, after each level, adds that level's term to every active voxel. Each voxel's terms are
//! summed in order of decreasing k, the order a direct per-level implementation would also use.

use super::grid::{Grid, UnionFind};
use super::Connectivity;
use crate::transform::Tail;

/// TFCE parameters: extent exponent E, height exponent H and step dh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TfceParams {
    /// Extent exponent (0.5).
    pub e: f64,
    /// Height exponent (2).
    pub h: f64,
    /// Height step (0.1).
    pub dh: f64,
}

impl Default for TfceParams {
    fn default() -> TfceParams {
        TfceParams { e: 0.5, h: 2.0, dh: 0.1 }
    }
}

impl TfceParams {
    /// e^E; E = ½ through `sqrt` (exact and faster than `powf`).
    #[inline]
    pub(super) fn extent(&self, size: u32) -> f64 {
        if self.e.to_bits() == 0.5f64.to_bits() {
            f64::from(size).sqrt()
        } else {
            f64::from(size).powf(self.e)
        }
    }

    /// (k·dh)^H·dh, the weight of level k.
    #[inline]
    pub(super) fn height_weight(&self, k: u32) -> f64 {
        let h = f64::from(k) * self.dh;
        h.powf(self.h) * self.dh
    }

    /// Number of levels k ≥ 1 with k·dh ≤ z (0 for NaN and z < dh); membership of level k is
    /// decided by that same product, so rounding of z/dh cannot make the two disagree.
    #[track_caller]
    pub(super) fn n_levels(&self, z: f64) -> u32 {
        if z.is_nan() || z < self.dh {
            return 0;
        }
        assert!(z.is_finite(), "TFCE of an infinite value");
        let mut l = (z / self.dh).floor() as u32;
        while l > 0 && f64::from(l) * self.dh > z {
            l -= 1;
        }
        while f64::from(l + 1) * self.dh <= z {
            l += 1;
        }
        l
    }
}

/// Reusable buffers for TFCE sweeps and labelling; one per worker in a permutation loop.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    pub(super) uf: UnionFind,
    level: Vec<u32>,
    /// Levels on the padded grid (0 outside the mask), so that an inactive neighbour costs one
    /// load; all zero between calls.
    plevel: Vec<u32>,
    order: Vec<u32>,
    start: Vec<usize>,
    pub(super) out: Vec<f64>,
    pub(super) negated: Vec<f64>,
    pub(super) mass: Vec<f64>,
}

impl Workspace {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Workspace {
        Workspace::default()
    }
}

/// TFCE map of `values` (one per mask voxel). One-sided: the positive tail only (voxels below
/// dh get 0). Two-sided: positive voxels from z, negative ones from −z reported negative.
/// NaN stays NaN.
#[track_caller]
pub fn tfce(grid: &Grid, values: &[f64], params: &TfceParams, conn: Connectivity, tail: Tail) -> Vec<f64> {
    assert_eq!(values.len(), grid.n_voxels(), "one value per mask voxel");
    assert!(params.dh > 0.0, "TFCE step must be positive");
    let mut ws = Workspace::new();
    let offsets = grid.offsets(conn, false);
    sweep(grid, values, params, &offsets, &mut ws);
    let mut out = std::mem::take(&mut ws.out);
    if tail == Tail::Two {
        let negated: Vec<f64> = values.iter().map(|&x| -x).collect();
        sweep(grid, &negated, params, &offsets, &mut ws);
        for (o, &n) in out.iter_mut().zip(&ws.out) {
            *o -= n;
        }
    }
    for (o, &v) in out.iter_mut().zip(values) {
        if v.is_nan() {
            *o = v;
        }
    }
    out
}

/// One-tailed TFCE of `values` into `ws.out` (0 where no level is reached); returns its maximum
/// (0 when empty). `offsets`: all neighbour offsets of the connectivity.
pub(super) fn sweep(grid: &Grid, values: &[f64], params: &TfceParams, offsets: &[isize], ws: &mut Workspace) -> f64 {
    let n = grid.n_voxels();
    ws.uf.reserve(n);
    ws.out.clear();
    ws.out.resize(n, 0.0);
    ws.level.clear();
    ws.level.extend(values.iter().map(|&z| params.n_levels(z)));
    let top = ws.level.iter().copied().max().unwrap_or(0) as usize;
    if top == 0 {
        return 0.0;
    }
    // Counting sort by level, highest first, ascending mask position within a level.
    ws.start.clear();
    ws.start.resize(top + 2, 0);
    for &l in &ws.level {
        if l > 0 {
            ws.start[l as usize] += 1;
        }
    }
    let mut acc = 0;
    for l in (1..=top).rev() {
        let count = ws.start[l];
        ws.start[l] = acc;
        acc += count;
    }
    ws.start[top + 1] = 0;
    let n_active = acc;
    ws.order.clear();
    ws.order.resize(n_active, 0);
    let mut fill = ws.start.clone();
    for (m, &l) in ws.level.iter().enumerate() {
        if l > 0 {
            ws.order[fill[l as usize]] = m as u32;
            fill[l as usize] += 1;
        }
    }

    if ws.plevel.len() != grid.padded_len() {
        ws.plevel.clear();
        ws.plevel.resize(grid.padded_len(), 0);
    }
    for &m in &ws.order {
        ws.plevel[grid.padded_index(m as usize)] = ws.level[m as usize];
    }
    let Workspace { uf, plevel, order, start, out, .. } = ws;
    for k in (1..=top as u32).rev() {
        let begin = start[k as usize];
        let end = if k == 1 { n_active } else { start[k as usize - 1] };
        for &m in &order[begin..end] {
            let m = m as usize;
            let p = grid.padded_index(m);
            uf.make_set(m);
            for &off in offsets {
                let q = p.wrapping_add_signed(off);
                // Active: a higher level, or this level and already added (lower position).
                let lq = plevel[q];
                if lq > k || (lq == k && q < p) {
                    let nb = grid.at_padded(q).expect("a voxel with a level is in the mask");
                    uf.union(m, nb);
                }
            }
        }
        let weight = params.height_weight(k);
        for &m in &order[..end] {
            let r = uf.find(m as usize);
            out[m as usize] += params.extent(uf.size[r]) * weight;
        }
    }
    for &m in order.iter() {
        plevel[grid.padded_index(m as usize)] = 0;
    }
    order.iter().map(|&m| out[m as usize]).fold(0.0, f64::max)
}
