//! Integration tests of m2m-issuer, compiled as one binary.

mod admin;
mod common;
mod interop;
mod introspect_revoke;
mod keys;
mod token;
mod user_clients;
