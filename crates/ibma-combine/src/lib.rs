//! Combination tests of per-study z maps: Stouffer's and Fisher's, as NiMARE 0.22.1 /
//! PyMARE 0.0.13 compute them (`docs/estimators.md` §4), plus the seed era's
//! random-effects Stouffer (a one-sample t-test of the z maps, §13), and both tests with
//! dependence groups (several images per study: [`grouped`], `docs/dependence.md`).
//!
//! Works on [`ibma_stats::StudyVoxels`]; never touches files or NIfTI. Each voxel is tested
//! on the studies usable there (its "bag"), so liberal bags cost nothing beyond the voxels.

pub mod fisher;
pub mod grouped;
pub mod stouffer;

pub use fisher::{fishers, FisherMode};
pub use grouped::{combine_grouped, GroupedCombination};
pub use stouffer::{stouffers, Direction};
