//! Sign-flip permutation inference (`docs/estimators.md` §9), one concern per file:
//!
//! | file | holds |
//! |---|---|
//! | `flips` | [`FlipMatrix`] (NiMARE's MT19937 flips, the exact enumeration, group flips) and [`FlipStream`] |
//! | `max_stat` | the max statistic and the generic max-statistic null of any estimator ([`max_null_by`]) |
//! | `panels` | bags copied into voxel panels and the blocked one-sample t kernel |
//! | `lookup` | the lookup screen of the max-t null (sign masks, lookup groups, tables) |
//! | `max_t` | the max-statistic null of the unweighted one-sample t ([`max_t_null`], PermutedOLS) |
//! | `cr2` | the max-statistic null of the CR2-weighted one-sample t ([`max_cr2_null`]) |
//! | `fwe` | the FWE p, z and logp maps from a null ([`fwe_maps`], [`fwe_threshold`]) |
//! | `empirical` | the empirical voxelwise null ([`empirical_voxel_p`]) |
//!
//! Determinism (ARCHITECTURE.md, invariants): the flips are drawn up front, sequentially; work is
//! split into blocks of iterations (or voxels) whose results are written in index order, and every
//! value is computed by the same sequence of floating-point operations whatever the thread count.
//! Every t is summed over the bag's studies in ascending order from 0, as
//! [`crate::ttest::one_sample_t`] sums the flipped values, so the t values are bit-identical to
//! that function's.

mod cr2;
mod empirical;
mod flips;
mod fwe;
mod lookup;
mod max_stat;
mod max_t;
mod panels;

pub use cr2::{max_cr2_null, max_cr2_null_per_bag};
pub use empirical::{empirical_voxel_p, EmpiricalNull};
pub use flips::{FlipMatrix, FlipStream};
pub use fwe::{fwe_maps, fwe_p, fwe_threshold, FweMaps};
pub use max_stat::{max_null_by, max_null_by_init, max_statistic};
pub use max_t::max_t_null;
