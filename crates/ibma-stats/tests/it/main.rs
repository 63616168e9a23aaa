//! Integration tests of ibma-stats (one binary; see Cargo.toml `[[test]] name = "it"`).

mod cluster;
mod permute;
mod tails;
