//! `ibma report`: figures and the HTML page for a fit on the demo's synthetic dataset.

use crate::cli::{assert_bad_input, ibma};
use ibma_cli::run::{fit, FitRequest};
use ibma_report::figures::{Brain, Scale, View, GREY};
use ibma_report::{ReportOptions, DEFAULT_THRESHOLD};
use std::path::{Path, PathBuf};

/// The demo's grid, 91×109×91 (C order).
const DIMS: [usize; 3] = [91, 109, 91];

fn flat([i, j, k]: [usize; 3]) -> usize {
    (i * DIMS[1] + j) * DIMS[2] + k
}

/// The demo dataset under `dir/dataset` and a Stouffers fit (with FDR) of it in `dir/st`.
fn demo_fit(dir: &Path) -> PathBuf {
    ibma_cli::demo::generate(&dir.join("dataset")).unwrap();
    ibma_cli::progress::set_quiet(true);
    let out = dir.join("st");
    let req = FitRequest {
        dataset: dir.join("dataset"),
        estimator: "stouffers".into(),
        out: out.clone(),
        sets: Vec::new(),
        corrections: vec!["fdr-indep".into()],
        n_iters: 10,
        seed: 42,
        threads: None,
        force: false,
        load: Default::default(),
    };
    fit(&req).unwrap();
    out
}

/// "mask voxels" of the overview table.
fn mask_len(html: &str) -> usize {
    let row = html.split("<td>mask voxels</td><td class=\"num\">").nth(1).unwrap();
    row.split('<').next().unwrap().parse().unwrap()
}

fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight), "{}", path.display());
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Pixels that are hot (red→yellow) and cold (blue→cyan) in an RGB buffer.
fn hot_and_cold(rgb: &[u8]) -> (usize, usize) {
    let px = rgb.chunks(3);
    let hot = px.clone().filter(|p| p[0] == 255 && p[2] == 0).count();
    let cold = px.filter(|p| p[0] == 0 && p[2] == 255).count();
    (hot, cold)
}

