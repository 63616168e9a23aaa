//! The bad-input suite: a table of broken or degenerate inputs, each run through `ibma fit`,
//! with the behaviour it must have: exit code 2 and one line naming the file or field, or a
//! successful run with NaN where nothing can be estimated.

use crate::cli::{assert_bad_input, ibma};
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use ibma::io::{write_map, Grid, MapMeta};
use std::io::{Read, Write};
use std::path::PathBuf;

const DIMS: [usize; 3] = [4, 4, 4];
const N: usize = 64;

fn grid() -> Grid {
    Grid::from_affine(DIMS, [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
}

/// A small valid dataset: `k` studies with con and varcope, a full mask; returns its folder.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(k: usize) -> Fixture {
        let fx = Fixture { dir: tempfile::tempdir().unwrap() };
        fx.map("mask.nii.gz", &[1.0; N]);
        let studies: Vec<serde_json::Value> = (0..k)
            .map(|s| {
                let con: Vec<f32> = (0..N).map(|v| ((v * 7 + s * 13) % 11) as f32 / 5.0 - 0.9).collect();
                fx.map(&format!("s{s}_con.nii.gz"), &con);
                fx.map(&format!("s{s}_varcope.nii.gz"), &vec![0.5 + s as f32 / 10.0; N]);
                serde_json::json!({"id": format!("s{s}"), "sample_size": 20 + s,
                    "maps": {"con": format!("s{s}_con.nii.gz"), "varcope": format!("s{s}_varcope.nii.gz")}})
            })
            .collect();
        fx.manifest(serde_json::json!({"format": "ibma-dataset", "format_version": 1, "mask": "mask.nii.gz", "studies": studies}));
        fx
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn map(&self, name: &str, values: &[f32]) {
        write_map(&self.path(name), &grid(), values, &MapMeta::default()).unwrap();
    }

    fn manifest(&self, json: serde_json::Value) {
        std::fs::write(self.path("dataset.json"), json.to_string()).unwrap();
    }

    fn edit_manifest(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(self.path("dataset.json")).unwrap()).unwrap();
        f(&mut json);
        self.manifest(json);
    }

    /// Rewrite a map's decompressed bytes.
    fn edit_bytes(&self, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut raw = Vec::new();
        GzDecoder::new(std::fs::File::open(self.path(name)).unwrap()).read_to_end(&mut raw).unwrap();
        f(&mut raw);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&raw).unwrap();
        std::fs::write(self.path(name), gz.finish().unwrap()).unwrap();
    }

    fn fit(&self, estimator: &str) -> std::process::Output {
        let out = self.path("out");
        ibma(&[
            "fit",
            "--quiet",
            "--dataset",
            self.dir.path().to_str().unwrap(),
            "--estimator",
            estimator,
            "--out",
            out.to_str().unwrap(),
        ])
    }

    fn no_final_maps(&self) -> bool {
        !self.path("out").join("z.nii.gz").exists() && !self.path("out").join("result.json").exists()
    }
}

