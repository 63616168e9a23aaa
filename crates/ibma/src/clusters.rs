//! Cluster inference on a fitted result (docs/inference.md): GRF clusters for FFX/MFX_GLM
//! (FSL semantics, `clusters.tsv`) and, for every one-sample estimator, permutation cluster-size,
//! cluster-mass and TFCE FWE from the same sign flips as `--correct montecarlo`.

use crate::estimators::{Estimator, Permutation};
use crate::inputs::{Prepared, StudyValues};
use crate::maps::{Map, Method};
use crate::options::{ClusterOptions, Flips};
use crate::progress::Progress;
use crate::result::{ClusterNullFacts, GrfFacts, Table};
use crate::{Error, MetaResult, Result};
use ibma_glm::flame::{flame1_flip_z, flame1_flip_z_above};
use ibma_io::{MapType, Mask};
use ibma_stats::cluster::{
    cluster_fwe_maps, grf_inference, max_stats, smoothness_by_volume, tfce, ClusterMeasure, ClusterRow, Grf,
    GrfOptions, Grid, MaxStats, Mode, TfceParams, Workspace, RFT_MIN_FWHM_VOXELS,
};
use ibma_stats::permute::fwe_maps;
use ibma_stats::Tail;
use rayon::prelude::*;

fn grid(mask: &Mask) -> Grid {
    Grid::new(mask.grid.dims, &mask.indices)
}

fn affine_rows(mask: &Mask) -> [[f64; 4]; 3] {
    let a = mask.grid.affine;
    [a[0], a[1], a[2]]
}

fn voxel_size(mask: &Mask) -> [f64; 3] {
    let a = mask.grid.affine;
    [0, 1, 2].map(|j| (0..3).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt())
}

/// GRF cluster inference on `result`'s z map for a one-sample FFX/MFX fit: smoothness from the
/// raw residuals y − est (dof K − 1), clusters at u, the thresholded map and `clusters.tsv`.
pub fn grf(
    con: &dyn StudyValues,
    result: &mut MetaResult,
    options: &ClusterOptions,
    q: f64,
    tail: Tail,
    mode: Mode,
) -> Result<()> {
    let (z, est) = match (result.map(Map::Z), result.map(Map::Est)) {
        (Some(z), Some(e)) => (z.to_vec(), e.to_vec()),
        _ => return Err(Error::Invalid(format!("{}: GRF clusters need z and est maps", result.estimator.name()))),
    };
    let residual = |k: usize, out: &mut [f64]| {
        con.study_into(k, out);
        out.iter_mut().zip(&est).for_each(|(y, e)| *y -= e);
    };
    let g = grid(&result.mask);
    let dof = con.n_studies() as f64 - 1.0;
    let smooth = smoothness_by_volume(&g, con.n_studies(), &residual, dof, voxel_size(&result.mask), mode);
    let u = options.threshold();
    if !(smooth.dlh.is_finite() && smooth.dlh > 0.0 && smooth.volume > 0) {
        result.warnings.push("GRF clusters skipped: the residuals carry no usable smoothness estimate".into());
        return Ok(());
    }
    if smooth.too_rough_for_rft() {
        let [x, y, z] = smooth.fwhm_mm.map(|f| format!("{:.2}", f));
        result.warnings.push(format!(
            "GRF clusters: the residuals' estimated smoothness, FWHM {x} x {y} x {z} mm ({:.2} voxels at the \
             smallest), is below {RFT_MIN_FWHM_VOXELS} voxels: random field theory assumes maps smooth against the \
             voxel grid, so these cluster p-values are unreliable (even single voxels can survive); smooth the \
             study maps as in a usual analysis, or use permutation clusters (--correct cluster-size)",
            smooth.min_fwhm_voxels()
        ));
    }
    let field = Grf::new(u, smooth.dlh, smooth.volume as f64, g.is_2d(), mode);
    let out = grf_inference(
        &g,
        &z,
        Some(&est),
        &field,
        &GrfOptions { q, connectivity: options.connectivity, tail },
        &affine_rows(&result.mask),
    );
    result.insert(Map::Corrected(crate::maps::Stat::Z, Method::Grf), out.z_thresholded);
    result.insert(Map::Corrected(crate::maps::Stat::Logp, Method::Grf), out.logp);
    result.tables.push(Table { file: "clusters.tsv".into(), text: cluster_table(&out.table) });
    result.diagnostics.grf = Some(GrfFacts {
        u,
        dlh: smooth.dlh,
        volume: smooth.volume,
        resels: smooth.resels,
        fwhm_mm: smooth.fwhm_mm,
        dof,
        tail: if tail == Tail::Two { "two" } else { "one" }.into(),
        q,
        mode: if mode == Mode::FslCompat { "fsl_compat" } else { "correct" }.into(),
        clusters_surviving: out.table.len(),
    });
    Ok(())
}

/// `clusters.tsv` content: the columns of docs/inference.md §5.
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