#[test]
fn report_of_a_demo_fit() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo_fit(dir.path());
    let written = ibma_cli::run::report(&out, &ReportOptions::default(), None).unwrap();
    assert!(written.notes.is_empty(), "{:?}", written.notes);
    let html = std::fs::read_to_string(&written.html).unwrap();
    for needle in [
        "<h2>Overview</h2>",
        "<h2>Dataset</h2>",
        "<h2>Figures</h2>",
        "<h2>Parameters</h2>",
        "<h2>Bags and NaN counts</h2>",
        "<h2>Software and timings</h2>",
        "src=\"report_z_ortho.png\"",
        "src=\"report_z_mosaic.png\"",
        "src=\"report_coverage.png\"",
        "<td>study_20</td>",
        "Sample sizes of the studies used",
        "use_sample_size",
        "bags_fitted",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(html.contains(needle), "{needle:?} not in report.html");
    }
    // Studies 1-4 miss the top slab and study 8 part of the left hemisphere (demo.rs).
    let usable = |id: &str| {
        let row = html.split(&format!("<td>{id}</td>")).nth(1).unwrap();
        row.split("<td class=\"num\">").nth(2).unwrap().split('<').next().unwrap().parse::<usize>().unwrap()
    };
    assert!(usable("study_01") < usable("study_05") && usable("study_08") < usable("study_05"));
    assert_eq!(usable("study_05"), mask_len(&html));

    // Geometry: the demo's mask spans 73 × 93 voxels in i × j; an axial panel shows them with
    // one voxel of margin on each side at 3 pixels per voxel.
    let mask = ibma::io::Mask::read(&dir.path().join("dataset/mask.nii.gz")).unwrap();
    let extent = |axis: usize| {
        let idx = |v: usize| [v / (DIMS[1] * DIMS[2]), (v / DIMS[2]) % DIMS[1], v % DIMS[2]][axis];
        mask.indices.iter().map(|&v| idx(v)).max().unwrap() - mask.indices.iter().map(|&v| idx(v)).min().unwrap() + 1
    };
    let axial = ((extent(0) + 1) * 3 + 1, (extent(1) + 1) * 3 + 1);
    let (mw, mh, mosaic) = decode(&out.join("report_z_mosaic.png"));
    assert!(mw as usize >= 4 * axial.0 && mh as usize >= 4 * axial.1, "mosaic {mw}x{mh}, panel {axial:?}");
    let (ow, oh, ortho) = decode(&out.join("report_z_ortho.png"));
    assert!(oh as usize >= axial.1 && ow as usize >= 3 * axial.0, "ortho {ow}x{oh}");
    let (cw, ch, _) = decode(&out.join("report_coverage.png"));
    assert!(ch == mh && cw as usize >= 4 * axial.0, "coverage mosaic {cw}x{ch}: the z mosaic's slices");
    // Both blobs are in the mosaic; the ortho view cuts through the (positive) peak.
    let (hot, cold) = hot_and_cold(&mosaic);
    assert!(hot > 500 && cold > 500, "mosaic: {hot} hot, {cold} cold pixels");
    assert!(hot_and_cold(&ortho).0 > 500);

    // Pixels: world-space panels in neurological orientation.
    let z = ibma::io::read_volume(&out.join("z.nii.gz")).unwrap();
    let mut in_mask = vec![false; z.data.len()];
    mask.indices.iter().for_each(|&v| in_mask[v] = true);
    let brain = Brain::new(&z.grid, &in_mask).unwrap();
    assert_eq!(brain.panel_size(View::Axial), axial);
    let scale = Scale::Diverging { threshold: DEFAULT_THRESHOLD, vmax: 10.0 };
    // The strongest voxels of each sign lie in the true blobs, centred at x = +30 mm (right
    // hemisphere) and x = -34 mm (left): the demo's affine maps i to x = 90 - 2i, so the grid
    // itself runs from right to left and a voxel-order drawing would put them the wrong way round.
    let truth = ibma::io::read_volume(&dir.path().join("dataset/truth_effect.nii.gz")).unwrap();
    let by_z = |v: &usize| z.data[*v];
    let pos =
        mask.indices.iter().copied().filter(|&v| z.data[v].is_finite()).max_by(|a, b| by_z(a).total_cmp(&by_z(b)));
    let neg =
        mask.indices.iter().copied().filter(|&v| z.data[v].is_finite()).min_by(|a, b| by_z(a).total_cmp(&by_z(b)));
    let (pos, neg) = (pos.unwrap(), neg.unwrap());
    assert!(z.data[pos] > 5.0 && z.data[neg] < -5.0, "extreme z: {} {}", z.data[pos], z.data[neg]);
    assert!(truth.data[pos] > 0.0 && truth.data[neg] < 0.0, "extremes outside the true blobs");
    let at = brain.world(pos);
    assert!(at[0] > 5.0 && brain.world(neg)[0] < -5.0, "{at:?} {:?}", brain.world(neg));
    let panel = brain.panel(&z.data, View::Axial, at[2], &|v| scale.colour(v));
    let (px, py) = brain.pixel_of(View::Axial, at).unwrap();
    let hot = panel.get(px, py);
    assert!(hot[0] == 255 && hot[2] == 0, "positive blob pixel {hot:?}");
    assert!(px > panel.width / 2 + 15, "right hemisphere drawn at x pixel {px} of {}", panel.width);
    let neg_panel = brain.panel(&z.data, View::Axial, brain.world(neg)[2], &|v| scale.colour(v));
    let (nx, ny) = brain.pixel_of(View::Axial, brain.world(neg)).unwrap();
    let cold = neg_panel.get(nx, ny);
    assert!(
        cold[0] == 0 && cold[2] == 255 && nx + 15 < panel.width / 2,
        "negative blob (x = -34 mm) pixel {cold:?} at {nx}"
    );
    // A sub-threshold voxel of the same slice, away from the outline, is plain grey.
    let quiet = (20..70)
        .map(|i| flat([i, 80, pos % DIMS[2]]))
        .find(|&v| z.data[v].abs() < 1.0)
        .expect("a voxel with |z| < 1 on row j = 80");
    let (qx, qy) = brain.pixel_of(View::Axial, brain.world(quiet)).unwrap();
    assert_eq!(panel.get(qx, qy), GREY, "z = {}", z.data[quiet]);
    assert_eq!(panel.get(0, 0), [0, 0, 0], "outside the mask");

    // The same files give the same bytes.
    let before: Vec<Vec<u8>> = written.figures.iter().map(|f| std::fs::read(f).unwrap()).collect();
    ibma_cli::run::report(&out, &ReportOptions::default(), None).unwrap();
    let after: Vec<Vec<u8>> = written.figures.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(before == after, "figures differ between two runs");
    assert_eq!(std::fs::read_to_string(&written.html).unwrap(), html);

    // What `ibma demo` writes beside the estimator folders: an index linking their reports.
    let index = ibma_report::demo_index(&["st"], "a <b> table");
    assert!(index.contains("<a href=\"st/report.html\">st</a>") && index.contains("a &lt;b&gt; table"));

    gone_dataset_escaped_text_and_extra_tables(&out, &dir.path().join("copy"));
    command_line(&out);
}

