//! Integration tests of ibma-io: NIfTI reading, writing and masks on tiny files.

mod errors;
mod mask;
mod out_folder;
mod raw;
mod read;
mod resample;
mod write;
