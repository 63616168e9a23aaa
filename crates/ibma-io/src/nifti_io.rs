//! NIfTI-1 volumes: read any supported file into `f64`, write float32 statistic maps.
//!
//! The header is parsed by the `nifti` crate, but decompression and data decoding happen here:
//! the crate's `.gz` path uses a single-member `GzDecoder` (it stops after the first member of a
//! concatenated gzip file), sizes the data from `bitpix`, and doing it ourselves turns every
//! malformed input into an error naming the file instead of a panic or a silent misread.
//! A `.nii.gz` is read in two steps: its first 348 bytes are inflated and the header checked
//! (dimensions, type, vox_offset; the grid against the mask's), then the rest is inflated into
//! a buffer of exactly the size the header gives ([`crate::gz`]): nothing is allocated beyond
//! what a valid header describes, and data that inflate to more are an error.
//! Maps are written byte by byte (348-byte little-endian header) so that every header field of
//! the mask (sform, qform, their codes, pixdim, units) is carried over exactly.

use crate::gz::{GzipLevel, InflateError, MAX_DEFLATE_RATIO};
use crate::{Error, Result};
use flate2::write::GzEncoder;
use nifti::{Endianness, NiftiHeader};
use std::io::{ErrorKind, Write};
use std::path::Path;

/// Absolute tolerance (mm) on affine entries for two grids to count as the same (format §6).
pub const AFFINE_ATOL_MM: f64 = 1e-4;
/// Largest image ibma reads, in voxels (2^28, 4.7 times the 0.5 mm MNI grid): a header asking
/// for more is refused before anything is allocated.
pub const MAX_VOXELS: usize = 1 << 28;
const HDR_SIZE: usize = 348;
const DATA_OFFSET: usize = 352;

/// A 3-D voxel grid: shape and voxel-to-mm affine, plus the header it came from (kept so that
/// written maps carry the source's sform/qform exactly).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(into = "GridRepr", try_from = "GridRepr")]
pub struct Grid {
    /// Shape (nx, ny, nz).
    pub dims: [usize; 3],
    /// Voxel (i, j, k, 1) to world mm, row-major 4x4 (sform if set, else qform, else pixdim).
    pub affine: [[f64; 4]; 4],
    pub(crate) header: NiftiHeader,
}

/// How a [`Grid`] is serialised (saved results): the header as the hex of the 348 bytes a map
/// written on the grid would carry, so a reloaded grid writes byte-identical headers.
#[derive(serde::Serialize, serde::Deserialize)]
struct GridRepr {
    dims: [usize; 3],
    affine: [[f64; 4]; 4],
    header: String,
}

impl From<Grid> for GridRepr {
    fn from(grid: Grid) -> GridRepr {
        let bytes = header_bytes(&grid, 1, &MapMeta::default());
        let header = bytes[..HDR_SIZE].iter().map(|b| format!("{b:02x}")).collect();
        GridRepr { dims: grid.dims, affine: grid.affine, header }
    }
}

impl TryFrom<GridRepr> for Grid {
    type Error = String;
    fn try_from(r: GridRepr) -> std::result::Result<Grid, String> {
        let hex = r.header.as_bytes();
        if hex.len() != 2 * HDR_SIZE {
            return Err(format!("grid header: {} hex digits, expected {}", hex.len(), 2 * HDR_SIZE));
        }
        let bytes = hex
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or("grid header: not hexadecimal")?;
        let header = NiftiHeader::from_reader(&bytes[..]).map_err(|e| format!("grid header: {e}"))?;
        // Each dimension must fit NIfTI-1 (maps on the grid are written as NIfTI) and agree with
        // the header; the voxel count is bounded so that no map on the grid is absurdly large.
        let in_header = [1, 2, 3].map(|d| usize::from(header.dim[d]));
        if r.dims.iter().any(|&d| d == 0 || d > i16::MAX as usize) {
            return Err(format!("grid dims {:?}: each must be 1 to 32767", r.dims));
        }
        if r.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none_or(|n| n > MAX_VOXELS) {
            return Err(format!("grid dims {:?}: more than {MAX_VOXELS} voxels", r.dims));
        }
        if r.dims != in_header {
            return Err(format!("grid dims {:?} unlike the header's {in_header:?}", r.dims));
        }
        if r.affine.iter().flatten().any(|x| !x.is_finite()) {
            return Err(format!("grid {:?}: non-finite affine", r.dims));
        }
        Ok(Grid { dims: r.dims, affine: r.affine, header })
    }
}

