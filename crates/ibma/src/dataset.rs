//! A dataset on disk (an `ibma-dataset` manifest, NiMARE's dataset JSON or a NIMADS studyset;
//! docs/dependence.md for several images per study) and the [`Inputs`] an estimator asks of it.

use crate::derive::derive_maps;
use crate::inputs::{Inputs, Needs, Prepared, StudyInputs};
use crate::{Error, Result};
use ibma_io::{FileOrder, Manifest, MapType, Mask};
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
        let order = self.mask.file_order();
        let studies: Vec<Result<StudyInputs>> =
            self.manifest.studies.par_iter().map(|s| self.study_inputs(s, needs, derive, &order)).collect();
        let mut inputs = Inputs::from_dataset(self.mask.clone(), self.manifest.source);
        for study in studies {
            inputs.push(study?)?;
        }
        Ok(inputs)
    }

    /// What [`Inputs::prepare`] makes of [`Dataset::inputs`], restricted to the mask voxels
    /// `voxels` (positions in mask order) and holding only those: each study's maps are read
    /// whole, one study per thread at a time, and cut to `voxels` once checked.
    ///
    /// # Errors
    /// As [`Dataset::inputs`] and [`Inputs::prepare`]; dependent images on part of the mask.
    pub fn prepare_voxels(&self, needs: &Needs, voxels: std::ops::Range<usize>) -> Result<Prepared> {
        self.prepare_keeping(needs, voxels, None)
    }

    /// [`Dataset::prepare_voxels`], giving each kept study's checked maps over the whole mask
    /// to `keep` (with the study's position in the manifest).
    pub(crate) fn prepare_keeping(
        &self,
        needs: &Needs,
        voxels: std::ops::Range<usize>,
        keep: Option<&crate::inputs::KeepStudy<'_>>,
    ) -> Result<Prepared> {
        let derive = needs.options.derive.applies(self.manifest.source);
        let order = self.mask.file_order();
        let read = |k: usize| self.study_inputs(&self.manifest.studies[k], needs, derive, &order);
        Inputs::prepare_voxels(
            &self.studies_without_maps(),
            &read,
            &self.mask,
            self.manifest.source,
            needs,
            voxels,
            keep,
        )
    }

    /// The image files a fit with `needs` reads, in order: the mask (or, without one, every
    /// map, whose union it is), then each study's maps as [`Dataset::inputs`] reads them.
    pub fn files_read(&self, needs: &Needs) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match &self.manifest.mask {
            Some(mask) => vec![mask.clone()],
            None => self.manifest.studies.iter().flat_map(|s| s.maps.values().cloned()).collect(),
        };
        let derive = needs.options.derive.applies(self.manifest.source);
        for study in &self.manifest.studies {
            files.extend(maps_read(study, needs, derive).map(|(_, path)| path.clone()));
        }
        files
    }

    /// The studies of the manifest (ids, groups, sample sizes, covariates) without their maps.
    pub(crate) fn studies_without_maps(&self) -> Vec<StudyInputs> {
        self.manifest
            .studies
            .iter()
            .map(|s| StudyInputs {
                id: s.id.clone(),
                study: s.study.clone(),
                sample_size: s.sample_size,
                covariates: s.covariates.clone(),
                maps: BTreeMap::new(),
            })
            .collect()
    }

    /// One study's needed maps (all it can derive when a needed type is not stored), read
    /// through `order`, the mask's file order.
    fn study_inputs(
        &self,
        study: &ibma_io::Study,
        needs: &Needs,
        derive: bool,
        order: &FileOrder<'_>,
    ) -> Result<StudyInputs> {
        let resample = needs.options.resample;
        let mut maps = BTreeMap::new();
        if derives(study, needs, derive) {
            // Derived maps are computed from the stored ones in float64, then kept in float32.
            let mut stored = BTreeMap::new();
            for (ty, path) in maps_read(study, needs, derive) {
                stored.insert(ty, order.read_as::<f64>(path, resample)?);
            }
            for (ty, m) in derive_maps(stored, study.sample_size) {
                if needs.maps.contains(&ty) {
                    maps.insert(ty, m.iter().map(|&x| x as f32).collect());
                }
            }
        } else {
            for (ty, path) in maps_read(study, needs, derive) {
                maps.insert(ty, order.read_as::<f32>(path, resample)?);
            }
        }
        Ok(StudyInputs {
            id: study.id.clone(),
            study: study.study.clone(),
            sample_size: study.sample_size,
            covariates: study.covariates.clone(),
            maps,
        })
    }
}

/// True if `study` lacks a map type `needs` asks for and, derivation being allowed, it is
/// derived from the study's stored maps.
fn derives(study: &ibma_io::Study, needs: &Needs, derive: bool) -> bool {
    derive && !needs.maps.iter().all(|t| study.maps.contains_key(t))
}

/// The stored maps of `study` a fit with `needs` reads: the types it needs, or every stored
/// map when it derives one.
fn maps_read<'a>(
    study: &'a ibma_io::Study,
    needs: &'a Needs,
    derive: bool,
) -> impl Iterator<Item = (MapType, &'a PathBuf)> + 'a {
    let all = derives(study, needs, derive);
    study.maps.iter().filter(move |(ty, _)| all || needs.maps.contains(ty)).map(|(&ty, path)| (ty, path))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::AnyEstimator;
    use crate::Estimator;

    /// The example dataset stores con and varcope: an estimator reads the types it needs, or
    /// all of them where it derives a type it needs (Stouffers' z), after the mask.
    #[test]
    fn files_read_are_the_mask_then_the_maps_each_study_reads() {
        let dir = tempfile::TempDir::new().unwrap();
        let dataset = Dataset::load(&ibma_testkit::example_dataset(dir.path()).unwrap()).unwrap();
        let names = |estimator: &str| -> Vec<String> {
            let needs = AnyEstimator::by_name(estimator).unwrap().needs();
            let files = dataset.files_read(&needs);
            files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        let first = &dataset.manifest.studies[0].id;
        let n = dataset.manifest.studies.len();
        for (estimator, per_study) in [
            ("dersimonian-laird", vec!["con", "varcope"]),
            ("permuted-ols", vec!["con"]),
            ("stouffers", vec!["con", "varcope"]),
        ] {
            let files = names(estimator);
            assert_eq!(files[0], "mask.nii.gz", "{estimator}");
            assert_eq!(files.len(), 1 + n * per_study.len(), "{estimator}: {files:?}");
            let want: Vec<String> = per_study.iter().map(|t| format!("{first}_{t}.nii.gz")).collect();
            assert_eq!(files[1..1 + per_study.len()], want[..], "{estimator}");
        }
    }
}
