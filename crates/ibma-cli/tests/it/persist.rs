//! Saving and loading estimators and results; `ibma fit` writing result.ibma.json.gz and
//! `ibma correct` applying corrections to it.

use crate::cli::{assert_bad_input, ibma};
use crate::estimator;
use crate::jackknife::synthetic_dataset;
use ibma::estimators::AnyEstimator;
use ibma::io::{Grid, MapMeta, Mask};
use ibma::maps::{Map, Method, PerStudyMap};
use ibma::persist::{load_estimator, SaveEstimator, SavedResult};
use ibma::result::Table;
use ibma::{Estimator, MetaResult};
use std::path::Path;

#[test]
fn estimators_round_trip_with_their_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("est.ibma.json.gz");
    // Defaults of every estimator.
    for name in AnyEstimator::names() {
        let est = estimator(name, &[]);
        est.save(&path, true).unwrap();
        assert_eq!(load_estimator(&path, true).unwrap(), est, "{name}");
    }
    // Non-default parameters of every kind: bools, enums, numbers, text, flips.
    let st = estimator(
        "Stouffers",
        &[("two_sided", "false"), ("aggressive_mask", "true"), ("derive", "false"), ("inference", "rfx")],
    );
    let st = {
        let mut st = st;
        ibma::params::set(&mut st, "null", "empirical").unwrap();
        ibma::params::set(&mut st, "exact_flips", "true").unwrap();
        ibma::params::set(&mut st, "n_iters", "123").unwrap();
        ibma::params::set(&mut st, "seed", "7").unwrap();
        st
    };
    let dl = estimator("dersimonian-laird", &[("moderators", "age,site"), ("contrast", "0 1 0; 0 0 1")]);
    let mfx = estimator(
        "mfx-glm",
        &[
            ("groups", "site"),
            ("optimizer", "fsl"),
            ("q", "0.01"),
            ("cdt", "0.001"),
            ("cdt_tail", "one"),
            ("connectivity", "6"),
        ],
    );
    for est in [st, dl, mfx] {
        for compress in [true, false] {
            est.save(&path, compress).unwrap();
            assert_eq!(load_estimator(&path, compress).unwrap(), est);
        }
    }
    let back = load_estimator(&path, false).unwrap();
    assert!(ibma::params::params(&back).iter().any(|(k, v)| k == "groups" && v == "site"));
    // A parameter this ibma does not know is an error naming the file.
    let mut text: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    text["estimator"]["no_such_option"] = true.into();
    std::fs::write(&path, text.to_string()).unwrap();
    let err = load_estimator(&path, false).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("no_such_option"), "{err}");
}

/// A result with every kind of content: NaN, ±∞, −0, a subnormal float32, a 4-D map, tables.
fn rich_result() -> MetaResult {
    let affine = [[-2.0, 0.0, 0.0, 90.1], [0.0, 2.0, 0.0, -126.3], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]];
    let mask = Mask { grid: Grid::from_affine([4, 5, 6], affine), indices: vec![0, 3, 7, 20, 21, 22, 119] };
    let mut r = MetaResult::new(estimator("weighted-least-squares", &[("tau2", "0.1")]), mask);
    r.insert(Map::Z, vec![1.5, f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-40, 0.1]);
    r.insert(Map::P, vec![0.13, f64::NAN, 1.0, 0.0, 0.0, 1.0, 0.92]);
    r.insert_per_study(PerStudyMap::Weights, vec![vec![1.0; 7], vec![0.25; 7]]);
    r.studies = vec!["a".into(), "b".into()];
    r.warnings = vec!["one warning".into()];
    r.diagnostics.bags_fitted = 3;
    r.tables.push(Table { file: "clusters.tsv".into(), text: "cluster_id\tsize\n1\t3\n".into() });
    r
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    let f32_bits = |x: f64| f64::from(x as f32).to_bits();
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| (x.is_nan() && y.is_nan()) || f32_bits(x) == y.to_bits())
}

