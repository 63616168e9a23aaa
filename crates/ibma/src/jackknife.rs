//! The jackknife diagnostic (NiMARE 0.22.1 `nimare.diagnostics.Jackknife` for IBMA): how much
//! each study contributes to each cluster of a meta-analytic map.
//!
//! Clusters come from the target map of the fit on all studies (`z` by default) thresholded at
//! `threshold`, as nilearn's `get_clusters_table` forms them for NiMARE: voxels with value
//! strictly above the threshold (and, two-sided, strictly below −threshold as a separate
//! tail), face connectivity (6 neighbours), clusters smaller than `cluster_threshold` voxels
//! dropped, numbered per tail by decreasing peak (`PositiveTail 1`, `NegativeTail 1`, ...).
//! Two-sided when the estimator has a `two_sided` parameter and it is true; otherwise when the
//! target map has a negative value (NiMARE's rule).
//!
//! For every study the estimator is refitted without it, and its contribution to a cluster is
//! the mean over the cluster's voxels of `1 − stat_without / stat_all`, where stat is the
//! `est` map when the estimator has one and `z` otherwise (a NaN ratio counts as 0, so a voxel
//! the refit cannot estimate contributes 1; an infinite ratio becomes ±float32 max, as numpy's
//! `nan_to_num` on NiMARE's float32 maps). Contributions are not normalised: they need not sum
//! to 1 over studies, and a study that weakens a cluster contributes a negative value.
//!
//! Where ibma differs from NiMARE: ratios and means are computed in double precision from the
//! float32 maps (NiMARE: float32 arithmetic; differences near 1e-7); the cluster table gives
//! the peak voxel (first in C order among ties) rather than nilearn's sub-peaks and
//! plateau centres of mass; `aggressive_mask=true` re-applies the aggressive mask to each
//! leave-one-out subset, as NiMARE's refit on a sliced dataset does.
//!
//! The refits reuse the inputs read once; they run in parallel over left-out studies with at
//! most [`MAX_REFITS_ALIVE`] alive at once (memory), and every number is independent of the
//! thread count (each refit is, and the means are summed sequentially in voxel order).

use crate::inputs::{Inputs, Prepared};
use crate::maps::Map;
use crate::progress::{Progress, Quiet};
use crate::{Error, Estimator, MetaResult, Result};
use ibma_stats::cluster::{clusters, Connectivity, Grid};
use ibma_stats::correct::Correction;
use ibma_stats::Tail;
use rayon::prelude::*;

/// Contributions per study (rows) and cluster (columns): `id`, then one column per cluster.
pub const TSV_FILE: &str = "jackknife.tsv";
/// One row per cluster: id, sign, size, peak, and the study contributing most.
pub const CLUSTERS_FILE: &str = "jackknife_clusters.tsv";
/// Everything in one JSON document (parameters, clusters, contributions, timings).
pub const JSON_FILE: &str = "jackknife.json";
/// Most leave-one-out refits in memory at once (each holds (K − 1) × V inputs and its maps).
pub const MAX_REFITS_ALIVE: usize = 4;
/// Clusters per tail listed by [`Jackknife::summary`] (all are in [`CLUSTERS_FILE`]).
pub const SUMMARY_PER_TAIL: usize = 10;
/// Maps that carry the summary statistic, in NiMARE's order of preference.
const VALUE_MAPS: [Map; 2] = [Map::Est, Map::Z];

/// The jackknife's own parameters (NiMARE `Jackknife(target_image=..., target_threshold=...,
/// cluster_threshold=...)`).
#[derive(Clone, Debug, PartialEq)]
pub struct JackknifeOptions {
    /// Map whose clusters are characterised (`target_image`, default `z`).
    pub target_image: Map,
    /// Cluster-forming threshold on the target map (`threshold` or NiMARE's `target_threshold`;
    /// required: NiMARE's default of 0 on a z map makes every positive voxel a cluster voxel).
    pub threshold: Option<f64>,
    /// Smallest cluster kept, in voxels (`cluster_threshold`, default 0: all).
    pub cluster_threshold: usize,
    /// Voxel corrections of the full fit, so `target_image` can be a corrected map.
    pub corrections: Vec<Correction>,
}

