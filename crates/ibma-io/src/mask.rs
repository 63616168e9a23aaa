//! Analysis masks: the ordered list of in-mask voxels, and moving between volumes and
//! masked vectors.

use crate::nifti_io::{read_some, read_volume, Sample, Voxels};
use crate::resample::{resample_voxels, Interpolation};
use crate::{Error, Grid, Result, Volume};
use std::path::Path;

/// In-mask voxels of a grid, in C order. Serialises (saved results) as its grid and the lengths
/// of the alternating runs of out- and in-mask voxels in C order, starting with an out-of-mask
/// run (possibly 0): a few thousand numbers for a brain mask where the indices are 200,000.
#[derive(Clone, Debug)]
pub struct Mask {
    /// The grid every map must share.
    pub grid: Grid,
    /// Flat C-order indices of in-mask voxels, ascending.
    pub indices: Vec<usize>,
}

impl Mask {
    /// Voxels with a non-zero, non-NaN value.
    pub fn from_volume(volume: &Volume) -> Mask {
        let indices = volume.data.iter().enumerate().filter(|(_, &v)| v != 0.0 && !v.is_nan()).map(|(i, _)| i);
        Mask { grid: volume.grid.clone(), indices: indices.collect() }
    }

    /// Read a mask image (any supported NIfTI-1 file) and keep its non-zero, non-NaN voxels.
    pub fn read(path: &Path) -> Result<Mask> {
        Ok(Mask::from_volume(&read_volume(path)?))
    }

    /// Number of in-mask voxels.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if no voxel is in the mask.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Read the image at `path`, check its grid against the mask, return its in-mask values.
    pub fn read_masked(&self, path: &Path) -> Result<Vec<f64>> {
        crate::nifti_io::read_voxels(path, &self.grid, &self.indices)
    }

    /// [`Mask::read_masked`], but an image on another grid is first resampled onto the mask grid
    /// when `resample` says how (NaN where it has no data, [`crate::resample`]); with `None` it
    /// is the same grid error.
    pub fn read_masked_resampled(&self, path: &Path, resample: Option<Interpolation>) -> Result<Vec<f64>> {
        self.read_masked_as(path, resample)
    }

    /// [`Mask::read_masked_resampled`] in `O`: float64, or float32 (each value `x as f32` of the
    /// float64 one) for callers that keep float32, without a float64 copy of the map.
    pub fn read_masked_as<O: Sample>(&self, path: &Path, resample: Option<Interpolation>) -> Result<Vec<O>> {
        self.read_through(path, resample, Voxels::Indices(&self.indices))
    }

    /// The mask's voxels in the order NIfTI files store them, for reading many maps.
    pub fn file_order(&self) -> FileOrder<'_> {
        let [nx, ny, nz] = self.grid.dims;
        // A stable counting sort of the C-order voxels (k fastest) by (k, j): file order, i fastest.
        let mut start = vec![0usize; ny * nz + 1];
        for &v in &self.indices {
            start[(v % nz) * ny + (v / nz) % ny + 1] += 1;
        }
        for b in 1..start.len() {
            start[b] += start[b - 1];
        }
        let mut pairs = vec![(0u32, 0u32); self.indices.len()];
        for (to, &v) in self.indices.iter().enumerate() {
            let (row, k) = (v / nz, v % nz);
            let (i, j) = (row / ny, row % ny);
            let bucket = &mut start[k * ny + j];
            // At most MAX_VOXELS (2^28) voxels: positions fit in u32.
            pairs[*bucket] = ((i + nx * (j + ny * k)) as u32, to as u32);
            *bucket += 1;
        }
        FileOrder { mask: self, pairs }
    }

    /// Read `voxels` of the image at `path`, resampling it onto the mask's grid if it is on
    /// another and `resample` says how.
    fn read_through<O: Sample>(&self, path: &Path, resample: Option<Interpolation>, voxels: Voxels) -> Result<Vec<O>> {
        match (read_some(path, &self.grid, voxels), resample) {
            (Err(Error::GridMismatch { .. }), Some(interpolation)) => {
                // Only maps on another grid are read a second time: interpolation needs them whole.
                let source = read_volume(path)?;
                let values =
                    resample_voxels(&source, &self.grid, &self.indices, interpolation).ok_or_else(|| Error::Nifti {
                        path: path.to_path_buf(),
                        msg: format!(
                            "cannot resample: its voxel-to-world affine ({}) is singular",
                            source.grid.describe()
                        ),
                    })?;
                Ok(values.into_iter().map(O::of).collect())
            }
            (read, _) => read,
        }
    }

    /// The in-mask values of a volume already read (grid checked, error names `path`).
    pub fn extract(&self, volume: &Volume, path: &Path) -> Result<Vec<f64>> {
        if !volume.grid.same_as(&self.grid) || volume.data.len() != self.grid.n_voxels() {
            return Err(Error::GridMismatch {
                path: path.to_path_buf(),
                found: volume.grid.describe(),
                expected: self.grid.describe(),
            });
        }
        Ok(self.indices.iter().map(|&i| volume.data[i]).collect())
    }

    /// A full-grid float32 volume: `values` (one per mask voxel, NaN kept) inside, 0 outside.
    ///
    /// # Panics
    /// If `values.len()` differs from the number of mask voxels (a caller bug, not bad input).
    pub fn unmask(&self, values: &[f64]) -> Vec<f32> {
        assert_eq!(values.len(), self.indices.len(), "unmask: one value per mask voxel");
        let mut out = vec![0.0f32; self.grid.n_voxels()];
        for (&i, &v) in self.indices.iter().zip(values) {
            out[i] = v as f32;
        }
        out
    }
}