#[test]
fn results_round_trip_as_float32_maps() {
    let dir = tempfile::tempdir().unwrap();
    let r = rich_result();
    let path = dir.path().join("r.ibma.json.gz");
    r.save(&path, true).unwrap();
    let back = MetaResult::load(&path, true).unwrap();
    assert_eq!(back.maps().map(|(m, _)| m).collect::<Vec<_>>(), [Map::Z, Map::P]);
    for name in [Map::Z, Map::P] {
        // float32 on disk: the loaded map is the original rounded to float32, bit for bit.
        assert!(same_bits(r.map(name).unwrap(), back.map(name).unwrap()), "{name}: {:?}", back.map(name));
    }
    assert!(back.map(Map::Z).unwrap()[2].is_sign_negative(), "-0 kept");
    let (name, volumes) = back.per_study_maps().next().unwrap();
    assert_eq!((name, volumes.len()), (PerStudyMap::Weights, 2));
    assert_eq!(
        (&back.estimator, &back.studies, &back.warnings, &back.diagnostics, &back.tables),
        (&r.estimator, &r.studies, &r.warnings, &r.diagnostics, &r.tables)
    );
    assert_eq!(back.mask.indices, r.mask.indices);
    assert_eq!((back.mask.grid.dims, back.mask.grid.affine), (r.mask.grid.dims, r.mask.grid.affine));
    // A reloaded grid writes the same NIfTI header, and saving again gives the same file.
    let (a, b) = (dir.path().join("a.nii.gz"), dir.path().join("b.nii.gz"));
    ibma::io::write_map(&a, &r.mask.grid, &r.mask.unmask(r.map(Map::P).unwrap()), &MapMeta::default()).unwrap();
    ibma::io::write_map(&b, &back.mask.grid, &back.mask.unmask(back.map(Map::P).unwrap()), &MapMeta::default())
        .unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (plain1, plain2) = (dir.path().join("1.json"), dir.path().join("2.json"));
    r.save(&plain1, false).unwrap();
    MetaResult::load(&plain1, false).unwrap().save(&plain2, false).unwrap();
    assert_eq!(std::fs::read(&plain1).unwrap(), std::fs::read(&plain2).unwrap());
    let text = std::fs::read_to_string(&plain1).unwrap();
    assert!(text.starts_with(r#"{"format":"ibma","kind":"result","version":2,"ibma_version":""#), "{}", &text[..80]);
    // The mask as run lengths (out, in, out, in, ...), not as its index list.
    assert!(text.contains(r#""runs":[0,1,2,1,3,1,12,3,96,1]"#) && !text.contains("indices"), "{text}");
    // Saved alone: no dataset path.
    assert!(SavedResult::load(&plain1, false).unwrap().source.is_none());
}

/// The error of loading `path`, as text.
fn load_error(path: &Path, compressed: bool) -> String {
    match MetaResult::load(path, compressed) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn wrong_files_are_one_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let has = |msg: &str, path: &Path, needle: &str| {
        assert!(msg.contains(&path.display().to_string()) && msg.contains(needle), "{needle:?} not in {msg:?}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    };
    // The wrong kind, both ways.
    estimator("hedges", &[]).save(&p("est.gz"), true).unwrap();
    has(&load_error(&p("est.gz"), true), &p("est.gz"), "holds an ibma estimator, not an ibma result");
    rich_result().save(&p("res.gz"), true).unwrap();
    let err = load_estimator(&p("res.gz"), true).err().unwrap().to_string();
    has(&err, &p("res.gz"), "holds an ibma result, not an ibma estimator");
    // Another format version.
    let mut other: serde_json::Value =
        serde_json::from_slice(&ibma::io::gunzip(&std::fs::read(p("res.gz")).unwrap()).unwrap()).unwrap();
    other["version"] = 99.into();
    other["ibma_version"] = "9.0.0".into();
    std::fs::write(p("v99.json"), other.to_string()).unwrap();
    has(&load_error(&p("v99.json"), false), &p("v99.json"), "format version 99 (written by ibma 9.0.0)");
    // Corrupt and truncated gzip, plain JSON read as gzip and the reverse.
    let gz = std::fs::read(p("res.gz")).unwrap();
    std::fs::write(p("cut.gz"), &gz[..gz.len() / 2]).unwrap();
    has(&load_error(&p("cut.gz"), true), &p("cut.gz"), "truncated gzip data");
    let mut bad = gz.clone();
    for b in &mut bad[20..60] {
        *b ^= 0x5a;
    }
    std::fs::write(p("bad.gz"), &bad).unwrap();
    has(&load_error(&p("bad.gz"), true), &p("bad.gz"), "gzip");
    has(&load_error(&p("v99.json"), true), &p("v99.json"), "not gzip-compressed");
    has(&load_error(&p("res.gz"), false), &p("res.gz"), "load it with compressed=true");
    // Not ibma at all, and an ibma file whose map does not fit its mask.
    std::fs::write(p("other.json"), r#"{"format": "ibma-dataset", "studies": []}"#).unwrap();
    has(&load_error(&p("other.json"), false), &p("other.json"), "not an ibma file");
    std::fs::write(p("junk.json"), "[1, 2").unwrap();
    has(&load_error(&p("junk.json"), false), &p("junk.json"), "invalid JSON");
    other["version"] = 2.into();
    // Two float32 values, 1 and 2, little-endian, base64.
    other["result"]["maps"][0]["values"] = "AACAPwAAAEA=".into();
    std::fs::write(p("short.json"), other.to_string()).unwrap();
    has(&load_error(&p("short.json"), false), &p("short.json"), "map z has 2 values for 7 mask voxels");
    for (bad, why) in [("oops!", "Invalid"), ("AACAPwAA", "whole number of float32"), ("[1.0]", "Invalid")] {
        other["result"]["maps"][0]["values"] = bad.into();
        std::fs::write(p("cell.json"), other.to_string()).unwrap();
        let msg = load_error(&p("cell.json"), false);
        has(&msg, &p("cell.json"), "malformed ibma file");
        has(&msg, &p("cell.json"), why);
    }
    has(&load_error(&p("missing.gz"), true), &p("missing.gz"), "No such file");
}

/// `ibma fit --estimator stouffers` of `dataset` into `out`, with `extra` arguments.
pub fn fit(dataset: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "fit",
        "--dataset",
        dataset.to_str().unwrap(),
        "--estimator",
        "stouffers",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = ibma(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn correct(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["correct", "--result", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    ibma(&args)
}

/// Voxel values of `<dir>/<map>.nii.gz` as bits.
fn map_bits(dir: &Path, map: &str) -> Vec<u64> {
    ibma::io::read_volume(&dir.join(format!("{map}.nii.gz"))).unwrap().data.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn correct_gives_the_maps_fit_gives() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let (later, direct) = (dir.path().join("later"), dir.path().join("direct"));
    fit(dir.path(), &later, &[]);
    assert!(later.join("result.ibma.json.gz").is_file());
    let saved = SavedResult::load(&later.join("result.ibma.json.gz"), true).unwrap();
    assert!(saved.source.as_ref().unwrap().dataset.is_absolute());
    assert_eq!(saved.result.estimator.name(), "stouffers");
    let o = correct(&later, &["--correct", "fdr-indep", "--correct", "bonferroni"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fit(dir.path(), &direct, &["--correct", "fdr-indep", "--correct", "bonferroni"]);
    for sfx in ["_corr-FDR_method-indep", "_corr-FWE_method-bonferroni"] {
        for stat in ["z", "p", "logp"] {
            let map = format!("{stat}{sfx}");
            assert_eq!(map_bits(&later, &map), map_bits(&direct, &map), "{map}");
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(later.join("result.json")).unwrap()).unwrap();
    assert_eq!(json["corrections"], serde_json::json!(["fdr-indep", "bonferroni"]));
    assert_eq!(json["maps"]["z_corr-FDR_method-indep"]["file"], "z_corr-FDR_method-indep.nii.gz");
    let saved = SavedResult::load(&later.join("result.ibma.json.gz"), true).unwrap();
    assert!(saved.result.map(crate::map("p_corr-FWE_method-bonferroni")).is_some());
    let methods = saved.source.unwrap().corrections.methods;
    assert_eq!(methods, [Method::FdrIndep, Method::Bonferroni]);

    // Permutations refit on the dataset the result names, as `ibma fit` would.
    let o = correct(&later, &["--correct", "montecarlo", "--n-iters", "40"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let both = dir.path().join("both");
    fit(
        dir.path(),
        &both,
        &["--correct", "fdr-indep", "--correct", "bonferroni", "--correct", "montecarlo", "--n-iters", "40"],
    );
    for map in ["z", "z_corr-FDR_method-indep", "p_level-voxel_corr-FWE_method-montecarlo"] {
        assert_eq!(map_bits(&later, map), map_bits(&both, map), "{map}");
    }

    // Bad requests: one line, exit 2.
    assert_bad_input(&correct(&later, &[]), &["--correct", "at least one"]);
    assert_bad_input(&correct(&later, &["--correct", "nope"]), &["nope", "fdr-indep"]);
    assert_bad_input(
        &correct(&dir.path().join("none"), &["--correct", "fdr-indep"]),
        &["result.ibma.json.gz", "not found"],
    );
    std::fs::rename(dir.path().join("dataset.json"), dir.path().join("moved.json")).unwrap();
    assert_bad_input(
        &correct(&later, &["--correct", "tfce", "--n-iters", "10"]),
        &["dataset.json", "not there any more", "--dataset"],
    );
    let o = correct(
        &later,
        &["--correct", "tfce", "--n-iters", "10", "--dataset", dir.path().join("moved.json").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(later.join("z_level-voxel_corr-FWE_method-montecarlo.nii.gz").is_file(), "earlier corrections are rerun");
    // Voxel corrections need no data, wherever it is.
    assert!(correct(&later, &["--correct", "fdr-negcorr"]).status.success());
}

/// A saved result whose grid claims absurd dimensions: one clear error from the loader and from
/// `ibma correct` (it was a "capacity overflow" panic, or a 108 TB allocation).
#[test]
fn absurd_saved_grid_dims_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let out = dir.path().join("st");
    fit(dir.path(), &out, &[]);
    let saved = out.join("result.ibma.json.gz");
    let original: serde_json::Value =
        serde_json::from_slice(&ibma::io::gunzip(&std::fs::read(&saved).unwrap()).unwrap()).unwrap();
    let dims = original["result"]["mask"]["grid"]["dims"].clone();
    for (bad, needle) in [
        (serde_json::json!([4_000_000, 4_000_000, 4_000_000]), "each must be 1 to 32767"),
        (serde_json::json!([32767, 32767, 32767]), "more than 268435456 voxels"),
        (serde_json::json!([dims[0], dims[1], 1]), "unlike the header"),
    ] {
        let mut file = original.clone();
        file["result"]["mask"]["grid"]["dims"] = bad;
        let path = dir.path().join("bad.json");
        std::fs::write(&path, file.to_string()).unwrap();
        let msg = load_error(&path, false);
        assert!(msg.contains(needle) && msg.contains("bad.json") && msg.lines().count() == 1, "{msg}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, file.to_string().as_bytes()).unwrap();
        std::fs::write(&saved, gz.finish().unwrap()).unwrap();
        assert_bad_input(&correct(&out, &["--correct", "bonferroni"]), &["result.ibma.json.gz", needle]);
    }
}

/// `ibma fit` stores each map once: the saved result names the maps beside it, and a map that
/// was changed since is refused rather than corrected.
#[test]
fn a_fits_saved_result_reads_its_maps_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_dataset(dir.path());
    let out = dir.path().join("out");
    fit(dir.path(), &out, &[]);
    let saved = out.join("result.ibma.json.gz");
    let text = String::from_utf8(ibma::io::gunzip(&std::fs::read(&saved).unwrap()).unwrap()).unwrap();
    assert!(text.contains(r#""map_files":["p","logp","z","dof"]"#), "{}", &text[..text.len().min(400)]);
    assert!(std::fs::metadata(&saved).unwrap().len() < 4096, "no map values inside");
    let z = SavedResult::load(&saved, true).unwrap().result.map(Map::Z).unwrap().to_vec();
    assert_eq!(
        z.iter().filter(|x| x.is_finite()).count(),
        ibma::io::read_volume(&out.join("z.nii.gz")).unwrap().data.iter().filter(|x| **x != 0.0).count()
    );
    std::fs::copy(out.join("p.nii.gz"), out.join("z.nii.gz")).unwrap();
    assert_bad_input(&correct(&out, &["--correct", "fdr-indep"]), &["z.nii.gz", "not beside it as ibma wrote it"]);
}
