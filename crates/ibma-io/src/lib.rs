//! File side of ibma: NIfTI-1 volumes in and out ([`nifti_io`]), analysis masks ([`mask`]) and
//! dataset descriptions ([`dataset_file`]): the `ibma-dataset` manifest ([`manifest`]; version 2
//! lists several images per study, docs/dependence.md), NiMARE's dataset JSON ([`nimare_json`])
//! and NIMADS studysets ([`nimads`]).
//!
//! Knows no statistics (ARCHITECTURE.md): it turns files into `f64` arrays on a checked grid
//! and arrays back into files, and every error names the file.

pub mod atomic;
pub mod dataset_file;
pub mod error;
pub mod files;
pub mod gz;
pub mod manifest;
pub mod mask;
pub mod nifti_io;
pub mod nimads;
pub mod nimare_json;
pub mod out_folder;
pub mod path_serde;
pub mod resample;
pub mod summary;

pub use error::{Error, Result};
pub use gz::GzipLevel;
pub use manifest::{Covariate, Manifest, MapType, Source, Study};
pub use mask::{FileOrder, Mask};
pub use nifti_io::{
    gunzip, gunzip_at_most, read_volume, read_volume_bytes, write_map, write_map_4d, write_volumes, Grid, MapMeta,
    Sample, Volume, MAX_VOXELS,
};
pub use resample::Interpolation;