fn put_i16(raw: &mut [u8], at: usize, v: i16) {
    raw[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_f32(raw: &mut [u8], at: usize, v: f32) {
    raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// NIfTI-1 header offsets (nifti1.h).
const DIM: usize = 40;
const DATATYPE: usize = 70;
const SCL_SLOPE: usize = 112;
const SCL_INTER: usize = 116;

/// (case, how to break the fixture, what the one error line must contain)
type Case = (&'static str, fn(&Fixture), &'static [&'static str]);

const FILE_CASES: &[Case] = &[
    ("missing file", |f| std::fs::remove_file(f.path("s1_con.nii.gz")).unwrap(), &["s1_con.nii.gz", "not found"]),
    ("empty file", |f| std::fs::write(f.path("s1_con.nii.gz"), b"").unwrap(), &["s1_con.nii.gz"]),
    (
        "truncated gzip",
        |f| {
            let bytes = std::fs::read(f.path("s1_con.nii.gz")).unwrap();
            std::fs::write(f.path("s1_con.nii.gz"), &bytes[..bytes.len() / 2]).unwrap();
        },
        &["s1_con.nii.gz", "gzip"],
    ),
    (
        "wrong magic",
        |f| f.edit_bytes("s1_con.nii.gz", |r| r[344..348].copy_from_slice(b"abc\0")),
        &["s1_con.nii.gz", "magic"],
    ),
    (
        "NIfTI-2 header",
        |f| f.edit_bytes("s1_con.nii.gz", |r| r[0..4].copy_from_slice(&540i32.to_le_bytes())),
        &["s1_con.nii.gz", "NIfTI-2"],
    ),
    (
        "huge dimensions in a tiny file",
        |f| f.edit_bytes("s1_con.nii.gz", |r| (1..4).for_each(|i| put_i16(r, DIM + 2 * i, 2000))),
        &["s1_con.nii.gz"],
    ),
    ("zero dimension", |f| f.edit_bytes("s1_con.nii.gz", |r| put_i16(r, DIM + 2, 0)), &["s1_con.nii.gz"]),
    ("negative dimension", |f| f.edit_bytes("s1_con.nii.gz", |r| put_i16(r, DIM + 2, -4)), &["s1_con.nii.gz"]),
    (
        "4-D series",
        |f| {
            f.edit_bytes("s1_con.nii.gz", |r| {
                put_i16(r, DIM, 4);
                put_i16(r, DIM + 8, 2);
                let data = r[352..].to_vec();
                r.extend_from_slice(&data);
            })
        },
        &["s1_con.nii.gz", "4-D"],
    ),
    ("complex datatype", |f| f.edit_bytes("s1_con.nii.gz", |r| put_i16(r, DATATYPE, 32)), &["s1_con.nii.gz"]),
    ("RGB datatype", |f| f.edit_bytes("s1_con.nii.gz", |r| put_i16(r, DATATYPE, 128)), &["s1_con.nii.gz"]),
    (
        "valid slope, non-finite intercept",
        |f| {
            f.edit_bytes("s1_con.nii.gz", |r| {
                put_f32(r, SCL_SLOPE, 2.0);
                put_f32(r, SCL_INTER, f32::NAN);
            })
        },
        &["s1_con.nii.gz"],
    ),
];

const DATASET_CASES: &[Case] = &[
    (
        "malformed JSON",
        |f| std::fs::write(f.path("dataset.json"), "{ not json").unwrap(),
        &["dataset.json", "invalid JSON"],
    ),
    (
        "missing field",
        |f| f.edit_manifest(|j| drop(j["studies"][0].as_object_mut().unwrap().remove("maps"))),
        &["studies[0] (s0).maps", "missing"],
    ),
    ("duplicate ids", |f| f.edit_manifest(|j| j["studies"][1]["id"] = "s0".into()), &["studies[1].id", "duplicate"]),
    (
        "unknown map type",
        |f| f.edit_manifest(|j| j["studies"][0]["maps"]["beta"] = "x".into()),
        &["maps.beta", "unknown map type"],
    ),
    (
        "path that does not exist",
        |f| f.edit_manifest(|j| j["studies"][0]["maps"]["con"] = "nope.nii.gz".into()),
        &["maps.con", "not found"],
    ),
    (
        "sample size below 2",
        |f| f.edit_manifest(|j| j["studies"][0]["sample_size"] = 1.into()),
        &["studies[0] (s0).sample_size"],
    ),
    (
        "sample size not a number",
        |f| f.edit_manifest(|j| j["studies"][0]["sample_size"] = "ten".into()),
        &["studies[0] (s0).sample_size", "number"],
    ),
    (
        "fewer than 2 studies",
        |f| f.edit_manifest(|j| j["studies"].as_array_mut().unwrap().truncate(1)),
        &["at least 2 usable studies"],
    ),
    (
        "grid that does not match the mask",
        |f| {
            write_map(
                &f.path("s1_con.nii.gz"),
                &Grid::from_affine([4, 4, 5], grid().affine),
                &[1.0; 80],
                &MapMeta::default(),
            )
            .unwrap()
        },
        &["s1_con.nii.gz", "4x4x5", "4x4x4"],
    ),
    ("empty mask", |f| f.map("mask.nii.gz", &[0.0; N]), &["mask", "no voxels"]),
];

#[test]
fn bad_files_and_manifests_give_one_clear_line() {
    for (name, corrupt, needles) in FILE_CASES.iter().chain(DATASET_CASES) {
        let fx = Fixture::new(3);
        corrupt(&fx);
        let out = fx.fit("dersimonian-laird");
        eprintln!("case: {name}");
        assert_bad_input(&out, needles);
        assert!(fx.no_final_maps(), "{name}: a map was written");
    }
}

/// Runs that must succeed: legal but degenerate data gives NaN where nothing can be estimated.
#[test]
fn legal_but_degenerate_values_run_with_nan() {
    let check = |name: &str, prepare: &dyn Fn(&Fixture), estimator: &str, expect: &dyn Fn(&[f64])| {
        let fx = Fixture::new(3);
        prepare(&fx);
        let out = fx.fit(estimator);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let z = ibma::io::read_volume(&fx.path("out/z.nii.gz")).unwrap().data;
        expect(&z);
        // Every NaN voxel is accounted for in result.json.
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fx.path("out/result.json")).unwrap()).unwrap();
        assert_eq!(
            json["maps"]["z"]["nan"].as_u64().unwrap() as usize,
            z.iter().filter(|x| x.is_nan()).count(),
            "{name}"
        );
    };
    let all_finite = |z: &[f64]| assert!(z.iter().all(|x| x.is_finite()));
    check(
        "NaN and infinite voxels are no data",
        &|f| {
            let mut con = vec![1.0f32; N];
            con[0] = f32::NAN;
            con[1] = f32::INFINITY;
            f.map("s1_con.nii.gz", &con);
        },
        "dersimonian-laird",
        &all_finite,
    );
    check(
        "zero slope means no scaling",
        &|f| f.edit_bytes("s1_con.nii.gz", |r| put_f32(r, SCL_SLOPE, 0.0)),
        "stouffers",
        &all_finite,
    );
    check(
        "NaN slope means no scaling",
        &|f| f.edit_bytes("s1_con.nii.gz", |r| put_f32(r, SCL_SLOPE, f32::NAN)),
        "stouffers",
        &all_finite,
    );
    check("an all-zero map drops that study", &|f| f.map("s2_con.nii.gz", &[0.0; N]), "dersimonian-laird", &all_finite);
    check("a constant map is legal", &|f| f.map("s2_con.nii.gz", &[0.7; N]), "hedges", &all_finite);
    check(
        "negative and zero varcopes are missing",
        &|f| {
            let mut v = vec![0.5f32; N];
            v[..10].iter_mut().for_each(|x| *x = -1.0);
            v[10..20].iter_mut().for_each(|x| *x = 0.0);
            f.map("s0_varcope.nii.gz", &v);
        },
        "weighted-least-squares",
        &all_finite,
    );
    check(
        "a study present in one voxel only",
        &|f| {
            let mut c = vec![0.0f32; N];
            c[5] = 1.0;
            f.map("s2_con.nii.gz", &c);
        },
        "dersimonian-laird",
        &all_finite,
    );
    check(
        "tiny and huge standard errors",
        &|f| {
            let mut v = vec![1e-30f32 * 1e-30; N];
            v[N / 2..].iter_mut().for_each(|x| *x = 1e30);
            f.map("s0_varcope.nii.gz", &v);
        },
        "weighted-least-squares",
        &|z| assert!(z.iter().all(|x| !x.is_infinite())),
    );
    check(
        "no voxel covered by two studies",
        &|f| {
            let half =
                |lo: usize| (0..N).map(|v| if (lo..lo + N / 2).contains(&v) { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
            f.map("s0_con.nii.gz", &half(0));
            f.map("s1_con.nii.gz", &half(N / 2));
            f.map("s2_con.nii.gz", &[0.0; N]);
        },
        "dersimonian-laird",
        &|z| assert!(z.iter().all(|x| x.is_nan())),
    );
    check(
        "identical copes give NaN, not a crash",
        &|f| (0..3).for_each(|s| f.map(&format!("s{s}_con.nii.gz"), &[1.0; N])),
        "permuted-ols",
        &|z| {
            assert!(z.iter().all(|x| x.is_nan()));
        },
    );
}

#[test]
fn huge_t_gives_a_finite_z() {
    // NiMARE's bug report: t = 85 with n = 1385 must give z = 47.819, never NaN, inf or a cap.
    let fx = Fixture::new(2);
    fx.edit_manifest(|j| {
        for (i, s) in j["studies"].as_array_mut().unwrap().iter_mut().enumerate() {
            s["sample_size"] = 1385.into();
            s["maps"] = serde_json::json!({"t": format!("s{i}_t.nii.gz")});
        }
    });
    for s in 0..2 {
        fx.map(&format!("s{s}_t.nii.gz"), &[85.0; N]);
    }
    let out = fx.fit("stouffers");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let z = ibma::io::read_volume(&fx.path("out/z.nii.gz")).unwrap().data;
    // Stouffer of two identical z's: 47.81896 * sqrt(2) (NiMARE 0.22.1 t_to_z(85, 1384) = 47.81896)
    assert!(ibma::tol::close(z[0], 47.81896 * 2f64.sqrt(), ibma::tol::GOLDEN_6_DIGITS_RTOL, 0.0), "{}", z[0]);
}

/// A voxel that one study covers is NaN for every estimator (ffx-glm once gave it the study's
/// own z), and `result.json` counts it under `voxels_nan_fewer_than_2_studies`.
#[test]
fn a_voxel_with_one_study_is_nan_for_every_estimator() {
    let fx = Fixture::new(3);
    for s in 1..3 {
        let mut con: Vec<f32> = (0..N).map(|v| ((v * 7 + s * 13) % 11) as f32 / 5.0 - 0.9).collect();
        con[5] = f32::NAN;
        fx.map(&format!("s{s}_con.nii.gz"), &con);
    }
    for estimator in ibma::estimators::AnyEstimator::names() {
        let _ = std::fs::remove_dir_all(fx.path("out"));
        let out = fx.fit(estimator);
        assert!(out.status.success(), "{estimator}: {}", String::from_utf8_lossy(&out.stderr));
        let z = ibma::io::read_volume(&fx.path("out/z.nii.gz")).unwrap().data;
        assert!(z[5].is_nan(), "{estimator}: z = {} where one study has data", z[5]);
        assert!(z.iter().enumerate().all(|(v, x)| v == 5 || x.is_finite()), "{estimator}: {z:?}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fx.path("out/result.json")).unwrap()).unwrap();
        assert_eq!(json["diagnostics"]["voxels_nan_fewer_than_2_studies"], 1, "{estimator}");
    }
}

/// Zero varcopes (a study's outside-brain zeros) get one warning in plain words, saying what it
/// means for the result, on stderr and in result.json.
#[test]
fn zero_varcopes_are_explained_once() {
    let fx = Fixture::new(3);
    let mut v = vec![0.5f32; N];
    v[..16].iter_mut().for_each(|x| *x = 0.0);
    fx.map("s0_varcope.nii.gz", &v);
    let out = fx.fit("weighted-least-squares");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let needles = [
        "16 of the 192 in-mask varcope values",
        "a study has no data where its varcope is",
        "each voxel is fitted on the studies that do have data there",
    ];
    assert_eq!(stderr.matches("varcope values").count(), 1, "{stderr}");
    assert!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.path("out/result.json")).unwrap()).unwrap();
    let warnings: Vec<&str> = json["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
    assert_eq!(warnings.iter().filter(|w| w.contains("varcope values")).count(), 1, "{warnings:?}");
}
