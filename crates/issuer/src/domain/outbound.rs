//! The one way the issuer builds a fetcher for what it reads from other
//! hosts (Client ID Metadata Documents, `private_key_jwt` clients'
//! `jwks_uri`, federated issuers' discovery and JWKS): https only, public
//! addresses only but for the networks the operator allows, bounded in
//! time and size, optionally trusting extra roots.

use std::time::Duration;

use m2m_guard::fetch::Fetcher;
use m2m_guard::net::{AddressPolicy, Cidr};

use crate::IssuerError;

/// What one kind of outbound fetch may do.
pub(crate) struct Outbound<'a> {
    /// Named in configuration errors, e.g. `"federation"`.
    pub(crate) purpose: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: usize,
    pub(crate) allowed_networks: Vec<Cidr>,
    pub(crate) extra_root_pem: Option<&'a [u8]>,
}

impl Outbound<'_> {
    /// The fetcher, or a configuration error naming the purpose.
    pub(crate) fn fetcher(self) -> Result<Fetcher, IssuerError> {
        let config = |why: String| IssuerError::Config(format!("{}: {why}", self.purpose));
        let mut builder = Fetcher::builder()
            .timeout(self.timeout)
            .max_bytes(self.max_bytes)
            .https_only(true)
            .address_policy(AddressPolicy::public_only().allow(self.allowed_networks));
        if let Some(pem) = self.extra_root_pem {
            builder = builder
                .extra_root_pem(pem)
                .map_err(|e| config(e.to_string()))?;
        }
        builder.build().map_err(|e| config(e.to_string()))
    }
}