impl Default for JackknifeOptions {
    fn default() -> Self {
        JackknifeOptions { target_image: Map::Z, threshold: None, cluster_threshold: 0, corrections: Vec::new() }
    }
}

/// One cluster of the thresholded target map.
#[derive(Clone, Debug, PartialEq)]
pub struct JackknifeCluster {
    /// NiMARE's column name, e.g. `PositiveTail 1` (1 = highest peak of its tail).
    pub id: String,
    /// +1 (values above the threshold) or −1 (below −threshold).
    pub sign: i8,
    /// Mask positions of its voxels, ascending.
    pub voxels: Vec<usize>,
    /// Peak target value, signed (float32 as in the map).
    pub peak: f64,
    /// Peak position in mm.
    pub peak_mm: [f64; 3],
    /// Voxels × voxel volume.
    pub volume_mm3: f64,
}

/// What the jackknife found.
#[derive(Clone, Debug)]
pub struct Jackknife {
    /// The fit on all studies (with the requested voxel corrections).
    pub result: MetaResult,
    /// Map the contributions are computed on (`est` or `z`).
    pub value_map: Map,
    /// Whether negative clusters were formed too.
    pub two_sided: bool,
    /// Ids of the fitted studies, in dataset order (the rows).
    pub studies: Vec<String>,
    /// Positive tail first, each by decreasing peak (the columns).
    pub clusters: Vec<JackknifeCluster>,
    /// `contributions[study][cluster]`.
    pub contributions: Vec<Vec<f64>>,
}

/// Run the jackknife of `estimator` on `inputs`.
///
/// # Errors
/// Bad parameters, no `threshold`, fewer than 3 usable studies, a target map the fit does not
/// produce, a refit that fails (the message names the left-out study), [`Error::Cancelled`].
pub fn jackknife(
    estimator: &dyn Estimator,
    inputs: &Inputs,
    options: &JackknifeOptions,
    progress: &dyn Progress,
) -> Result<Jackknife> {
    estimator.validate()?;
    let threshold = options.threshold.ok_or_else(|| {
        Error::Invalid(
            "jackknife: --set threshold=VALUE is required (cluster-forming threshold on the target map, e.g. 3.1)"
                .into(),
        )
    })?;
    // Prepared once without the aggressive mask; each subset gets its own (as a sliced refit would).
    let mut needs = estimator.needs();
    let aggressive = std::mem::replace(&mut needs.options.aggressive_mask, false);
    let all = inputs.prepare(&needs)?;
    let k = all.n_studies();
    if k < 3 {
        return Err(Error::Invalid(format!(
            "jackknife: {} has {k} usable studies; leaving one out needs at least 3",
            estimator.name()
        )));
    }
    let mut result = crate::blocks::fit(estimator, &all.without(None, aggressive), &Quiet)?;
    for c in &options.corrections {
        result.correct(*c)?;
    }
    let target: Vec<f64> = match result.map(options.target_image) {
        Some(m) => m.iter().map(|&x| f64::from(x as f32)).collect(),
        None => {
            let names: Vec<String> = result.maps().map(|(m, _)| m.to_string()).collect();
            return Err(Error::Invalid(format!(
                "jackknife: target_image {:?} is not a map of {}; its maps: {}",
                options.target_image.to_string(),
                estimator.name(),
                names.join(", ")
            )));
        }
    };
    let value_map = VALUE_MAPS.into_iter().find(|m| result.map(*m).is_some()).ok_or_else(|| {
        Error::Invalid(format!("jackknife: {} has no est or z map to compare refits on", estimator.name()))
    })?;
    // NiMARE: negative clusters for a two-sided test with negative values (none form otherwise).
    let two_sided = estimator.capabilities().tail == Tail::Two && target.iter().any(|&x| x < 0.0);
    let clusters = find_clusters(&result.mask, &target, threshold, options.cluster_threshold, two_sided);
    let stat: Vec<f64> = result.map(value_map).unwrap_or_default().iter().map(|&x| f64::from(x as f32)).collect();
    let contributions = if clusters.is_empty() {
        Vec::new()
    } else {
        leave_one_out(estimator, &all, aggressive, (value_map, &stat), &clusters, progress)?
    };
    let studies = all.studies().iter().map(|s| s.id.clone()).collect();
    Ok(Jackknife { result, value_map, two_sided, studies, clusters, contributions })
}

