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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use m2m_core::{AssertionError, AssertionRules, KeySet, VerifyError, verify_assertion};
use m2m_guard::RemoteJwks;
use m2m_guard::fetch::Fetcher;
use m2m_guard::net::Cidr;

use super::audit::{AuthFailure, Endpoint};
use super::cache::CachedClient;
use super::client_auth::Refused;
use super::outbound::Outbound;
use crate::IssuerError;
use crate::store::{ClientKeys, Store};

/// `jwks_uri` key sets kept at most; past it the map starts over.
const MAX_REMOTE_SETS: usize = 10_000;

/// How a `private_key_jwt` client's `jwks_uri` is fetched: https only,
/// public addresses only (plus the networks allowed here), no redirects,
/// within a time and size limit, through `m2m_guard`'s SSRF-safe fetcher.
///
/// ```
/// use std::time::Duration;
/// use m2m_issuer::ClientJwksPolicy;
/// let policy = ClientJwksPolicy::new()
///     .timeout(Duration::from_secs(3))
///     .max_bytes(32 * 1024);
/// # let _ = policy;
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientJwksPolicy {
    allowed_networks: Vec<Cidr>,
    extra_root_pem: Option<Vec<u8>>,
    timeout: Duration,
    max_bytes: usize,
    cooldown: Duration,
}

impl fmt::Debug for ClientJwksPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientJwksPolicy")
            .field("allowed_networks", &self.allowed_networks)
            .field("extra_root_pem", &self.extra_root_pem.is_some())
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("cooldown", &self.cooldown)
            .finish()
    }
}

impl Default for ClientJwksPolicy {
    fn default() -> Self {
        ClientJwksPolicy {
            allowed_networks: Vec::new(),
            extra_root_pem: None,
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024,
            cooldown: Duration::from_secs(30),
        }
    }
}

impl ClientJwksPolicy {
    /// Public addresses only, 5 s, 64 KiB, a 30 s unknown-kid cooldown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also allow fetches from this network (a private JWKS host, or a
    /// loopback test server).
    pub fn allow_network(mut self, network: Cidr) -> Self {
        self.allowed_networks.push(network);
        self
    }

    /// Trust the root certificates of this PEM for `jwks_uri` fetches too.
    pub fn extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_pem = Some(pem.into());
        self
    }

    /// The longest a fetch may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest JWK Set read, in bytes.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// At most one re-fetch per this long for an unknown `kid`, per URL.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    fn fetcher(&self) -> Result<Fetcher, IssuerError> {
        Outbound {
            purpose: "client jwks_uri fetcher",
            timeout: self.timeout,
            max_bytes: self.max_bytes,
            allowed_networks: self.allowed_networks.clone(),
            extra_root_pem: self.extra_root_pem.as_deref(),
        }
        .fetcher()
    }
}

/// The key sets of `jwks_uri` clients, one per URL, shared by the clients
/// that name it.
struct RemoteSets {
    fetcher: Fetcher,
    cooldown: Duration,
    sets: DashMap<String, Arc<RemoteJwks>>,
}

impl fmt::Debug for RemoteSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSets")
            .field("sets", &self.sets.len())
            .finish_non_exhaustive()
    }
}

impl RemoteSets {
    fn get(&self, uri: &str) -> Option<Arc<RemoteJwks>> {
        if let Some(set) = self.sets.get(uri) {
            return Some(Arc::clone(&set));
        }
        let url = url::Url::parse(uri).ok()?;
        if self.sets.len() >= MAX_REMOTE_SETS {
            self.sets.clear();
        }
        let set = self
            .sets
            .entry(uri.to_owned())
            .or_insert_with(|| {
                Arc::new(RemoteJwks::with_cooldown(
                    url,
                    self.fetcher.clone(),
                    self.cooldown,
                ))
            })
            .clone();
        Some(set)
    }
}

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
    remote: RemoteSets,
}

impl PrivateKeyJwt {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        settings: AssertionSettings,
        policy: &ClientJwksPolicy,
    ) -> Result<Self, IssuerError> {
        Ok(PrivateKeyJwt {
            store,
            settings,
            remote: RemoteSets {
                fetcher: policy.fetcher()?,
                cooldown: policy.cooldown,
                sets: DashMap::new(),
            },
        })
    }

    /// Verifies the signature with the client's keys: inline, or from its
    /// `jwks_uri` (re-fetched once, within the cooldown, for an unknown kid).
    async fn verify(
        &self,
        keys: &ClientKeys,
        assertion: &str,
    ) -> Result<m2m_core::VerifiedAssertion, AuthFailure> {
        let max = m2m_core::DEFAULT_MAX_ASSERTION_LEN;
        let refused = |e: AssertionError| AuthFailure::Assertion(e.reason());
        match keys {
            ClientKeys::Jwks(set) => {
                let keys = KeySet::from_jwk_set(set)
                    .map_err(|_| AuthFailure::Assertion("client_keys_unusable"))?;
                verify_assertion(assertion, &keys, max).map_err(refused)
            }
            ClientKeys::JwksUri(uri) => {
                let unavailable = |error: m2m_guard::fetch::FetchError| {
                    tracing::warn!(%error, jwks_uri = %uri, "could not fetch a client's jwks_uri");
                    AuthFailure::Assertion("jwks_uri_unavailable")
                };
                let remote = self
                    .remote
                    .get(uri)
                    .ok_or(AuthFailure::Assertion("jwks_uri_unavailable"))?;
                let keys = remote.keys().await.map_err(unavailable)?;
                match verify_assertion(assertion, &keys, max) {
                    Err(AssertionError::Jws(VerifyError::UnknownKid(kid))) => {
                        let keys = remote.keys_for_kid(&kid).await.map_err(unavailable)?;
                        verify_assertion(assertion, &keys, max).map_err(refused)
                    }
                    other => other.map_err(refused),
                }
            }
        }
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
        let keys = client
            .client_keys
            .as_ref()
            .ok_or(AuthFailure::Assertion("client_has_no_keys"))?;
        let verified = self.verify(keys, assertion).await?;
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
