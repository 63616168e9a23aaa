//! NIfTI-1 volumes: read any supported file into `f64`, write float32 statistic maps.
//!
//! The header is parsed by the `nifti` crate, but decompression and data decoding happen here:
//! the crate's `.gz` path uses a single-member `GzDecoder` (it stops after the first member of a
//! concatenated gzip file), sizes the data from `bitpix`, and doing it ourselves turns every
//! malformed input into an error naming the file instead of a panic or a silent misread.
//! Maps are written byte by byte (348-byte little-endian header) so that every header field of
//! the mask (sform, qform, their codes, pixdim, units) is carried over exactly.

use crate::{Error, Result};
use flate2::{read::MultiGzDecoder, write::GzEncoder, Compression};
use nifti::{Endianness, NiftiHeader};
use std::io::{Read, Write};
use std::path::Path;

/// Absolute tolerance (mm) on affine entries for two grids to count as the same (format §6).
pub const AFFINE_ATOL_MM: f64 = 1e-4;
/// Most voxels a grid read from a saved result may have (2³¹: an 8.6 GB float32 map; brain
/// grids have 10⁵–10⁷). NIfTI files need no such bound: their data must be there.
pub const MAX_SAVED_GRID_VOXELS: usize = 1 << 31;
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
        if r.dims.contains(&0) || r.affine.iter().flatten().any(|x| !x.is_finite()) {
            return Err(format!("grid {:?}: empty dimension or non-finite affine", r.dims));
        }
        // Each dimension must fit NIfTI-1 (maps on the grid are written as NIfTI) and agree with
        // the header; the voxel count is bounded so that no map on the grid is absurdly large.
        let in_header = [1, 2, 3].map(|d| usize::from(header.dim[d]));
        if r.dims.iter().any(|&d| d > i16::MAX as usize) || r.dims != in_header {
            return Err(format!("grid {:?}: dimensions beyond 32767 or unlike the header's {in_header:?}", r.dims));
        }
        if r.dims.iter().product::<usize>() > MAX_SAVED_GRID_VOXELS {
            return Err(format!("grid {:?}: more than {MAX_SAVED_GRID_VOXELS} voxels", r.dims));
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Read a NIfTI-1 `.nii` or `.nii.gz` file (gzip detected by its magic bytes, any number of
/// gzip members) as a 3-D volume; trailing dimensions of size 1 are squeezed.
pub fn read_volume(path: &Path) -> Result<Volume> {
    read_volume_bytes(&std::fs::read(path).map_err(io_err(path))?, path)
}

/// Decompress a gzip file made of any number of members.
pub fn gunzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    // The last member's ISIZE (uncompressed size mod 2^32) is a good capacity hint, capped so a
    // hostile trailer cannot reserve more than 64 times the compressed size.
    let hint = raw
        .len()
        .checked_sub(4)
        .map_or(0, |at| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]) as usize);
    let mut out = Vec::with_capacity(hint.min(raw.len().saturating_mul(64)));
    MultiGzDecoder::new(raw).read_to_end(&mut out)?;
    Ok(out)
}

/// [`read_volume`] on the bytes of a file already in memory; `path` only names it in errors.
pub fn read_volume_bytes(raw: &[u8], path: &Path) -> Result<Volume> {
    parse(&decompressed(raw, path)?).map_err(|msg| bad(path, msg))
}

/// The file's bytes, gunzipped when they start with the gzip magic.
fn decompressed<'a>(raw: &'a [u8], path: &Path) -> Result<std::borrow::Cow<'a, [u8]>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    gunzip(raw).map(std::borrow::Cow::Owned).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad(path, "truncated gzip stream"),
        _ => bad(path, format!("invalid gzip data: {e}")),
    })
}

fn layout(bytes: &[u8]) -> std::result::Result<Layout<'_>, String> {
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
        if big { u16::from_be_bytes([bytes[40], bytes[41]]) } else { u16::from_le_bytes([bytes[40], bytes[41]]) };
    if !(1..=7).contains(&dim0) {
        return Err(format!("invalid dim[0] = {dim0}"));
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
    let off = off as usize;
    let n = dims.iter().product::<usize>();
    let end = n.checked_mul(dtype.size()).and_then(|b| b.checked_add(off));
    let raw = match end {
        Some(end) if end <= bytes.len() => &bytes[off..end],
        _ => {
            return Err(format!(
                "truncated data: {n} voxels of {} bytes from offset {off}, file has {} bytes",
                dtype.size(),
                bytes.len()
            ))
        }
    };
    let (slope, inter) = (f64::from(h.scl_slope), f64::from(h.scl_inter));
    // NIfTI: slope 0 or non-finite means "no scaling"; a usable slope needs a finite intercept.
    let scale = slope.is_finite() && slope != 0.0;
    if scale && !inter.is_finite() {
        return Err(format!("scl_slope {slope} with non-finite scl_inter {inter}"));
    }
    // Identity scaling is skipped (as nibabel does): it would turn -0.0 into +0.0.
    let scale = (scale && (slope, inter) != (1.0, 0.0)).then_some((slope, inter));
    let affine = affine_of(&h, dims)?;
    Ok(Layout { grid: Grid { dims, affine, header: h }, raw, get: dtype.reader(big), size: dtype.size(), scale })
}

