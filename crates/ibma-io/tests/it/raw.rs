//! An independent NIfTI-1 byte builder (field offsets from nifti1.h), so that the reader is
//! tested against files it did not write.

use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A NIfTI-1 single-file image under construction.
pub struct Raw {
    pub hdr: [u8; 352],
    pub big: bool,
    pub data: Vec<u8>,
}

impl Raw {
    /// A header with `dims`, `datatype`/`bitpix`, magic n+1, vox_offset 352, pixdim 1, no xforms.
    pub fn new(dims: &[u16], datatype: i16, bitpix: i16, big: bool) -> Raw {
        let mut r = Raw { hdr: [0; 352], big, data: Vec::new() };
        r.i32(0, 348);
        r.i16(40, dims.len() as i16);
        for (n, &d) in dims.iter().enumerate() {
            r.i16(42 + 2 * n, d as i16);
        }
        for n in dims.len()..7 {
            r.i16(42 + 2 * n, 1);
        }
        r.i16(70, datatype);
        r.i16(72, bitpix);
        for n in 0..8 {
            r.f32(76 + 4 * n, 1.0);
        }
        r.f32(108, 352.0);
        r.hdr[344..348].copy_from_slice(b"n+1\0");
        r
    }

    fn put(&mut self, off: usize, le: &[u8]) {
        let dst = &mut self.hdr[off..off + le.len()];
        dst.copy_from_slice(le);
        if self.big {
            dst.reverse();
        }
    }
    pub fn i16(&mut self, off: usize, v: i16) {
        self.put(off, &v.to_le_bytes());
    }
    pub fn i32(&mut self, off: usize, v: i32) {
        self.put(off, &v.to_le_bytes());
    }
    pub fn f32(&mut self, off: usize, v: f32) {
        self.put(off, &v.to_le_bytes());
    }
    /// sform rows (code 1 unless `code` says otherwise).
    pub fn sform(&mut self, code: i16, rows: [[f32; 4]; 3]) {
        self.i16(254, code);
        for (r, row) in rows.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                self.f32(280 + 16 * r + 4 * c, v);
            }
        }
    }
    /// Append one stored value given as its little-endian bytes (swapped if big-endian).
    pub fn push(&mut self, le: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(le);
        if self.big {
            self.data[start..].reverse();
        }
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.hdr.to_vec();
        b.extend_from_slice(&self.data);
        b
    }
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.bytes()).unwrap();
        path.to_path_buf()
    }
    pub fn write_gz(&self, path: &Path) -> PathBuf {
        std::fs::write(path, gzip(&self.bytes())).unwrap();
        path.to_path_buf()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The test value at voxel (i, j, k): distinct, exactly representable in every datatype.
pub fn val(i: usize, j: usize, k: usize) -> f64 {
    (100 * i + 10 * j + k) as f64
}

/// C-order flat index on a grid of shape `d`.
pub fn flat(d: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    (i * d[1] + j) * d[2] + k
}

/// Visit voxels in file (Fortran) order.
pub fn fortran(d: [usize; 3], mut f: impl FnMut(usize, usize, usize)) {
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                f(i, j, k);
            }
        }
    }
}

pub fn le_f32(b: &[u8], off: usize) -> f32 {
    f32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
pub fn le_i16(b: &[u8], off: usize) -> i16 {
    i16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
pub fn le_i32(b: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
