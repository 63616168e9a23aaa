//! Dependence groups: the null correlation, its centering-shrinkage inversion and the
//! intercept-only CR2 statistic against NiMARE 0.22.1 / PyMARE 0.0.13
//! (`tests/data/dependence_reference.json`, made by ibma-glm's
//! `tests/data/make_dependence_reference.py`), and the group sign flips.

use crate::dependence_data::{reference, values, Inputs};
use ibma_stats::cr2::Cr2Weights;
use ibma_stats::groups::Grouping;
use ibma_stats::nullcorr::{null_correlation, undo_centering_shrinkage, CorrMatrix};
use ibma_stats::permute::FlipMatrix;
use ibma_stats::tol;

#[track_caller]
fn assert_all_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Only summation order differs (BLAS products and NumPy's pairwise sums against
        // sequential sums).
        assert!(tol::close(*g, *w, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL), "{what} [{i}]: {g} vs {w}");
    }
}

#[test]
fn null_correlation_matches_nimare_pairwise_estimate() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let case = &json["null_correlation"];
    let inputs = Inputs(&case["inputs"]);
    // Zeros (no coverage) make the estimate pairwise: NiMARE's `_null_correlation`.
    let z = inputs.matrix("z", &["z"]);
    let corr = null_correlation(&z, &inputs.grouping(false)).expect("estimable");
    assert_all_close("corr", corr.values(), &values(&case["corr_matrix"]));
}

#[test]
fn centering_shrinkage_inversion_matches_pymare() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let case = &json["undo_centering_shrinkage"];
    let labels: Vec<String> = case["groups"].as_array().unwrap().iter().map(|g| g.to_string()).collect();
    let input = values(&case["input"]);
    let k = labels.len();
    let out = undo_centering_shrinkage(&CorrMatrix::new(k, input), &Grouping::from_labels(&labels));
    assert_all_close("undo_centering_shrinkage", out.values(), &values(&case["output"]));
}

#[test]
fn intercept_cr2_matches_pymare() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    for case in json["cr2"].as_array().unwrap() {
        let q = values(&case["q"]);
        let w = Cr2Weights::new(&q);
        let dof = case["dof"].as_f64().unwrap();
        assert!(tol::close(w.dof, dof, tol::REFERENCE_RTOL, 0.0), "q {q:?}: dof {} vs {dof}", w.dof);
        for (x, t) in case["x"].as_array().unwrap().iter().zip(values(&case["t"])) {
            let got = w.fit(&values(x)).t;
            assert!(tol::close(got, t, tol::REFERENCE_RTOL, 0.0), "q {q:?}: t {got} vs {t}");
        }
    }
}

#[test]
fn group_flips_expand_to_every_image_of_the_group() {
    let grouping = Grouping::from_labels(&["s2", "s1", "s2", "s3"]);
    let flips = FlipMatrix::nimare(50, grouping.n_groups(), 42);
    let images = flips.expand(grouping.codes());
    assert_eq!((images.n_iters(), images.n_studies()), (50, 4));
    for i in 0..50 {
        let (g, x) = (flips.row(i), images.row(i));
        assert_eq!(x, [g[1], g[0], g[1], g[2]]);
    }
}
