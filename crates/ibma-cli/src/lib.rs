//! The `ibma` command line as a library: each command is a request type and a function, so the
//! binary (`main.rs`), the tests and `cargo xtask` run exactly the same code. This crate owns
//! everything a terminal needs (argument text, progress bars, output folders, process
//! statistics); the numbers come from the `ibma` library.

pub mod demo;
pub mod jackknife;
pub mod merge;
pub mod process;
pub mod progress;
pub mod run;
