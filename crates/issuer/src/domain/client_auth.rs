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
//! writes nothing). A success records the secret's `last_used_at` through
//! [`SecretUses`] (at most once a minute per secret on this node, in
//! batches, off the request path), whatever the endpoint and grant.
//!
//! A public client (`token_endpoint_auth_method: none`) authenticates with
//! its `client_id` alone, at the token and revocation endpoints (RFC 6749
//! §2.1, RFC 7009 §2.1), never at introspection. A public client that sends
//! a secret, and a confidential client that sends none, fail as
//! `invalid_client` like any other failure: a client uses the one method it
//! is registered with (RFC 6749 §2.3).
//!
//! A JWT client assertion (RFC 7521 §4.2: `client_assertion_type` and
//! `client_assertion`) is read, unverified and bounded, only to choose how
//! to verify it ([`AssertionKind`]): a `private_key_jwt` client whose id is
//! both `iss` and `sub` goes to [`PrivateKeyJwt`]; anything else is a
//! federated credential (an external workload token naming the client by
//! the form's `client_id`), judged by the federation hook
//! ([`ClientAuth::check_federated`]). Either way a failure is the same
//! `invalid_client`, throttled and audited as a bad secret is.

use std::net::IpAddr;
use std::sync::Arc;

use m2m_core::dangerous::{UnverifiedAssertion, peek_assertion};
use m2m_core::{ClientId, ClientSecret, SecretHash, SecretHasher};

use super::audit::{AuditEvent, AuditSink, AuthFailure, Endpoint};
use super::cache::{CachedClient, ClientCache};
use super::error::{AuthError, GrantError};
use super::federation::Federation;
use super::private_key_jwt::PrivateKeyJwt;
use super::secret_use::SecretUses;
use super::throttle::Throttle;
use crate::store::{SecretRecord, Store, TokenEndpointAuthMethod};