/// Permutation cluster-size, cluster-mass and TFCE FWE (docs/inference.md §7), first half: the
/// estimator is refitted on sign-flipped inputs (one-sample MFX_GLM through FLAME1's flip kernel,
/// the same z; NiMARE's flips from `seed`; one sign per dependence group, docs/dependence.md),
/// and one pass over the flips `rows` of the run (all of them, or a shard's slice) records every
/// requested maximum. [`cluster_maps`] uses them.
///
/// # Errors
/// An estimator with an empirical null, bad flips, a failing refit, [`Error::Cancelled`].
pub fn cluster_nulls(
    est: &dyn Estimator,
    inputs: &Prepared,
    requests: ClusterRequests,
    options: &ClusterOptions,
    flips: &Flips,
    rows: std::ops::Range<usize>,
    progress: &dyn Progress,
) -> Result<Vec<MaxStats>> {
    let capabilities = est.capabilities();
    if capabilities.permutation == Permutation::Nested {
        return Err(Error::Invalid(format!(
            "{}: permutation cluster inference needs null=theoretical (an empirical null inside every permutation would nest permutations)",
            est.name()
        )));
    }
    let tail = capabilities.tail;
    let signed = est.needs().maps[0];
    let block = inputs.whole();
    let original = block.map(signed);
    let g = grid(&inputs.mask);
    let (u, conn) = (options.threshold(), options.connectivity);
    let params = TfceParams::default();
    let tfce_params = requests.tfce.then_some(&params);
    // With dependence groups one sign per group, given to every image of the group.
    let grouping = inputs.grouping();
    let n_rows = flips.stream(grouping.n_groups())?.n_iters();
    progress.start(&format!("{} cluster permutations", est.name()), rows.end.min(n_rows).saturating_sub(rows.start));
    let stats = |ws: &mut Workspace, z: &[f64]| max_stats(&g, &finite(z), u, conn, tail, tfce_params, ws);
    let nulls = flips.chunked_rows(grouping.n_groups(), rows, |chunk| {
        let chunk = &crate::inference::image_flips(chunk, grouping);
        if let Permutation::Flame1(optimizer) = capabilities.permutation {
            // One-sample MFX_GLM: the FLAME1 kernel's z maps (equal to refits), a batch at a time.
            let var = block.map(MapType::Varcope);
            let mut nulls = Vec::with_capacity(chunk.n_iters());
            for batch in chunk.batches(crate::inference::FLAME1_FLIP_BATCH) {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                // TFCE integrates every height; sizes and masses need only what exceeds u.
                let maps = if requests.tfce {
                    flame1_flip_z(original, var, &batch, 0..batch.n_iters(), optimizer)
                } else {
                    flame1_flip_z_above(original, var, &batch, 0..batch.n_iters(), optimizer, u)
                };
                nulls.par_extend(maps.par_iter().map_init(Workspace::new, |ws, z| stats(ws, z)));
                progress.advance(batch.n_iters());
            }
            return Ok(nulls);
        }
        (0..chunk.n_iters())
            .into_par_iter()
            .map_init(
                || (block.clone(), Workspace::new()),
                |(buffer, ws), i| {
                    if let Some(x) = buffer.maps.get_mut(&signed) {
                        original.flip_into(chunk.row(i), x);
                    }
                    progress.advance(1);
                    if progress.cancelled() {
                        return Err(Error::Cancelled);
                    }
                    let refit = est.fit_block(buffer)?;
                    Ok(stats(ws, refit.map(Map::Z).unwrap_or_default()))
                },
            )
            .collect::<Result<Vec<MaxStats>>>()
    });
    progress.finish();
    nulls
}

/// Infinite z (a perfect fit) has no place in cluster sums: treat it as no data.
fn finite(z: &[f64]) -> Vec<f64> {
    z.iter().map(|&v| if v.is_finite() { v } else { f64::NAN }).collect()
}

/// The cluster FWE maps of `result` from `nulls`, the maxima of every flip of the run, and
/// their facts.
///
/// # Errors
/// A result without a z map.
pub fn cluster_maps(
    est: &dyn Estimator,
    result: &mut MetaResult,
    requests: ClusterRequests,
    options: &ClusterOptions,
    flips: &Flips,
    nulls: &[MaxStats],
) -> Result<()> {
    let tail = est.capabilities().tail;
    let z_obs = result.map(Map::Z).ok_or_else(|| Error::Invalid(format!("{} has no z map", est.name())))?;
    let z = finite(z_obs);
    let g = grid(&result.mask);
    let (u, conn) = (options.threshold(), options.connectivity);
    let params = TfceParams::default();
    for (wanted, measure, method) in [
        (requests.size, ClusterMeasure::Size, Method::ClusterSize),
        (requests.mass, ClusterMeasure::Mass, Method::ClusterMass),
    ] {
        if wanted {
            let null: Vec<f64> =
                nulls.iter().map(|m| if measure == ClusterMeasure::Size { m.size as f64 } else { m.mass }).collect();
            let fwe = cluster_fwe_maps(&g, &z, u, conn, tail, measure, &null);
            result.insert_corrected(method, fwe.maps.p, fwe.maps.z, fwe.maps.logp);
        }
    }
    if requests.tfce {
        let map = tfce(&g, &z, &params, conn, tail);
        let null: Vec<f64> = nulls.iter().map(|m| m.tfce).collect();
        let fwe = fwe_maps(&map, &null, tail);
        result.insert(Map::Tfce, map);
        result.insert_corrected(Method::Tfce, fwe.p, fwe.z, fwe.logp);
    }
    result.warnings.extend(flips.too_few());
    result.diagnostics.permutation_clusters = Some(ClusterNullFacts {
        u,
        connectivity: conn.neighbours(),
        n_iters: nulls.len(),
        seed: flips.seed,
        null_max_size: nulls.iter().map(|m| m.size).collect(),
        null_max_mass: nulls.iter().map(|m| m.mass).collect(),
        null_max_tfce: if requests.tfce { nulls.iter().map(|m| m.tfce).collect() } else { Vec::new() },
    });
    Ok(())
}
