//! Output folders that never lose a user's files.
//!
//! Every command that writes into a folder goes through [`OutFolder`]:
//!
//! * **Ownership.** A hidden ledger, [`LEDGER`], records every file ibma wrote there with its
//!   size and CRC-32. A file is ibma's only while it still matches its stamp: a file the user
//!   added, or replaced with their own, is never replaced or removed.
//! * **Policy.** A fresh result ([`Mode::Fresh`]) goes into a new or empty folder; one that
//!   holds an earlier ibma result or other files needs `force`, which replaces the earlier
//!   result's files and writes beside the others (never over them). [`Mode::Extend`] adds to an
//!   earlier result (`ibma correct`, `ibma report`). The run's own inputs in the folder
//!   ([`OutFolder::keep`]) are never replaced nor removed, even where ibma wrote them.
//! * **All or nothing.** Files are written into a staging folder inside the output folder;
//!   only when everything is written does [`OutFolder::commit`] check every name, then swap the
//!   files in by renames (same file system, no copying) and update the ledger. Until then the
//!   earlier result is untouched; a failed or interrupted run leaves it as it was. A process
//!   killed outright leaves a staging folder, which the next run into the folder removes.
//! * **One writer.** The folder is locked (`flock`) while a run writes into it; a second run
//!   gets a clear error instead of mixing its files with the first one's.
//! * **Signals.** [`abort_all`] (called by the command line on SIGINT/SIGTERM) removes every
//!   staging folder of this process, waiting for a swap in progress to finish first.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The ledger of the files ibma wrote into a folder (hidden; one per folder).
pub const LEDGER: &str = ".ibma-files.json";
/// Prefix of staging folders.
const STAGING_PREFIX: &str = ".ibma-staging-";
const LEDGER_FORMAT: &str = "ibma-files";

/// Staging folders of this process, removed by [`abort_all`]; the mutex is also held while
/// files are swapped in, so a signal never interrupts a swap half-way.
static STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// What a command does with the folder's earlier content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new result. `force`: replace an earlier ibma result and write beside other files.
    Fresh {
        /// `--force`.
        force: bool,
    },
    /// Add files to the earlier ibma result the folder holds (and replace ibma's own files).
    Extend,
}

/// Size and CRC-32 of a file as ibma wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Length in bytes.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the content.
    pub crc32: u32,
}

impl Stamp {
    /// The stamp of the file at `path` (None if it is not a readable regular file).
    pub fn of(path: &Path) -> Option<Stamp> {
        let mut file = File::open(path).ok()?;
        file.metadata().ok()?.is_file().then_some(())?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        Some(Stamp { bytes, crc32: hasher.finalize() })
    }
}

/// The files and folders ibma wrote into a folder. A file name may carry two stamps while a
/// swap is in progress (the old file's and the new one's), so a crash never leaves an ibma file
/// unowned. A folder (the demo's, one per estimator) is ibma's while its own ledger owns
/// everything in it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Ledger {
    format: String,
    version: u32,
    files: BTreeMap<String, Vec<Stamp>>,
    #[serde(default)]
    folders: BTreeSet<String>,
}

impl Ledger {
    fn read(dir: &Path) -> Option<Ledger> {
        let text = std::fs::read(dir.join(LEDGER)).ok()?;
        serde_json::from_slice::<Ledger>(&text).ok().filter(|l| l.format == LEDGER_FORMAT && l.version == 1)
    }

    fn write(&self, dir: &Path) -> Result<()> {
        crate::atomic::write_json(&dir.join(LEDGER), self)
    }

    /// True if `path` (named `name` in the ledger) is still as ibma wrote it.
    fn owns(&self, name: &str, path: &Path) -> bool {
        if path.is_dir() {
            return self.folders.contains(name)
                && Ledger::read(path).is_some_and(|l| foreign_entries(path, Some(&l)).is_empty());
        }
        let Some(stamps) = self.files.get(name) else { return false };
        Stamp::of(path).is_some_and(|s| stamps.contains(&s))
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.files.keys().chain(&self.folders)
    }
}

/// An output folder being written: locked, with a staging folder for the new files.
#[derive(Debug)]
pub struct OutFolder {
    dir: PathBuf,
    staging: PathBuf,
    mode: Mode,
    ledger: Ledger,
    /// Names this run reads (its inputs): never replaced nor removed, even if ibma wrote them.
    kept: BTreeSet<String>,
    committed: bool,
    /// The folder did not exist before: a run that fails removes it again (if still empty).
    created: bool,
    /// Held for the lifetime of the value: the `flock` on the folder.
    _lock: File,
}

