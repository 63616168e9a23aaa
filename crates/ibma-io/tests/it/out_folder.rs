//! Output folders: ownership by the ledger, the fresh/force/extend policy, all-or-nothing
//! commits, the lock.

use ibma_io::out_folder::{Mode, OutFolder, LEDGER};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// A committed result holding `files` (name, content) in `dir`.
fn result(dir: &Path, mode: Mode, files: &[(&str, &str)]) -> ibma_io::Result<Vec<std::path::PathBuf>> {
    let out = OutFolder::open(dir, mode)?;
    for (name, text) in files {
        write(out.staging(), name, text);
    }
    out.commit()
}

const FRESH: Mode = Mode::Fresh { force: false };
const FORCE: Mode = Mode::Fresh { force: true };

#[test]
fn a_new_folder_gets_the_files_and_a_ledger_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let written = result(&dir, FRESH, &[("z.nii.gz", "z1"), ("result.json", "r1")]).unwrap();
    assert_eq!(written, vec![dir.join("result.json"), dir.join("z.nii.gz")]);
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, [LEDGER, "result.json", "z.nii.gz"]);
}

#[test]
fn an_earlier_result_needs_force_and_is_replaced_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    result(dir, FRESH, &[("z.nii.gz", "old z"), ("tau2.nii.gz", "old tau2")]).unwrap();
    let e = result(dir, FRESH, &[("z.nii.gz", "new z")]).unwrap_err().to_string();
    assert!(e.contains("already holds an ibma result") && e.contains("--force"), "{e}");
    assert_eq!(read(dir, "z.nii.gz"), "old z");
    result(dir, FORCE, &[("z.nii.gz", "new z")]).unwrap();
    assert_eq!(read(dir, "z.nii.gz"), "new z");
    // The earlier result's map that the new one does not have is gone: no stale maps.
    assert!(!dir.join("tau2.nii.gz").exists());
}

#[test]
fn files_ibma_did_not_write_are_never_replaced_or_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "z.nii.gz", "the user's own z");
    write(dir, "notes.txt", "mine");
    // Without --force: refused, naming the files.
    let e = result(dir, FRESH, &[("p.nii.gz", "p")]).unwrap_err().to_string();
    assert!(e.contains("ibma did not write") && e.contains("notes.txt") && e.contains("z.nii.gz"), "{e}");
    // With --force: written beside them, but a clash refuses the whole commit.
    let e = result(dir, FORCE, &[("p.nii.gz", "p"), ("z.nii.gz", "ibma z")]).unwrap_err().to_string();
    assert!(e.contains("would replace files ibma did not write") && e.contains("z.nii.gz"), "{e}");
    assert!(e.contains("nothing was written"), "{e}");
    assert_eq!(read(dir, "z.nii.gz"), "the user's own z");
    assert!(!dir.join("p.nii.gz").exists());
    result(dir, FORCE, &[("p.nii.gz", "p")]).unwrap();
    // A later --force replacing the result removes ibma's p, never the user's files.
    result(dir, FORCE, &[("logp.nii.gz", "l")]).unwrap();
    assert!(!dir.join("p.nii.gz").exists());
    assert_eq!(read(dir, "notes.txt"), "mine");
    assert_eq!(read(dir, "z.nii.gz"), "the user's own z");
}

#[test]
fn a_file_the_user_changed_after_ibma_wrote_it_is_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    result(dir, FRESH, &[("z.nii.gz", "ibma z"), ("report.png", "ibma png")]).unwrap();
    write(dir, "report.png", "edited by the user");
    // A forged ledger entry does not help either: ownership is by content.
    let e = result(dir, FORCE, &[("report.png", "new png")]).unwrap_err().to_string();
    assert!(e.contains("report.png"), "{e}");
    result(dir, FORCE, &[("z.nii.gz", "new z")]).unwrap();
    assert_eq!(read(dir, "report.png"), "edited by the user");
}

#[test]
fn a_ledger_from_another_tool_owns_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "mine.nii.gz", "precious");
    // Another tool's file of the same name, or a hand-made one without matching stamps.
    write(
        dir,
        LEDGER,
        r#"{"format": "ibma-files", "version": 1, "files": {"mine.nii.gz": [{"bytes": 1, "crc32": 2}]}}"#,
    );
    result(dir, FORCE, &[("z.nii.gz", "z")]).unwrap();
    assert_eq!(read(dir, "mine.nii.gz"), "precious");
    write(dir, LEDGER, "not json");
    result(dir, FORCE, &[("p.nii.gz", "p")]).unwrap();
    assert_eq!(read(dir, "mine.nii.gz"), "precious");
}

#[test]
fn extend_adds_to_an_earlier_result_and_keeps_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let e = result(dir, Mode::Extend, &[("report.html", "r")]).unwrap_err().to_string();
    assert!(e.contains("holds no result ibma wrote"), "{e}");
    result(dir, FRESH, &[("z.nii.gz", "z"), ("result.json", "r1"), ("report.html", "old report")]).unwrap();
    result(dir, Mode::Extend, &[("z_corr.nii.gz", "zc"), ("result.json", "r2")]).unwrap();
    assert_eq!(read(dir, "report.html"), "old report");
    assert_eq!(read(dir, "result.json"), "r2");
    assert_eq!(read(dir, "z_corr.nii.gz"), "zc");
    // Files added by extend are ibma's too: a forced fresh result replaces them.
    result(dir, FORCE, &[("z.nii.gz", "z2")]).unwrap();
    assert!(!dir.join("z_corr.nii.gz").exists() && !dir.join("report.html").exists());
}

