//! ibma: image-based meta-analysis of neuroimaging statistical maps.
//!
//! Researchers bring group-level maps from many studies (z, t, contrast + standard error or
//! variance, sample sizes); ibma fits one voxelwise meta-analytic map with NiMARE 0.22.1's
//! numbers. This crate is the facade: [`Dataset`] reads an `ibma-dataset`, an [`Estimator`]
//! fits it into a [`MetaResult`]; the `ibma` command line (crate `ibma-cli`) is built on it.
//! Coming from NiMARE? [`docs::for_nimare_users`] maps its calls to ibma's; every estimator in
//! [`estimators`] has a runnable example.
//!
//! ```
//! use ibma::{Dataset, Estimator, estimators::Stouffers};
//! # let dir = tempfile::tempdir().unwrap();
//! # ibma::docs::example_dataset(&dir.path().join("data"))?;
//! # let (data, out) = (dir.path().join("data"), dir.path().join("out"));
//! let dataset = Dataset::load(&data)?;                   // NiMARE: Dataset("dset.json")
//! let result = Stouffers::default().fit(&dataset)?;      // NiMARE: Stouffers().fit(dset)
//! let written = result.save_maps(&out)?;                 // NiMARE: result.save_maps("out")
//! assert!(written.contains(&out.join("z.nii.gz")));
//! # Ok::<(), ibma::Error>(())
//! ```

pub mod blocks;
pub mod clusters;
pub mod dataset;
mod derive;
pub mod design;
pub mod docs;
pub mod error;
pub mod estimator;
pub mod estimators;
pub mod inference;
pub mod jackknife;
pub mod persist;
pub mod progress;
pub mod result;

pub use dataset::Dataset;
pub use error::{Error, Result};
pub use estimator::Estimator;
pub use ibma_glm as glm;
pub use ibma_io as io;
pub use ibma_stats as stats;
pub use ibma_stats::tol;
pub use result::{Corrector, MetaResult};
