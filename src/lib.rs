//! m2m-auth: machine-to-machine authentication for Rust.
//!
//! This facade re-exports the workspace crates so that one dependency is enough:
//!
//! - [`core`]: claims, scopes, client kinds, signing keys, JWKS and JWS sign/verify.
//! - `issuer` (feature `issuer`): the authorization server as an axum Router.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use m2m_core as core;

/// The authorization server as an axum Router (`m2m-issuer`).
#[cfg(feature = "issuer")]
pub use m2m_issuer as issuer;
