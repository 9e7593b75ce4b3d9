//! [`PrivateKeyJwt`]: `private_key_jwt` client authentication (RFC 7523
//! §2.2, OpenID Connect Core §9), one of the methods of
//! [`ClientAuth`](super::client_auth::ClientAuth).
//!
//! The client's keys are its inline `jwks`, or its `jwks_uri` fetched
//! SSRF-safely and cached by the guard's remote-JWKS machinery (one source
//! per URL, shared by the clients that name it). The assertion must be
//! signed by one of them (asymmetric only, the algorithm the key's, the RFC
//! 8725 refusals of `m2m_core::verify_assertion`); `iss` = `sub` = the
//! client id; `aud` names the issuer identifier, the token endpoint URL, or
//! the URL of the endpoint it is sent to (introspection, revocation); `exp`
//! at most [`AssertionSettings::max_lifetime`] ahead; `nbf`/`iat` within
//! the leeway; a `jti`, accepted once until `exp` + leeway through
//! [`Store::claim_assertion_id`] (so across replicas). The `jti` is claimed
//! last, once everything else holds, so a refused assertion burns nothing.

use std::sync::Arc;

use m2m_core::{AssertionRules, KeySet, verify_assertion};

use super::audit::{AuthFailure, Endpoint};
use super::cache::CachedClient;
use super::client_auth::Refused;
use crate::store::{ClientKeys, Store};

/// How client assertions are judged: where this issuer is, the clock
/// leeway, and how far ahead an assertion's `exp` may lie.
#[derive(Debug, Clone)]
pub(crate) struct AssertionSettings {
    /// The issuer identifier.
    pub(crate) issuer_url: String,
    /// Clock leeway, in seconds.
    pub(crate) leeway: u64,
    /// The longest an assertion may live from now, in seconds.
    pub(crate) max_lifetime: u64,
}

impl AssertionSettings {
    /// The audiences an assertion sent to `endpoint` may name.
    pub(crate) fn audiences(&self, endpoint: Endpoint) -> [String; 3] {
        let base = &self.issuer_url;
        let here = match endpoint {
            Endpoint::Token => "token",
            Endpoint::Introspect => "introspect",
            Endpoint::Revoke => "revoke",
        };
        [
            base.clone(),
            format!("{base}/oauth/token"),
            format!("{base}/oauth/{here}"),
        ]
    }

    /// The rules for a `private_key_jwt` assertion of `client_id` at `endpoint`.
    pub(crate) fn client_rules(&self, client_id: &str, endpoint: Endpoint) -> AssertionRules {
        AssertionRules::new(self.audiences(endpoint))
            .issuer(client_id)
            .subject(client_id)
            .leeway(self.leeway)
            .max_lifetime(self.max_lifetime)
    }
}

/// `private_key_jwt`: the check of an assertion against a client's keys.
#[derive(Debug)]
pub(crate) struct PrivateKeyJwt {
    store: Arc<dyn Store>,
    settings: AssertionSettings,
}

impl PrivateKeyJwt {
    pub(crate) fn new(store: Arc<dyn Store>, settings: AssertionSettings) -> Self {
        PrivateKeyJwt { store, settings }
    }

    /// Checks `assertion` for the `private_key_jwt` client `entry` at
    /// `endpoint`.
    pub(crate) async fn check(
        &self,
        entry: &CachedClient,
        assertion: &str,
        endpoint: Endpoint,
        now: u64,
    ) -> Result<(), Refused> {
        let client = &entry.client;
        let keys = match &client.client_keys {
            Some(ClientKeys::Jwks(set)) => KeySet::from_jwk_set(set)
                .map_err(|_| AuthFailure::Assertion("client_keys_unusable"))?,
            Some(ClientKeys::JwksUri(_)) => {
                return Err(AuthFailure::Assertion("jwks_uri_unavailable").into());
            }
            None => return Err(AuthFailure::Assertion("client_has_no_keys").into()),
        };
        let verified = verify_assertion(assertion, &keys, m2m_core::DEFAULT_MAX_ASSERTION_LEN)
            .map_err(|e| AuthFailure::Assertion(e.reason()))?;
        let claims = verified.claims;
        self.settings
            .client_rules(client.client_id.as_str(), endpoint)
            .check(&claims, now)
            .map_err(|e| AuthFailure::Assertion(e.reason()))?;
        if !client.enabled {
            return Err(AuthFailure::DisabledClient.into());
        }
        let (Some(jti), Some(until)) = (
            claims.jti.as_deref(),
            claims.replay_until(self.settings.leeway),
        ) else {
            // `check` required both.
            return Err(AuthFailure::Assertion("missing_jti").into());
        };
        let first = self
            .store
            .claim_assertion_id(client.client_id.as_str(), jti, until, now)
            .await
            .map_err(Refused::internal)?;
        if !first {
            return Err(AuthFailure::Assertion("replayed_jti").into());
        }
        Ok(())
    }
}
