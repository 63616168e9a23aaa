//! Integration tests of ibma-io: NIfTI reading, writing and masks on tiny files.

mod errors;
mod files;
mod gzip;
mod mask;
mod nimare;
mod out_folder;
mod raw;
mod read;
mod resample;
mod write;
