//! A dataset on disk (an `ibma-dataset` manifest, NiMARE's dataset JSON or a NIMADS studyset;
//! docs/dependence.md for several images per study) and the [`Inputs`] an estimator asks of it.

use crate::derive::derive_maps;
use crate::inputs::{Inputs, Needs, StudyInputs};
use crate::{Error, Result};
use ibma_io::{Manifest, Mask};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An `ibma-dataset`: the manifest and its analysis mask.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The parsed `dataset.json`.
    pub manifest: Manifest,
    /// The analysis mask (from the manifest, or the union of usable voxels).
    pub mask: Mask,
}

/// How to read a dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Analysis mask overriding the manifest's (`--mask`; NiMARE JSON has none).
    pub mask: Option<PathBuf>,
    /// Read the images of one study (NiMARE JSON contrasts, NIMADS analyses) as studies of their
    /// own, so that no grouping makes them dependent (`groupby=none`'s numbers).
    pub treat_as_independent: bool,
}

impl Dataset {
    /// Read `dataset.json` (or a directory holding one, or NiMARE's dataset JSON) and its mask.
    pub fn load(path: &Path) -> Result<Dataset> {
        Dataset::load_with(path, &LoadOptions::default())
    }

    /// [`Dataset::load`] with a mask from the command line and NiMARE-JSON options.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Dataset> {
        let mut manifest = Manifest::load_with(path, options.treat_as_independent)?;
        if let Some(mask) = &options.mask {
            if !mask.is_file() {
                return Err(Error::Invalid(format!("--mask {}: file not found", mask.display())));
            }
            manifest.mask = Some(mask.clone());
        }
        let mask = match &manifest.mask {
            Some(p) => Mask::from_volume(&ibma_io::read_volume(p)?),
            None => union_mask(&manifest)?,
        };
        if mask.is_empty() {
            let what = manifest.mask.as_ref().map_or_else(|| manifest.path.clone(), PathBuf::clone);
            return Err(Error::Invalid(format!("{}: the analysis mask has no voxels", what.display())));
        }
        Ok(Dataset { manifest, mask })
    }

    /// The masked maps `needs` asks for, read in parallel (resampled if its options say so),
    /// missing types derived from the stored ones at their stored precision when allowed.
    /// Validity and study selection happen when an estimator [prepares](Inputs::prepare) them.
    ///
    /// # Errors
    /// A map that cannot be read or is on another grid.
    pub fn inputs(&self, needs: &Needs) -> Result<Inputs> {
        let derive = needs.options.derive.applies(self.manifest.source);
        let studies: Vec<Result<StudyInputs>> =
            self.manifest.studies.par_iter().map(|s| self.study_inputs(s, needs, derive)).collect();
        let mut inputs = Inputs::from_dataset(self.mask.clone(), self.manifest.source);
        for study in studies {
            inputs.push(study?)?;
        }
        Ok(inputs)
    }

    /// One study's needed maps (all it can derive when a needed type is not stored).
    fn study_inputs(&self, study: &ibma_io::Study, needs: &Needs, derive: bool) -> Result<StudyInputs> {
        let derive = derive && !needs.maps.iter().all(|t| study.maps.contains_key(t));
        let mut stored = BTreeMap::new();
        for (&ty, path) in &study.maps {
            if derive || needs.maps.contains(&ty) {
                stored.insert(ty, self.mask.read_masked_resampled(path, needs.options.resample)?);
            }
        }
        let all = if derive { derive_maps(stored, study.sample_size) } else { stored };
        Ok(StudyInputs {
            id: study.id.clone(),
            study: study.study.clone(),
            sample_size: study.sample_size,
            covariates: study.covariates.clone(),
            maps: all
                .into_iter()
                .filter(|(t, _)| needs.maps.contains(t))
                .map(|(t, m)| (t, m.iter().map(|&x| x as f32).collect()))
                .collect(),
        })
    }
}

/// Without a mask: every voxel where some study has a usable value in some map (§6).
fn union_mask(manifest: &Manifest) -> Result<Mask> {
    let mut union: Option<ibma_io::Volume> = None;
    for study in &manifest.studies {
        for path in study.maps.values() {
            let vol = ibma_io::read_volume(path)?;
            match &mut union {
                None => {
                    let mut u = vol;
                    u.data.iter_mut().for_each(|x| *x = f64::from(u8::from(x.is_finite() && *x != 0.0)));
                    union = Some(u);
                }
                Some(u) => {
                    if !vol.grid.same_as(&u.grid) {
                        // Resampling needs a target grid, and guessing one (the first map's)
                        // would make the result depend on the study order: ask for a mask.
                        return Err(Error::Invalid(format!(
                            "{}: grid {} differs from the other maps' grid {}; without an analysis mask all maps must share one grid: give a mask (--mask, or \"mask\" in dataset.json) and --set resample=linear to resample onto it",
                            path.display(),
                            vol.grid.describe(),
                            u.grid.describe()
                        )));
                    }
                    for (a, b) in u.data.iter_mut().zip(&vol.data) {
                        if b.is_finite() && *b != 0.0 {
                            *a = 1.0;
                        }
                    }
                }
            }
        }
    }
    let vol = union.ok_or_else(|| Error::Invalid(format!("{}: no study lists any map", manifest.path.display())))?;
    Ok(Mask::from_volume(&vol))
}