/// A copy of the result whose dataset is gone, with markup in a warning and a jackknife.tsv.
fn gone_dataset_escaped_text_and_extra_tables(out: &Path, copy: &Path) {
    std::fs::create_dir_all(copy).unwrap();
    std::fs::copy(out.join("z.nii.gz"), copy.join("z.nii.gz")).unwrap();
    let mut result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    result["dataset"] = "/nonexistent/ibma/dataset.json".into();
    result["warnings"] = serde_json::json!(["<script>alert(1)</script> & more"]);
    std::fs::write(copy.join("result.json"), result.to_string()).unwrap();
    std::fs::write(
        copy.join("jackknife.tsv"),
        "study\tcluster\tdelta\tlong\nstudy_03\t1\t-0.25\t0.05786344744779422\n",
    )
    .unwrap();
    let written = ibma_report::write(copy, &ReportOptions::default()).unwrap();
    assert!(written.notes.iter().any(|n| n.contains("/nonexistent/ibma/dataset.json")), "{:?}", written.notes);
    assert!(!written.figures.iter().any(|f| f.ends_with("report_coverage.png")));
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains("could not be read"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<script"), "unescaped markup from result.json");
    assert!(
        html.contains("<h2>jackknife.tsv</h2>") && html.contains("<td>study_03</td>") && html.contains(">0.057863<")
    );
}

fn command_line(out: &Path) {
    let dir = out.to_str().unwrap();
    let o = ibma(&["report", dir, "--map", "z_corr-FDR_method-indep", "--threshold", "2.3", "--cut", "-34,-36,8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("report_z_corr-FDR_method-indep_ortho.png").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("(-34, -36, 8) mm") && html.contains("|z_corr-FDR_method-indep| &gt;= 2.3"));
    assert_bad_input(
        &ibma(&["report", dir, "--map", "nope"]),
        &["nope.nii.gz", "not found", "z_corr-FDR_method-indep"],
    );
    assert_bad_input(&ibma(&["report", dir, "--cut", "1,2"]), &["--cut", "x,y,z"]);
    assert_bad_input(&ibma(&["report", dir, "--cut", "500,0,0"]), &["--cut", "outside"]);
    assert_bad_input(&ibma(&["report", dir, "--threshold", "-1"]), &["--threshold"]);
}

#[test]
fn report_needs_result_json() {
    let dir = tempfile::tempdir().unwrap();
    let o = ibma(&["report", dir.path().to_str().unwrap()]);
    assert_bad_input(&o, &["holds no result ibma wrote", "ibma fit --out"]);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
}

/// A ball of radius 24 mm on an RAS grid with 2 × 3 × 4 mm voxels (the opposite x direction of
/// the demo's LAS grid, and anisotropic): slices must show it round (square millimetres), with
/// the subject's right (x > 0) on the right and superior (z > 0) up.
#[test]
fn slices_are_in_world_space_whatever_the_grid() {
    let dims = [31, 21, 17];
    let affine = [[2.0, 0.0, 0.0, -30.0], [0.0, 3.0, 0.0, -30.0], [0.0, 0.0, 4.0, -32.0], [0.0, 0.0, 0.0, 1.0]];
    let grid = ibma::io::Grid::from_affine(dims, affine);
    let n = grid.n_voxels();
    let world = |v: usize| {
        let ijk = [v / (dims[1] * dims[2]), (v / dims[2]) % dims[1], v % dims[2]];
        [2.0 * ijk[0] as f64 - 30.0, 3.0 * ijk[1] as f64 - 30.0, 4.0 * ijk[2] as f64 - 32.0]
    };
    let in_mask: Vec<bool> = (0..n).map(|v| world(v).iter().map(|c| c * c).sum::<f64>() <= 24.0 * 24.0).collect();
    let brain = Brain::new(&grid, &in_mask).unwrap();
    let scale = Scale::Diverging { threshold: 1.0, vmax: 30.0 };
    let x: Vec<f64> = (0..n).map(|v| world(v)[0]).collect();
    let z: Vec<f64> = (0..n).map(|v| world(v)[2]).collect();
    for (view, values, what) in [(View::Axial, &x, "x"), (View::Coronal, &z, "z")] {
        let panel = brain.panel(values, view, 0.0, &|v| scale.colour(v));
        let inside = |px: usize, py: usize| panel.get(px, py) != [0, 0, 0];
        let (w, h) = (panel.width, panel.height);
        let across = (0..w).filter(|&px| inside(px, h / 2)).count() as f64;
        let down = (0..h).filter(|&py| inside(w / 2, py)).count() as f64;
        // Both spans are the ball's 48 mm diameter, up to one 4 mm voxel of rounding (drawn
        // voxel by voxel they would differ twofold: 25 voxels of 2 mm against 13 of 4 mm).
        assert!((across - down).abs() <= across.max(down) * 4.0 / 48.0, "{view:?}: {across} x {down} pixels");
        let hot_right = (0..w).filter(|&px| panel.get(px, h / 2) == [255, 255, 0]).all(|px| px > w / 2);
        let (hot, cold) = (panel.get(w / 2 + w / 4, h / 2), panel.get(w / 4, h / 2));
        if view == View::Axial {
            assert!(hot[0] == 255 && hot[2] == 0 && cold[2] == 255 && hot_right, "{what}: {hot:?} {cold:?}");
        } else {
            let (top, bottom) = (panel.get(w / 2, h / 4), panel.get(w / 2, 3 * h / 4));
            assert!(top[0] == 255 && top[2] == 0 && bottom[2] == 255, "{what} up: {top:?} {bottom:?}");
        }
    }
}