/// Refit without each study in turn; per study, the mean contribution in each cluster to the
/// map `value_map` (values `stat` in the fit on all studies).
fn leave_one_out(
    estimator: &dyn Estimator,
    all: &Prepared,
    aggressive: bool,
    (value_map, stat): (Map, &[f64]),
    clusters: &[JackknifeCluster],
    progress: &dyn Progress,
) -> Result<Vec<Vec<f64>>> {
    let k = all.n_studies();
    progress.start(&format!("{}: jackknife refits", estimator.name()), k);
    let alive = rayon::current_num_threads().clamp(1, MAX_REFITS_ALIVE);
    let order: Vec<usize> = (0..k).collect();
    let mut rows = Vec::with_capacity(k);
    for batch in order.chunks(alive) {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let part: Vec<Vec<f64>> = batch
            .par_iter()
            .map(|&left_out| {
                let id = &all.studies()[left_out].id;
                let refit = crate::blocks::fit(estimator, &all.without(Some(left_out), aggressive), &Quiet)
                    .map_err(|e| Error::Invalid(format!("jackknife: refit without study {id}: {e}")))?;
                let without = refit.map(value_map).ok_or_else(|| {
                    Error::Invalid(format!("jackknife: the refit without {id} has no {value_map} map"))
                })?;
                progress.advance(1);
                Ok(clusters.iter().map(|c| mean_contribution(&c.voxels, stat, without)).collect())
            })
            .collect::<Result<_>>()?;
        rows.extend(part);
    }
    progress.finish();
    Ok(rows)
}

/// Mean over `voxels` of 1 − nan_to_num(without / all), values taken as float32.
fn mean_contribution(voxels: &[usize], all: &[f64], without: &[f64]) -> f64 {
    let max = f64::from(f32::MAX);
    let sum: f64 = voxels
        .iter()
        .map(|&v| {
            let ratio = f64::from(without[v] as f32) / all[v];
            let ratio = if ratio.is_nan() { 0.0 } else { ratio.clamp(-max, max) };
            1.0 - ratio
        })
        .sum();
    sum / voxels.len() as f64
}

/// Clusters of `target` (one value per mask voxel) as nilearn forms them for NiMARE.
fn find_clusters(
    mask: &ibma_io::Mask,
    target: &[f64],
    threshold: f64,
    min_size: usize,
    two_sided: bool,
) -> Vec<JackknifeCluster> {
    let grid = Grid::new(mask.grid.dims, &mask.indices);
    let a = &mask.grid.affine;
    let voxel_volume = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
        .abs();
    let mut out = Vec::new();
    for sign in if two_sided { vec![1i8, -1] } else { vec![1] } {
        let s = f64::from(sign);
        // Strictly above the threshold (NaN never): binarise, then label at 0.5.
        let supra: Vec<f64> = target.iter().map(|&x| f64::from(u8::from(s * x > threshold))).collect();
        let mut tail: Vec<(f64, JackknifeCluster)> =
            clusters(&grid, &supra, 0.5, Connectivity::Six)
                .into_iter()
                .filter(|c| c.size() >= min_size)
                .map(|c| {
                    let peak_voxel = c.voxels.iter().copied().fold(c.voxels[0], |best, v| {
                        if s * target[v] > s * target[best] {
                            v
                        } else {
                            best
                        }
                    });
                    let [i, j, k] = grid.coords(peak_voxel).map(|x| x as f64);
                    let peak_mm = [0, 1, 2].map(|r| a[r][0] * i + a[r][1] * j + a[r][2] * k + a[r][3]);
                    let cluster = JackknifeCluster {
                        id: String::new(),
                        sign,
                        volume_mm3: c.size() as f64 * voxel_volume,
                        peak: target[peak_voxel],
                        peak_mm,
                        voxels: c.voxels,
                    };
                    (s * cluster.peak, cluster)
                })
                .collect();
        // Decreasing peak; ties by first voxel.
        tail.sort_by(|(pa, ca), (pb, cb)| pb.total_cmp(pa).then(ca.voxels[0].cmp(&cb.voxels[0])));
        let name = if sign > 0 { "PositiveTail" } else { "NegativeTail" };
        out.extend(tail.into_iter().enumerate().map(|(rank, (_, mut c))| {
            c.id = format!("{name} {}", rank + 1);
            c
        }));
    }
    out
}

