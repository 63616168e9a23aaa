//! Cluster inference on a fitted result (cluster-inference.md): GRF clusters for FFX/MFX_GLM
//! (FSL semantics, `clusters.tsv`) and, for every one-sample estimator, permutation cluster-size,
//! cluster-mass and TFCE FWE from the same sign flips as `--correct montecarlo`.

use crate::dataset::{Inputs, StudyValues};
use crate::estimator::{bad_choice, parse_f64};
use crate::{Dataset, Error, Estimator, MetaResult, Result};
use ibma_stats::cluster::{
    cluster_fwe_maps, grf_inference, max_stats, smoothness_by_volume, tfce, ClusterMeasure, ClusterRow, Connectivity,
    Grf, GrfOptions, Grid, MaxStats, Mode, TfceParams, Workspace,
};
use ibma_stats::permute::fwe_maps;
use ibma_stats::transform::p_to_z;
use ibma_stats::Tail;
use rayon::prelude::*;

/// Cluster-forming options shared by GRF and the permutation cluster statistics
/// (cluster-inference.md §3; names as in the seed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusterOptions {
    /// Cluster-defining threshold: a p in (0, 1) converted with `cdt_tail`, or a z ≥ 1.
    pub cdt: f64,
    /// Tail of the cdt conversion (two: the seed's Φ⁻¹(1 − cdt/2)).
    pub cdt_tail: Tail,
    /// Neighbourhood of a cluster.
    pub connectivity: Connectivity,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { cdt: 0.01, cdt_tail: Tail::Two, connectivity: Connectivity::TwentySix }
    }
}

impl ClusterOptions {
    /// The cluster-forming z threshold u.
    pub fn threshold(&self) -> f64 {
        if self.cdt < 1.0 {
            p_to_z(self.cdt, self.cdt_tail)
        } else {
            self.cdt
        }
    }

