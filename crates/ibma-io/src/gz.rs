//! gzip in and out. Inflation fills a buffer of the size the caller expects (a NIfTI header
//! says how many bytes its image holds), which is both what a whole-buffer inflater wants and
//! the bound against inflation bombs.
//!
//! libdeflate (through `libdeflater`) inflates: on nidm_pain21's maps it takes about 0.7 times
//! the CPU of flate2's miniz_oxide, itself faster than zlib. It cannot say where a gzip member
//! ends, so files of several members (and every error, to describe it) go through flate2's
//! streaming decoder, member by member. Zero padding after the gzip data is skipped, as gzip,
//! Python and nibabel skip it. Compression stays with flate2, on its zlib-rs backend: at
//! level 1 it writes what zlib (and so nibabel) writes, with 30 % fewer instructions than
//! miniz_oxide for Stouffers' 4 maps on nidm_pain21 (files 12 % larger: zlib's level-1 sizes),
//! and libdeflate's level 1 was slower still on float maps (0.27 against 0.15 s for 12 maps).

use flate2::{bufread::GzDecoder, write::GzEncoder, Compression};
use std::io::{ErrorKind, Read, Write};

/// The deflate format's largest possible expansion: a 258-byte match coded in 2 bits, so one
/// compressed byte inflates to at most 1032 bytes. A header asking for more than this times
/// the file size describes data the file cannot hold.
pub const MAX_DEFLATE_RATIO: usize = 1032;

/// Why a gzip stream could not fill the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The compressed stream stops in the middle of a member.
    Truncated,
    /// Not gzip, or corrupt (bad header, deflate data, CRC or size).
    Corrupt(String),
    /// Complete gzip data that inflate to fewer bytes than expected (how many).
    Short(usize),
    /// The data inflate to more bytes than expected.
    TooLong,
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InflateError::Truncated => write!(f, "truncated gzip stream"),
            InflateError::Corrupt(e) => write!(f, "invalid gzip data: {e}"),
            InflateError::Short(n) => write!(f, "gzip data inflate to only {n} bytes"),
            InflateError::TooLong => write!(f, "gzip data inflate to more bytes than expected"),
        }
    }
}

fn classify(e: std::io::Error) -> InflateError {
    match e.kind() {
        ErrorKind::UnexpectedEof => InflateError::Truncated,
        _ => InflateError::Corrupt(e.to_string()),
    }
}

/// Inflate `gz` (gzip: one or more members, zero padding after them allowed, as gzip, Python
/// and nibabel allow it) into exactly `out`. Data beyond `out` are [`InflateError::TooLong`],
/// found after at most one byte more of output: the bound against inflation bombs.
pub fn inflate_exact(gz: &[u8], out: &mut [u8]) -> Result<(), InflateError> {
    // One member holding everything (what nibabel, FSL and ibma write): one libdeflate call,
    // which checks the member's CRC but cannot say where it ended; it ended at the end of the
    // file if the file's last 8 bytes (before padding) are its trailer (CRC-32, size).
    if libdeflater::Decompressor::new().gzip_decompress(gz, out) == Ok(out.len()) && ends_with_trailer(gz, out) {
        return Ok(());
    }
    match members(gz, out, true)? {
        n if n == out.len() => Ok(()),
        n => Err(InflateError::Short(n)),
    }
}

/// True if the last 8 bytes of `gz` before any zero padding are the gzip trailer of `data`.
fn ends_with_trailer(gz: &[u8], data: &[u8]) -> bool {
    let mut trailer = [0u8; 8];
    trailer[..4].copy_from_slice(&libdeflater::crc32(data).to_le_bytes());
    trailer[4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
    // The trailer's own last bytes may be zeros: try each place it could end.
    let data_end = gz.len() - gz.iter().rev().take_while(|&&b| b == 0).count();
    (data_end..=gz.len().min(data_end + 8)).any(|end| end >= 8 && gz[end - 8..end] == trailer)
}

/// Inflate at most `out.len()` bytes from the start of `gz` (the header of a file, whatever
/// its size); returns how many there were.
pub fn inflate_prefix(gz: &[u8], out: &mut [u8]) -> Result<usize, InflateError> {
    members(gz, out, false)
}

/// Member by member into `out` until it is full or the data end. With `exact`, the rest of
/// the data must inflate to nothing (zero padding, empty members): every member is read to
/// its end, which checks its CRC and size.
fn members(gz: &[u8], out: &mut [u8], exact: bool) -> Result<usize, InflateError> {
    let mut rest = gz;
    let mut filled = 0;
    loop {
        let Some(next) = next_member(rest)? else { return Ok(filled) };
        let mut member = GzDecoder::new(next);
        while filled < out.len() {
            match member.read(&mut out[filled..]).map_err(classify)? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == out.len() && !exact {
            return Ok(filled);
        }
        if member.read(&mut [0u8]).map_err(classify)? > 0 {
            return Err(InflateError::TooLong);
        }
        rest = member.into_inner();
    }
}

/// `rest` from its next gzip member on, past zero padding; None at the end of the data.
fn next_member(rest: &[u8]) -> Result<Option<&[u8]>, InflateError> {
    let rest = &rest[rest.iter().take_while(|&&b| b == 0).count()..];
    if rest.is_empty() {
        return Ok(None);
    }
    if !rest.starts_with(&[0x1f, 0x8b]) {
        return Err(InflateError::Corrupt("bytes that are neither a gzip member nor zero padding".into()));
    }
    Ok(Some(rest))
}

/// Decompress gzip data of any number of members (zero padding after them allowed) holding at
/// most `limit` bytes: [`InflateError::TooLong`] beyond, after at most one byte more.
pub fn gunzip_limited(gz: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    // The last member's ISIZE (size mod 2^32) is a capacity hint, never trusted beyond `limit`
    // nor beyond the deflate format's largest expansion of the file.
    let hint = gz.len().checked_sub(4).map_or(0, |at| u32::from_le_bytes([gz[at], gz[at + 1], gz[at + 2], gz[at + 3]]));
    let mut out = Vec::with_capacity((hint as usize).min(limit).min(gz.len().saturating_mul(MAX_DEFLATE_RATIO)));
    let mut rest = gz;
    loop {
        let Some(next) = next_member(rest)? else { return Ok(out) };
        let mut member = GzDecoder::new(next);
        let room = limit.saturating_add(1) - out.len();
        (&mut member).take(room as u64).read_to_end(&mut out).map_err(classify)?;
        if out.len() > limit {
            return Err(InflateError::TooLong);
        }
        rest = member.into_inner();
    }
}

/// A gzip compression level, 0 (stored) to 9 (smallest), as gzip's `-0` … `-9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GzipLevel(u8);

impl GzipLevel {
    /// Level 1, what nibabel writes: float maps barely compress further, and writing is on
    /// the critical path.
    pub const DEFAULT: GzipLevel = GzipLevel(1);

    /// The level `level`, if it is 0 to 9.
    pub fn new(level: u8) -> Option<GzipLevel> {
        (level <= 9).then_some(GzipLevel(level))
    }

    /// The level as a number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// flate2's setting for this level.
    pub fn compression(self) -> Compression {
        Compression::new(u32::from(self.0))
    }
}

impl Default for GzipLevel {
    fn default() -> GzipLevel {
        GzipLevel::DEFAULT
    }
}

/// `data` as one gzip member at `level`.
pub fn gzip(data: &[u8], level: GzipLevel) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2), level.compression());
    // Writing into a Vec cannot fail.
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
