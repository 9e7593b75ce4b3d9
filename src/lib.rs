//! m2m-auth: machine-to-machine authentication for Rust.
//!
//! This facade re-exports the workspace crates so that one dependency is enough:
//!
//! - [`core`]: claims, scopes, client kinds, signing keys, JWKS and JWS sign/verify.
//! - `issuer` (feature `issuer`): the authorization server as an axum Router.
//! - `guard` (feature `guard`): the tower Layer and axum extractor that verify
//!   Bearer tokens and check each route's scopes (`m2m-guard`).
//! - `client` (feature `client`): access tokens for machine clients (`m2m-client`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use m2m_core as core;

/// Access tokens for machine clients: cached, refreshed before expiry (`m2m-client`).
#[cfg(feature = "client")]
pub use m2m_client as client;
/// The tower Layer and axum extractor that verify Bearer tokens and check
/// each route's scopes (`m2m-guard`).
#[cfg(feature = "guard")]
pub use m2m_guard as guard;
/// The authorization server as an axum Router (`m2m-issuer`).
#[cfg(feature = "issuer")]
pub use m2m_issuer as issuer;
