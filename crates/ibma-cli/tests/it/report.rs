//! `ibma report`: figures and the HTML page for a fit on the demo's synthetic dataset, the
//! anatomical underlay, the null summaries, and hostile grids.

use crate::cli::{assert_bad_input, ibma};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ibma::io::{Grid, MapMeta};
use ibma_cli::run::{fit, FitRequest};
use ibma_report::figures::{Brain, Scale, Style, View, ANATOMY_WHITE, CROSSHAIR, CROSSHAIR_GAP, GREY, MAX_PANEL_PX};
use ibma_report::{underlay, ReportOptions, DEFAULT_THRESHOLD};
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

/// Hot (red→yellow) and cold (blue→cyan) colours, also at 80 % over grey anatomy.
fn is_hot(p: &[u8]) -> bool {
    p[0] >= 200 && p[2] <= 60
}
fn is_cold(p: &[u8]) -> bool {
    p[0] <= 60 && p[2] >= 200
}

/// Pixels that are hot and cold in an RGB buffer.
fn hot_and_cold(rgb: &[u8]) -> (usize, usize) {
    let px = rgb.chunks(3);
    (px.clone().filter(|p| is_hot(p)).count(), px.filter(|p| is_cold(p)).count())
}

/// The PNGs report.html embeds, decoded from their data URIs.
fn embedded_pngs(html: &str) -> Vec<Vec<u8>> {
    html.split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|s| BASE64.decode(s.split('"').next().unwrap()).unwrap())
        .collect()
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
        "(saved as report_z_ortho.png)",
        "(saved as report_z_mosaic.png)",
        "(saved as report_coverage.png)",
        "Anatomy: the MNI ICBM152 2009a T1 template is drawn under the map",
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
    // Self-contained: every figure is embedded, byte for byte the PNG written beside the page,
    // and nothing is loaded from elsewhere.
    let files: Vec<Vec<u8>> = written.figures.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(embedded_pngs(&html), files);
    assert_eq!(html.matches("src=").count(), 3, "only the embedded figures");
    assert!(!html.contains("href=\"report_") && !html.contains("<link") && !html.contains("<script"));

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
    // The anatomy shows through sub-threshold voxels: many shades of grey, not one flat GREY.
    let mut greys: Vec<u8> =
        mosaic.chunks(3).filter(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 20).map(|p| p[0]).collect();
    greys.sort_unstable();
    greys.dedup();
    assert!(greys.len() > 100, "{} grey levels", greys.len());
    // Three crosshairs in the slices.
    let crosshair = ortho.chunks(3).filter(|p| *p == CROSSHAIR).count();
    assert!(crosshair > 3 * 200, "{crosshair} crosshair pixels");

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
    let panel = brain.panel(&z.data, View::Axial, at[2], &scale);
    let (px, py) = brain.pixel_of(View::Axial, at).unwrap();
    let hot = panel.get(px, py);
    assert!(hot[0] == 255 && hot[2] == 0, "positive blob pixel {hot:?}, no anatomy: unblended");
    assert!(px > panel.width / 2 + 15, "right hemisphere drawn at x pixel {px} of {}", panel.width);
    let neg_panel = brain.panel(&z.data, View::Axial, brain.world(neg)[2], &scale);
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
    // Over the MNI template (what the report draws here): the quiet voxel shows the anatomy at
    // its point, the blob its colour at 80 % over it.
    let t = underlay::mni();
    let anatomy = brain.choose_underlay(&mask.indices);
    assert!(anatomy.template.is_some(), "{}", anatomy.note);
    let brain = brain.with_underlay(anatomy.template);
    let over = brain.panel(&z.data, View::Axial, at[2], &scale);
    let shade = |w: [f64; 3]| (ANATOMY_WHITE * t.sample(w)).round() as u8;
    let quiet_w = brain.world(quiet);
    assert_eq!(over.get(qx, qy), [shade(quiet_w); 3], "anatomy under a sub-threshold voxel");
    let blended = over.get(px, py);
    let under = f64::from(shade(at));
    let colour = Scale::Diverging { threshold: DEFAULT_THRESHOLD, vmax: 10.0 }.colour(z.data[pos]);
    for c in 0..3 {
        assert_eq!(blended[c], (0.8 * f64::from(colour[c]) + 0.2 * under).round() as u8, "blend {blended:?}");
    }
    // The crosshair runs through the cut point, open around it.
    let cross = ibma_report::figures::ortho_panel(&brain, &z.data, View::Coronal, at, &scale);
    let (cx, cy) = brain.pixel_of(View::Coronal, at).unwrap();
    assert_ne!(cross.get(cx, cy), CROSSHAIR, "the cut voxel stays visible");
    for d in [CROSSHAIR_GAP + 1, CROSSHAIR_GAP + 20] {
        assert!(cross.get(cx + d, cy) == CROSSHAIR && cross.get(cx - d, cy) == CROSSHAIR);
        assert!(cross.get(cx, cy + d) == CROSSHAIR && cross.get(cx, cy - d) == CROSSHAIR);
    }
    assert_eq!(
        cross.get(cx + CROSSHAIR_GAP, cy),
        over_coronal(&brain, &z.data, at, &scale).get(cx + CROSSHAIR_GAP, cy)
    );

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
    // Warnings of the fit come first, in the overview.
    let html = std::fs::read_to_string(&written.html).unwrap();
    let overview = html.split("<h2>Figures</h2>").next().unwrap();
    assert!(overview.contains("The fit reported 1 warning(s)") && overview.contains("&amp; more"));
    assert!(!written.figures.iter().any(|f| f.ends_with("report_coverage.png")));
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

