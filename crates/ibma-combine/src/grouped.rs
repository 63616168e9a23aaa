//! Stouffer's and Fisher's tests with dependence groups, as NiMARE 0.22.1 runs PyMARE 0.0.13's
//! combination tests when images share participants (`docs/dependence.md`).
//!
//! Per model (liberal-mask bag or aggressive-mask model), with R the estimated null correlation
//! between the images ([`ibma_stats::nullcorr::null_correlation`]):
//!
//! * **Screening** (only with R): a group whose null variance of the mean z, block-mean of R over
//!   its images, is at most 1e−12 (or not finite) cancels and is left out of the model; a pair of
//!   images of a group whose z maps correlate exactly −1 over the model's voxels is reported.
//! * Fewer than two groups left: NaN. dof = groups − 1.
//! * **Stouffer**: each group's mean z divided by the square root of its null variance (1 for a
//!   single image), then Z = Σ w_g z_g/√Σ w_g² with w_g = 1 or √(mean n of its images).
//! * **Fisher** (Brown 1975, Kost & McDermott 2002): X = −2 Σ w_i ln p_i with w_i = e_g/s_g
//!   (e_g = 1 or the group's mean n, s_g its image count), E = 2Σw,
//!   V = 4Σw² + 2Σ_g Σ_{i<j∈g} w_i w_j (3.263ρ + 0.710ρ² + 0.027ρ³), and X/c against χ²_f with
//!   c = V/(2E), f = 2E²/V.
//!
//! Without R (NiMARE found no estimable pair), the grouped models use the correlation of the
//! model's images over its voxels after centering (PyMARE's own estimate). A model in which no
//! group repeats reduces to the ordinary tests. Concordant / directed as [`crate::Direction`].

use crate::stouffer::{collect, combine_tails, Direction};
use ibma_stats::bags::{owners, Bag};
use ibma_stats::groups::{DependenceWarning, Grouping, ModelGroups, WarningTally};
use ibma_stats::normal::log_cdf;
use ibma_stats::nullcorr::{model_correlation, CorrMatrix};
use ibma_stats::{chi2, StudyVoxels, TestMaps};
use rayon::prelude::*;

/// A group's null variance at or below this cancels (PyMARE's floor: exact cancellation only).
pub const CANCELLATION_FLOOR: f64 = 1e-12;
/// An empirical correlation within this of −1 marks a mirror-image pair (a rounding tolerance).
pub const MIRROR_TOLERANCE: f64 = 1e-6;

/// Maps and warnings of a combination test with dependence groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupedCombination {
    /// z, ln p, dof = groups − 1.
    pub maps: TestMaps,
    /// Cancelling groups, mirror-image pairs, skipped single-group models.
    pub warnings: Vec<DependenceWarning>,
}

/// One model ready to combine.
struct Model {
    /// The model's images after screening.
    images: Vec<usize>,
    groups: ModelGroups,
    /// Stouffer: per group √e_g; Fisher: per image e_g/s_g.
    weights: Vec<f64>,
    /// Per group (local order): Stouffer √(null variance of the mean z); Fisher unused.
    scale: Vec<f64>,
    /// Fisher's c and f.
    brown: (f64, f64),
}

/// Which combination test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// Group-level Stouffer.
    Stouffer,
    /// Fisher with Brown's scaled χ².
    Fisher,
}

/// NiMARE `Stouffers(use_sample_size, two_sided)` (`Test::Stouffer`) or
/// `Fishers(use_sample_size, two_sided)` (`Test::Fisher`, Brown's scaled χ²) with dependence
/// groups: `grouping` has one code per image of `z`, `corr` is the null correlation of all
/// images (None if not estimable), `models` the bags (or the aggressive-mask model),
/// `sample_sizes` the per-image n with `use_sample_size`. See the module documentation.
#[track_caller]
pub fn combine_grouped(
    test: Test,
    z: &StudyVoxels,
    grouping: &Grouping,
    corr: Option<&CorrMatrix>,
    models: &[Bag],
    sample_sizes: Option<&[f64]>,
    direction: Direction,
) -> GroupedCombination {
    assert_eq!(z.n_studies(), grouping.n_images(), "one group code per image");
    assert!(corr.is_none_or(|c| c.n() == z.n_studies()), "the correlation matrix needs one row per image");
    assert!(sample_sizes.is_none_or(|n| n.len() == z.n_studies()), "one sample size per image");
    let mut screen = Screening::default();
    let prepared: Vec<Option<Model>> =
        models.iter().map(|m| prepare(z, grouping, corr, m, sample_sizes, test, &mut screen)).collect();
    let per_voxel: Vec<[f64; 3]> = owners(z.n_voxels(), models)
        .par_iter()
        .enumerate()
        .map(|(v, m)| match m.and_then(|m| prepared[m].as_ref()) {
            None => [f64::NAN; 3],
            Some(model) => {
                let zs = z.voxel(v);
                combine_tails(direction, |sign| match test {
                    Test::Stouffer => stouffer(model, zs, sign),
                    Test::Fisher => fisher(model, zs, sign),
                })
            }
        })
        .collect();
    let mut tally = WarningTally::default();
    for (model, prep) in models.iter().zip(&prepared) {
        if prep.is_none() {
            tally.single_group_model(model.voxels.len());
        }
    }
    for w in screen.into_warnings() {
        tally.push(w);
    }
    GroupedCombination { maps: collect(per_voxel), warnings: tally.into_warnings() }
}