/// How a client says who it is, as the request carried it.
pub(crate) enum Credentials {
    /// A claimed identity and secret (none: a public client, or a
    /// confidential one that forgot it).
    Secret {
        client_id: String,
        secret: Option<ClientSecret>,
    },
    /// A JWT client assertion (RFC 7521 §4.2), bounded in length, with the
    /// form's `client_id` if it had one.
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    /// No client authentication: the JWT-bearer grant's `assertion`
    /// (RFC 7523 §2.1) is the only credential, with the form's `client_id`
    /// if it had one. Only the token endpoint accepts it, for that grant.
    BearerGrant {
        client_id: Option<String>,
        assertion: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Secret { client_id, .. } => f
                .debug_struct("Credentials::Secret")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credentials::Assertion { client_id, .. } => f
                .debug_struct("Credentials::Assertion")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credentials::BearerGrant { client_id, .. } => f
                .debug_struct("Credentials::BearerGrant")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// Why an assertion was not accepted: the client's failure (throttled,
/// audited with its reason, answered `invalid_client`), or ours.
#[derive(Debug)]
pub(crate) enum Refused {
    Failure(AuthFailure),
    Internal(AuthError),
}

impl Refused {
    pub(crate) fn internal(error: impl Into<AuthError>) -> Self {
        Refused::Internal(error.into())
    }
}

impl From<AuthFailure> for Refused {
    fn from(failure: AuthFailure) -> Self {
        Refused::Failure(failure)
    }
}

/// Which check an assertion goes to, chosen from its unverified claims and
/// the client it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssertionKind {
    /// The client is `private_key_jwt` and `iss` = `sub` = its id.
    PrivateKeyJwt,
    /// Anything else: an external token for a federated credential.
    Federated,
}

impl AssertionKind {
    fn of(entry: &CachedClient, peeked: &UnverifiedAssertion) -> Self {
        let client = &entry.client;
        let id = client.client_id.as_str();
        if client.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
            && peeked.claims.iss == id
            && peeked.claims.sub == id
        {
            AssertionKind::PrivateKeyJwt
        } else {
            AssertionKind::Federated
        }
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
    /// Secrets' `last_used_at`, written in batches off the request path.
    uses: SecretUses,
    private_key_jwt: PrivateKeyJwt,
    federation: Arc<Federation>,
}

impl ClientAuth {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cache: Arc<ClientCache>,
        hasher: Arc<SecretHasher>,
        throttle: Throttle,
        audit: Arc<AuditSink>,
        private_key_jwt: PrivateKeyJwt,
        federation: Arc<Federation>,
    ) -> Self {
        let dummy_hash = hasher.hash("m2ms_dummy-secret-for-unknown-clients");
        ClientAuth {
            private_key_jwt,
            store: Arc::clone(&store),
            cache,
            hasher,
            dummy_hash,
            throttle,
            audit,
            uses: SecretUses::start(Arc::clone(&store)),
            federation,
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
        let (client_id, secret) = match credentials {
            Credentials::Secret { client_id, secret } => (client_id, secret),
            Credentials::Assertion {
                client_id,
                assertion,
            } => {
                return self
                    .authenticate_assertion(client_id.as_deref(), assertion, source, endpoint, now)
                    .await;
            }
            // Not client authentication: the token endpoint sends the
            // JWT-bearer grant to `authenticate_bearer_grant` instead.
            Credentials::BearerGrant { client_id, .. } => {
                let claimed = client_id.as_deref().unwrap_or_default();
                let reason = AuthFailure::Assertion("bearer_grant_is_not_client_auth");
                return Err(self
                    .failed(claimed, None, reason, source, endpoint, now)
                    .await);
            }
        };
        let found = self
            .cache
            .lookup(&*self.store, &ClientId::new(client_id.as_str()))
            .await?;
        let outcome = match (&found, secret) {
            (None, secret) => {
                if let Some(secret) = secret {
                    let _ = self.hasher.verify(secret.expose(), &self.dummy_hash);
                }
                Err(AuthFailure::UnknownClient)
            }
            (Some(entry), secret) if entry.client.token_endpoint_auth_method.is_public() => {
                check_public(entry, secret.is_some(), endpoint)
            }
            (Some(entry), _)
                if entry.client.token_endpoint_auth_method
                    == TokenEndpointAuthMethod::PrivateKeyJwt =>
            {
                Err(AuthFailure::SecretForKeyClient)
            }
            (Some(_), None) => Err(AuthFailure::MissingSecret),
            (Some(entry), Some(secret)) => self.check_secret(entry, secret, now).map(Some),
        };
        match (outcome, found) {
            (Ok(secret_id), Some(entry)) => {
                if let Some(secret_id) = secret_id {
                    self.uses.record(&entry.client.client_id, &secret_id, now);
                }
                Ok(Authenticated { entry })
            }
            (outcome, found) => {
                let reason = outcome.err().unwrap_or(AuthFailure::UnknownClient);
                Err(self
                    .failed(client_id, found.as_ref(), reason, source, endpoint, now)
                    .await)
            }
        }
    }

    /// A failure: throttled past the limits (neither counted nor audited),
    /// else counted, audited with its real reason, and `invalid_client`.
    async fn failed(
        &self,
        claimed_id: &str,
        found: Option<&CachedClient>,
        reason: AuthFailure,
        source: Option<IpAddr>,
        endpoint: Endpoint,
        now: u64,
    ) -> AuthError {
        if let Some(retry_after) = self.throttle.failed_shared(claimed_id, source, now).await {
            return AuthError::Throttled { retry_after };
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
        AuthError::InvalidClient
    }

    /// A client assertion: read unverified (bounded) to find the client and
    /// the check it goes to, then that check.
    async fn authenticate_assertion(
        &self,
        form_client_id: Option<&str>,
        assertion: &str,
        source: Option<IpAddr>,
        endpoint: Endpoint,
        now: u64,
    ) -> Result<Authenticated, AuthError> {
        let peeked = match peek_assertion(assertion, m2m_core::DEFAULT_MAX_ASSERTION_LEN) {
            Ok(peeked) => peeked,
            Err(e) => {
                let claimed = form_client_id.unwrap_or_default();
                let reason = AuthFailure::Assertion(e.reason());
                return Err(self
                    .failed(claimed, None, reason, source, endpoint, now)
                    .await);
            }
        };
        // RFC 7523 §3: for client authentication `sub` is the client id; a
        // `client_id` in the form must agree with it (RFC 7521 §4.2), unless
        // the assertion is a federated token, which names the client only there.
        let claimed = form_client_id.unwrap_or(peeked.claims.sub.as_str());
        let found = if m2m_core::validate_id(claimed).is_ok() {
            self.cache
                .lookup(&*self.store, &ClientId::new(claimed))
                .await?
        } else {
            None
        };
        let outcome = match &found {
            None => Err(Refused::Failure(AuthFailure::UnknownClient)),
            Some(entry) => match AssertionKind::of(entry, &peeked) {
                AssertionKind::PrivateKeyJwt => {
                    self.private_key_jwt
                        .check(entry, assertion, endpoint, now)
                        .await
                }
                AssertionKind::Federated => {
                    self.check_federated(entry, &peeked, assertion, endpoint, now)
                        .await
                }
            },
        };
        match (outcome, found) {
            (Ok(()), Some(entry)) => Ok(Authenticated { entry }),
            (Err(Refused::Internal(error)), _) => Err(error),
            (outcome, found) => {
                let reason = match outcome {
                    Err(Refused::Failure(reason)) => reason,
                    _ => AuthFailure::UnknownClient,
                };
                Err(self
                    .failed(claimed, found.as_ref(), reason, source, endpoint, now)
                    .await)
            }
        }
    }

    /// An assertion that is not the `private_key_jwt` of the client it
    /// names: an external workload token (Kubernetes, GitHub Actions, any
    /// OIDC issuer) for a client with federated credentials, judged by
    /// [`Federation`]: the client's trust entries for its `iss`, the
    /// issuer's keys, the signature and time rules, audience, subject and
    /// claim conditions; then the client's `enabled`; then its `jti`, if it
    /// has one, claimed once across replicas (namespace: the external issuer).
    async fn check_federated(
        &self,
        entry: &CachedClient,
        peeked: &UnverifiedAssertion,
        assertion: &str,
        _endpoint: Endpoint,
        now: u64,
    ) -> Result<(), Refused> {
        let client = &entry.client;
        let entries = self
            .federation
            .entries_for(&client.client_id, &peeked.claims.iss)
            .await
            .map_err(Refused::internal)?;
        if entries.is_empty() {
            return Err(AuthFailure::Assertion("no_federated_credential").into());
        }
        let (_, claims) = self
            .federation
            .verify(&entries, assertion, peeked.kid.as_deref(), now)
            .await
            .map_err(AuthFailure::Assertion)?;
        if !client.enabled {
            return Err(AuthFailure::DisabledClient.into());
        }
        if !self
            .federation
            .claim_jti(&claims, now)
            .await
            .map_err(Refused::internal)?
        {
            return Err(AuthFailure::Assertion("replayed_jti").into());
        }
        Ok(())
    }

    /// The RFC 7523 §2.1 JWT-bearer grant without client authentication
    /// (the MCP workload-identity extension): the external token names the
    /// client through the form's `client_id`, or, without one, through the
    /// one client whose trust entry it matches. A failure is throttled and
    /// audited like a failed authentication; it answers `invalid_grant`
    /// (bad, expired, replayed or untrusted token), `unauthorized_client`
    /// (the client has no federated credential, or is disabled), or
    /// `invalid_request` (several clients match and no `client_id` says which).
    pub(crate) async fn authenticate_bearer_grant(
        &self,
        form_client_id: Option<&str>,
        assertion: &str,
        source: Option<IpAddr>,
        now: u64,
    ) -> Result<Authenticated, GrantError> {
        let endpoint = Endpoint::Token;
        let claimed = form_client_id.unwrap_or_default();
        let fail = async |reason: AuthFailure, found: Option<&CachedClient>, answer: GrantError| {
            match self
                .failed(claimed, found, reason, source, endpoint, now)
                .await
            {
                AuthError::Throttled { retry_after } => {
                    GrantError::Auth(AuthError::Throttled { retry_after })
                }
                _ => answer,
            }
        };
        let invalid = |why: &'static str| GrantError::InvalidGrant(why);
        let peeked = match peek_assertion(assertion, m2m_core::DEFAULT_MAX_ASSERTION_LEN) {
            Ok(peeked) => peeked,
            Err(e) => {
                return Err(fail(
                    AuthFailure::Assertion(e.reason()),
                    None,
                    invalid("the assertion is not a JWT"),
                )
                .await);
            }
        };
        let iss = peeked.claims.iss.as_str();
        let entries = match form_client_id {
            Some(id) => self.federation.entries_for(&ClientId::new(id), iss).await?,
            None => self.federation.entries_of_issuer(iss).await?,
        };
        if entries.is_empty() {
            // A named client that trusts no issuer at all may not use the grant.
            if let Some(id) = form_client_id {
                let found = self.cache.lookup(&*self.store, &ClientId::new(id)).await?;
                if let Some(entry) = &found
                    && self
                        .store
                        .list_federated_credentials(&entry.client.client_id)
                        .await?
                        .is_empty()
                {
                    return Err(fail(
                        AuthFailure::Assertion("no_federated_credential"),
                        found.as_ref(),
                        GrantError::UnauthorizedClient(
                            "this client has no federated credential for the jwt-bearer grant",
                        ),
                    )
                    .await);
                }
            }
            return Err(fail(
                AuthFailure::Assertion("untrusted_issuer"),
                None,
                invalid("the assertion's issuer is not trusted for this client"),
            )
            .await);
        }
        let (matched, claims) = match self
            .federation
            .verify(&entries, assertion, peeked.kid.as_deref(), now)
            .await
        {
            Ok(verified) => verified,
            Err(reason) => {
                return Err(fail(
                    AuthFailure::Assertion(reason),
                    None,
                    invalid("the assertion is invalid, expired or not trusted"),
                )
                .await);
            }
        };
        let mut clients: Vec<&ClientId> = matched.iter().map(|e| &e.client_id).collect();
        clients.dedup();
        let [client_id] = clients.as_slice() else {
            return Err(GrantError::InvalidRequest(
                "the assertion matches federated credentials of several clients: \
                 send client_id"
                    .into(),
            ));
        };
        let found = self.cache.lookup(&*self.store, client_id).await?;
        let Some(entry) = found else {
            return Err(fail(
                AuthFailure::UnknownClient,
                None,
                invalid("the assertion is invalid, expired or not trusted"),
            )
            .await);
        };
        if !entry.client.enabled {
            return Err(fail(
                AuthFailure::DisabledClient,
                Some(&entry),
                GrantError::UnauthorizedClient("this client is disabled"),
            )
            .await);
        }
        if !self.federation.claim_jti(&claims, now).await? {
            return Err(fail(
                AuthFailure::Assertion("replayed_jti"),
                Some(&entry),
                invalid("the assertion was used before"),
            )
            .await);
        }
        Ok(Authenticated { entry })
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