impl Grid {
    /// A grid with no source file (tests, synthetic data): sform = `affine` (code 1), no qform,
    /// pixdim from the affine's column norms, units mm. Dimensions above 32767 cannot be written.
    pub fn from_affine(dims: [usize; 3], affine: [[f64; 4]; 4]) -> Grid {
        let mut header = NiftiHeader { qform_code: 0, sform_code: 1, xyzt_units: 2, ..NiftiHeader::default() };
        set_sform(&mut header, &affine);
        for (c, &n) in dims.iter().enumerate() {
            header.dim[c + 1] = u16::try_from(n).unwrap_or(u16::MAX);
            let norm = (0..3).map(|r| affine[r][c] * affine[r][c]).sum::<f64>();
            header.pixdim[c + 1] = norm.sqrt() as f32;
        }
        header.dim[0] = 3;
        Grid { dims, affine, header }
    }

    /// Number of voxels, nx·ny·nz.
    pub fn n_voxels(&self) -> usize {
        self.dims.iter().product()
    }

    /// Same shape and every affine entry within [`AFFINE_ATOL_MM`] (absolute).
    pub fn same_as(&self, other: &Grid) -> bool {
        self.dims == other.dims
            && self
                .affine
                .iter()
                .flatten()
                .zip(other.affine.iter().flatten())
                .all(|(a, b)| (a - b).abs() <= AFFINE_ATOL_MM)
    }

    /// Short human description, e.g. `91x109x91, affine [-2 0 0 90; 0 2 0 -126; 0 0 2 -72]`.
    pub fn describe(&self) -> String {
        // Rounded to 1e-6 and -0 folded into 0 so that float noise does not clutter messages.
        let num = |x: f64| format!("{}", (x * 1e6).round() / 1e6 + 0.0);
        let rows: Vec<String> =
            self.affine[..3].iter().map(|r| r.iter().map(|&x| num(x)).collect::<Vec<_>>().join(" ")).collect();
        let [nx, ny, nz] = self.dims;
        format!("{nx}x{ny}x{nz}, affine [{}]", rows.join("; "))
    }
}

/// A 3-D image: its grid and its values in C order (i slowest, k fastest:
/// flat index `(i·ny + j)·nz + k`), scaled by scl_slope/scl_inter, as f64.
#[derive(Clone, Debug)]
pub struct Volume {
    /// The grid.
    pub grid: Grid,
    /// Values in C order.
    pub data: Vec<f64>,
}

/// Header fields of a written statistic map.
#[derive(Clone, Debug, Default)]
pub struct MapMeta {
    /// NIFTI intent code (5 z-score, 3 t-test, 22 p-value, 1001 estimate, 0 none).
    pub intent_code: i16,
    /// intent_p1 (e.g. the dof of a t map), 0 if unused.
    pub intent_p1: f32,
    /// Header description (at most 79 bytes are kept).
    pub descrip: String,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Nifti { path: path.to_path_buf(), msg: msg.into() }
}

/// Read a NIfTI-1 `.nii` or `.nii.gz` file (gzip detected by its magic bytes, any number of
/// gzip members, zero padding after them) as a 3-D volume; trailing dimensions of size 1 are
/// squeezed.
pub fn read_volume(path: &Path) -> Result<Volume> {
    read_volume_bytes(&crate::files::read(path)?, path)
}

