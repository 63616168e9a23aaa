//! Dependence groups: which images share participants (NiMARE 0.22.1's `groupby`,
//! `docs/dependence.md`). Images of one group are dependent; groups are independent units.
//!
//! A [`Grouping`] holds one group code per image. Every dependence-aware kernel works per model
//! (a liberal-mask bag, or the single aggressive-mask model): [`Grouping::in_model`] describes
//! the groups present among a model's images, and [`group_means`] reduces image data to one row
//! per group for the statistics that work on group contributions (PermutedOLS).

use crate::bags::Bag;
use crate::StudyVoxels;

/// One group code per image, codes 0..G.
///
/// Codes follow NiMARE 0.22.1 exactly, because they are also the columns of the sign-flip
/// matrix: when some group holds several images, groups are numbered in the sorted order of
/// their labels (`sorted(set(labels), key=str)`); when every image is its own group, the code of
/// an image is its index (NiMARE's exchangeability blocks are then the image indices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    codes: Vec<usize>,
    n_groups: usize,
}

impl Grouping {
    /// Groups from one label per image (a study id, or a covariate's value as text).
    pub fn from_labels<S: AsRef<str>>(labels: &[S]) -> Grouping {
        let mut sorted: Vec<&str> = labels.iter().map(AsRef::as_ref).collect();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() == labels.len() {
            return Grouping::independent(labels.len());
        }
        let codes = labels.iter().map(|l| sorted.binary_search(&l.as_ref()).unwrap_or_default()).collect();
        Grouping { codes, n_groups: sorted.len() }
    }

    /// Every image its own group (NiMARE `groupby=False`).
    pub fn independent(n_images: usize) -> Grouping {
        Grouping { codes: (0..n_images).collect(), n_groups: n_images }
    }

    /// Group codes, one per image.
    pub fn codes(&self) -> &[usize] {
        &self.codes
    }

    /// Number of images K.
    pub fn n_images(&self) -> usize {
        self.codes.len()
    }

    /// Number of groups G.
    pub fn n_groups(&self) -> usize {
        self.n_groups
    }

    /// Some group holds more than one image.
    pub fn has_dependence(&self) -> bool {
        self.n_groups < self.codes.len()
    }

    /// Images that share a group with an earlier image (K − G): NiMARE's count in its
    /// `groupby=False` warning ("N image(s) share a group with another image").
    pub fn shared_images(&self) -> usize {
        self.codes.len() - self.n_groups
    }

    /// The groups among the images of one model.
    #[track_caller]
    pub fn in_model(&self, images: &[usize]) -> ModelGroups {
        let mut local_of_code = vec![usize::MAX; self.n_groups];
        let mut out = ModelGroups { local: Vec::with_capacity(images.len()), codes: Vec::new(), sizes: Vec::new() };
        for &i in images {
            let code = self.codes[i];
            if local_of_code[code] == usize::MAX {
                local_of_code[code] = out.codes.len();
                out.codes.push(code);
                out.sizes.push(0);
            }
            let g = local_of_code[code];
            out.local.push(g);
            out.sizes[g] += 1;
        }
        out
    }
}

/// The groups present among a model's images, numbered locally 0..m in order of first
/// occurrence (PyMARE's `encode_groups`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelGroups {
    /// Local group of each of the model's images, in the model's image order.
    pub local: Vec<usize>,
    /// Global code of each local group.
    pub codes: Vec<usize>,
    /// Images per local group.
    pub sizes: Vec<usize>,
}

impl ModelGroups {
    /// Number of groups m in the model.
    pub fn n_groups(&self) -> usize {
        self.codes.len()
    }

    /// Some group holds several of the model's images: the model needs the dependence-aware
    /// estimator (else NiMARE hands PyMARE no group labels and the ordinary one runs).
    pub fn has_dependence(&self) -> bool {
        self.codes.len() < self.local.len()
    }

    /// At least two independent units: without them nothing can estimate a variance, and NiMARE
    /// leaves the model's voxels NaN.
    pub fn supports_inference(&self) -> bool {
        self.codes.len() >= 2
    }

    /// The mean of `values` (one per model image) within each group, in local group order
    /// (NiMARE `DependenceModel.per_group`, e.g. the group weight from differing sample sizes).
    #[track_caller]
    pub fn group_means(&self, values: &[f64]) -> Vec<f64> {
        assert_eq!(values.len(), self.local.len(), "one value per model image");
        let mut sums = vec![0.0; self.codes.len()];
        for (&g, &x) in self.local.iter().zip(values) {
            sums[g] += x;
        }
        sums.iter().zip(&self.sizes).map(|(s, &n)| s / n as f64).collect()
    }

    /// [`ModelGroups::group_means`] held at one value per image (`DependenceModel.per_image`).
    pub fn per_image_means(&self, values: &[f64]) -> Vec<f64> {
        let means = self.group_means(values);
        self.local.iter().map(|&g| means[g]).collect()
    }
}