/// A mask's voxels in the order NIfTI files store them (i fastest, where the mask lists them k
/// fastest), each with its place in the file and in the mask. Reading a map through it walks
/// the file forwards rather than a plane's length per voxel: on nidm_pain21's grid about three
/// times faster than [`Mask::read_masked_as`] once the map is inflated, for the one sort this
/// takes.
pub struct FileOrder<'a> {
    mask: &'a Mask,
    pairs: Vec<(u32, u32)>,
}

impl FileOrder<'_> {
    /// [`Mask::read_masked_as`], the same values, through the file order.
    pub fn read_as<O: Sample>(&self, path: &Path, resample: Option<Interpolation>) -> Result<Vec<O>> {
        self.mask.read_through(path, resample, Voxels::FileOrder(&self.pairs))
    }
}

/// How a [`Mask`] is serialised: `runs` as [`Mask`] says; files of earlier versions hold the
/// index list itself as `indices`, still read.
#[derive(serde::Serialize, serde::Deserialize)]
struct MaskRepr<G> {
    grid: G,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runs: Option<Vec<usize>>,
    #[serde(default, skip_serializing)]
    indices: Option<Vec<usize>>,
}

impl serde::Serialize for Mask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut runs = Vec::new();
        let mut next = 0; // first voxel not yet covered by a run
        for (at, &i) in self.indices.iter().enumerate() {
            if at == 0 || i != next {
                runs.extend([i.checked_sub(next).expect("mask indices ascend"), 0]);
            }
            *runs.last_mut().expect("a run was started") += 1;
            next = i + 1;
        }
        MaskRepr { grid: &self.grid, runs: Some(runs), indices: None }.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Mask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Mask, D::Error> {
        use serde::de::Error as _;
        let repr = MaskRepr::<Grid>::deserialize(d)?;
        let n = repr.grid.n_voxels();
        let indices = match (repr.runs, repr.indices) {
            (Some(runs), None) => indices_of_runs(&runs, n).map_err(D::Error::custom)?,
            (None, Some(indices)) => indices,
            _ => return Err(D::Error::custom("mask: expected either runs or indices")),
        };
        if !indices.windows(2).all(|w| w[0] < w[1]) || indices.last().is_some_and(|&i| i >= n) {
            return Err(D::Error::custom(format!("mask: indices are not ascending inside the {n}-voxel grid")));
        }
        Ok(Mask { grid: repr.grid, indices })
    }
}

/// The in-mask indices that alternating out/in run lengths describe on a grid of `n` voxels.
fn indices_of_runs(runs: &[usize], n: usize) -> std::result::Result<Vec<usize>, String> {
    let total = runs.iter().try_fold(0usize, |t, &r| t.checked_add(r)).filter(|&t| t <= n);
    if total.is_none() {
        return Err(format!("mask: the runs cover more than the grid's {n} voxels"));
    }
    let mut indices = Vec::with_capacity(runs.iter().skip(1).step_by(2).sum());
    let mut at = 0;
    for pair in runs.chunks(2) {
        at += pair[0];
        let inside = pair.get(1).copied().unwrap_or(0);
        indices.extend(at..at + inside);
        at += inside;
    }
    Ok(indices)
}