/// Decompress a gzip file made of any number of members (zero padding after them allowed),
/// without a bound: for files ibma wrote itself. [`crate::gz::gunzip_limited`] bounds it.
pub fn gunzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    gunzip_at_most(raw, usize::MAX)
}

/// [`gunzip`] that refuses (`ErrorKind::FileTooLarge`) data inflating beyond `limit`
/// bytes, having inflated at most `limit` + 1 of them: for files with no header to bound them.
pub fn gunzip_at_most(raw: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    crate::gz::gunzip_limited(raw, limit).map_err(|e| {
        let kind = match e {
            InflateError::Truncated => ErrorKind::UnexpectedEof,
            InflateError::TooLong => ErrorKind::FileTooLarge,
            _ => ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e.to_string())
    })
}

/// [`read_volume`] on the bytes of a file already in memory; `path` only names it in errors.
pub fn read_volume_bytes(raw: &[u8], path: &Path) -> Result<Volume> {
    let header = header_of(raw, path)?;
    let bytes = data_of(raw, &header, path)?;
    let data = header.values(&bytes, Voxels::All);
    Ok(Volume { grid: header.grid, data })
}

/// Read only the voxels at `indices` (C-order flat indices) of the image at `path`, after
/// checking that its grid is `expected` (before inflating the data): maps are read this way so
/// that out-of-mask voxels are never converted.
pub fn read_voxels<O: Sample>(path: &Path, expected: &Grid, indices: &[usize]) -> Result<Vec<O>> {
    read_some(path, expected, Voxels::Indices(indices))
}

/// Which voxels a read takes, and so in which order it visits the file.
#[derive(Clone, Copy)]
pub(crate) enum Voxels<'a> {
    /// All of them, in C order.
    All,
    /// C-order flat indices, ascending.
    Indices(&'a [usize]),
    /// (position in the file, position in the output) pairs, in file order.
    FileOrder(&'a [(u32, u32)]),
}

/// [`read_voxels`] for any [`Voxels`].
pub(crate) fn read_some<O: Sample>(path: &Path, expected: &Grid, voxels: Voxels) -> Result<Vec<O>> {
    let raw = crate::files::read(path)?;
    let header = header_of(&raw, path)?;
    if !header.grid.same_as(expected) {
        return Err(Error::GridMismatch {
            path: path.to_path_buf(),
            found: header.grid.describe(),
            expected: expected.describe(),
        });
    }
    let bytes = data_of(&raw, &header, path)?;
    Ok(header.values(&bytes, voxels))
}

fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
}

/// The file's header, inflating only its first bytes when it is gzip-compressed.
fn header_of(raw: &[u8], path: &Path) -> Result<Header> {
    let header = if is_gzip(raw) {
        let mut head = [0u8; HDR_SIZE];
        let n = crate::gz::inflate_prefix(raw, &mut head).map_err(|e| bad(path, e.to_string()))?;
        Header::parse(&head[..n])
    } else {
        Header::parse(raw)
    };
    header.map_err(|msg| bad(path, msg))
}

/// The file's bytes up to the end of its data, inflated into a buffer of exactly the size the
/// header gives (the bound against inflation bombs).
fn data_of<'a>(raw: &'a [u8], h: &Header, path: &Path) -> Result<std::borrow::Cow<'a, [u8]>> {
    let truncated = |have: String| {
        let (n, size, off, end) = (h.n_voxels, h.dtype.size(), h.offset, h.end);
        bad(path, format!("truncated data: {n} voxels of {size} bytes from offset {off} need {end} bytes, {have}"))
    };
    if !is_gzip(raw) {
        return match raw.get(..h.end) {
            Some(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            None => Err(truncated(format!("the file has {}", raw.len()))),
        };
    }
    if h.end / MAX_DEFLATE_RATIO > raw.len() {
        let most = raw.len().saturating_mul(MAX_DEFLATE_RATIO);
        return Err(truncated(format!("{} bytes of gzip data inflate to at most {most}", raw.len())));
    }
    let mut bytes = vec![0u8; h.end];
    crate::gz::inflate_exact(raw, &mut bytes).map_err(|e| match e {
        InflateError::Short(n) => truncated(format!("the gzip data inflate to {n}")),
        InflateError::TooLong => bad(
            path,
            format!("gzip data inflate to more than the {} bytes the header describes (vox_offset + data)", h.end),
        ),
        e => bad(path, e.to_string()),
    })?;
    Ok(std::borrow::Cow::Owned(bytes))
}