impl OutFolder {
    /// Open `dir` for a command writing in `mode` (created if missing), or explain why not.
    ///
    /// # Errors
    /// `dir` is not a folder, another run is writing into it, it holds an earlier result or
    /// other files without `force`, or (`Extend`) it holds no ibma result.
    pub fn open(dir: &Path, mode: Mode) -> Result<OutFolder> {
        let bad = |msg: String| Error::Output { path: dir.to_path_buf(), msg };
        if dir.exists() && !dir.is_dir() {
            return Err(bad("exists and is not a folder".into()));
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let lock = File::open(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        if lock.try_lock().is_err() {
            return Err(bad("another ibma run is writing into this folder; wait for it to finish".into()));
        }
        remove_stale_staging(dir);
        let ledger = Ledger::read(dir);
        let others = foreign_entries(dir, ledger.as_ref());
        let earlier = ledger.as_ref().is_some_and(|l| l.names().next().is_some());
        match mode {
            Mode::Fresh { force: false } if earlier => {
                return Err(bad("already holds an ibma result; pass --force to replace it".into()));
            }
            Mode::Fresh { force: false } if !others.is_empty() => {
                return Err(bad(format!(
                    "holds files ibma did not write ({}); choose a new or empty folder, or pass --force to write beside them (they are never replaced)",
                    listing(&others)
                )));
            }
            Mode::Extend if !earlier => {
                return Err(bad("holds no result ibma wrote (no result.json with ibma's file ledger); give the folder an `ibma fit --out` wrote".into()));
            }
            _ => {}
        }
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let staging =
            dir.join(format!("{STAGING_PREFIX}{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&staging).map_err(|source| Error::Io { path: staging.clone(), source })?;
        lock_staging().push(staging.clone());
        let ledger = ledger.unwrap_or_else(|| Ledger { format: LEDGER_FORMAT.into(), version: 1, ..Ledger::default() });
        Ok(OutFolder {
            dir: dir.to_path_buf(),
            staging,
            mode,
            ledger,
            kept: BTreeSet::new(),
            committed: false,
            created,
            _lock: lock,
        })
    }

    /// The folder the result will be in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where to write the new files and folders.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// `name` in the staging folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Files this run reads (its dataset, maps, mask): those inside the folder are never
    /// replaced nor removed, even where its ledger says ibma wrote them (the demo's dataset
    /// folder as `--out` of a fit on it).
    pub fn keep<'a>(&mut self, inputs: impl IntoIterator<Item = &'a Path>) {
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let Some(dir) = canonical(&self.dir) else { return };
        for input in inputs {
            // The entry itself, not a link's target: the folder's entry is what must stay.
            let parent = input.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let Some(path) = canonical(parent).zip(input.file_name()).map(|(p, n)| p.join(n)) else { continue };
            if let Some(first) = path.strip_prefix(&dir).ok().and_then(|rel| rel.components().next()) {
                self.kept.insert(first.as_os_str().to_string_lossy().into_owned());
            }
        }
    }

    /// Files the folder's earlier result has (ibma's own, still as written), by name.
    pub fn earlier_files(&self) -> Vec<String> {
        self.ledger.names().filter(|n| self.ledger.owns(n, &self.dir.join(n))).cloned().collect()
    }

    /// Swap the staged files in and record them in the ledger. With `Mode::Fresh`, the earlier
    /// result's files that the new one does not rewrite are removed (only those still as ibma
    /// wrote them). Returns the final paths of the new files.
    ///
    /// # Errors
    /// A staged name collides with a file ibma did not write (nothing is changed then), or a
    /// rename fails.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let mut names: Vec<String> = std::fs::read_dir(&self.staging)
            .map_err(|source| Error::Io { path: self.staging.clone(), source })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        let clashes: Vec<String> = names
            .iter()
            .filter(|n| {
                let target = self.dir.join(n);
                target.symlink_metadata().is_ok() && !self.ledger.owns(n, &target)
            })
            .cloned()
            .collect();
        let inputs: Vec<String> = names
            .iter()
            .filter(|n| self.kept.contains(*n) && self.dir.join(n).symlink_metadata().is_ok())
            .cloned()
            .collect();
        if !inputs.is_empty() {
            return Err(Error::Output {
                path: self.dir.clone(),
                msg: format!(
                    "would replace {}, which this run reads as its input; choose another output folder (nothing was written)",
                    listing(&inputs)
                ),
            });
        }
        if !clashes.is_empty() {
            return Err(Error::Output {
                path: self.dir.clone(),
                msg: format!(
                    "would replace files ibma did not write (or that changed since): {}; move them away and run again (nothing was written)",
                    listing(&clashes)
                ),
            });
        }
        let (folders, files): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| self.staging.join(n).is_dir());
        if let Some(bad) = folders.iter().find(|&&n| {
            let path = self.staging.join(n);
            !Ledger::read(&path).is_some_and(|l| foreign_entries(&path, Some(&l)).is_empty())
        }) {
            return Err(Error::Output {
                path: self.staging.join(bad),
                msg: "a staged folder must be an ibma output folder itself (written through OutFolder)".into(),
            });
        }
        let stamps: Vec<(String, Stamp)> = files
            .iter()
            .map(|&n| {
                let path = self.staging.join(n);
                Stamp::of(&path)
                    .map(|s| (n.clone(), s))
                    .ok_or_else(|| Error::Output { path, msg: "staged file cannot be read back".into() })
            })
            .collect::<Result<_>>()?;
        let removed: Vec<String> = match self.mode {
            Mode::Fresh { .. } => {
                self.earlier_files().into_iter().filter(|n| !names.contains(n) && !self.kept.contains(n)).collect()
            }
            Mode::Extend => Vec::new(),
        };
        let mut staging = lock_staging();
        // 1. The ledger first owns both the old and the new content of every name.
        for (name, stamp) in &stamps {
            self.ledger.files.entry(name.clone()).or_default().push(*stamp);
        }
        self.ledger.folders.extend(folders.iter().map(|&n| n.clone()));
        self.ledger.write(&self.dir)?;
        // 2. Swap in, 3. remove what the earlier result had and the new one does not.
        for name in &names {
            let target = self.dir.join(name);
            // rename() replaces a file atomically; a folder must first be moved aside.
            if target.is_dir() {
                let aside = self.staging.join(format!(".replaced-{name}"));
                std::fs::rename(&target, &aside).map_err(|source| Error::Io { path: target.clone(), source })?;
            }
            std::fs::rename(self.staging.join(name), &target).map_err(|source| Error::Io { path: target, source })?;
        }
        for name in &removed {
            let path = self.dir.join(name);
            let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            self.ledger.files.remove(name);
            self.ledger.folders.remove(name);
        }
        // 4. The ledger holds the new stamps only.
        for (name, stamp) in &stamps {
            self.ledger.files.insert(name.clone(), vec![*stamp]);
        }
        self.ledger.write(&self.dir)?;
        let _ = std::fs::remove_dir_all(&self.staging);
        staging.retain(|p| p != &self.staging);
        self.committed = true;
        Ok(names.iter().map(|n| self.dir.join(n)).collect())
    }
}

impl Drop for OutFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            lock_staging().retain(|p| p != &self.staging);
            if self.created {
                // Only if empty: nothing anyone put there meanwhile is removed.
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

/// True if `dir/name` is a file ibma wrote there and nobody changed since (per the folder's
/// ledger).
pub fn unchanged(dir: &Path, name: &str) -> bool {
    Ledger::read(dir).is_some_and(|l| l.owns(name, &dir.join(name)))
}

/// Remove every staging folder of this process (for a signal handler: call it, then exit).
/// Waits for a swap in progress to complete, so the folder holds one whole result.
pub fn abort_all() {
    let mut staging = lock_staging();
    for dir in staging.drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
    // Keep the lock until the process exits: no swap may start after an abort.
    std::mem::forget(staging);
}

fn lock_staging() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    STAGING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Staging folders left by a killed run (we hold the folder's lock, so none is in use).
fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Entries of `dir` that are not ibma's own (not in the ledger, or changed since).
fn foreign_entries(dir: &Path, ledger: Option<&Ledger>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != LEDGER && !n.starts_with(STAGING_PREFIX))
        .filter(|n| !ledger.is_some_and(|l| l.owns(n, &dir.join(n))))
        .collect();
    names.sort();
    names
}

/// At most five names, then how many more.
fn listing(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    match names.len() {
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}
