//! Analysis masks: the ordered list of in-mask voxels, and moving between volumes and
//! masked vectors.

use crate::nifti_io::read_volume;
use crate::resample::{resample_voxels, Interpolation};
use crate::{Error, Grid, Result, Volume};
use std::path::Path;

/// In-mask voxels of a grid, in C order. Serialises as its grid and index list (saved results).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
        match (self.read_masked(path), resample) {
            (Err(Error::GridMismatch { .. }), Some(interpolation)) => {
                // Only maps on another grid are read a second time: interpolation needs them whole.
                let source = read_volume(path)?;
                resample_voxels(&source, &self.grid, &self.indices, interpolation).ok_or_else(|| Error::Nifti {
                    path: path.to_path_buf(),
                    msg: format!("cannot resample: its voxel-to-world affine ({}) is singular", source.grid.describe()),
                })
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