/// A parsed, validated NIfTI-1 header: the grid and where and how its data are stored.
struct Header {
    grid: Grid,
    dtype: Dtype,
    big: bool,
    /// Data start (vox_offset) and end (offset + voxels × value size), in bytes.
    offset: usize,
    end: usize,
    n_voxels: usize,
    scale: Option<(f64, f64)>,
}

impl Header {
    /// Check the fields that decide sizes, type and geometry; `bytes` are the file's first
    /// bytes (at least 348 for a valid header).
    fn parse(bytes: &[u8]) -> std::result::Result<Header, String> {
        let word = |o: usize| -> [u8; 4] { [bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]] };
        if bytes.len() < 4 {
            return Err(format!("file too short ({} bytes) for a NIfTI-1 header", bytes.len()));
        }
        let (size_le, size_be) = (i32::from_le_bytes(word(0)), i32::from_be_bytes(word(0)));
        if size_le == 540 || size_be == 540 {
            return Err("NIfTI-2 is not supported (sizeof_hdr 540); convert it to NIfTI-1".into());
        }
        if bytes.len() < HDR_SIZE {
            return Err(format!("file too short ({} bytes) for a NIfTI-1 header", bytes.len()));
        }
        match &word(344) {
            b"n+1\0" => {}
            b"ni1\0" => return Err("header-only NIfTI-1 (.hdr/.img pair) is not supported".into()),
            _ => return Err("not a NIfTI-1 file (bad magic)".into()),
        }
        let big = match (size_le, size_be) {
            (348, _) => false,
            (_, 348) => true,
            _ => return Err(format!("not a NIfTI-1 file (sizeof_hdr {size_le}, expected 348)")),
        };
        let dim0 =
            if big { i16::from_be_bytes([bytes[40], bytes[41]]) } else { i16::from_le_bytes([bytes[40], bytes[41]]) };
        if !(1..=7).contains(&dim0) {
            return Err(format!("invalid dim[0] = {dim0} (the number of dimensions, 1 to 7)"));
        }
        let h = NiftiHeader::from_reader(&bytes[..HDR_SIZE]).map_err(|e| format!("bad NIfTI-1 header: {e}"))?;
        if (h.endianness == Endianness::Big) != big {
            return Err("inconsistent byte order in the header".into());
        }
        let dims = shape3(&h)?;
        let dtype = Dtype::from_code(h.datatype)
            .map_err(|name| format!("unsupported datatype {name}; ibma reads integer, float32 and float64 images"))?;
        let off = h.vox_offset;
        if !(off.is_finite() && off >= DATA_OFFSET as f32) {
            return Err(format!("invalid vox_offset {off} (must be at least {DATA_OFFSET})"));
        }
        let (offset, n_voxels) = (off as usize, dims.iter().product::<usize>());
        // At most MAX_VOXELS of at most 8 bytes: only vox_offset can overflow.
        let end = offset.checked_add(n_voxels * dtype.size()).ok_or(format!("invalid vox_offset {off} (too large)"))?;
        let (slope, inter) = (f64::from(h.scl_slope), f64::from(h.scl_inter));
        // NIfTI: slope 0 or non-finite means "no scaling"; a usable slope needs a finite intercept.
        let scale = slope.is_finite() && slope != 0.0;
        if scale && !inter.is_finite() {
            return Err(format!("scl_slope {slope} with non-finite scl_inter {inter}"));
        }
        // Identity scaling is skipped (as nibabel does): it would turn -0.0 into +0.0.
        let scale = (scale && (slope, inter) != (1.0, 0.0)).then_some((slope, inter));
        let affine = affine_of(&h, dims)?;
        Ok(Header { grid: Grid { dims, affine, header: h }, dtype, big, offset, end, n_voxels, scale })
    }

    /// The scaled values of `voxels` from `bytes`, the file's bytes up to the data end.
    fn values<O: Sample>(&self, bytes: &[u8], voxels: Voxels) -> Vec<O> {
        let data = &bytes[self.offset..self.end];
        // One loop per stored type, so that the decoding is inlined.
        match self.dtype {
            Dtype::U8 => self.typed::<u8, O>(data, voxels),
            Dtype::I8 => self.typed::<i8, O>(data, voxels),
            Dtype::I16 => self.typed::<i16, O>(data, voxels),
            Dtype::U16 => self.typed::<u16, O>(data, voxels),
            Dtype::I32 => self.typed::<i32, O>(data, voxels),
            Dtype::U32 => self.typed::<u32, O>(data, voxels),
            Dtype::I64 => self.typed::<i64, O>(data, voxels),
            Dtype::U64 => self.typed::<u64, O>(data, voxels),
            Dtype::F32 => self.typed::<f32, O>(data, voxels),
            Dtype::F64 => self.typed::<f64, O>(data, voxels),
        }
    }

    fn typed<T: Stored, O: Sample>(&self, data: &[u8], voxels: Voxels) -> Vec<O> {
        match voxels {
            Voxels::All => self.gather::<T, O>(data, 0..self.n_voxels),
            Voxels::Indices(indices) => self.gather::<T, O>(data, indices.iter().copied()),
            Voxels::FileOrder(pairs) => self.scatter::<T, O>(data, pairs),
        }
    }

    /// The value stored at byte `at` of `data`, scaled.
    #[inline(always)]
    fn value<T: Stored>(&self, data: &[u8], at: usize) -> f64 {
        let x = T::decode(&data[at..at + std::mem::size_of::<T>()], self.big);
        match self.scale {
            Some((slope, inter)) => x * slope + inter,
            None => x,
        }
    }

    /// The values at file positions `pairs[n].0` (in file order) to output positions `pairs[n].1`.
    fn scatter<T: Stored, O: Sample>(&self, data: &[u8], pairs: &[(u32, u32)]) -> Vec<O> {
        let mut out = vec![O::of(0.0); pairs.len()];
        for &(file, to) in pairs {
            out[to as usize] = O::of(self.value::<T>(data, file as usize * std::mem::size_of::<T>()));
        }
        out
    }

    fn gather<T: Stored, O: Sample>(&self, data: &[u8], indices: impl ExactSizeIterator<Item = usize>) -> Vec<O> {
        let mut out = Vec::with_capacity(indices.len());
        let size = std::mem::size_of::<T>();
        let [nx, ny, nz] = self.grid.dims;
        // The file is in Fortran order (i fastest); C-order index v = (i·ny + j)·nz + k. The
        // divisions that split v are done only when v leaves the current k-run.
        let (mut run_start, mut file_row) = (usize::MAX, 0);
        for v in indices {
            if v < run_start || v - run_start >= nz {
                run_start = v - v % nz;
                let row = v / nz;
                file_row = row / ny + nx * (row % ny);
            }
            out.push(O::of(self.value::<T>(data, (file_row + nx * ny * (v - run_start)) * size)));
        }
        out
    }
}

