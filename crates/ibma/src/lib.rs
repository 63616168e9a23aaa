//! ibma: image-based meta-analysis of neuroimaging statistical maps.
//!
//! Researchers bring group-level maps from many studies (z, t, contrast + standard error or
//! variance, sample sizes); ibma fits one voxelwise meta-analytic map with NiMARE 0.22.1's
//! numbers. This crate is the library: [`Inputs`] holds the studies' maps in memory (built
//! from arrays, or read by [`Dataset`]), an estimator of [`estimators`] fits them into a
//! [`MetaResult`] whose maps are named by [`maps::Map`], and [`correct`] adds
//! multiple-comparison corrections. It never prints and never parses a command line: the
//! `ibma` command (crate `ibma-cli`) and the report (`ibma-report`) are built on it.
//! Coming from NiMARE? [`docs::for_nimare_users`] maps its calls to ibma's.
//!
//! In memory, without a file:
//!
//! ```
//! use ibma::estimators::DerSimonianLaird;
//! use ibma::io::{Grid, Mask, MapType};
//! use ibma::{maps::Map, Estimator, Inputs, StudyInputs};
//! let identity = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
//! let mask = Mask { grid: Grid::from_affine([3, 1, 1], identity), indices: vec![0, 1, 2] };
//! let mut inputs = Inputs::new(mask);
//! for (k, con) in [[0.9, 0.2, -0.1], [1.1, 0.1, 0.2], [0.7, 0.4, 0.0], [1.3, 0.0, -0.3]].into_iter().enumerate() {
//!     let study = StudyInputs::new(format!("s{k}")).map(MapType::Con, con).map(MapType::Varcope, [0.1; 3]);
//!     inputs.push(study)?;
//! }
//! let result = DerSimonianLaird::default().fit(&inputs)?;
//! assert!(result.map(Map::Z).unwrap()[0] > 2.0); // est 1.0, Knapp–Hartung t on 3 dof
//! # Ok::<(), ibma::Error>(())
//! ```
//!
//! From a dataset on disk (NiMARE: `Stouffers().fit(Dataset("dset.json"))`):
//!
//! ```
//! use ibma::{estimators::Stouffers, Dataset, Estimator};
//! # let dir = tempfile::tempdir().unwrap();
//! # let data = ibma_testkit::example_dataset(&dir.path().join("data")).unwrap();
//! # let out = dir.path().join("out");
//! let dataset = Dataset::load(&data)?;
//! let result = Stouffers::default().fit_dataset(&dataset)?;
//! let written = result.save_maps(&out)?;                 // NiMARE: result.save_maps("out")
//! assert!(written.contains(&out.join("z.nii.gz")));
//! # Ok::<(), ibma::Error>(())
//! ```

mod blocks;
mod clusters;
pub mod correct;
pub mod dataset;
mod dependence;
mod derive;
pub mod design;
pub mod docs;
pub mod error;
pub mod estimators;
mod inference;
pub mod inputs;
pub mod jackknife;
pub mod maps;
pub mod options;
pub mod params;
pub mod persist;
pub mod progress;
pub mod result;
pub mod shard;
pub mod stage;

pub use dataset::Dataset;
pub use error::{Error, Result};
pub use estimators::Estimator;
pub use ibma_glm as glm;
pub use ibma_io as io;
pub use ibma_stats as stats;
pub use ibma_stats::tol;
pub use inputs::{Inputs, StudyInputs};
pub use result::MetaResult;
