//! `ibma demo`'s synthetic data: smooth like real maps, so GRF finds the two planted blobs; data
//! too rough for random field theory get a warning; the demo says which page to open.

use crate::cli::ibma;
use ibma::stats::cluster::RFT_MIN_FWHM_VOXELS;
use ibma::tol;
use ibma_testkit::Rng;
use serde_json::Value;
use std::path::Path;

fn fit_json(dataset: &Path, estimator: &str, out: &Path) -> (Value, String) {
    let o = ibma(&[
        "fit",
        "--quiet",
        "--dataset",
        dataset.to_str().unwrap(),
        "--estimator",
        estimator,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stderr}");
    (serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap(), stderr)
}

fn grf_warnings(json: &Value) -> Vec<String> {
    json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|w| w.contains("GRF"))
        .map(String::from)
        .collect()
}

#[test]
fn demo_noise_is_smooth_and_grf_finds_the_two_blobs() {
    let dir = tempfile::tempdir().unwrap();
    ibma_cli::demo::generate(&dir.path().join("dataset")).unwrap();
    let (json, stderr) = fit_json(&dir.path().join("dataset"), "ffx-glm", &dir.path().join("ffx"));
    let grf = &json["diagnostics"]["grf"];
    for f in grf["fwhm_mm"].as_array().unwrap() {
        // 2 mm voxels: the residuals are as smooth as the noise the demo planted.
        let voxels = f.as_f64().unwrap() / 2.0;
        assert!(tol::close(voxels, ibma_cli::demo::NOISE_FWHM_VOXELS, tol::DEMO_FWHM_RTOL, 0.0), "FWHM {grf}");
        assert!(voxels >= RFT_MIN_FWHM_VOXELS);
    }
    assert!(grf_warnings(&json).is_empty() && !stderr.contains("GRF"), "{stderr}");
    // Exactly the two blobs survive (unsmoothed, the demo gave 712 clusters): the positive one
    // peaks near its centre (30, -6, 18) mm, the negative one near (-34, -36, 8) mm (demo.rs BLOBS
    // through the 2 mm LAS affine), within plateau radius + taper (10 and 9 voxels).
    let table = std::fs::read_to_string(dir.path().join("ffx/clusters.tsv")).unwrap();
    let rows: Vec<Vec<f64>> =
        table.lines().skip(1).map(|l| l.split('\t').map(|c| c.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(grf["clusters_surviving"], 2);
    for (sign, centre, reach) in [(1.0, [30.0, -6.0, 18.0], 20.0), (-1.0, [-34.0, -36.0, 8.0], 18.0)] {
        let row = rows
            .iter()
            .find(|r| r[1].signum().total_cmp(&sign).is_eq())
            .unwrap_or_else(|| panic!("no cluster of sign {sign}: {table}"));
        let d = (0..3).map(|a| (row[7 + a] - centre[a]).powi(2)).sum::<f64>().sqrt();
        assert!(d <= reach && row[4] < 0.05, "cluster {row:?}: peak {d} mm from the blob centre");
    }
}

/// White noise on 2 mm voxels: FWHM under a voxel, the warning in result.json and on stderr.
#[test]
fn grf_on_unsmoothed_maps_warns() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [24, 24, 24];
    let affine = [[2.0, 0.0, 0.0, -24.0], [0.0, 2.0, 0.0, -24.0], [0.0, 0.0, 2.0, -24.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = ibma::io::Grid::from_affine(dims, affine);
    let n = grid.n_voxels();
    let meta = ibma::io::MapMeta::default();
    let write = |name: &str, values: &[f32]| ibma::io::write_map(&dir.path().join(name), &grid, values, &meta).unwrap();
    write("mask.nii.gz", &vec![1.0; n]);
    let mut rng = Rng::new(5);
    let studies: Vec<Value> = (0..10)
        .map(|k| {
            let con: Vec<f32> = rng.normals(n).iter().map(|&x| x as f32).collect();
            write(&format!("s{k}_con.nii.gz"), &con);
            write(&format!("s{k}_varcope.nii.gz"), &vec![1.0; n]);
            let maps =
                serde_json::json!({"con": format!("s{k}_con.nii.gz"), "varcope": format!("s{k}_varcope.nii.gz")});
            serde_json::json!({"id": format!("s{k}"), "sample_size": 20, "maps": maps})
        })
        .collect();
    let manifest =
        serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": "mask.nii.gz", "studies": studies});
    std::fs::write(dir.path().join("dataset.json"), manifest.to_string()).unwrap();
    let (json, stderr) = fit_json(dir.path(), "ffx-glm", &dir.path().join("ffx"));
    let fwhm: Vec<f64> =
        json["diagnostics"]["grf"]["fwhm_mm"].as_array().unwrap().iter().map(|f| f.as_f64().unwrap()).collect();
    assert!(fwhm.iter().all(|f| f / 2.0 < RFT_MIN_FWHM_VOXELS), "{fwhm:?}");
    let warnings = grf_warnings(&json);
    assert_eq!(warnings.len(), 1, "{:?}", json["warnings"]);
    assert!(warnings[0].contains("below 2 voxels") && warnings[0].contains("unreliable"), "{}", warnings[0]);
    assert!(stderr.contains("below 2 voxels"), "the CLI prints result warnings: {stderr}");
    // The report shows it in its overview, before the figures.
    let o = ibma(&["report", dir.path().join("ffx").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(dir.path().join("ffx/report.html")).unwrap();
    let overview = html.split("<h2>Figures</h2>").next().unwrap();
    assert!(overview.contains("below 2 voxels") && overview.contains("unreliable"), "{overview}");
}

#[test]
fn demo_ends_by_naming_the_page_to_open() {
    let text = ibma_cli::demo::closing(&[], Path::new("demo-output"));
    assert!(
        text.starts_with("estimator") && text.trim_end().ends_with("(it links every estimator's report)"),
        "{text}"
    );
    assert!(text.contains("open demo-output/index.html"), "{text}");
    // The README's `--out demo-output` never shows up as untracked files.
    let gitignore = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l.trim() == "demo-output/"), "{gitignore}");
}