/// The type values are read as: the scaled value in float64, or that rounded to float32 (the
/// same bits as `x as f32` of the float64 value, without a float64 copy of the map).
pub trait Sample: Copy {
    /// The value `x` (decoded and scaled in float64) in this type.
    fn of(x: f64) -> Self;
}

impl Sample for f64 {
    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
}

impl Sample for f32 {
    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
}

/// A stored NIfTI value type.
trait Stored {
    /// The value of `bytes` (exactly its size), big- or little-endian, as f64.
    fn decode(bytes: &[u8], big: bool) -> f64;
}

macro_rules! stored {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            #[inline(always)]
            fn decode(bytes: &[u8], big: bool) -> f64 {
                let b = bytes.try_into().expect("one value's bytes");
                (if big { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }) as f64
            }
        }
    )*};
}
stored!(u8, i8, i16, u16, i32, u32, i64, u64, f32, f64);

/// The 3-D shape, squeezing trailing dimensions of size 1; at most [`MAX_VOXELS`] voxels.
fn shape3(h: &NiftiHeader) -> std::result::Result<[usize; 3], String> {
    let nd = usize::from(h.dim[0]);
    // The crate reads dim as unsigned: a negative dimension shows as what it was, i16.
    let dims: Vec<i64> = h.dim[1..=nd].iter().map(|&d| i64::from(d as i16)).collect();
    let text = dims.iter().map(i64::to_string).collect::<Vec<_>>().join("x");
    if let Some(at) = dims.iter().position(|&d| d < 1) {
        return Err(format!("invalid dim[{}] = {} (dimensions {text}; each must be at least 1)", at + 1, dims[at]));
    }
    if nd < 3 {
        return Err(format!("{nd}-D image ({text}); ibma needs 3-D maps"));
    }
    if dims[3..].iter().any(|&d| d != 1) {
        return Err(if nd == 4 {
            format!("4-D series with {} volumes; ibma needs 3-D maps", dims[3])
        } else {
            format!("{nd}-D array ({text}); ibma needs 3-D maps")
        });
    }
    let shape = [dims[0], dims[1], dims[2]].map(|d| d as usize);
    let n: usize = shape.iter().product();
    if n > MAX_VOXELS {
        return Err(format!("dimensions {text} give {n} voxels, more than ibma reads ({MAX_VOXELS})"));
    }
    Ok(shape)
}

