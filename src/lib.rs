//! m2m-auth: machine-to-machine authentication for Rust.
//!
//! This facade re-exports the workspace crates so that one dependency is enough:
//!
//! - [`core`]: claims, scopes, client kinds, signing keys, JWKS and JWS sign/verify.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use m2m_core as core;
