//! The masked voxel grid, neighbourhoods, union–find and connected-component labelling.

use super::Connectivity;

/// "No mask voxel here" in the padded lookup.
const NONE: u32 = u32::MAX;

/// A 3-D grid `[nx, ny, nz]` (C order: flat v = (i·ny + j)·nz + k) and the in-mask voxels, in
/// ascending flat order. Maps handled by this module are per-mask-voxel slices in that order;
/// "mask position" below means an index into [`Grid::mask_indices`].
#[derive(Clone, Debug)]
pub struct Grid {
    dims: [usize; 3],
    mask: Vec<usize>,
    /// Strides of the grid padded by one voxel on every side: neighbour lookups then need no
    /// bounds checks (the padding is never in the mask).
    pstride: [isize; 3],
    /// Padded flat index → mask position, or `NONE`.
    lookup: Vec<u32>,
    /// Padded flat index of every mask voxel.
    padded: Vec<usize>,
}

impl Grid {
    /// A grid with the in-mask voxels `mask_indices` (flat C-order indices, strictly ascending).
    #[track_caller]
    pub fn new(dims: [usize; 3], mask_indices: &[usize]) -> Grid {
        let n_grid = dims.iter().product::<usize>();
        assert!(mask_indices.windows(2).all(|w| w[0] < w[1]), "mask indices must be strictly ascending");
        assert!(mask_indices.last().is_none_or(|&v| v < n_grid), "mask index outside the {dims:?} grid");
        assert!(mask_indices.len() < NONE as usize, "too many mask voxels");
        let pd = [dims[0] + 2, dims[1] + 2, dims[2] + 2];
        let pstride = [(pd[1] * pd[2]) as isize, pd[2] as isize, 1];
        let mut lookup = vec![NONE; pd[0] * pd[1] * pd[2]];
        let padded: Vec<usize> = mask_indices
            .iter()
            .map(|&v| {
                let [i, j, k] = unflatten(dims, v);
                ((i + 1) * pd[1] + (j + 1)) * pd[2] + (k + 1)
            })
            .collect();
        for (m, &p) in padded.iter().enumerate() {
            lookup[p] = m as u32;
        }
        Grid { dims, mask: mask_indices.to_vec(), pstride, lookup, padded }
    }

    /// A grid whose every voxel is in the mask.
    pub fn full(dims: [usize; 3]) -> Grid {
        let n: usize = dims.iter().product();
        Grid::new(dims, &(0..n).collect::<Vec<_>>())
    }

    /// `[nx, ny, nz]`.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Number of mask voxels (the length of every per-mask-voxel map).
    pub fn n_voxels(&self) -> usize {
        self.mask.len()
    }

    /// The in-mask flat indices, ascending.
    pub fn mask_indices(&self) -> &[usize] {
        &self.mask
    }

    /// Voxel coordinates (i, j, k) of mask position `m`.
    pub fn coords(&self, m: usize) -> [usize; 3] {
        unflatten(self.dims, self.mask[m])
    }

    /// True when the volume has a single slice (nz = 1): GRF and smoothness are then 2-D.
    pub fn is_2d(&self) -> bool {
        self.dims[2] == 1
    }

    /// Mask position of the voxel at padded offset `off` from mask voxel `m`, if in the mask.
    #[inline]
    pub(super) fn neighbour(&self, m: usize, off: isize) -> Option<usize> {
        let p = self.padded[m].wrapping_add_signed(off);
        let n = self.lookup[p];
        (n != NONE).then_some(n as usize)
    }

    /// Padded flat index of mask voxel `m` (indexes [`Grid::padded_len`]-sized scratch).
    #[inline]
    pub(super) fn padded_index(&self, m: usize) -> usize {
        self.padded[m]
    }

    /// Mask position at a padded flat index, if in the mask.
    #[inline]
    pub(super) fn at_padded(&self, p: usize) -> Option<usize> {
        let n = self.lookup[p];
        (n != NONE).then_some(n as usize)
    }

    /// Size of the padded grid.
    pub(super) fn padded_len(&self) -> usize {
        self.lookup.len()
    }

    /// Padded offset of the axis-`d` predecessor (v − e_d).
    pub(super) fn axis_offset(&self, d: usize) -> isize {
        -self.pstride[d]
    }

    /// Padded offsets of the neighbours under `conn` whose flat index is smaller ("backward"
    /// half, for a single ascending scan) or all of them.
    pub(super) fn offsets(&self, conn: Connectivity, backward_only: bool) -> Vec<isize> {
        let max_nonzero = match conn {
            Connectivity::Six => 1,
            Connectivity::Eighteen => 2,
            Connectivity::TwentySix => 3,
        };
        let mut out = Vec::with_capacity(26);
        for di in -1isize..=1 {
            for dj in -1isize..=1 {
                for dk in -1isize..=1 {
                    let nonzero = [di, dj, dk].iter().filter(|&&d| d != 0).count();
                    if nonzero == 0 || nonzero > max_nonzero {
                        continue;
                    }
                    let off = di * self.pstride[0] + dj * self.pstride[1] + dk * self.pstride[2];
                    if !backward_only || off < 0 {
                        out.push(off);
                    }
                }
            }
        }
        out
    }
}

/// (i, j, k) of a C-order flat index.
fn unflatten(dims: [usize; 3], v: usize) -> [usize; 3] {
    [v / (dims[1] * dims[2]), (v / dims[2]) % dims[1], v % dims[2]]
}

/// Union–find over mask positions: union by size, path halving.
#[derive(Clone, Debug, Default)]
pub(super) struct UnionFind {
    pub(super) parent: Vec<u32>,
    pub(super) size: Vec<u32>,
}

impl UnionFind {
    /// Make room for `n` elements (their state is set by [`UnionFind::make_set`]).
    pub(super) fn reserve(&mut self, n: usize) {
        if self.parent.len() < n {
            self.parent.resize(n, 0);
            self.size.resize(n, 0);
        }
    }

    #[inline]
    pub(super) fn make_set(&mut self, m: usize) {
        self.parent[m] = m as u32;
        self.size[m] = 1;
    }

    #[inline]
    pub(super) fn find(&mut self, mut m: usize) -> usize {
        while self.parent[m] as usize != m {
            let grand = self.parent[self.parent[m] as usize];
            self.parent[m] = grand;
            m = grand as usize;
        }
        m
    }

    /// Merge the sets of `a` and `b`; returns the new root.
    #[inline]
    pub(super) fn union(&mut self, a: usize, b: usize) -> usize {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra as u32;
        self.size[ra] += self.size[rb];
        ra
    }
}

/// Label the mask voxels with `values[m] ≥ threshold` (NaN never) into `uf`, in one ascending
/// scan joining each voxel to its backward neighbours. Returns whether any voxel was supra.
pub(super) fn label_into(grid: &Grid, values: &[f64], threshold: f64, backward: &[isize], uf: &mut UnionFind) -> bool {
    uf.reserve(grid.n_voxels());
    let mut any = false;
    for m in 0..grid.n_voxels() {
        if values[m] >= threshold {
            any = true;
            uf.make_set(m);
            for &off in backward {
                if let Some(n) = grid.neighbour(m, off) {
                    if values[n] >= threshold {
                        uf.union(m, n);
                    }
                }
            }
        }
    }
    any
}
