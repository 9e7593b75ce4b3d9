//! The OAuth endpoints (contract section 6), one module each.

pub(crate) mod authorize;
pub(crate) mod feed;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod metadata;
pub(crate) mod register;
pub(crate) mod revoke;
pub(crate) mod token;
