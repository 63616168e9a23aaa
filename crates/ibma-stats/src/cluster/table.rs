//! GRF cluster thresholding of a z map and the `clusters.tsv` rows (docs/inference.md §3–§5).

use super::grf::{ClusterP, Grf};
use super::grid::Grid;
use super::{clusters, x_fastest_key, Cluster, Connectivity};
use crate::transform::Tail;

/// Cope columns of a cluster (present when the estimate map is given).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CopeSummary {
    /// `cope_max`: the largest cope in the cluster, signed (the smallest for a negative cluster,
    /// whose tail is run on −cope).
    pub max: f64,
    /// `cope_max_x/_y/_z` (mm): first voxel attaining it in x-fastest scan order.
    pub max_mm: [f64; 3],
    /// `cope_mean`: mean cope over the cluster's non-NaN voxels.
    pub mean: f64,
}

/// One row of `clusters.tsv` (docs/inference.md §5).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRow {
    /// FSL index within its tail: 1 = smallest surviving cluster.
    pub cluster_id: usize,
    /// +1 (positive tail) or −1 (negative tail).
    pub sign: i8,
    /// Number of voxels.
    pub n_voxels: usize,
    /// n_voxels × voxel volume (|det| of the affine's 3×3 part).
    pub volume_mm3: f64,
    /// Cluster p.
    pub p: f64,
    /// −log10 p (exact where p underflows).
    pub log10p: f64,
    /// Peak z, signed.
    pub z_max: f64,
    /// Peak position (mm).
    pub z_max_mm: [f64; 3],
    /// |z|-weighted centre of gravity (mm).
    pub z_cog_mm: [f64; 3],
    /// Cope columns, if a cope map was given.
    pub cope: Option<CopeSummary>,
}

impl ClusterRow {
    /// Column names of the fields always present, in file order.
    pub const COLUMNS: [&'static str; 13] = [
        "cluster_id",
        "sign",
        "n_voxels",
        "volume_mm3",
        "p",
        "log10p",
        "z_max",
        "z_max_x",
        "z_max_y",
        "z_max_z",
        "z_cog_x",
        "z_cog_y",
        "z_cog_z",
    ];
    /// Column names appended when a cope map is given.
    pub const COPE_COLUMNS: [&'static str; 5] = ["cope_max", "cope_max_x", "cope_max_y", "cope_max_z", "cope_mean"];

    /// Rows for the clusters of one tail, given in table order (decreasing size) with their p.
    /// The clusters were formed on sign·z; `z` and `cope` are the original (unflipped) maps.
    /// `affine`: voxel (i, j, k) → mm, rows of the 3×4 matrix.
    #[track_caller]
    pub fn for_tail(
        grid: &Grid,
        clusters: &[(Cluster, ClusterP)],
        sign: i8,
        cope: Option<&[f64]>,
        affine: &[[f64; 4]; 3],
    ) -> Vec<ClusterRow> {
        assert!(sign == 1 || sign == -1, "sign must be ±1");
        let s = f64::from(sign);
        let a = affine;
        let voxel_volume = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
            .abs();
        let n = clusters.len();
        clusters
            .iter()
            .enumerate()
            .map(|(rank, (c, p))| ClusterRow {
                cluster_id: n - rank,
                sign,
                n_voxels: c.size(),
                volume_mm3: c.size() as f64 * voxel_volume,
                p: p.p,
                log10p: p.log10p(),
                z_max: s * c.peak,
                z_max_mm: to_mm(affine, grid.coords(c.peak_voxel).map(|x| x as f64)),
                z_cog_mm: to_mm(affine, c.cog),
                cope: cope.map(|cope| cope_summary(grid, c, cope, s, affine)),
            })
            .collect()
    }
}

/// Voxel coordinates → mm.
fn to_mm(a: &[[f64; 4]; 3], ijk: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|r| a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3])
}