#[test]
fn an_unfinished_run_leaves_the_earlier_result_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    result(dir, FRESH, &[("z.nii.gz", "old")]).unwrap();
    {
        let out = OutFolder::open(dir, FORCE).unwrap();
        write(out.staging(), "z.nii.gz", "half");
        // Dropped without commit: a failed fit, a full disk, an error while writing.
    }
    assert_eq!(read(dir, "z.nii.gz"), "old");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".ibma-staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_killed_runs_staging_folder_is_cleaned_up_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join(".ibma-staging-99999-0")).unwrap();
    write(&dir.join(".ibma-staging-99999-0"), "z.nii.gz", "half");
    result(dir, FRESH, &[("z.nii.gz", "z")]).unwrap();
    assert!(!dir.join(".ibma-staging-99999-0").exists());
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let first = OutFolder::open(tmp.path(), FRESH).unwrap();
    let e = OutFolder::open(tmp.path(), FRESH).unwrap_err().to_string();
    assert!(e.contains("another ibma run is writing into this folder"), "{e}");
    drop(first);
    assert!(OutFolder::open(tmp.path(), FRESH).is_ok());
}

#[test]
fn a_failed_run_removes_the_folder_it_created_and_only_that() {
    let tmp = tempfile::tempdir().unwrap();
    let new = tmp.path().join("new");
    let out = OutFolder::open(&new, FRESH).unwrap();
    write(out.staging(), "z.nii.gz", "half");
    drop(out);
    assert!(!new.exists(), "the failed run left the folder it created");
    // A folder that was there stays, and so does one somebody wrote into meanwhile.
    let there = tmp.path().join("there");
    std::fs::create_dir(&there).unwrap();
    drop(OutFolder::open(&there, FRESH).unwrap());
    assert!(there.is_dir());
    let out = OutFolder::open(&new, FRESH).unwrap();
    write(&new, "theirs.txt", "mine");
    drop(out);
    assert_eq!(read(&new, "theirs.txt"), "mine");
}

/// A nested ibma folder `name` holding `files`, staged in `out`.
fn nested(out: &OutFolder, name: &str, files: &[(&str, &str)]) {
    result(&out.path(name), FRESH, files).unwrap();
}

#[test]
fn folders_are_ibmas_while_their_own_ledger_owns_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = OutFolder::open(dir, FRESH).unwrap();
    nested(&out, "dataset", &[("a.nii.gz", "a")]);
    write(out.staging(), "index.html", "i");
    out.commit().unwrap();
    // ibma may change a nested folder through its own ledger (`ibma report` into it) ...
    result(&dir.join("dataset"), Mode::Extend, &[("report.html", "r")]).unwrap();
    // ... and it is still ibma's: replaced whole with --force.
    let out = OutFolder::open(dir, FORCE).unwrap();
    nested(&out, "dataset", &[("b.nii.gz", "b")]);
    out.commit().unwrap();
    assert!(dir.join("dataset/b.nii.gz").exists() && !dir.join("dataset/a.nii.gz").exists());
    // A file the user added inside makes the folder theirs.
    write(&dir.join("dataset"), "mine.txt", "m");
    let out = OutFolder::open(dir, FORCE).unwrap();
    nested(&out, "dataset", &[("c.nii.gz", "c")]);
    let e = out.commit().unwrap_err().to_string();
    assert!(e.contains("dataset"), "{e}");
    assert!(dir.join("dataset/mine.txt").exists());
    // A staged folder without its own ledger is a caller bug, refused.
    let out = OutFolder::open(dir, FORCE).unwrap();
    std::fs::create_dir(out.path("plain")).unwrap();
    assert!(out.commit().unwrap_err().to_string().contains("must be an ibma output folder"));
}

#[test]
fn not_a_folder_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "file", "x");
    let e = OutFolder::open(&tmp.path().join("file"), FRESH).unwrap_err().to_string();
    assert!(e.contains("is not a folder"), "{e}");
}

/// A run's inputs inside the folder (a dataset ibma wrote, read by a fit into its own folder)
/// are neither removed with the earlier result nor replaced, although ibma wrote them.
#[test]
fn the_runs_own_inputs_are_never_replaced_or_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    result(dir, FRESH, &[("dataset.json", "manifest"), ("s1_con.nii.gz", "map"), ("old.nii.gz", "old")]).unwrap();
    let mut out = OutFolder::open(dir, FORCE).unwrap();
    // As the run names them (any spelling of the folder), and files elsewhere (ignored).
    out.keep([dir.join("dataset.json").as_path(), &dir.join("./s1_con.nii.gz"), Path::new("/elsewhere/x")]);
    write(out.staging(), "z.nii.gz", "z");
    out.commit().unwrap();
    assert_eq!(
        (read(dir, "dataset.json"), read(dir, "s1_con.nii.gz"), read(dir, "z.nii.gz")),
        ("manifest".into(), "map".into(), "z".into())
    );
    assert!(!dir.join("old.nii.gz").exists(), "the earlier result's own file goes");
    // Writing over an input is refused, and nothing changes.
    let mut out = OutFolder::open(dir, FORCE).unwrap();
    out.keep([dir.join("dataset.json").as_path()]);
    write(out.staging(), "dataset.json", "another manifest");
    let e = out.commit().unwrap_err().to_string();
    assert!(e.contains("would replace dataset.json, which this run reads as its input"), "{e}");
    assert_eq!((read(dir, "dataset.json"), read(dir, "z.nii.gz")), ("manifest".into(), "z".into()));
}
