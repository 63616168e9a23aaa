//! Regression and GLM meta-analysis estimators (FFX, MFX/FLAME1, RFX, WLS, DerSimonian-Laird,
//! Hedges, likelihood, PermutedOLS). They arrive with the regression-estimator issues; the
//! crate exists now so the layering (no files, no NIfTI) is checked from the start.