/// One row per group: at every voxel, the mean of the group's images that are valid there (NaN
/// where none is). Within a model every image of a group is valid at every voxel, so this is
/// the model's group contribution (NiMARE `_permuted_ols` collapses each block to its mean).
#[track_caller]
pub fn group_means(x: &StudyVoxels, grouping: &Grouping) -> StudyVoxels {
    assert_eq!(x.n_studies(), grouping.n_images(), "one group code per image");
    let g = grouping.n_groups();
    let mut data = vec![0.0; x.n_voxels() * g];
    let mut counts = vec![0usize; g];
    for (row, xs) in data.chunks_exact_mut(g).zip(x.voxels()) {
        counts.fill(0);
        for (&code, &value) in grouping.codes().iter().zip(xs) {
            if !value.is_nan() {
                row[code] += value;
                counts[code] += 1;
            }
        }
        for (m, &n) in row.iter_mut().zip(&counts) {
            *m = if n == 0 { f64::NAN } else { *m / n as f64 };
        }
    }
    StudyVoxels::new(g.max(1), data)
}

/// A model over images re-expressed over the group rows of [`group_means`]: the same voxels, the
/// model's groups as ascending codes.
pub fn group_model(model: &Bag, grouping: &Grouping) -> Bag {
    let mut studies: Vec<usize> = model.studies.iter().map(|&i| grouping.codes()[i]).collect();
    studies.sort_unstable();
    studies.dedup();
    Bag { studies, voxels: model.voxels.clone() }
}

/// What dependence-aware inference warns about, as data for the caller to show (NiMARE 0.22.1
/// logs and PyMARE 0.0.13 warns; `docs/dependence.md` says when each matters). Counts are of
/// models: liberal-mask bags, or the one aggressive-mask model.
#[derive(Clone, Debug, PartialEq)]
pub enum DependenceWarning {
    /// Cluster-robust inference with at most [`crate::cr2::MAX_FEW_GROUPS`] groups, where it is
    /// anti-conservative (Hedges, Tipton & Johnson 2010); `fewest` over the affected models.
    FewGroups {
        /// Smallest number of groups of an affected model.
        fewest: usize,
        /// Affected models.
        models: usize,
    },
    /// Satterthwaite dof below [`crate::cr2::MIN_SATTERTHWAITE_DOF`] somewhere, outside the
    /// range where the approximation is known to hold (Tipton 2015).
    LowDof {
        /// Smallest dof.
        smallest: f64,
        /// Affected models.
        models: usize,
    },
    /// A group with leverage 1: its CR2 adjustment was floored, so the standard errors are
    /// understated there.
    FullLeverage {
        /// Affected models.
        models: usize,
    },
    /// Models whose valid images all come from one group: nothing estimates a variance, NaN.
    SingleGroup {
        /// Skipped models.
        models: usize,
        /// Their voxels.
        voxels: usize,
    },
    /// A group whose images cancel (null variance of their mean z at most 1e−12) was left out of
    /// the combination where it does.
    Cancelling {
        /// Group code.
        group: usize,
        /// Its images (indices) that were left out somewhere.
        images: Vec<usize>,
        /// Models it was left out of.
        models: usize,
        /// Their voxels.
        voxels: usize,
        /// The variance, in the first such model.
        variance: f64,
    },
    /// Two images of one group correlate exactly −1 (one contrast uploaded both ways round?);
    /// both were kept.
    Mirrored {
        /// Group code.
        group: usize,
        /// The two images.
        images: (usize, usize),
    },
    /// No two images share two usable voxels: the null correlation cannot be estimated, so the
    /// combination tests are not inflated for within-group correlation.
    NoNullCorrelation,
}

impl std::fmt::Display for DependenceWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DependenceWarning::FewGroups { fewest, models } => write!(
                f,
                "cluster-robust inference with only {fewest} groups (in {models} model(s)): robust variance estimation \
                 is anti-conservative with 10 or fewer groups, so p-values may be too small"
            ),
            DependenceWarning::LowDof { smallest, models } => write!(
                f,
                "Satterthwaite degrees of freedom below 4 (smallest {smallest:.2}, in {models} model(s)): the t \
                 reference is outside the range where it is known to control the type I error"
            ),
            DependenceWarning::FullLeverage { models } => write!(
                f,
                "a group has full leverage (in {models} model(s)): its CR2 adjustment was floored and the standard \
                 errors are understated there"
            ),
            DependenceWarning::SingleGroup { models, voxels } => write!(
                f,
                "{models} set(s) of voxels ({voxels} voxels) have valid images from a single group only: nothing \
                 estimates a variance there, so they are NaN"
            ),
            DependenceWarning::Cancelling { group, images, models, voxels, variance } => write!(
                f,
                "group {group} (images {images:?}) was left out of {models} model(s) ({voxels} voxels): the mean of its \
                 z statistics has null variance {variance:.3e}, its images cancel"
            ),
            DependenceWarning::Mirrored { group, images } => write!(
                f,
                "images {} and {} of group {group} correlate exactly -1 (one is the other with its sign flipped); \
                 both were kept",
                images.0, images.1
            ),
            DependenceWarning::NoNullCorrelation => write!(
                f,
                "no two images share two usable voxels, so their null correlation cannot be estimated: groups are \
                 kept, but the combination is not inflated for the correlation within them"
            ),
        }
    }
}

