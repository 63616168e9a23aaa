//! `crate::rng::Rng` for `mfx.rs`, which still imports it from here: the test kit's generator
//! ([`ibma_testkit::Rng`], splitmix64), as everywhere else in xtask and the tests.

pub(crate) use ibma_testkit::Rng;
