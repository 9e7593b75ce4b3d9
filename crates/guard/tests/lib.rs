//! Integration tests of m2m-guard, as one binary.

mod common;

mod cache;
mod delegation;
mod dpop;
mod keys;
mod mcp;
mod plain;
mod policy;
mod responses;
mod revocation;
