//! Integration tests of ibma-combine.

// The reader of the shared reference format lives with ibma-glm's tests.
#[path = "../../../ibma-glm/tests/it/dependence_data.rs"]
mod dependence_data;

mod dependence;
