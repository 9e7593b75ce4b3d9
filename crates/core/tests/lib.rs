//! m2m-core's integration tests, compiled as one binary.

mod common;
mod differential;
mod dpop;
mod keys;
mod properties;
mod ps256;
mod refusals;
mod vectors;
