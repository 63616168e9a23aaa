//! NiMARE 0.22.1's liberal "bags": in-mask voxels grouped by their exact validity pattern
//! over studies (`docs/estimators.md` §2.6). Each bag is one model with its own K.

use crate::StudyVoxels;
use std::collections::HashMap;

/// The voxels sharing one validity pattern, and the studies valid there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bag {
    /// Studies valid in every voxel of the bag, ascending.
    pub studies: Vec<usize>,
    /// The bag's voxels, ascending.
    pub voxels: Vec<usize>,
}

/// Group voxels by which studies are valid (non-NaN) there. Bags come in order of their first
/// voxel, so the grouping is deterministic; bags with fewer than `min_studies` studies are left
/// out (their voxels stay NaN in every output).
pub fn bags(x: &StudyVoxels, min_studies: usize) -> Vec<Bag> {
    let words = x.n_studies().div_ceil(64);
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut out: Vec<Bag> = Vec::new();
    // Neighbouring voxels mostly share their studies: the previous voxel's bag is tried first.
    let (mut key, mut previous) = (vec![0u64; words], (vec![0u64; words], usize::MAX));
    for (v, values) in x.voxels().enumerate() {
        for (word, chunk) in key.iter_mut().zip(values.chunks(64)) {
            *word = chunk.iter().enumerate().fold(0, |w, (b, x)| w | u64::from(!x.is_nan()) << b);
        }
        if previous.1 == usize::MAX || previous.0 != key {
            let slot = match index.get(key.as_slice()) {
                Some(&slot) => slot,
                None => {
                    let studies = values.iter().enumerate().filter(|(_, x)| !x.is_nan()).map(|(k, _)| k).collect();
                    out.push(Bag { studies, voxels: Vec::new() });
                    index.insert(key.clone(), out.len() - 1);
                    out.len() - 1
                }
            };
            previous.0.copy_from_slice(&key);
            previous.1 = slot;
        }
        out[previous.1].voxels.push(v);
    }
    out.retain(|b| b.studies.len() >= min_studies);
    out
}

/// The index of the model (bag) holding each of `n_voxels` voxels, None for voxels in no model.
pub fn owners(n_voxels: usize, models: &[Bag]) -> Vec<Option<usize>> {
    let mut owner = vec![None; n_voxels];
    for (m, model) in models.iter().enumerate() {
        for &v in &model.voxels {
            owner[v] = Some(m);
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_exact_pattern() {
        let nan = f64::NAN;
        let x = StudyVoxels::new(3, vec![1.0, 2.0, 3.0, 1.0, nan, 3.0, 4.0, 5.0, 6.0, nan, nan, 1.0]);
        let b = bags(&x, 2);
        assert_eq!(
            b,
            vec![Bag { studies: vec![0, 1, 2], voxels: vec![0, 2] }, Bag { studies: vec![0, 2], voxels: vec![1] }]
        );
    }

    /// Over 64 studies (two key words), runs of equal patterns and patterns coming back: the
    /// bags a plain search over the study lists gives.
    #[test]
    fn equals_a_plain_grouping_beyond_64_studies() {
        let (k, n) = (130, 400);
        let pattern = |v: usize| (v / 7) % 5;
        let data: Vec<f64> = (0..n)
            .flat_map(|v| {
                (0..k).map(move |s| if (s * 31 + pattern(v) * 17) % (pattern(v) + 2) == 0 { f64::NAN } else { 1.0 })
            })
            .collect();
        let x = StudyVoxels::new(k, data);
        let mut plain: Vec<Bag> = Vec::new();
        for (v, values) in x.voxels().enumerate() {
            let studies: Vec<usize> = (0..k).filter(|&s| !values[s].is_nan()).collect();
            match plain.iter_mut().find(|b| b.studies == studies) {
                Some(b) => b.voxels.push(v),
                None => plain.push(Bag { studies, voxels: vec![v] }),
            }
        }
        assert_eq!(plain.len(), 5);
        assert_eq!(bags(&x, 0), plain);
    }
}