/// A parsed header and where its data lie: enough to read any voxel without decoding the rest.
struct Layout<'a> {
    grid: Grid,
    raw: &'a [u8],
    get: fn(&[u8]) -> f64,
    size: usize,
    scale: Option<(f64, f64)>,
}

impl Layout<'_> {
    /// The scaled value of the voxel at C-order flat index `v` (the file is in Fortran order:
    /// i fastest).
    fn value(&self, v: usize) -> f64 {
        let [nx, ny, nz] = self.grid.dims;
        let (i, j, k) = (v / (ny * nz), (v / nz) % ny, v % nz);
        let at = (i + nx * (j + ny * k)) * self.size;
        let x = (self.get)(&self.raw[at..at + self.size]);
        match self.scale {
            Some((slope, inter)) => x * slope + inter,
            None => x,
        }
    }
}

fn parse(bytes: &[u8]) -> std::result::Result<Volume, String> {
    let layout = layout(bytes)?;
    let data = (0..layout.grid.n_voxels()).map(|v| layout.value(v)).collect();
    Ok(Volume { grid: layout.grid, data })
}

/// Read only the voxels at `indices` (C-order flat indices) of the image at `path`, after
/// checking that its grid is `expected`: maps are read this way so that out-of-mask voxels
/// are never converted.
pub fn read_voxels(path: &Path, expected: &Grid, indices: &[usize]) -> Result<Vec<f64>> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    let bytes = decompressed(&raw, path)?;
    let layout = layout(&bytes).map_err(|msg| bad(path, msg))?;
    if !layout.grid.same_as(expected) {
        return Err(Error::GridMismatch {
            path: path.to_path_buf(),
            found: layout.grid.describe(),
            expected: expected.describe(),
        });
    }
    Ok(indices.iter().map(|&v| layout.value(v)).collect())
}

/// The 3-D shape, squeezing trailing dimensions of size 1.
fn shape3(h: &NiftiHeader) -> std::result::Result<[usize; 3], String> {
    let nd = usize::from(h.dim[0]);
    let dims = &h.dim[1..=nd];
    let text = dims.iter().map(u16::to_string).collect::<Vec<_>>().join("x");
    if dims.iter().any(|&d| d == 0 || d > i16::MAX as u16) {
        return Err(format!("invalid dimensions {text}"));
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
    Ok([dims[0], dims[1], dims[2]].map(usize::from))
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

    /// A reader of one stored value (of `size()` bytes) as f64.
    fn reader(self, big: bool) -> fn(&[u8]) -> f64 {
        macro_rules! one {
            ($t:ty, $from:ident) => {
                |c: &[u8]| {
                    let mut b = [0u8; std::mem::size_of::<$t>()];
                    b.copy_from_slice(c);
                    <$t>::$from(b) as f64
                }
            };
        }
        macro_rules! pick {
            ($t:ty) => {
                if big {
                    one!($t, from_be_bytes)
                } else {
                    one!($t, from_le_bytes)
                }
            };
        }
        match self {
            Dtype::U8 => pick!(u8),
            Dtype::I8 => pick!(i8),
            Dtype::I16 => pick!(i16),
            Dtype::U16 => pick!(u16),
            Dtype::I32 => pick!(i32),
            Dtype::U32 => pick!(u32),
            Dtype::I64 => pick!(i64),
            Dtype::U64 => pick!(u64),
            Dtype::F32 => pick!(f32),
            Dtype::F64 => pick!(f64),
        }
    }
}

/// Write `data` (C order, `grid.n_voxels()` values) as a float32 `.nii.gz` on `grid`, atomically
/// (gzip whatever the file name says).
pub fn write_map(path: &Path, grid: &Grid, data: &[f32], meta: &MapMeta) -> Result<()> {
    write_map_4d(path, grid, std::slice::from_ref(&data), meta)
}

/// Write one C-order volume per entry of `volumes` as a 4-D float32 `.nii.gz` (`dim[4]` = count;
/// a single volume gives a 3-D file), atomically.
pub fn write_map_4d<V: AsRef<[f32]>>(path: &Path, grid: &Grid, volumes: &[V], meta: &MapMeta) -> Result<()> {
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
    write_atomic(path, |w| {
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

/// A gzip stream written atomically ([`crate::atomic`]).
fn write_atomic(path: &Path, body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    crate::atomic::write_with(path, |w| {
        // Fast compression: float maps barely compress further, and writing is on the critical path.
        let mut gz = GzEncoder::new(w, Compression::fast());
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
