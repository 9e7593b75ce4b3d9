//! End-to-end tests of the `m2m` binary: real processes, real SQLite files,
//! real PostgreSQL, real HTTP on 127.0.0.1.

mod harness;

mod cli;
mod client_metadata;
mod console;
mod dpop;
mod durability;
mod env;
mod federation;
mod grants;
mod libraries;
mod limits;
mod oidc_issuer;
mod openapi;
mod registration;
mod replicas;
mod revocation;
mod startup;
mod synopsis;
mod token_exchange;