    /// Set `cdt`, `cdt_tail` or `connectivity`; `Ok(false)` for other keys.
    pub fn set(&mut self, estimator: &str, key: &str, value: &str) -> Result<bool> {
        match key {
            "cdt" => {
                self.cdt = parse_f64(estimator, key, value, 0.0)
                    .ok()
                    // GRF needs u > 1 (cluster-inference.md §4).
                    .filter(|&c| if c < 1.0 { c > 0.0 && p_to_z(c, self.cdt_tail) > 1.0 } else { c > 1.0 })
                    .ok_or_else(|| {
                        bad_choice(estimator, key, value, "a p in (0, 1) whose z exceeds 1 (e.g. 0.01), or a z > 1")
                    })?
            }
            "cdt_tail" => {
                self.cdt_tail = match value {
                    "two" => Tail::Two,
                    "one" => Tail::One,
                    _ => return Err(bad_choice(estimator, key, value, "two, one")),
                }
            }
            "connectivity" => {
                self.connectivity = value
                    .parse::<usize>()
                    .ok()
                    .and_then(Connectivity::from_neighbours)
                    .ok_or_else(|| bad_choice(estimator, key, value, "6, 18, 26"))?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn grid(dataset: &Dataset) -> Grid {
    Grid::new(dataset.mask.grid.dims, &dataset.mask.indices)
}

fn affine_rows(dataset: &Dataset) -> [[f64; 4]; 3] {
    let a = dataset.mask.grid.affine;
    [a[0], a[1], a[2]]
}

fn voxel_size(dataset: &Dataset) -> [f64; 3] {
    let a = dataset.mask.grid.affine;
    [0, 1, 2].map(|j| (0..3).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt())
}

/// GRF cluster inference on `result`'s z map for a one-sample FFX/MFX fit: smoothness from the
/// raw residuals y − est (dof K − 1), clusters at u, the thresholded map and `clusters.tsv`.
pub fn grf(
    dataset: &Dataset,
    con: &dyn StudyValues,
    result: &mut MetaResult,
    options: &ClusterOptions,
    q: f64,
    tail: Tail,
    mode: Mode,
) -> Result<()> {
    let (z, est) = match (result.map("z"), result.map("est")) {
        (Some(z), Some(e)) => (z.to_vec(), e.to_vec()),
        _ => return Err(Error::Invalid(format!("{}: GRF clusters need z and est maps", result.estimator))),
    };
    let residual = |k: usize, out: &mut [f64]| {
        con.study_into(k, out);
        out.iter_mut().zip(&est).for_each(|(y, e)| *y -= e);
    };
    let g = grid(dataset);
    let dof = con.n_studies() as f64 - 1.0;
    let smooth = smoothness_by_volume(&g, con.n_studies(), &residual, dof, voxel_size(dataset), mode);
    let u = options.threshold();
    if !(smooth.dlh.is_finite() && smooth.dlh > 0.0 && smooth.volume > 0) {
        result.warnings.push("GRF clusters skipped: the residuals carry no usable smoothness estimate".into());
        return Ok(());
    }
    let field = Grf::new(u, smooth.dlh, smooth.volume as f64, g.is_2d(), mode);
    let out = grf_inference(
        &g,
        &z,
        Some(&est),
        &field,
        &GrfOptions { q, connectivity: options.connectivity, tail },
        &affine_rows(dataset),
    );
    result.insert("z_level-cluster_corr-FWE_method-grf", out.z_thresholded);
    result.insert("logp_level-cluster_corr-FWE_method-grf", out.logp);
    result.tables.push(("clusters.tsv".into(), cluster_table(&out.table)));
    let d = &mut result.diagnostics;
    d.insert(
        "grf".into(),
        serde_json::json!({"u": u, "dlh": smooth.dlh, "volume": smooth.volume, "resels": smooth.resels,
            "fwhm_mm": smooth.fwhm_mm, "dof": dof, "tail": if tail == Tail::Two { "two" } else { "one" },
            "q": q, "mode": if mode == Mode::FslCompat { "fsl_compat" } else { "correct" },
            "clusters_surviving": out.table.len()}),
    );
    Ok(())
}

/// `clusters.tsv` content: the columns of cluster-inference.md §5.
fn cluster_table(rows: &[ClusterRow]) -> String {
    let mut columns: Vec<&str> = ClusterRow::COLUMNS.to_vec();
    columns.extend(ClusterRow::COPE_COLUMNS);
    let mut s = columns.join("\t") + "\n";
    for r in rows {
        let mut cells = vec![
            r.cluster_id.to_string(),
            r.sign.to_string(),
            r.n_voxels.to_string(),
            format!("{:.6}", r.volume_mm3),
            format!("{:.6e}", r.p),
            format!("{:.6}", r.log10p),
            format!("{:.6}", r.z_max),
        ];
        cells.extend(r.z_max_mm.iter().chain(&r.z_cog_mm).map(|c| format!("{c:.3}")));
        if let Some(c) = &r.cope {
            cells.push(format!("{:.6}", c.max));
            cells.extend(c.max_mm.iter().map(|x| format!("{x:.3}")));
            cells.push(format!("{:.6}", c.mean));
        }
        s += &(cells.join("\t") + "\n");
    }
    s
}

/// MFX_GLM flips whose z maps are held at once (each a float64 map of the mask).
const MFX_FLIP_BATCH: usize = 16;

/// Which permutation cluster statistics were asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterRequests {
    /// `--correct cluster-size`.
    pub size: bool,
    /// `--correct cluster-mass`.
    pub mass: bool,
    /// `--correct tfce`.
    pub tfce: bool,
}

impl ClusterRequests {
    /// True if any was asked for.
    pub fn any(&self) -> bool {
        self.size || self.mass || self.tfce
    }
}

/// Permutation cluster-size, cluster-mass and TFCE FWE (cluster-inference.md §7): the estimator
/// is refitted on sign-flipped inputs (NiMARE's flips from `seed`), and one pass over the
/// permutations records every requested maximum.
pub fn permutation_clusters(
    est: &dyn Estimator,
    dataset: &Dataset,
    inputs: &Inputs,
    result: &mut MetaResult,
    requests: ClusterRequests,
    options: &ClusterOptions,
) -> Result<()> {
    let tail =
        if est.get_params().iter().any(|p| p.name == "two_sided" && p.value == false) { Tail::One } else { Tail::Two };
    let z_obs = result.map("z").ok_or_else(|| Error::Invalid(format!("{} has no z map", est.name())))?.to_vec();
    let signed = est.needs().maps[0];
    let original = &inputs.maps[&signed];
    let flips = crate::inference::flips_for(est, original.n_studies())?;
    let g = grid(dataset);
    let (u, conn) = (options.threshold(), options.connectivity);
    let params = TfceParams::default();
    let tfce_params = requests.tfce.then_some(&params);
    // Infinite z (a perfect fit) has no place in cluster sums: treat it as no data.
    let finite = |z: &[f64]| z.iter().map(|&v| if v.is_finite() { v } else { f64::NAN }).collect::<Vec<f64>>();
    let pb = crate::progress::bar(flips.n_iters(), &format!("{} cluster permutations", est.name()));
    let stats = |ws: &mut Workspace, z: &[f64]| max_stats(&g, &finite(z), u, conn, tail, tfce_params, ws);
    let nulls: Vec<Result<MaxStats>> = if let Some(optimizer) = crate::inference::mfx_one_sample(est) {
        // MFX_GLM: the FLAME1 kernel's z maps (equal to refits), a batch of flips at a time.
        let var = &inputs.maps[&ibma_io::MapType::Varcope];
        let mut nulls = Vec::with_capacity(flips.n_iters());
        for start in (0..flips.n_iters()).step_by(MFX_FLIP_BATCH) {
            let end = (start + MFX_FLIP_BATCH).min(flips.n_iters());
            let maps = ibma_glm::flame::flame1_flip_z(original, var, &flips, start..end, optimizer);
            nulls.par_extend(maps.par_iter().map_init(Workspace::new, |ws, z| Ok(stats(ws, z))));
            pb.inc((end - start) as u64);
        }
        nulls
    } else {
        (0..flips.n_iters())
            .into_par_iter()
            .map_init(
                || (inputs.clone(), Workspace::new()),
                |(buffer, ws), i| {
                    if let Some(x) = buffer.maps.get_mut(&signed) {
                        original.flip_into(flips.row(i), x);
                    }
                    pb.inc(1);
                    let refit = est.fit_inputs(dataset, buffer)?;
                    Ok(stats(ws, refit.map("z").unwrap_or_default()))
                },
            )
            .collect()
    };
    pb.finish_and_clear();
    let nulls = nulls.into_iter().collect::<Result<Vec<_>>>()?;
    let z = finite(&z_obs);
    let sfx = |m: &str, level: &str| format!("_level-{level}_corr-FWE_method-{m}");
    for (wanted, measure, name) in
        [(requests.size, ClusterMeasure::Size, "size"), (requests.mass, ClusterMeasure::Mass, "mass")]
    {
        if wanted {
            let null: Vec<f64> =
                nulls.iter().map(|m| if measure == ClusterMeasure::Size { m.size as f64 } else { m.mass }).collect();
            let fwe = cluster_fwe_maps(&g, &z, u, conn, tail, measure, &null);
            let s = sfx(name, "cluster");
            result.insert(&format!("p{s}"), fwe.maps.p);
            result.insert(&format!("z{s}"), fwe.maps.z);
            result.insert(&format!("logp{s}"), fwe.maps.logp);
        }
    }
    if requests.tfce {
        let map = tfce(&g, &z, &params, conn, tail);
        let null: Vec<f64> = nulls.iter().map(|m| m.tfce).collect();
        let fwe = fwe_maps(&map, &null, tail);
        let s = sfx("tfce", "voxel");
        result.insert("tfce", map);
        result.insert(&format!("p{s}"), fwe.p);
        result.insert(&format!("z{s}"), fwe.z);
        result.insert(&format!("logp{s}"), fwe.logp);
    }
    result.diagnostics.insert(
        "permutation_clusters".into(),
        serde_json::json!({"u": u, "connectivity": conn.neighbours(), "n_iters": flips.n_iters(), "seed": est.common().seed,
            "null_max_size": nulls.iter().map(|m| m.size).collect::<Vec<_>>(),
            "null_max_mass": nulls.iter().map(|m| m.mass).collect::<Vec<_>>(),
            "null_max_tfce": if requests.tfce { nulls.iter().map(|m| m.tfce).collect::<Vec<_>>() } else { Vec::new() }}),
    );
    Ok(())
}
