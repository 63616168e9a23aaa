//! Stouffer's and Fisher's tests with dependence groups against NiMARE 0.22.1 / PyMARE 0.0.13 on
//! a synthetic dataset of 9 images from 5 studies, and on the same with a sixth study whose two
//! images are mirror images (`tests/data/dependence_reference.json`).

use crate::dependence_data::{assert_map, reference, values, Inputs};
use ibma_combine::grouped::{combine_grouped, Test};
use ibma_combine::Direction;
use ibma_stats::bags::bags;
use ibma_stats::groups::DependenceWarning;
use ibma_stats::nullcorr::null_correlation;
use ibma_stats::pmaps::logp_from_nlogp;
use ibma_stats::tol;

#[test]
fn combination_tests_with_groups_match_nimare() {
    let json = reference(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (d, dataset) in json["datasets"].as_array().unwrap().iter().enumerate() {
        let inputs = Inputs(&dataset["inputs"]);
        let z = inputs.matrix("z", &["z"]);
        let models = bags(&z, 2);
        let n = inputs.sample_sizes();
        let mut warned = Vec::new();
        for run in dataset["runs"].as_array().unwrap() {
            let kwargs = &run["kwargs"];
            let label = format!("dataset {d} {}", run["label"].as_str().unwrap());
            let grouping = inputs.grouping(kwargs["groupby"] == false);
            let corr = grouping.has_dependence().then(|| null_correlation(&z, &grouping)).flatten();
            // The correlation NiMARE estimated (to summation order, then de-shrunk).
            if let Some(want) = run.get("corr_matrix") {
                let got = corr.as_ref().unwrap().values().to_vec();
                for (g, w) in got.iter().zip(values(want)) {
                    assert!(tol::close(*g, w, tol::REFERENCE_RTOL, tol::REFERENCE_ATOL), "{label} corr: {g} vs {w}");
                }
            }
            let direction = if kwargs["two_sided"] == false { Direction::Directed } else { Direction::Concordant };
            let sizes = (kwargs["use_sample_size"] == true).then_some(&n[..]);
            let fit = match run["estimator"].as_str().unwrap() {
                "Fishers" => combine_grouped(Test::Fisher, &z, &grouping, corr.as_ref(), &models, sizes, direction),
                "Stouffers" => combine_grouped(Test::Stouffer, &z, &grouping, corr.as_ref(), &models, sizes, direction),
                other => panic!("{other}"),
            };
            let logp: Vec<f64> = fit.maps.nlogp.iter().map(|&l| logp_from_nlogp(l)).collect();
            for (name, got) in [("z", &fit.maps.z), ("logp", &logp), ("dof", &fit.maps.dof)] {
                assert_map(&format!("{label} {name}"), got, &values(&run["maps"][name]), tol::MAP_RTOL);
                checked += 1;
            }
            // The same warnings as NiMARE's log: mirror-image pairs (by image id) and skipped
            // single-group models.
            let log: Vec<&str> = run["log"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
            let ids: Vec<&str> = inputs.0["ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
            let mut mirrored: Vec<String> = fit
                .warnings
                .iter()
                .filter_map(|w| match w {
                    DependenceWarning::Mirrored { images: (a, b), .. } => {
                        Some(format!("Image {} and image {}", ids[*a], ids[*b]))
                    }
                    _ => None,
                })
                .collect();
            let mut want: Vec<String> = log
                .iter()
                .filter(|m| m.contains("correlate exactly -1"))
                .map(|m| m.split(',').next().unwrap().to_string())
                .collect();
            mirrored.sort();
            want.sort();
            assert_eq!(mirrored, want, "{label}: mirror-image pairs");
            let skipped =
                fit.warnings.iter().any(|w| matches!(w, DependenceWarning::SingleGroup { models: 1, voxels: 2 }));
            assert_eq!(
                skipped,
                log.iter().any(|m| m.starts_with("Skipped 1 set(s) of voxels")),
                "{label}: skipped model"
            );
            warned.extend(fit.warnings);
        }
        // Study F of the second dataset uploaded one contrast both ways round.
        assert!(warned.iter().any(|w| matches!(w, DependenceWarning::Mirrored { .. })));
    }
    assert_eq!(checked, 2 * 10 * 3, "every reference map compared");
}
