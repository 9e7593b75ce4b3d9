//! End-to-end tests across the crates: an issuer (in process, and as the `m2m`
//! binary), an axum API guarded by m2m-guard that fetches the issuer's JWKS
//! over HTTP, and machine clients using m2m-client. Real HTTP on 127.0.0.1.

mod world;

mod binary;
mod example;
mod in_process;
mod restore;
mod revocation;
mod rotation;
