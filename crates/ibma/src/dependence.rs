//! Dependence groups in the facade (docs/dependence.md): each image's group label from
//! `groupby`, the grouping of the images a fit keeps, the null correlation the combination tests
//! need, and the kernels' warnings in words that name images and groups.

use crate::inputs::StudyInfo;
use crate::Error;
use ibma_stats::bags::{bags, Bag};
use ibma_stats::groups::{DependenceWarning, Grouping};
use ibma_stats::StudyVoxels;

/// The models a grouped kernel fits: the liberal-mask bags of `x` with at least two images (under
/// `aggressive_mask`, whose data are NaN wherever an image is missing, the one bag of every
/// image).
pub(crate) fn models(x: &StudyVoxels) -> Vec<Bag> {
    bags(x, 2)
}

/// A kernel's warning for the user, naming groups by label and images by id.
pub(crate) fn describe(warning: &DependenceWarning, studies: &[StudyInfo], grouping: &Grouping) -> String {
    let label = |code: usize| {
        grouping.codes().iter().position(|&c| c == code).map_or_else(|| code.to_string(), |i| studies[i].group.clone())
    };
    let ids = |images: &[usize]| images.iter().map(|&i| studies[i].id.as_str()).collect::<Vec<_>>().join(", ");
    match warning {
        DependenceWarning::Cancelling { group, images, models, voxels, variance } => format!(
            "dependence group {} (image(s) {}) was left out of {models} model(s) covering {voxels} voxel(s): the mean \
             of its z statistics has null variance {variance:.3e}, so its images cancel and carry no information; \
             usually one contrast was uploaded in both directions, or the group's contrasts partition one cohort",
            label(*group),
            ids(images)
        ),
        DependenceWarning::Mirrored { group, images: (a, b) } => format!(
            "images {} and {}, both in dependence group {}, correlate exactly -1: one is the other with its sign \
             flipped; both were kept, but almost certainly one contrast was uploaded twice in opposite directions",
            studies[*a].id,
            studies[*b].id,
            label(*group)
        ),
        other => other.to_string(),
    }
}

/// The error of an estimator (or an option of it) that has no dependence-aware form, when the
/// images it fits are dependent.
pub(crate) fn unsupported(estimator: &str, what: &str, grouping: &Grouping) -> Error {
    Error::Invalid(format!(
        "{estimator}: {} images come from {} groups (groupby), and {what} does not model dependent images; \
         set groupby=none to treat them as independent (this inflates significance), or use an estimator with \
         dependence groups (docs/dependence.md)",
        grouping.n_images(),
        grouping.n_groups()
    ))
}