impl Jackknife {
    /// `jackknife.tsv`: a header `id<TAB><cluster id>...`, then one row per study.
    pub fn contributions_tsv(&self) -> String {
        let mut s =
            std::iter::once("id").chain(self.clusters.iter().map(|c| c.id.as_str())).collect::<Vec<_>>().join("\t");
        s.push('\n');
        for (study, row) in self.studies.iter().zip(&self.contributions) {
            s += study;
            for x in row {
                s += &format!("\t{x}");
            }
            s.push('\n');
        }
        s
    }

    /// The study contributing most to cluster `c` and its contribution.
    pub fn top_study(&self, c: usize) -> Option<(&str, f64)> {
        self.studies.iter().zip(&self.contributions).map(|(s, row)| (s.as_str(), row[c])).fold(
            None,
            |best: Option<(&str, f64)>, (s, x)| match best {
                Some((_, b)) if b >= x => best,
                _ => Some((s, x)),
            },
        )
    }

    /// `jackknife_clusters.tsv`: one row per cluster.
    pub fn clusters_tsv(&self) -> String {
        let mut s = String::from(
            "cluster_id\tsign\tn_voxels\tvolume_mm3\tpeak_stat\tpeak_x\tpeak_y\tpeak_z\tmax_contribution\tmax_contribution_study\n",
        );
        for (i, c) in self.clusters.iter().enumerate() {
            let (study, top) = self.top_study(i).map_or((String::new(), f64::NAN), |(s, x)| (s.to_string(), x));
            let [x, y, z] = c.peak_mm;
            s += &format!(
                "{}\t{}\t{}\t{}\t{}\t{x}\t{y}\t{z}\t{top}\t{study}\n",
                c.id,
                c.sign,
                c.voxels.len(),
                c.volume_mm3,
                c.peak
            );
        }
        s
    }

    /// A short text report: one line per cluster (the first [`SUMMARY_PER_TAIL`] of each tail)
    /// with the study contributing most.
    pub fn summary(&self, target_image: Map) -> String {
        if self.clusters.is_empty() {
            return format!("jackknife: no clusters in {target_image} above the threshold\n");
        }
        let mut s = format!(
            "jackknife: {} clusters in {target_image}, {} studies left out in turn (contribution: mean of 1 - {v}_without / {v}_all)\n",
            self.clusters.len(),
            self.studies.len(),
            v = self.value_map
        );
        for sign in [1, -1] {
            let tail: Vec<usize> = (0..self.clusters.len()).filter(|&i| self.clusters[i].sign == sign).collect();
            for &i in tail.iter().take(SUMMARY_PER_TAIL) {
                s += &self.summary_line(i, target_image);
            }
            if tail.len() > SUMMARY_PER_TAIL {
                s += &format!("  ... and {} more in {CLUSTERS_FILE}\n", tail.len() - SUMMARY_PER_TAIL);
            }
        }
        s
    }

    fn summary_line(&self, i: usize, target_image: Map) -> String {
        let c = &self.clusters[i];
        let [x, y, z] = c.peak_mm;
        let (study, top) = self.top_study(i).unwrap_or(("", f64::NAN));
        format!(
            "  {:<16} {:>7} voxels  peak {target_image} {:>8.3} at ({x}, {y}, {z}) mm  largest contribution {study} {top:.3}\n",
            c.id,
            c.voxels.len(),
            c.peak
        )
    }
}