fn over_coronal(brain: &Brain, values: &[f64], at: [f64; 3], scale: &Scale) -> ibma_report::Canvas {
    brain.panel(values, View::Coronal, at[1], scale)
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
        let panel = brain.panel(values, view, 0.0, &scale);
        assert!(panel.width.max(panel.height) <= MAX_PANEL_PX);
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

/// A mask on `grid`: the voxels whose centre satisfies `inside(world)`.
fn mask_where(grid: &Grid, inside: impl Fn([f64; 3]) -> bool) -> (Vec<bool>, Vec<usize>) {
    let [_, ny, nz] = grid.dims;
    let a = grid.affine;
    let flags: Vec<bool> = (0..grid.n_voxels())
        .map(|v| {
            let ijk = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
            inside(std::array::from_fn(|r| a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3]))
        })
        .collect();
    let indices = (0..flags.len()).filter(|&v| flags[v]).collect();
    (flags, indices)
}

/// The MNI template is drawn under masks that lie in its brain, on any grid (here 3 mm RAS, not
/// the template's own lattice), and not under a brain-shaped mask moved 60 mm away nor under a
/// small ball; each choice says why.
#[test]
fn the_underlay_is_drawn_only_on_mni_space_grids() {
    let t = underlay::mni();
    let ras3 = |shift_y: f64| {
        Grid::from_affine(
            [61, 73, 61],
            [[3.0, 0.0, 0.0, -90.0], [0.0, 3.0, 0.0, -126.0 + shift_y], [0.0, 0.0, 3.0, -72.0], [0.0, 0.0, 0.0, 1.0]],
        )
    };
    let brain_grid = ras3(0.0);
    let (flags, indices) = mask_where(&brain_grid, |w| t.sample(w) > 0.3);
    assert!(indices.len() > 20_000, "{} voxels", indices.len());
    let choice = Brain::new(&brain_grid, &flags).unwrap().choose_underlay(&indices);
    assert!(choice.template.is_some() && choice.note.starts_with("Anatomy: the MNI ICBM152"), "{}", choice.note);
    // The same voxels 60 mm further forward: mostly outside the template's brain.
    let moved = ras3(60.0);
    let choice = Brain::new(&moved, &flags).unwrap().choose_underlay(&indices);
    assert!(choice.template.is_none(), "{}", choice.note);
    assert!(choice.note.starts_with("No anatomical underlay") && choice.note.contains("inside the MNI template"));
    // A 48 mm ball at the origin lies inside the brain but is no brain: too small.
    let small = Grid::from_affine(
        [31, 31, 31],
        [[2.0, 0.0, 0.0, -30.0], [0.0, 2.0, 0.0, -30.0], [0.0, 0.0, 2.0, -30.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let (flags, indices) = mask_where(&small, |w| w.iter().map(|c| c * c).sum::<f64>() <= 24.0 * 24.0);
    let choice = Brain::new(&small, &flags).unwrap().choose_underlay(&indices);
    assert!(choice.template.is_none() && choice.note.contains("spans only"), "{}", choice.note);
    // The template itself: the skull-stripped brain is dark outside, bright inside.
    assert!(t.sample([0.0, 0.0, 0.0]) > 0.3 && t.sample([0.0, 0.0, 120.0]) == 0.0 && t.sample([85.0, 0.0, 0.0]) < 0.05);
}

/// The colour bar is labelled with the quantity the map holds.
#[test]
fn colour_bars_are_labelled() {
    assert_eq!(ibma_report::bar_label("z"), "z");
    assert_eq!(ibma_report::bar_label("z_corr-FDR_method-indep"), "z");
    assert_eq!(ibma_report::bar_label("logp_level-voxel_corr-FWE_method-montecarlo"), "-log10 p");
    assert_eq!(ibma_report::bar_label("est"), "estimate");
    let scale = Scale::Diverging { threshold: 3.1, vmax: 6.0 };
    let (plain, labelled) = (scale.bar(100, ""), scale.bar(100, "-log10 p"));
    // "-log10 p" is 8 glyphs of 12 pixels (less the last gap): the bar is at least that wide,
    // with the label in its first rows, above the colours.
    assert!(labelled.width >= 8 * 12 - 2, "{}x{}", labelled.width, labelled.height);
    let ink = |c: &ibma_report::Canvas| {
        (0..14).flat_map(|y| (0..c.width).map(move |x| (x, y))).filter(|&(x, y)| c.get(x, y) != [0, 0, 0]).count()
    };
    assert!(ink(&labelled) > 50 && ink(&plain) == 0, "label pixels: {} and {}", ink(&labelled), ink(&plain));
}

/// Edge letters stand on each panel's caption line: below it, every white pixel left of the
/// colour bar is the mask's outline (it touches the mask or the crosshair over it), never a
/// letter beside a panel.
#[test]
fn orientation_letters_do_not_crowd_the_slices() {
    let grid = Grid::from_affine(
        [31, 21, 17],
        [[2.0, 0.0, 0.0, -30.0], [0.0, 3.0, 0.0, -30.0], [0.0, 0.0, 4.0, -32.0], [0.0, 0.0, 0.0, 1.0]],
    );
    let (flags, _) = mask_where(&grid, |w| w.iter().map(|c| c * c).sum::<f64>() <= 24.0 * 24.0);
    let brain = Brain::new(&grid, &flags).unwrap();
    let values = vec![0.0; grid.n_voxels()];
    let style = Style { title: "t", scale: Scale::Diverging { threshold: 1.0, vmax: 2.0 }, label: "z" };
    let fig = ibma_report::figures::ortho(&brain, &values, [0.0; 3], &style);
    let white = |x: usize, y: usize| fig.get(x, y) == [235, 235, 235];
    let in_mask = |x: usize, y: usize| fig.get(x, y) == GREY || fig.get(x, y) == CROSSHAIR;
    // The bar starts at the first column holding its top colour (yellow).
    let bar_x = (0..fig.width).find(|&x| (0..fig.height).any(|y| fig.get(x, y) == [255, 255, 0])).unwrap();
    let caption_bottom = 12 + 14 + 12 + 14; // GAP, title, GAP, caption line
    let letters_on_caption_line =
        (0..caption_bottom).flat_map(|y| (0..bar_x).map(move |x| (x, y))).filter(|&(x, y)| white(x, y)).count();
    // Below the caption line: every 8-connected group of white pixels touches the mask.
    let mut seen = vec![false; fig.width * fig.height];
    let mut outline = 0;
    for y in caption_bottom..fig.height - 1 {
        for x in 1..bar_x {
            if !white(x, y) || seen[y * fig.width + x] {
                continue;
            }
            let (mut stack, mut touches, mut size) = (vec![(x, y)], false, 0);
            seen[y * fig.width + x] = true;
            while let Some((x, y)) = stack.pop() {
                size += 1;
                touches |= in_mask(x - 1, y) || in_mask(x + 1, y) || in_mask(x, y - 1) || in_mask(x, y + 1);
                for (nx, ny) in [
                    (x - 1, y - 1),
                    (x, y - 1),
                    (x + 1, y - 1),
                    (x - 1, y),
                    (x + 1, y),
                    (x - 1, y + 1),
                    (x, y + 1),
                    (x + 1, y + 1),
                ] {
                    if ny >= caption_bottom
                        && ny < fig.height - 1
                        && nx >= 1
                        && nx < bar_x
                        && white(nx, ny)
                        && !seen[ny * fig.width + nx]
                    {
                        seen[ny * fig.width + nx] = true;
                        stack.push((nx, ny));
                    }
                }
            }
            assert!(touches, "{size} white pixels at ({x}, {y}) beside the slices are no outline");
            outline += size;
        }
    }
    assert!(outline > 300 && letters_on_caption_line > 500, "{outline} outline, {letters_on_caption_line} text pixels");
}

#[test]
fn report_files_are_recognised() {
    for name in ["report.html", "report_z_ortho.png", "report_montecarlo_null_max_z.tsv"] {
        assert!(ibma_report::is_report_file(name), "{name}");
    }
    for name in ["z.nii.gz", "report.txt", "clusters.tsv", "my_report_z.png", "result.json"] {
        assert!(!ibma_report::is_report_file(name), "{name}");
    }
}

/// `--correct montecarlo` keeps its null in result.json: the page summarises it (quantiles, the
/// FWE thresholds, which agree with the FWE maps) and the numbers go to a TSV, not the page.
#[test]
fn null_distributions_are_summarised_and_written_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    crate::jackknife::synthetic_dataset(dir.path());
    let out = dir.path().join("st");
    crate::persist::fit(dir.path(), &out, &["--correct", "montecarlo", "--n-iters", "399", "--seed", "3"]);
    let written = ibma_report::write(&out, &ReportOptions::default()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let h0: Vec<f64> =
        json["diagnostics"]["montecarlo_null_max_z"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(h0.len(), 399);
    let tsv_path = out.join("report_montecarlo_null_max_z.tsv");
    assert_eq!(written.tables, vec![tsv_path.clone()]);
    let tsv = std::fs::read_to_string(&tsv_path).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(lines.next(), Some("iteration\tmontecarlo_null_max_z"));
    for (i, (line, h)) in lines.zip(&h0).enumerate() {
        assert_eq!(line, format!("{}\t{h}", i + 1));
    }
    assert_eq!(tsv.lines().count(), 400);
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains(
        "<td>montecarlo_null_max_z</td><td>399 values: summarised below, all in report_montecarlo_null_max_z.tsv</td>"
    ));
    assert!(html.contains("<h3>Null distribution montecarlo_null_max_z</h3>"));
    assert!(!html.contains(&format!("{}, {}", h0[0], h0[1])), "the numbers are not on the page");
    assert!(!html.contains("<h2>report_montecarlo_null_max_z.tsv</h2>"), "not shown as a table of its own");
    // Thresholds: a voxel whose |z| exceeds the 0.05 one has FWE p <= 0.05, and no other
    // (voxels within float32 rounding of it are left out: the maps are float32).
    let z = ibma::io::read_volume(&out.join("z.nii.gz")).unwrap().data;
    let p = ibma::io::read_volume(&out.join("p_level-voxel_corr-FWE_method-montecarlo.nii.gz")).unwrap().data;
    for alpha in [0.05, 0.01] {
        let thr = ibma::stats::permute::fwe_threshold(&h0, alpha).unwrap();
        let shown = format!("<td>FWE p &lt;= {alpha} where</td><td>|z| &gt; {}</td>", (thr * 1e4).round() / 1e4);
        assert!(html.contains(&shown), "{shown}");
        let (mut above, mut below) = (0, 0);
        for (z, p) in z.iter().zip(&p).filter(|(z, _)| z.is_finite()) {
            if (z.abs() - thr).abs() <= ibma::tol::F32_RTOL * thr {
                continue;
            }
            let significant = *p <= alpha * (1.0 + ibma::tol::F32_RTOL);
            assert_eq!(z.abs() > thr, significant, "alpha {alpha}: z {z}, p {p}, threshold {thr}");
            if significant {
                above += 1
            } else {
                below += 1
            }
        }
        assert!(below > 0 && (above > 0 || alpha < 0.05), "alpha {alpha}: {above} above, {below} below the threshold");
    }
}

/// Grids a figure cannot show voxel by voxel: panels and the work stay bounded (0.01 x 2 x 10 mm
/// voxels took 47 s and 4.5 GB; 0.001 x 2 x 100 mm asked for 6.4 TB), and what cannot be drawn
/// is one clear error (a header claiming 30000^3 voxels is refused before anything is allocated).
#[test]
fn hostile_grids_give_bounded_figures_or_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, dims: [usize; 3], affine: [[f64; 4]; 4]| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let grid = Grid::from_affine(dims, affine);
        let values: Vec<f32> = (0..grid.n_voxels()).map(|v| ((v * 7919) % 13) as f32 - 6.0).collect();
        ibma::io::write_map(&d.join("z.nii.gz"), &grid, &values, &MapMeta::default()).unwrap();
        let result =
            serde_json::json!({"estimator": "stouffers", "mask_voxels": 1e300, "maps": {"z": {"file": "z.nii.gz"}}});
        std::fs::write(d.join("result.json"), result.to_string()).unwrap();
        d
    };
    let diag =
        |x: f64, y: f64, z: f64| [[x, 0.0, 0.0, 0.0], [0.0, y, 0.0, 0.0], [0.0, 0.0, z, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let bounded = [
        make("aniso", [10, 10, 10], diag(0.01, 2.0, 10.0)),
        make("aniso2", [10, 10, 10], diag(0.001, 2.0, 100.0)),
        make(
            "sheared",
            [10, 10, 10],
            [[2.0, 0.0, 50.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 1.0]],
        ),
        make("huge_voxels", [10, 10, 10], diag(1e30, 2.0, 2.0)),
        make("long", [2000, 1, 1], diag(1.0, 1.0, 1.0)),
    ];
    for d in &bounded {
        let written =
            ibma_report::write(d, &ReportOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        assert_eq!(written.figures.len(), 2, "{}", d.display());
        for f in &written.figures {
            let (w, h, _) = decode(f);
            // Three panels (or four mosaic columns) of at most MAX_PANEL_PX, labels and the bar.
            assert!(
                w as usize <= 4 * MAX_PANEL_PX + 400 && h as usize <= 4 * MAX_PANEL_PX + 400,
                "{}: {w}x{h}",
                f.display()
            );
        }
        let html = std::fs::read_to_string(&written.html).unwrap();
        assert!(html.contains("No anatomical underlay"), "{}", d.display());
        let z = ibma::io::read_volume(&d.join("z.nii.gz")).unwrap();
        let flags = vec![true; z.data.len()];
        let brain = Brain::new(&z.grid, &flags).unwrap();
        for view in [View::Sagittal, View::Coronal, View::Axial] {
            let (w, h) = brain.panel_size(view);
            assert!(w <= MAX_PANEL_PX && h <= MAX_PANEL_PX, "{}: {view:?} {w}x{h}", d.display());
        }
    }
    // A singular affine, and a header claiming 30000^3 voxels over 1000 voxels of data.
    let singular = make("singular", [10, 10, 10], diag(1e-30, 1e-30, 1e-30));
    let one_line_error = |d: &Path, needles: &[&str]| {
        let e = ibma_report::write(d, &ReportOptions::default()).unwrap_err().to_string();
        assert!(e.lines().count() == 1 && needles.iter().all(|n| e.contains(n)), "{e}");
    };
    one_line_error(&singular, &["z.nii.gz", "singular"]);
    let absurd = make("absurd_dims", [10, 10, 10], diag(2.0, 2.0, 2.0));
    let path = absurd.join("z.nii.gz");
    let mut raw = ibma::io::gunzip(&std::fs::read(&path).unwrap()).unwrap();
    for d in 0..3 {
        raw[42 + 2 * d..44 + 2 * d].copy_from_slice(&30000i16.to_le_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    one_line_error(&absurd, &["z.nii.gz", "more than ibma reads"]);
}