/// Collects the per-model facts behind [`DependenceWarning`]s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarningTally {
    few: Option<(usize, usize)>,
    low: Option<(f64, usize)>,
    full_leverage: usize,
    single: (usize, usize),
    other: Vec<DependenceWarning>,
}

impl WarningTally {
    /// A model fitted with cluster-robust inference: its group count, smallest dof (NaN if
    /// none) and whether some group had full leverage.
    pub fn robust_model(&mut self, n_groups: usize, min_dof: f64, full_leverage: bool) {
        if n_groups <= crate::cr2::MAX_FEW_GROUPS {
            let (fewest, models) = self.few.unwrap_or((n_groups, 0));
            self.few = Some((fewest.min(n_groups), models + 1));
        }
        if min_dof < crate::cr2::MIN_SATTERTHWAITE_DOF {
            let (smallest, models) = self.low.unwrap_or((min_dof, 0));
            self.low = Some((smallest.min(min_dof), models + 1));
        }
        self.full_leverage += usize::from(full_leverage);
    }

    /// A model skipped because its images come from one group.
    pub fn single_group_model(&mut self, voxels: usize) {
        self.single.0 += 1;
        self.single.1 += voxels;
    }

    /// Any other warning, kept as given.
    pub fn push(&mut self, warning: DependenceWarning) {
        self.other.push(warning);
    }

    /// The warnings, in a fixed order.
    pub fn into_warnings(self) -> Vec<DependenceWarning> {
        let mut out = Vec::new();
        if let Some((fewest, models)) = self.few {
            out.push(DependenceWarning::FewGroups { fewest, models });
        }
        if let Some((smallest, models)) = self.low {
            out.push(DependenceWarning::LowDof { smallest, models });
        }
        if self.full_leverage > 0 {
            out.push(DependenceWarning::FullLeverage { models: self.full_leverage });
        }
        if self.single.0 > 0 {
            out.push(DependenceWarning::SingleGroup { models: self.single.0, voxels: self.single.1 });
        }
        out.extend(self.other);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_sorted_labels_and_independence_keeps_image_order() {
        let g = Grouping::from_labels(&["b", "a", "b", "c"]);
        assert_eq!(g.codes(), &[1, 0, 1, 2]);
        assert!(g.has_dependence());
        assert_eq!(g.shared_images(), 1);
        // No repeat: the code is the image index, not the label's rank (NiMARE's blocks).
        let g = Grouping::from_labels(&["z", "a", "m"]);
        assert_eq!(g.codes(), &[0, 1, 2]);
        assert!(!g.has_dependence());
    }

    #[test]
    fn model_groups_number_by_first_occurrence() {
        let g = Grouping::from_labels(&["s2", "s1", "s2", "s3", "s1"]);
        let m = g.in_model(&[0, 2, 3, 4]);
        assert_eq!(m.local, vec![0, 0, 1, 2]);
        assert_eq!(m.codes, vec![1, 2, 0]);
        assert_eq!(m.sizes, vec![2, 1, 1]);
        assert!(m.has_dependence() && m.supports_inference());
        assert_eq!(m.group_means(&[1.0, 3.0, 5.0, 7.0]), vec![2.0, 5.0, 7.0]);
        assert_eq!(m.per_image_means(&[1.0, 3.0, 5.0, 7.0]), vec![2.0, 2.0, 5.0, 7.0]);
        assert!(!g.in_model(&[0, 1]).has_dependence());
        assert!(!g.in_model(&[0, 2]).supports_inference());
    }

    #[test]
    fn group_means_skip_invalid_images() {
        let g = Grouping::from_labels(&["a", "a", "b"]);
        let nan = f64::NAN;
        let x = StudyVoxels::new(3, vec![1.0, 3.0, 5.0, nan, 4.0, nan]);
        let m = group_means(&x, &g);
        assert_eq!(m.voxel(0), &[2.0, 5.0]);
        assert_eq!(m.voxel(1)[0].to_bits(), 4.0f64.to_bits());
        assert!(m.voxel(1)[1].is_nan());
        let bag = Bag { studies: vec![0, 1, 2], voxels: vec![0] };
        assert_eq!(group_model(&bag, &g), Bag { studies: vec![0, 1], voxels: vec![0] });
    }
}
