//! Numerical primitives of ibma: log-space normal, Student t, chi-square and F tails, the
//! t/p/z transforms of NiMARE 0.22.1 ([`transform`], [`pmaps`]), multiple-comparison
//! corrections (FDR, Bonferroni: [`correct`]), validity patterns ("bags", [`bags`]), the
//! sign-flip permutation engine with NiMARE's MT19937 flips ([`permute`], [`mt19937`]), cluster
//! labelling, smoothness, GRF and TFCE ([`cluster`]), dependence groups of images sharing
//! participants ([`groups`]), the intercept-only cluster-robust CR2 statistic ([`cr2`]) and the
//! null correlation between input maps ([`nullcorr`]), the shared plain types ([`StudyVoxels`],
//! [`TestMaps`]) and every numerical tolerance ([`tol`]).
//!
//! Never touches files or NIfTI (see ARCHITECTURE.md). Everything here works on `f64`
//! scalars or slices. Start with [`transform`] for the p/t/z maps and [`correct`] for FDR.

pub mod bags;
pub mod chi2;
pub mod cluster;
pub mod correct;
pub mod cr2;
pub mod fdist;
pub mod groups;
pub mod matrix;
pub mod mt19937;
pub mod normal;
pub mod nullcorr;
pub mod permute;
pub mod pmaps;
pub mod student_t;
pub mod tol;
pub mod transform;
pub mod ttest;

pub use matrix::{StudyVoxels, TestMaps};
pub use transform::Tail;
