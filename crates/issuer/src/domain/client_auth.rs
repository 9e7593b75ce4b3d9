//! [`ClientAuth`]: how a client proves who it is at the OAuth endpoints
//! (token, introspection, revocation), in one place.
//!
//! The lookup (through the short-lived cache), then a constant-time check
//! against every stored secret (or against a dummy hash for an unknown
//! client, so timing does not tell), then the secret's expiry and the
//! client's `enabled`. Only then the throttle, and only for a failure: a
//! valid credential is answered normally whatever others sent in its name
//! or from its address. A failure is [`AuthError::InvalidClient`], counted
//! by the throttle and audited with its real reason, or, past the limits,
//! [`AuthError::Throttled`], neither counted nor audited (a flood of them
//! writes nothing). A success records the secret's `last_used_at`, at most
//! once per [`LAST_USED_GRANULARITY_SECS`] per secret on this node, off the
//! request path, whatever the endpoint and grant.
//!
//! A public client (`token_endpoint_auth_method: none`) authenticates with
//! its `client_id` alone, at the token and revocation endpoints (RFC 6749
//! §2.1, RFC 7009 §2.1), never at introspection. A public client that sends
//! a secret, and a confidential client that sends none, fail as
//! `invalid_client` like any other failure: a client uses the one method it
//! is registered with (RFC 6749 §2.3).

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use m2m_core::{ClientId, ClientSecret, SecretHash, SecretHasher};

use super::audit::{AuditEvent, AuditSink, AuthFailure, Endpoint};
use super::cache::{CachedClient, ClientCache};
use super::error::AuthError;
use super::throttle::Throttle;
use crate::store::{SecretRecord, Store};

/// How often `last_used_at` is written per secret at most, in seconds.
pub const LAST_USED_GRANULARITY_SECS: u64 = 60;

/// Secrets whose last write this node remembers at most; past it, it starts over.
const MAX_TOUCHED: usize = 100_000;

/// A client's claimed identity and secret (none: a public client, or a
/// confidential one that forgot it).
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) secret: Option<ClientSecret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// An authenticated client.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) entry: CachedClient,
}

#[derive(Debug)]
pub(crate) struct ClientAuth {
    store: Arc<dyn Store>,
    cache: Arc<ClientCache>,
    hasher: Arc<SecretHasher>,
    /// Checked against when the client is unknown, so timing does not tell.
    dummy_hash: SecretHash,
    throttle: Throttle,
    audit: Arc<AuditSink>,
    /// secret id → when this node last wrote its `last_used_at`.
    last_touch: DashMap<String, u64>,
}

impl ClientAuth {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cache: Arc<ClientCache>,
        hasher: Arc<SecretHasher>,
        throttle: Throttle,
        audit: Arc<AuditSink>,
    ) -> Self {
        let dummy_hash = hasher.hash("m2ms_dummy-secret-for-unknown-clients");
        ClientAuth {
            store,
            cache,
            hasher,
            dummy_hash,
            throttle,
            audit,
            last_touch: DashMap::new(),
        }
    }

    /// Authenticates `credentials` from `source` at `endpoint`.
    pub(crate) async fn authenticate(
        &self,
        credentials: &Credentials,
        source: Option<IpAddr>,
        endpoint: Endpoint,
        now: u64,
    ) -> Result<Authenticated, AuthError> {
        let client_id = ClientId::new(credentials.client_id.as_str());
        let found = self.cache.lookup(&*self.store, &client_id).await?;
        let outcome = match (&found, &credentials.secret) {
            (None, secret) => {
                if let Some(secret) = secret {
                    let _ = self.hasher.verify(secret.expose(), &self.dummy_hash);
                }
                Err(AuthFailure::UnknownClient)
            }
            (Some(entry), secret) if entry.client.token_endpoint_auth_method.is_public() => {
                check_public(entry, secret.is_some(), endpoint)
            }
            (Some(_), None) => Err(AuthFailure::MissingSecret),
            (Some(entry), Some(secret)) => self.check_secret(entry, secret, now).map(Some),
        };
        match (outcome, found) {
            (Ok(secret_id), Some(entry)) => {
                if let Some(secret_id) = secret_id {
                    self.touch(&entry.client.client_id, &secret_id, now);
                }
                Ok(Authenticated { entry })
            }
            (outcome, found) => {
                let reason = outcome.err().unwrap_or(AuthFailure::UnknownClient);
                if let Some(retry_after) = self.throttle.failed(&credentials.client_id, source, now)
                {
                    return Err(AuthError::Throttled { retry_after });
                }
                self.audit.record(
                    now,
                    AuditEvent::AuthFailed {
                        client_id: found.map(|e| e.client.client_id.clone()),
                        reason,
                        endpoint,
                        source,
                    },
                );
                Err(AuthError::InvalidClient)
            }
        }
    }

    /// The id of the secret that matches, checked against every stored
    /// secret in constant time per secret.
    fn check_secret(
        &self,
        entry: &CachedClient,
        secret: &ClientSecret,
        now: u64,
    ) -> Result<String, AuthFailure> {
        let mut matched: Option<&SecretRecord> = None;
        for record in entry.secrets.iter() {
            if self.hasher.verify(secret.expose(), &record.hash) && matched.is_none() {
                matched = Some(record);
            }
        }
        match matched {
            None => Err(AuthFailure::BadSecret),
            Some(record) if !record.is_live(now) => Err(AuthFailure::ExpiredSecret),
            Some(_) if !entry.client.enabled => Err(AuthFailure::DisabledClient),
            Some(record) => Ok(record.secret_id.clone()),
        }
    }

    /// Records that a secret authenticated a request, at most once per
    /// [`LAST_USED_GRANULARITY_SECS`] per secret on this node, off the request path.
    fn touch(&self, client_id: &ClientId, secret_id: &str, now: u64) {
        let due = self
            .last_touch
            .get(secret_id)
            .is_none_or(|last| now.saturating_sub(*last) >= LAST_USED_GRANULARITY_SECS);
        if !due {
            return;
        }
        if self.last_touch.len() > MAX_TOUCHED {
            self.last_touch.clear();
        }
        self.last_touch.insert(secret_id.to_owned(), now);
        let store = Arc::clone(&self.store);
        let client_id = client_id.clone();
        let secret_id = secret_id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = store.touch_secret(&client_id, &secret_id, now).await {
                tracing::warn!(%error, "could not record a secret's last use");
            }
        });
    }
}

/// A public client's check: no secret sent, an endpoint where a client id
/// alone may act, and the client enabled. `Ok(None)`: no secret to touch.
fn check_public(
    entry: &CachedClient,
    sent_secret: bool,
    endpoint: Endpoint,
) -> Result<Option<String>, AuthFailure> {
    if sent_secret {
        return Err(AuthFailure::SecretForPublicClient);
    }
    if endpoint == Endpoint::Introspect {
        return Err(AuthFailure::PublicClientIntrospects);
    }
    if !entry.client.enabled {
        return Err(AuthFailure::DisabledClient);
    }
    Ok(None)
}
