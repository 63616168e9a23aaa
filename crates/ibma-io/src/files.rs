//! Whole input files, read only when they are regular files: a FIFO given as a map or a
//! manifest would block forever, a device might never end.

use crate::{Error, Result};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// The bytes of the regular file at `path`.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    regular(path, &std::fs::metadata(path).map_err(io_err)?)?;
    let mut file = File::open(path).map_err(io_err)?;
    // Checked again on the open file: the path may have changed between the two looks.
    let meta = file.metadata().map_err(io_err)?;
    regular(path, &meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io_err)?;
    Ok(bytes)
}

/// `Ok` if `path` (already looked up as `meta`) is a regular file, else an error naming what it is.
pub fn regular(path: &Path, meta: &Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let what = kind(meta);
    let msg = format!("not a regular file ({what}); ibma reads maps and manifests from regular files only");
    Err(Error::Io { path: path.to_path_buf(), source: std::io::Error::new(std::io::ErrorKind::InvalidInput, msg) })
}

fn kind(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    "a special file"
}