/// nibabel's rules: sform if `sform_code > 0`, else qform if `qform_code > 0`, else the
/// shape/zoom base affine (x flipped, centred), with pixdim fixed as nibabel does on load.
fn affine_of(h: &NiftiHeader, dims: [usize; 3]) -> std::result::Result<[[f64; 4]; 4], String> {
    let zoom = |p: f32| if p == 0.0 { 1.0 } else { f64::from(p.abs()) };
    let z = [zoom(h.pixdim[1]), zoom(h.pixdim[2]), zoom(h.pixdim[3])];
    let mut a = [[0.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4], [0.0, 0.0, 0.0, 1.0]];
    if h.sform_code > 0 {
        for (row, s) in a.iter_mut().zip([h.srow_x, h.srow_y, h.srow_z]) {
            *row = s.map(f64::from);
        }
    } else if h.qform_code > 0 {
        let (b, c, d) = (f64::from(h.quatern_b), f64::from(h.quatern_c), f64::from(h.quatern_d));
        let w2 = 1.0 - (b * b + c * c + d * d);
        if w2.is_nan() || w2 < -3.0 * f64::from(f32::EPSILON) {
            return Err(format!("invalid qform quaternion ({b}, {c}, {d})"));
        }
        let w = w2.max(0.0).sqrt();
        let s = 2.0 / (w * w + b * b + c * c + d * d);
        let (xs, ys, zs) = (b * s, c * s, d * s);
        let r = [
            [1.0 - (c * ys + d * zs), b * ys - w * zs, b * zs + w * ys],
            [b * ys + w * zs, 1.0 - (b * xs + d * zs), c * zs - w * xs],
            [b * zs - w * ys, c * zs + w * xs, 1.0 - (b * xs + c * ys)],
        ];
        // Any qfac other than exactly -1 is taken as 1 (nibabel's fix on load).
        let qfac = if h.pixdim[0].to_bits() == (-1.0f32).to_bits() { -1.0 } else { 1.0 };
        let zq = [z[0], z[1], z[2] * qfac];
        let t = [h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from);
        for row in 0..3 {
            for col in 0..3 {
                a[row][col] = r[row][col] * zq[col];
            }
            a[row][3] = t[row];
        }
    } else {
        let zx = [-z[0], z[1], z[2]];
        for c in 0..3 {
            a[c][c] = zx[c];
            a[c][3] = -(dims[c] as f64 - 1.0) / 2.0 * zx[c];
        }
    }
    if a.iter().flatten().any(|x| !x.is_finite()) {
        return Err("non-finite values in the voxel-to-world affine".into());
    }
    Ok(a)
}

