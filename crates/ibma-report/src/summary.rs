//! The dataset side of a report: its studies, sample sizes and which mask voxels each study
//! has usable data at (the coverage map).

use ibma::Result;
use ibma_io::{Interpolation, Manifest, Mask};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One study of the dataset.
#[derive(Clone, Debug)]
pub struct StudySummary {
    /// Study id.
    pub id: String,
    /// Sample size, if the manifest gives one.
    pub sample_size: Option<f64>,
    /// Map types it provides.
    pub maps: Vec<&'static str>,
    /// Per mask voxel: every map it provides is finite and non-zero there (varcope above
    /// NiMARE's float32 floor), NiMARE's validity rule.
    pub usable: Vec<bool>,
}

impl StudySummary {
    /// Mask voxels with usable data.
    pub fn usable_voxels(&self) -> usize {
        self.usable.iter().filter(|&&u| u).count()
    }
}

/// A dataset's studies and per-voxel coverage over a mask.
#[derive(Clone, Debug)]
pub struct DatasetSummary {
    /// The manifest's name (may be empty).
    pub name: String,
    /// The manifest file.
    pub path: PathBuf,
    /// Studies in manifest order.
    pub studies: Vec<StudySummary>,
}

impl DatasetSummary {
    /// Read the manifest at `dataset` and every study map's values on `mask` (grids checked;
    /// maps on another grid resampled as the fit did, `resample`).
    pub fn read(dataset: &Path, mask: &Mask, resample: Option<Interpolation>) -> Result<DatasetSummary> {
        // NiMARE JSON with several contrasts per study loads only as independent studies.
        let manifest = Manifest::load(dataset).or_else(|e| Manifest::load_with(dataset, true).map_err(|_| e))?;
        let studies = manifest
            .studies
            .par_iter()
            .map(|study| {
                let mut usable = vec![true; mask.len()];
                for (&ty, path) in &study.maps {
                    let values = mask.read_masked_resampled(path, resample)?;
                    for (u, &x) in usable.iter_mut().zip(&values) {
                        *u &= ibma::inputs::usable(ty, x as f32);
                    }
                }
                if study.maps.is_empty() {
                    usable.fill(false);
                }
                Ok(StudySummary {
                    id: study.id.clone(),
                    sample_size: study.sample_size,
                    maps: study.maps.keys().map(|t| t.name()).collect(),
                    usable,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DatasetSummary { name: manifest.name.clone(), path: manifest.path.clone(), studies })
    }

    /// Per mask voxel, how many of the studies named in `used` (all studies if `used` is
    /// empty) have usable data there.
    pub fn coverage(&self, used: &[String]) -> Vec<f64> {
        let n = self.studies.first().map_or(0, |s| s.usable.len());
        let mut counts = vec![0.0; n];
        for study in self.studies.iter().filter(|s| used.is_empty() || used.contains(&s.id)) {
            for (c, &u) in counts.iter_mut().zip(&study.usable) {
                *c += f64::from(u8::from(u));
            }
        }
        counts
    }
}
