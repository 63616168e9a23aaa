//! `#[serde(with)]` for paths in ibma's files: the path's text when it is UTF-8, otherwise its
//! raw bytes (`{"bytes": [...]}`), so that any path a user has round-trips exactly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

fn repr(path: &Path) -> Repr {
    match path.to_str() {
        Some(text) => Repr::Text(text.to_string()),
        None => Repr::Bytes { bytes: path.as_os_str().as_encoded_bytes().to_vec() },
    }
}

fn path(repr: Repr) -> PathBuf {
    match repr {
        Repr::Text(text) => PathBuf::from(text),
        // On Unix every byte string is a path; elsewhere the lossy text is the best there is.
        #[cfg(unix)]
        Repr::Bytes { bytes } => PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&bytes)),
        #[cfg(not(unix))]
        Repr::Bytes { bytes } => PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Write a path.
pub fn serialize<S: Serializer>(value: &Path, s: S) -> Result<S::Ok, S::Error> {
    repr(value).serialize(s)
}

/// Read a path.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    Ok(path(Repr::deserialize(d)?))
}

/// The same for an optional path.
pub mod option {
    use super::{path, repr, Repr};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::PathBuf;

    /// Write an optional path.
    pub fn serialize<S: Serializer>(value: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        value.as_deref().map(repr).serialize(s)
    }

    /// Read an optional path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<Repr>::deserialize(d)?.map(path))
    }
}