#[derive(Clone, Copy)]
enum Dtype {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Dtype {
    fn from_code(code: i16) -> std::result::Result<Dtype, String> {
        use Dtype::*;
        Ok(match code {
            2 => U8,
            256 => I8,
            4 => I16,
            512 => U16,
            8 => I32,
            768 => U32,
            1024 => I64,
            1280 => U64,
            16 => F32,
            64 => F64,
            _ => {
                let name = match code {
                    1 => "binary",
                    32 => "complex64",
                    128 => "rgb24",
                    1536 => "float128",
                    1792 => "complex128",
                    2048 => "complex256",
                    2304 => "rgba32",
                    _ => "unknown",
                };
                return Err(format!("{name} (datatype {code})"));
            }
        })
    }

    fn size(self) -> usize {
        use Dtype::*;
        match self {
            U8 | I8 => 1,
            I16 | U16 => 2,
            I32 | U32 | F32 => 4,
            I64 | U64 | F64 => 8,
        }
    }
}

/// Write `data` (C order, `grid.n_voxels()` values) as a float32 `.nii.gz` on `grid`, atomically
/// (gzip whatever the file name says, at [`GzipLevel::DEFAULT`]).
pub fn write_map(path: &Path, grid: &Grid, data: &[f32], meta: &MapMeta) -> Result<()> {
    write_volumes(path, grid, std::slice::from_ref(&data), meta, GzipLevel::DEFAULT)
}

/// Write one C-order volume per entry of `volumes` as a 4-D float32 `.nii.gz` (`dim[4]` = count;
/// a single volume gives a 3-D file), atomically, at [`GzipLevel::DEFAULT`].
pub fn write_map_4d<V: AsRef<[f32]>>(path: &Path, grid: &Grid, volumes: &[V], meta: &MapMeta) -> Result<()> {
    write_volumes(path, grid, volumes, meta, GzipLevel::DEFAULT)
}

/// [`write_map_4d`] at compression `level`.
pub fn write_volumes<V: AsRef<[f32]>>(
    path: &Path,
    grid: &Grid,
    volumes: &[V],
    meta: &MapMeta,
    level: GzipLevel,
) -> Result<()> {
    let n = grid.n_voxels();
    if let Some((s, v)) = volumes.iter().enumerate().find(|(_, v)| v.as_ref().len() != n) {
        return Err(bad(
            path,
            format!("volume {s} has {} values, the grid {} has {n}", v.as_ref().len(), grid.describe()),
        ));
    }
    if grid.dims.iter().chain([&volumes.len()]).any(|&d| d == 0 || d > i16::MAX as usize) {
        return Err(bad(path, format!("cannot write {} volume(s) on grid {}", volumes.len(), grid.describe())));
    }
    let header = header_bytes(grid, volumes.len(), meta);
    let [nx, ny, nz] = grid.dims;
    write_atomic(path, level, |w| {
        w.write_all(&header)?;
        let mut buf = Vec::with_capacity(nx * ny * 4);
        for v in volumes {
            let v = v.as_ref();
            // Fortran order in the file: i fastest.
            for k in 0..nz {
                buf.clear();
                for j in 0..ny {
                    for i in 0..nx {
                        buf.extend_from_slice(&v[(i * ny + j) * nz + k].to_le_bytes());
                    }
                }
                w.write_all(&buf)?;
            }
        }
        Ok(())
    })
}

/// A gzip stream at `level`, written atomically ([`crate::atomic`]).
fn write_atomic(path: &Path, level: GzipLevel, body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    crate::atomic::write_with(path, |w| {
        let mut gz = GzEncoder::new(w, level.compression());
        body(&mut gz)?;
        gz.finish().map(drop)
    })
}

fn set_sform(h: &mut NiftiHeader, a: &[[f64; 4]; 4]) {
    h.srow_x = a[0].map(|x| x as f32);
    h.srow_y = a[1].map(|x| x as f32);
    h.srow_z = a[2].map(|x| x as f32);
}

/// The 352 bytes before the data: the grid's header with the fields of a float32 map.
fn header_bytes(grid: &Grid, n_vol: usize, meta: &MapMeta) -> Vec<u8> {
    let mut h = grid.header.clone();
    if h.sform_code <= 0 && h.qform_code <= 0 {
        set_sform(&mut h, &grid.affine);
        h.sform_code = 1;
    }
    let mut b = Vec::with_capacity(DATA_OFFSET);
    let i16s = |b: &mut Vec<u8>, v: &[i16]| v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    let f32s = |b: &mut Vec<u8>, v: &[f32]| v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    // Dimensions were checked to fit i16 by the caller.
    let d = |x: usize| x as i16;
    let [nx, ny, nz] = grid.dims;
    let dim =
        if n_vol == 1 { [3, d(nx), d(ny), d(nz), 1, 1, 1, 1] } else { [4, d(nx), d(ny), d(nz), d(n_vol), 1, 1, 1] };
    i32s(&mut b, &[HDR_SIZE as i32]);
    b.extend_from_slice(&h.data_type);
    b.extend_from_slice(&h.db_name);
    i32s(&mut b, &[h.extents]);
    i16s(&mut b, &[h.session_error]);
    b.extend_from_slice(&[h.regular, h.dim_info]);
    i16s(&mut b, &dim);
    f32s(&mut b, &[meta.intent_p1, 0.0, 0.0]);
    i16s(&mut b, &[meta.intent_code, 16, 32, h.slice_start]);
    f32s(&mut b, &h.pixdim);
    f32s(&mut b, &[DATA_OFFSET as f32, 1.0, 0.0]);
    i16s(&mut b, &[h.slice_end]);
    // Units: keep the source's, but unknown spatial units become mm (format §7).
    let units = if h.xyzt_units & 7 == 0 { h.xyzt_units | 2 } else { h.xyzt_units };
    b.extend_from_slice(&[h.slice_code, units]);
    f32s(&mut b, &[0.0, 0.0, h.slice_duration, h.toffset]);
    i32s(&mut b, &[h.glmax, h.glmin]);
    b.extend_from_slice(&descrip_bytes(&meta.descrip));
    b.extend_from_slice(&h.aux_file);
    i16s(&mut b, &[h.qform_code, h.sform_code]);
    f32s(&mut b, &[h.quatern_b, h.quatern_c, h.quatern_d, h.quatern_x, h.quatern_y, h.quatern_z]);
    f32s(&mut b, &h.srow_x);
    f32s(&mut b, &h.srow_y);
    f32s(&mut b, &h.srow_z);
    b.extend_from_slice(&[0; 16]); // intent_name
    b.extend_from_slice(b"n+1\0");
    b.extend_from_slice(&[0; 4]); // no extensions
    debug_assert_eq!(b.len(), DATA_OFFSET);
    b
}

/// 80 NUL-padded bytes holding at most 79 bytes of `s`, cut at a character boundary.
fn descrip_bytes(s: &str) -> [u8; 80] {
    let mut end = s.len().min(79);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = [0u8; 80];
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}
