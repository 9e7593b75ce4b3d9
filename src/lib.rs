//! m2m-auth: machine-to-machine authentication for Rust.
//!
//! This facade re-exports the workspace crates so that one dependency is enough:
//!
//! - [`core`]: claims, scopes, client kinds, signing keys, JWKS and JWS sign/verify.
//! - `guard` (feature `guard`): the tower Layer and axum extractor that verify
//!   Bearer tokens and check each route's scopes (`m2m-guard`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use m2m_core as core;

/// The tower Layer and axum extractor that verify Bearer tokens and check
/// each route's scopes (`m2m-guard`).
#[cfg(feature = "guard")]
pub use m2m_guard as guard;

/// Access tokens for machine clients: cached, refreshed before expiry (`m2m-client`).
#[cfg(feature = "client")]
pub use m2m_client as client;
