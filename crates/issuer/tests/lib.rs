//! Integration tests of m2m-issuer, compiled as one binary.

mod admin;
mod audit;
mod bound_user;
mod client_metadata;
mod common;
mod dpop;
mod federation;
mod feed_load;
mod form_props;
mod headers;
mod interop;
mod introspect_revoke;
mod key_list;
mod keys;
mod path_ids;
mod private_key_jwt;
mod public_clients;
mod quotas;
mod registration_endpoint;
mod revocation;
mod slow_store;
mod throttle;
mod token;
mod token_exchange;
mod user_clients;
