//! Cluster inference (`docs/inference.md`): connected components, FSL
//! `smoothest` smoothness estimation, Gaussian-random-field cluster p-values and the
//! `z_level-cluster_corr-FWE_method-grf` map with its `clusters.tsv` table, TFCE, and the
//! permutation helpers (max cluster size / mass / TFCE per permutation, FWE p from a null).
//!
//! Everything works on a [`Grid`] (dims and ascending in-mask flat indices) and per-mask-voxel
//! slices. [`Mode::FslCompat`] reproduces FSL 5.0.x's numbers (its DOF-correction interpolation
//! and float32 p-values); [`Mode::Correct`] (the default) is the corrected computation.
//!
//! Determinism (ARCHITECTURE.md, invariants): every function here is sequential over voxels, with fixed
//! summation orders, so results do not depend on the thread count; permutation loops
//! parallelise over permutations, one [`Workspace`] per worker.

mod grf;
mod grid;
mod perm;
mod smooth;
mod table;
mod tfce;

pub use grf::{dof_correction, voxel_threshold, ClusterP, Grf};
pub use grid::Grid;
pub use perm::{cluster_fwe_maps, fwe_p_from_null, max_stats, ClusterFwe, ClusterMeasure, MaxStats};
pub use smooth::{smoothness, smoothness_by_volume, Smoothness, RFT_MIN_FWHM_VOXELS};
pub use table::{grf_inference, ClusterRow, CopeSummary, GrfInference, GrfOptions};
pub use tfce::{tfce, TfceParams, Workspace};

use grid::{label_into, UnionFind};
use std::cmp::Ordering;

/// Which neighbours are connected: faces (6), faces and edges (18), or all 26 (the default,
/// as FSL `cluster`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connectivity {
    /// Face neighbours.
    Six,
    /// Face and edge neighbours.
    Eighteen,
    /// Face, edge and corner neighbours.
    #[default]
    TwentySix,
}

impl Connectivity {
    /// From the `connectivity` parameter value (6, 18 or 26).
    pub fn from_neighbours(n: usize) -> Option<Connectivity> {
        match n {
            6 => Some(Connectivity::Six),
            18 => Some(Connectivity::Eighteen),
            26 => Some(Connectivity::TwentySix),
            _ => None,
        }
    }

    /// The parameter value (6, 18 or 26).
    pub fn neighbours(self) -> usize {
        match self {
            Connectivity::Six => 6,
            Connectivity::Eighteen => 18,
            Connectivity::TwentySix => 26,
        }
    }
}

/// Corrected computation or FSL 5.0.x's (docs/inference.md §2 step 6 and §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Linear interpolation of the DOF-correction table; p-values in double precision with
    /// log-space tails (the project default).
    #[default]
    Correct,
    /// FSL's interpolation anchored at the upper node and its float32 p-value numerics.
    FslCompat,
}

/// One connected component of supra-threshold voxels.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// Mask positions of its voxels, ascending.
    pub voxels: Vec<usize>,
    /// Σ (value − threshold) over its voxels (docs/inference.md §7), summed in voxel order.
    pub mass: f64,
    /// Largest value.
    pub peak: f64,
    /// Mask position of the peak: the first voxel attaining it in x-fastest (FSL) scan order.
    pub peak_voxel: usize,
    /// Value-weighted centre of gravity in voxel coordinates (i, j, k).
    pub cog: [f64; 3],
}

impl Cluster {
    /// Number of voxels.
    pub fn size(&self) -> usize {
        self.voxels.len()
    }
}

/// The clusters of `values[m] ≥ threshold` (inclusive, FSL `binarise`; NaN never), ordered by
/// decreasing size, ties by ascending first voxel.
#[track_caller]
pub fn clusters(grid: &Grid, values: &[f64], threshold: f64, conn: Connectivity) -> Vec<Cluster> {
    assert_eq!(values.len(), grid.n_voxels(), "one value per mask voxel");
    let mut uf = UnionFind::default();
    if !label_into(grid, values, threshold, &grid.offsets(conn, true), &mut uf) {
        return Vec::new();
    }
    // Components numbered by first voxel, so the lists come out ascending.
    let mut id_of_root = vec![u32::MAX; grid.n_voxels()];
    let mut lists: Vec<Vec<usize>> = Vec::new();
    for m in (0..grid.n_voxels()).filter(|&m| values[m] >= threshold) {
        let r = uf.find(m);
        if id_of_root[r] == u32::MAX {
            id_of_root[r] = lists.len() as u32;
            lists.push(Vec::new());
        }
        lists[id_of_root[r] as usize].push(m);
    }
    lists.sort_by_key(|l| std::cmp::Reverse(l.len())); // stable: ties keep first-voxel order
    lists.into_iter().map(|voxels| summarise(grid, values, threshold, voxels)).collect()
}

/// Mass, peak and centre of gravity of one component.
fn summarise(grid: &Grid, values: &[f64], threshold: f64, voxels: Vec<usize>) -> Cluster {
    let (mut mass, mut weight, mut cog) = (0.0, 0.0, [0.0; 3]);
    let mut peak_voxel = voxels[0];
    for &m in &voxels {
        let v = values[m];
        mass += v - threshold;
        let c = grid.coords(m);
        for d in 0..3 {
            cog[d] += v * c[d] as f64;
        }
        weight += v;
        match v.total_cmp(&values[peak_voxel]) {
            Ordering::Greater => peak_voxel = m,
            Ordering::Equal if x_fastest_key(grid, m) < x_fastest_key(grid, peak_voxel) => peak_voxel = m,
            _ => {}
        }
    }
    Cluster { voxels, mass, peak: values[peak_voxel], peak_voxel, cog: cog.map(|c| c / weight) }
}

/// Sort key of FSL's scan order (x fastest, then y, then z).
fn x_fastest_key(grid: &Grid, m: usize) -> [usize; 3] {
    let [i, j, k] = grid.coords(m);
    [k, j, i]
}
