//! Deriving missing map types from the ones a study has (docs/dataset-format.md §3):
//! varcope = se², se = √varcope, t = con/se, con = t·se, z = t_to_z(t, N − 1),
//! t = z_to_t(z, N − 1), in that order. Inputs are read at their stored precision; each derived
//! map is rounded to float32 before it feeds the next step (so derived maps are consistent
//! with each other, exactly as `oracle/complete_dataset.py` writes them). Voxels where the
//! inputs are not usable get 0, i.e. "no data".

use ibma_io::MapType::{self, Con, Se, Varcope, T, Z};
use ibma_stats::transform::{z_to_t, TToZ};
use std::collections::{BTreeMap, BTreeSet};

/// One-sample dof as NiMARE's harness uses it: int(N) − 1.
fn dof(sample_size: Option<f64>) -> Option<f64> {
    sample_size.map(|n| n.trunc() - 1.0).filter(|d| *d >= 1.0)
}

/// The map types a study has or can derive.
pub fn derivable(stored: &BTreeSet<MapType>, sample_size: Option<f64>) -> BTreeSet<MapType> {
    let mut have = stored.clone();
    let dof = dof(sample_size);
    for (made, from, needs_dof) in STEPS {
        if !have.contains(&made) && from.iter().all(|t| have.contains(t)) && (!needs_dof || dof.is_some()) {
            have.insert(made);
        }
    }
    have
}

/// (derived type, inputs, needs a dof), in the order of docs/dataset-format.md §3.
const STEPS: [(MapType, &[MapType], bool); 6] = [
    (Varcope, &[Se], false),
    (Se, &[Varcope], false),
    (T, &[Con, Se], false),
    (Con, &[T, Se], false),
    (Z, &[T], true),
    (T, &[Z], true),
];

/// Complete `stored` (masked maps at stored precision) with every derivable type.
pub fn derive_maps(mut maps: BTreeMap<MapType, Vec<f64>>, sample_size: Option<f64>) -> BTreeMap<MapType, Vec<f64>> {
    let dof = dof(sample_size);
    for (made, from, needs_dof) in STEPS {
        if maps.contains_key(&made) || !from.iter().all(|t| maps.contains_key(t)) {
            continue;
        }
        let values = match (made, dof) {
            (Varcope, _) => unary(&maps[&Se], |se| se * se),
            (Se, _) => unary_positive(&maps[&Varcope], f64::sqrt),
            (T, _) if from == [Con, Se] => binary(&maps[&Con], &maps[&Se], |c, se| (se > 0.0).then(|| c / se)),
            (Con, _) => binary(&maps[&T], &maps[&Se], |t, se| Some(t * se)),
            (Z, Some(d)) => {
                let to_z = TToZ::new(d);
                unary(&maps[&T], |t| to_z.z(t))
            }
            (T, Some(d)) => unary(&maps[&Z], |z| z_to_t(z, d)),
            _ => {
                debug_assert!(needs_dof);
                continue;
            }
        };
        maps.insert(made, values);
    }
    maps
}

fn usable(x: f64) -> bool {
    x.is_finite() && x != 0.0
}

/// Rounded to float32 as every derived value is; 0 marks "no data".
fn store(x: Option<f64>) -> f64 {
    x.map_or(0.0, |x| f64::from(x as f32))
}

fn unary(a: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    a.iter().map(|&x| store(usable(x).then(|| f(x)))).collect()
}

fn unary_positive(a: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    a.iter().map(|&x| store((usable(x) && x > 0.0).then(|| f(x)))).collect()
}

fn binary(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> Option<f64>) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| store(if usable(x) && usable(y) { f(x, y) } else { None })).collect()
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // derived values are exact float32 roundings: equality is the claim
mod tests {
    use super::*;

    #[test]
    fn con_and_varcope_give_every_type() {
        let mut stored = BTreeMap::new();
        stored.insert(Con, vec![2.0, 0.0, 1.0]);
        stored.insert(Varcope, vec![4.0, 1.0, -1.0]);
        let all = derive_maps(stored, Some(21.0));
        assert_eq!(all[&Se], vec![2.0, 1.0, 0.0]);
        assert_eq!(all[&T], vec![1.0, 0.0, 0.0]);
        let z = all[&Z][0];
        assert_eq!(z, f64::from(ibma_stats::transform::t_to_z(1.0, 20.0) as f32));
        assert!(z > 0.0 && z < 1.0);
        assert_eq!(all[&Z][1], 0.0);
    }

    #[test]
    fn z_needs_a_sample_size() {
        let stored: BTreeSet<MapType> = [T].into();
        assert!(!derivable(&stored, None).contains(&Z));
        assert!(derivable(&stored, Some(10.0)).contains(&Z));
        assert!(!derivable(&stored, Some(10.0)).contains(&Con));
    }
}
