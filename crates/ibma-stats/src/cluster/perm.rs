//! Permutation cluster inference (docs/inference.md §7): per-permutation maxima of cluster
//! size, cluster mass and TFCE, and FWE p from a null of maxima.

use super::grid::{label_into, Grid};
use super::tfce::{sweep, TfceParams, Workspace};
use super::{clusters, Cluster, Connectivity};
use crate::permute::FweMaps;
use crate::transform::{p_to_z, Tail};

/// Maxima of one statistic map, for the three permutation nulls (over both tails when
/// two-sided; 0 when nothing exceeds the threshold).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaxStats {
    /// Largest cluster size (voxels) at the cluster-forming threshold.
    pub size: usize,
    /// Largest cluster mass Σ(z − u) at that threshold.
    pub mass: f64,
    /// Largest |TFCE| (0 when TFCE was not requested).
    pub tfce: f64,
}

/// Which cluster statistic a permutation null was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterMeasure {
    /// Cluster size in voxels (`method-size`).
    Size,
    /// Cluster mass Σ(z − u) (`method-mass`).
    Mass,
}

impl ClusterMeasure {
    /// The statistic of a cluster; bit-identical to what [`max_stats`] records for it.
    pub fn of(self, cluster: &Cluster) -> f64 {
        match self {
            ClusterMeasure::Size => cluster.size() as f64,
            ClusterMeasure::Mass => cluster.mass,
        }
    }
}

/// Max cluster size and mass at `u` and max TFCE (when `tfce` is given) of `values`, both tails
/// when two-sided, reusing `ws`. Masses are summed in the same order as [`clusters`] sums them,
/// so the observed map's clusters compare exactly against a null that includes it.
#[track_caller]
pub fn max_stats(
    grid: &Grid,
    values: &[f64],
    u: f64,
    conn: Connectivity,
    tail: Tail,
    tfce: Option<&TfceParams>,
    ws: &mut Workspace,
) -> MaxStats {
    assert_eq!(values.len(), grid.n_voxels(), "one value per mask voxel");
    let backward = grid.offsets(conn, true);
    let all = tfce.map(|_| grid.offsets(conn, false));
    let mut best = one_tail(grid, values, u, &backward, tfce.zip(all.as_deref()), ws);
    if tail == Tail::Two {
        let mut negated = std::mem::take(&mut ws.negated);
        negated.clear();
        negated.extend(values.iter().map(|&x| -x));
        let neg = one_tail(grid, &negated, u, &backward, tfce.zip(all.as_deref()), ws);
        ws.negated = negated;
        best = MaxStats { size: best.size.max(neg.size), mass: best.mass.max(neg.mass), tfce: best.tfce.max(neg.tfce) };
    }
    best
}

fn one_tail(
    grid: &Grid,
    values: &[f64],
    u: f64,
    backward: &[isize],
    tfce: Option<(&TfceParams, &[isize])>,
    ws: &mut Workspace,
) -> MaxStats {
    let mut stats = MaxStats::default();
    if label_into(grid, values, u, backward, &mut ws.uf) {
        ws.mass.clear();
        ws.mass.resize(grid.n_voxels(), 0.0);
        for (m, &v) in values.iter().enumerate() {
            if v >= u {
                let r = ws.uf.find(m);
                ws.mass[r] += v - u;
            }
        }
        for (m, &v) in values.iter().enumerate() {
            if v >= u && ws.uf.parent[m] as usize == m {
                stats.size = stats.size.max(ws.uf.size[m] as usize);
                stats.mass = stats.mass.max(ws.mass[m]);
            }
        }
    }
    if let Some((params, all)) = tfce {
        stats.tfce = sweep(grid, values, params, all, ws);
    }
    stats
}

/// Permutation FWE p of an observed statistic: (#{i : null_i ≥ observed} + 1)/(N + 1); NaN
/// entries never exceed. Never below 1/(N + 1).
pub fn fwe_p_from_null(observed: f64, null: &[f64]) -> f64 {
    let exceed = null.iter().filter(|&&h| h >= observed).count();
    (exceed + 1) as f64 / (null.len() + 1) as f64
}

/// Observed clusters at `u` with their permutation FWE p, and the voxel maps
/// `{p,z,logp}_level-cluster_corr-FWE_method-{size,mass}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterFwe {
    /// Voxel value = its cluster's p (z = p_to_z(p, tail)·sign, logp = −log10 p); in-mask voxels
    /// outside every cluster p = 1, z = 0, logp = 0; NaN where z is NaN.
    pub maps: FweMaps,
    /// Positive-tail clusters (on z) with their p, by decreasing size.
    pub positive: Vec<(Cluster, f64)>,
    /// Negative-tail clusters (on −z; empty one-sided) with their p, by decreasing size.
    pub negative: Vec<(Cluster, f64)>,
}

/// Permutation cluster inference on the observed `z` given the null of maxima `null` (from
/// [`max_stats`]: `size as f64` or `mass`, pooled over tails when two-sided).
#[track_caller]
pub fn cluster_fwe_maps(
    grid: &Grid,
    z: &[f64],
    u: f64,
    conn: Connectivity,
    tail: Tail,
    measure: ClusterMeasure,
    null: &[f64],
) -> ClusterFwe {
    assert_eq!(z.len(), grid.n_voxels(), "one value per mask voxel");
    let with_p = |cs: Vec<Cluster>| -> Vec<(Cluster, f64)> {
        cs.into_iter()
            .map(|c| {
                let p = fwe_p_from_null(measure.of(&c), null);
                (c, p)
            })
            .collect()
    };
    let positive = with_p(clusters(grid, z, u, conn));
    let negative = if tail == Tail::Two {
        let negated: Vec<f64> = z.iter().map(|&x| -x).collect();
        with_p(clusters(grid, &negated, u, conn))
    } else {
        Vec::new()
    };
    let n = grid.n_voxels();
    let mut maps = FweMaps { p: vec![1.0; n], z: vec![0.0; n], logp: vec![0.0; n] };
    for (list, sign) in [(&positive, 1.0), (&negative, -1.0)] {
        for (c, p) in list {
            let (zv, logp) = (p_to_z(*p, tail) * sign, -p.log10() + 0.0);
            for &m in &c.voxels {
                (maps.p[m], maps.z[m], maps.logp[m]) = (*p, zv + 0.0, logp);
            }
        }
    }
    for (m, &zv) in z.iter().enumerate() {
        if zv.is_nan() {
            (maps.p[m], maps.z[m], maps.logp[m]) = (f64::NAN, f64::NAN, f64::NAN);
        }
    }
    ClusterFwe { maps, positive, negative }
}
