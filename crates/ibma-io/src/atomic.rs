//! The one way ibma puts a file under its final name: write a uniquely named temporary file in
//! the same folder, fsync it, rename it into place, fsync the folder. A reader (or a crash)
//! sees the old file or the complete new one, never a partial file under the final name.

use crate::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Write `path` atomically from `body`, which streams the content into a buffered writer.
///
/// # Errors
/// [`Error::Io`] naming `path` when any step fails; the temporary file is removed then.
pub fn write_with(path: &Path, body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    let tmp = temp_path(path)
        .ok_or_else(|| Error::Nifti { path: path.to_path_buf(), msg: "output path has no file name".into() })?;
    let written = (|| {
        let mut file = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        body(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    // Persist the rename itself; not every platform can open a folder, so best effort.
    if let Some(Ok(dir)) = path.parent().map(|d| File::open(if d.as_os_str().is_empty() { Path::new(".") } else { d }))
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Write `bytes` to `path` atomically.
///
/// # Errors
/// As [`write_with`].
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// Write `value` as pretty JSON (with a final newline) to `path` atomically.
///
/// # Errors
/// As [`write_with`].
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")
    })
}

/// `.<name>.tmp-<pid>-<n>` beside `path`: unique within and across processes.
fn temp_path(path: &Path) -> Option<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name()?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    Some(path.with_file_name(format!(".{}.tmp-{}-{seq}", name.to_string_lossy(), std::process::id())))
}
