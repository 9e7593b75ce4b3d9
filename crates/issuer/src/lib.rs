//! m2m-issuer: the m2m-auth authorization server as an axum Router.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod store;