/// Brown's approximation of cov(−2 ln p_i, −2 ln p_j) from the correlation ρ of z_i and z_j
/// (Kost & McDermott 2002): 3.263ρ + 0.710ρ² + 0.027ρ³.
pub fn kost_covariance(rho: f64) -> f64 {
    rho * (3.263 + rho * (0.710 + rho * 0.027))
}

/// ln p of the directed grouped Stouffer test on sign·z, and the number of groups.
fn stouffer(m: &Model, zs: &[f64], sign: f64) -> (f64, usize) {
    let (mut num, mut w2) = (0.0, 0.0);
    let mut sums = vec![0.0; m.groups.n_groups()];
    for (&g, &i) in m.groups.local.iter().zip(&m.images) {
        sums[g] += sign * zs[i];
    }
    for (g, (sum, &w)) in sums.iter().zip(&m.weights).enumerate() {
        let group_z = sum / m.groups.sizes[g] as f64 / m.scale[g];
        num += group_z * w;
        w2 += w * w;
    }
    (log_cdf(-num / w2.sqrt()), m.groups.n_groups())
}

/// ln p of the directed Brown–Fisher test on sign·z, and the number of groups.
fn fisher(m: &Model, zs: &[f64], sign: f64) -> (f64, usize) {
    let x: f64 = m.images.iter().zip(&m.weights).map(|(&i, &w)| -2.0 * (w * log_cdf(-sign * zs[i]))).sum();
    let (c, f) = m.brown;
    (chi2::log_sf(x / c, f), m.groups.n_groups())
}

/// The model's images after screening, weights and null variances; None if fewer than two
/// groups remain.
fn prepare(
    z: &StudyVoxels,
    grouping: &Grouping,
    corr: Option<&CorrMatrix>,
    model: &Bag,
    sample_sizes: Option<&[f64]>,
    test: Test,
    screen: &mut Screening,
) -> Option<Model> {
    let mut images = model.studies.clone();
    let mut groups = grouping.in_model(&images);
    if let (Some(r), true) = (corr, groups.has_dependence()) {
        let cancelling = screen.check(z, grouping, r, model, &groups);
        if !cancelling.is_empty() {
            images.retain(|i| !cancelling.contains(i));
            groups = grouping.in_model(&images);
        }
    }
    if !groups.supports_inference() {
        return None;
    }
    let members: Vec<Vec<usize>> =
        (0..groups.n_groups()).map(|g| (0..images.len()).filter(|&p| groups.local[p] == g).collect()).collect();
    // The correlation among this model's images, by position.
    let local = match corr {
        _ if !groups.has_dependence() => None,
        Some(r) => {
            let n = images.len();
            Some(CorrMatrix::new(n, images.iter().flat_map(|&i| images.iter().map(move |&j| r.get(i, j))).collect()))
        }
        None => Some(model_correlation(z, &Bag { studies: images.clone(), voxels: model.voxels.clone() }, true)),
    };
    let external: Vec<f64> = match sample_sizes {
        Some(n) => groups.per_image_means(&images.iter().map(|&i| n[i]).collect::<Vec<_>>()),
        None => vec![1.0; images.len()],
    };
    let (weights, scale, brown) = match test {
        Test::Stouffer => {
            let scale = members
                .iter()
                .map(|rows| match (&local, rows.len()) {
                    (Some(r), s) if s > 1 => r.block_mean(rows).sqrt(),
                    _ => 1.0,
                })
                .collect();
            let per_group = members.iter().map(|rows| external[rows[0]].sqrt()).collect();
            (per_group, scale, (f64::NAN, f64::NAN))
        }
        Test::Fisher => {
            let w: Vec<f64> = external.iter().zip(&groups.local).map(|(e, &g)| e / groups.sizes[g] as f64).collect();
            let e = 2.0 * w.iter().sum::<f64>();
            let mut v = 4.0 * w.iter().map(|w| w * w).sum::<f64>();
            if let Some(r) = &local {
                for rows in members.iter().filter(|rows| rows.len() > 1) {
                    let pairs = rows.iter().enumerate().flat_map(|(a, &i)| rows[a + 1..].iter().map(move |&j| (i, j)));
                    v += 2.0 * pairs.map(|(i, j)| w[i] * w[j] * kost_covariance(r.get(i, j))).sum::<f64>();
                }
            }
            (w, Vec::new(), (v / (2.0 * e), 2.0 * e * e / v))
        }
    };
    Some(Model { images, groups, weights, scale, brown })
}

/// Cancelling groups and mirror-image pairs found over all models.
#[derive(Default)]
struct Screening {
    /// Per group code: images, models, voxels, variance of the first.
    cancelling: Vec<(usize, Vec<usize>, usize, usize, f64)>,
    /// (group, first image, second image), each pair once.
    mirrored: Vec<(usize, usize, usize)>,
}

