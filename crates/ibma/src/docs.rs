//! Guides that are documentation only.
//!
//! - [`for_nimare_users`]: NiMARE calls (the seed-era 0.0.x API and the 0.22.1 API) side by side
//!   with ibma's library calls and `ibma` commands, and where the numbers differ between NiMARE
//!   versions and why.

#[doc = include_str!("../../../docs/for-nimare-users.md")]
///
/// ## API items named above
///
/// [`Dataset::load`](crate::Dataset::load), [`Dataset::load_with`](crate::Dataset::load_with),
/// [`Estimator`](crate::Estimator) (`fit`, `fit_dataset`), the estimator types in
/// [`estimators`](crate::estimators), [`AnyEstimator::by_name`](crate::estimators::AnyEstimator::by_name),
/// [`params::set`](crate::params::set) (NiMARE's keyword names as text),
/// [`MetaResult`](crate::MetaResult) (`map`, `maps`, `correct`, `save_maps`),
/// [`Corrections`](crate::correct::Corrections) (with [`Method::Montecarlo`](crate::maps::Method::Montecarlo)
/// for NiMARE's `FWECorrector(method="montecarlo")`), [`Correction`](crate::stats::correct::Correction).
pub mod for_nimare_users {}