fn cope_summary(grid: &Grid, c: &Cluster, cope: &[f64], s: f64, affine: &[[f64; 4]; 3]) -> CopeSummary {
    let (mut best, mut at, mut sum, mut count) = (f64::NEG_INFINITY, None, 0.0, 0usize);
    for &m in &c.voxels {
        let v = s * cope[m];
        if v.is_nan() {
            continue;
        }
        sum += cope[m];
        count += 1;
        let better = match at {
            None => true,
            Some(b) => v > best || (v >= best && x_fastest_key(grid, m) < x_fastest_key(grid, b)),
        };
        if better {
            (best, at) = (v, Some(m));
        }
    }
    match at {
        Some(b) => CopeSummary {
            max: s * best,
            max_mm: to_mm(affine, grid.coords(b).map(|x| x as f64)),
            mean: sum / count as f64,
        },
        None => CopeSummary { max: f64::NAN, max_mm: [f64::NAN; 3], mean: f64::NAN },
    }
}

/// Result of GRF cluster thresholding (docs/inference.md §5).
#[derive(Clone, Debug, PartialEq)]
pub struct GrfInference {
    /// `z_level-cluster_corr-FWE_method-grf`: z where the voxel's cluster survives (negative
    /// values from the negative tail), 0 elsewhere in the mask, NaN where z is NaN.
    pub z_thresholded: Vec<f64>,
    /// `cluster_index`: the surviving cluster's FSL index, negated for the negative tail; 0
    /// elsewhere.
    pub cluster_index: Vec<i32>,
    /// `logp_level-cluster`: −log10 p of the voxel's surviving cluster, 0 elsewhere, NaN where z
    /// is NaN.
    pub logp: Vec<f64>,
    /// `clusters.tsv`: surviving clusters, positive tail then negative, each by decreasing size.
    pub table: Vec<ClusterRow>,
}

/// Parameters of GRF cluster thresholding (docs/inference.md §3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrfOptions {
    /// Cluster p threshold `q`: a cluster survives when p ≤ q (§4: clusters with p > q are
    /// discarded). Default 0.05.
    pub q: f64,
    /// Cluster connectivity (default 26).
    pub connectivity: Connectivity,
    /// [`Tail::Two`] (default) also forms clusters of −z ≥ u; [`Tail::One`] only z ≥ u.
    pub tail: Tail,
}

impl Default for GrfOptions {
    fn default() -> GrfOptions {
        GrfOptions { q: 0.05, connectivity: Connectivity::TwentySix, tail: Tail::Two }
    }
}

/// GRF cluster inference on `z` at `grf`'s threshold u: clusters of z ≥ u (and of −z ≥ u when
/// two-sided) with their GRF p; the survivors fill the maps and the table. `cope` (optional)
/// fills the cope columns; `affine` (rows of the 3×4 voxel → mm matrix) gives the coordinates.
#[track_caller]
pub fn grf_inference(
    grid: &Grid,
    z: &[f64],
    cope: Option<&[f64]>,
    grf: &Grf,
    options: &GrfOptions,
    affine: &[[f64; 4]; 3],
) -> GrfInference {
    let GrfOptions { q, connectivity: conn, tail } = *options;
    let n = grid.n_voxels();
    assert_eq!(z.len(), n, "one z per mask voxel");
    assert!(cope.is_none_or(|c| c.len() == n), "one cope per mask voxel");
    let mut out = GrfInference {
        z_thresholded: z.iter().map(|&v| if v.is_nan() { v } else { 0.0 }).collect(),
        cluster_index: vec![0; n],
        logp: z.iter().map(|&v| if v.is_nan() { v } else { 0.0 }).collect(),
        table: Vec::new(),
    };
    let signs: &[i8] = if tail == Tail::Two { &[1, -1] } else { &[1] };
    for &sign in signs {
        let s = f64::from(sign);
        let flipped: Vec<f64> = z.iter().map(|&v| s * v).collect();
        let surviving: Vec<(Cluster, ClusterP)> = clusters(grid, &flipped, grf.threshold(), conn)
            .into_iter()
            .map(|c| {
                let p = grf.cluster_p(c.size());
                (c, p)
            })
            .filter(|(_, p)| p.p <= q)
            .collect();
        let rows = ClusterRow::for_tail(grid, &surviving, sign, cope, affine);
        for ((c, _), row) in surviving.iter().zip(&rows) {
            for &m in &c.voxels {
                out.z_thresholded[m] = z[m];
                out.cluster_index[m] = i32::from(sign) * row.cluster_id as i32;
                out.logp[m] = row.log10p;
            }
        }
        out.table.extend(rows);
    }
    out
}
