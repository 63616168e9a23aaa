//! Integration tests of ibma-stats (one binary; see Cargo.toml `[[test]] name = "it"`).

mod cluster;
mod dependence;
// The reader of the shared reference format lives with ibma-glm's tests; not every helper is
// used here.
#[allow(dead_code)]
#[path = "../../../ibma-glm/tests/it/dependence_data.rs"]
mod dependence_data;
mod permute;
mod tails;
