//! Combination tests of per-study z maps: Stouffer's (and, with the combination issue,
//! Fisher's), as NiMARE 0.22.1 / PyMARE 0.0.13 compute them (`../shared/docs/estimators.md` §4).
//!
//! Works on [`ibma_stats::StudyVoxels`]; never touches files or NIfTI. Each voxel is tested
//! on the studies usable there (its "bag"), so liberal bags cost nothing beyond the voxels.

pub mod stouffer;

pub use stouffer::{stouffers, Direction};