impl Screening {
    /// Screen one model's groups; returns the images of its cancelling groups.
    fn check(
        &mut self,
        z: &StudyVoxels,
        grouping: &Grouping,
        r: &CorrMatrix,
        model: &Bag,
        groups: &ModelGroups,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        let mut empirical = None;
        for (g, &code) in groups.codes.iter().enumerate() {
            let rows: Vec<usize> = (0..model.studies.len()).filter(|&p| groups.local[p] == g).collect();
            if rows.len() < 2 {
                continue;
            }
            let images: Vec<usize> = rows.iter().map(|&p| model.studies[p]).collect();
            let variance = r.block_mean(&images);
            if !variance.is_finite() || variance <= CANCELLATION_FLOOR {
                match self.cancelling.iter_mut().find(|c| c.0 == code) {
                    Some(c) => {
                        c.1.extend(&images);
                        c.1.sort_unstable();
                        c.1.dedup();
                        c.2 += 1;
                        c.3 += model.voxels.len();
                    }
                    None => self.cancelling.push((code, images.clone(), 1, model.voxels.len(), variance)),
                }
                out.extend(images);
                continue;
            }
            let e = empirical.get_or_insert_with(|| model_correlation(z, model, false));
            for (a, &i) in rows.iter().enumerate() {
                for &j in &rows[a + 1..] {
                    let pair = (model.studies[i], model.studies[j]);
                    let c = e.get(i, j);
                    if c.is_finite()
                        && c <= -1.0 + MIRROR_TOLERANCE
                        && !self.mirrored.iter().any(|m| (m.1, m.2) == pair)
                    {
                        self.mirrored.push((grouping.codes()[pair.0], pair.0, pair.1));
                    }
                }
            }
        }
        out
    }

    fn into_warnings(self) -> Vec<DependenceWarning> {
        let cancelling = self.cancelling.into_iter().map(|(group, images, models, voxels, variance)| {
            DependenceWarning::Cancelling { group, images, models, voxels, variance }
        });
        let mirrored =
            self.mirrored.into_iter().map(|(group, a, b)| DependenceWarning::Mirrored { group, images: (a, b) });
        cancelling.chain(mirrored).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stouffer::stouffers;
    use ibma_stats::tol;

    #[test]
    fn cancelling_group_is_left_out_and_reported() {
        // Images 0 and 1 (group a) have null correlation −1: their mean z has variance 0.
        let grouping = Grouping::from_labels(&["a", "a", "b", "c"]);
        let mut r = vec![0.0; 16];
        for i in 0..4 {
            r[i * 5] = 1.0;
        }
        r[1] = -1.0;
        r[4] = -1.0;
        let corr = CorrMatrix::new(4, r);
        let z = StudyVoxels::new(4, vec![1.0, -1.0, 2.0, 0.5, 0.3, -0.3, 1.5, 1.0]);
        let models = [Bag { studies: vec![0, 1, 2, 3], voxels: vec![0, 1] }];
        let fit = combine_grouped(Test::Stouffer, &z, &grouping, Some(&corr), &models, None, Direction::Concordant);
        let without = stouffers(&StudyVoxels::new(2, vec![2.0, 0.5, 1.5, 1.0]), &[1.0; 2], Direction::Concordant);
        for v in 0..2 {
            assert!(tol::close(fit.maps.z[v], without.z[v], tol::SUMMATION_ORDER_RTOL, 0.0));
            assert!(tol::close(fit.maps.dof[v], 1.0, 0.0, 0.0));
        }
        let cancelled =
            DependenceWarning::Cancelling { group: 0, images: vec![0, 1], models: 1, voxels: 2, variance: 0.0 };
        assert!(fit.warnings.contains(&cancelled), "{:?}", fit.warnings);
    }

    #[test]
    fn independent_images_reduce_to_the_ordinary_tests() {
        let grouping = Grouping::independent(3);
        let z = StudyVoxels::new(3, vec![1.0, 2.0, 0.5, -1.0, 0.2, 0.7]);
        let models = [Bag { studies: vec![0, 1, 2], voxels: vec![0, 1] }];
        let n = [10.0, 20.0, 15.0];
        let stouffer = combine_grouped(Test::Stouffer, &z, &grouping, None, &models, Some(&n), Direction::Concordant);
        let plain = stouffers(&z, &n.map(f64::sqrt), Direction::Concordant);
        let fisher = combine_grouped(Test::Fisher, &z, &grouping, None, &models, Some(&n), Direction::Concordant);
        let plain_fisher = crate::fishers(&z, &n, Direction::Concordant, crate::FisherMode::Modern);
        for v in 0..2 {
            assert!(tol::close(stouffer.maps.z[v], plain.z[v], tol::SUMMATION_ORDER_RTOL, 0.0));
            assert!(tol::close(fisher.maps.z[v], plain_fisher.z[v], tol::SUMMATION_ORDER_RTOL, 0.0));
        }
    }
}
