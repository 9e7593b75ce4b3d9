//! [`Grants`]: user-level clients, from consent to refresh (RFC 6749 §4.1
//! and §6, RFC 7636, RFC 7009 for refresh tokens).
//!
//! - Authorization: the client and its redirect URI are checked first;
//!   until both are known good an error is shown as a page, never sent to a
//!   URI ([`AuthorizeError::Page`]); after that errors go back to the client
//!   ([`AuthorizeError::Redirect`]). PKCE S256 is required. The host's
//!   [`ConsentHandler`] decides (without one, every valid request is
//!   answered `access_denied`); the code is single use, lives 60 s, and is
//!   stored as its SHA-256 only.
//! - `resource` (RFC 8707, repeatable): each must be one of the client's
//!   allowed audiences (`invalid_target` otherwise, as a redirect). They are
//!   bound into the code and the grant: every token of the grant has them as
//!   `aud`, and a `resource` at the code exchange or a refresh may only pick
//!   among them. Without one, a token's `aud` is chosen as for client
//!   credentials (the `resource` of the token request, or all the client's
//!   audiences).
//! - A `client_id` that is an https URL, when Client ID Metadata Documents
//!   are on, is first registered or refreshed from its document
//!   (`domain::client_metadata`); a refusal is a page (`invalid_client`).
//! - Public clients (`token_endpoint_auth_method: none`) follow the same
//!   rules: PKCE is required of every client, and every refresh rotates.
//! - A client bound to a user (created with `user_id`) gets tokens for that
//!   user only: the handler is told the bound user, a consent for anyone
//!   else is `access_denied` with no code made, and the code exchange and
//!   refresh refuse a code or grant for another user (exact byte match;
//!   one rule, [`may_act_for`], asked in all three places).
//! - A code is exchanged once. Presenting it again answers `invalid_grant`
//!   and revokes the grant its first exchange created, however the two
//!   exchanges interleave: the reuse revokes the grant, creating it revoked
//!   if the first exchange has not stored it yet, and that exchange then
//!   fails because its grant exists ([`Store::create_grant`] conflicts).
//! - Refresh tokens are opaque (`m2mr_` + 256 random bits), stored as their
//!   SHA-256, and rotated on every use; a used one presented again revokes
//!   the whole grant. `scope` at refresh may only narrow.
//! - DPoP (RFC 9449 §5): a public client's refresh token issued with a proof
//!   is bound to the proof's key (`dpop_jkt`); refreshing it needs a proof by
//!   the same key, checked before anything else about the token (so a stolen
//!   one, without the key, cannot even trigger reuse detection).
//! - Revoking a refresh token (RFC 7009 §2.1) revokes its grant: the refresh
//!   family and the grant's access tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use m2m_core::{ClientId, ClientKind, ScopeSet, UserId};
use ring::digest;

use super::audit::{AuditEvent, AuditSink, GrantRevokeReason};
use super::cache::ClientCache;
use super::client_metadata::{ClientMetadataDocuments, is_document_client, is_document_id};
use super::dynamic_registration;
use super::error::{GrantError, Internal};
use super::minter::{Minted, Minter, Subject};
use super::registry::{GrantToRevoke, Registry};
use crate::consent::{ConsentDecision, ConsentHandler, ConsentRequest};
use crate::store::{
    AuthCodeRecord, ClientRecord, ConsumeCode, GrantRecord, RefreshTokenRecord, RotateRefresh,
    Store, StoreError,
};

/// Lifetime of an authorization code, in seconds.
pub(crate) const CODE_TTL_SECS: u64 = 60;
/// Lifetime of a refresh token, in seconds (30 days); each rotation starts a
/// new one.
pub(crate) const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;
/// Prefix of refresh tokens, so secret scanners can find leaked ones.
pub(crate) const REFRESH_PREFIX: &str = "m2mr_";
/// Prefix of authorization codes.
const CODE_PREFIX: &str = "m2mc_";
/// Longest code, verifier or refresh token read.
const MAX_OPAQUE_LEN: usize = 256;
/// Longest `state` echoed back.
const MAX_STATE_LEN: usize = 1024;

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// An authorization request's parameters (duplicates already refused) and
/// the browser's headers, for the consent handler.
#[derive(Debug)]
pub(crate) struct AuthorizeRequest {
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
}

impl AuthorizeRequest {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter (`resource` may repeat).
    fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where the browser goes next.
#[derive(Debug)]
pub(crate) enum Authorized {
    /// Back to the client with a code (and `state`).
    Code {
        redirect_uri: String,
        code: String,
        state: Option<String>,
    },
    /// To the host's login or consent page first.
    Login(String),
}

/// An authorization request failed.
#[derive(Debug)]
pub(crate) enum AuthorizeError {
    /// The client or redirect URI is not known good: shown as a page.
    Page(GrantError),
    /// Sent back to the client (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// The parameters of a code exchange (`grant_type=authorization_code`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeExchange<'a> {
    pub(crate) code: Option<&'a str>,
    pub(crate) redirect_uri: Option<&'a str>,
    pub(crate) verifier: Option<&'a str>,
}

/// A code exchange or refresh: the access token, and a new refresh token.
#[derive(Debug)]
pub(crate) struct GrantTokens {
    pub(crate) access: Minted,
    pub(crate) refresh_token: String,
    pub(crate) grant_id: String,
}

#[derive(Debug)]
pub(crate) struct Grants {
    store: Arc<dyn Store>,
    cache: Arc<ClientCache>,
    minter: Arc<Minter>,
    registry: Arc<Registry>,
    audit: Arc<AuditSink>,
    consent: Option<Arc<dyn ConsentHandler>>,
    documents: Option<Arc<ClientMetadataDocuments>>,
}

fn invalid_grant(description: &'static str) -> GrantError {
    GrantError::InvalidGrant(description)
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `challenge` can be an S256 challenge: base64url of 32 bytes.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Compares without stopping at the first difference (both sides here are
/// 43-character challenges; their length is public).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn opaque<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, GrantError> {
    let value =
        value.ok_or_else(|| GrantError::InvalidRequest(format!("{name} is required").into()))?;
    if value.len() > MAX_OPAQUE_LEN {
        return Err(GrantError::InvalidRequest(
            format!("{name} is too long").into(),
        ));
    }
    Ok(value)
}

fn random_token(prefix: &str) -> Result<String, Internal> {
    let bytes: [u8; 32] = m2m_core::random_bytes()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What [`Grants::new`] is built from.
pub(crate) struct GrantsParts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<ClientCache>,
    pub(crate) minter: Arc<Minter>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) audit: Arc<AuditSink>,
    pub(crate) consent: Option<Arc<dyn ConsentHandler>>,
    /// Set when Client ID Metadata Documents are on.
    pub(crate) documents: Option<Arc<ClientMetadataDocuments>>,
}

impl Grants {
    pub(crate) fn new(parts: GrantsParts) -> Self {
        let GrantsParts {
            store,
            cache,
            minter,
            registry,
            audit,
            consent,
            documents,
        } = parts;
        Grants {
            store,
            cache,
            minter,
            registry,
            audit,
            consent,
            documents,
        }
    }

    /// Whether `client_id`s that are metadata-document URLs are accepted.
    pub(crate) fn metadata_documents_enabled(&self) -> bool {
        self.documents.is_some()
    }

    /// Whether user-level clients are on (a consent handler is configured).
    pub(crate) fn enabled(&self) -> bool {
        self.consent.is_some()
    }

    fn check_user_client(&self, client: &ClientRecord) -> Result<(), GrantError> {
        if self.consent.is_none() {
            return Err(GrantError::UnsupportedGrantType(
                "user-level clients are not enabled on this issuer",
            ));
        }
        if client.kind != ClientKind::User {
            return Err(GrantError::UnauthorizedClient(
                "only clients of kind user may use this grant",
            ));
        }
        Ok(())
    }

    /// `GET /oauth/authorize`: checks the request, asks the host, and on
    /// consent issues a code.
    pub(crate) async fn authorize(
        &self,
        request: &AuthorizeRequest,
        now: u64,
    ) -> Result<Authorized, AuthorizeError> {
        let page = |description: &'static str| {
            AuthorizeError::Page(GrantError::InvalidRequest(description.into()))
        };

        // 1. The client and the redirect URI: errors are pages, never redirects.
        let client_id = request
            .param("client_id")
            .ok_or_else(|| page("client_id is missing or invalid"))?;
        if let Some(documents) = self
            .documents
            .as_ref()
            .filter(|_| is_document_id(client_id))
        {
            // Registered (or brought up to date) from its document first:
            // its own rules refuse an unusable URL with the reason.
            documents
                .resolve(client_id, now)
                .await
                .map_err(AuthorizeError::Page)?;
        }
        if m2m_core::validate_id(client_id).is_err() {
            return Err(page("client_id is missing or invalid"));
        }
        let entry = self
            .cache
            .lookup(&*self.store, &ClientId::new(client_id))
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?
            .filter(|e| e.client.enabled)
            .ok_or_else(|| page("unknown client_id"))?;
        let client = &*entry.client;
        if client.kind != ClientKind::User {
            return Err(AuthorizeError::Page(GrantError::UnauthorizedClient(
                "only clients of kind user may use the authorization endpoint",
            )));
        }
        let redirect_uri = match request.param("redirect_uri") {
            Some(uri) => client.redirect_uris.iter().find(|r| r.as_str() == uri),
            None if client.redirect_uris.len() == 1 => client.redirect_uris.first(),
            None => None,
        }
        .ok_or_else(|| page("redirect_uri is missing or not registered for this client"))?
        .clone();
        let state = request.param("state").map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(page("state is too long"));
        }

        // 2. From here on, errors go back to the client.
        let fail = |error: &'static str, description: &'static str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        };
        if request.param("response_type") != Some("code") {
            return Err(fail(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let Some(challenge) = request.param("code_challenge") else {
            return Err(fail(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        };
        if request.param("code_challenge_method") != Some("S256") {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        if !valid_challenge(challenge) {
            return Err(fail(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
        let scopes = Minter::select_scope(
            request.param("scope"),
            &client.scopes,
            "the requested scope exceeds what this client may be granted",
        )
        .map_err(|_| {
            fail(
                "invalid_scope",
                "the requested scope exceeds what this client may be granted",
            )
        })?;
        let allowed = self.minter.allowed_audiences(client);
        let mut resources: Vec<String> = Vec::new();
        for resource in request.params("resource") {
            if !allowed.iter().any(|a| a == resource) {
                return Err(fail(
                    "invalid_target",
                    "a requested resource is not one this client may get tokens for",
                ));
            }
            if !resources.iter().any(|r| r == resource) {
                resources.push(resource.to_owned());
            }
        }
        resources.sort();

        // 3. The host decides; without a handler, no user can consent.
        let Some(handler) = self.consent.clone() else {
            return Err(fail(
                "access_denied",
                "this issuer authorizes no users: it has no consent handler",
            ));
        };
        let consent = ConsentRequest {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            client_org_id: client.org_id.clone(),
            client_user_id: client.user_id.clone(),
            client_id_metadata_document: is_document_client(client),
            self_registered: dynamic_registration::is_self_registered(client),
            scopes: scopes.clone(),
            resources: resources.clone(),
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            headers: request.headers.clone(),
            query: request.query.clone(),
        };
        let (user_id, org_id, granted) = match handler.decide(&consent).await {
            ConsentDecision::Redirect(login) => return Ok(Authorized::Login(login)),
            ConsentDecision::Denied => {
                self.audit.record(
                    now,
                    AuditEvent::ConsentDenied {
                        client_id: client.client_id.clone(),
                    },
                );
                return Err(fail("access_denied", "the user did not consent"));
            }
            ConsentDecision::Granted {
                user_id,
                org_id,
                scopes: granted,
            } => (user_id, org_id, granted),
        };
        if !may_act_for(client, &user_id) {
            tracing::warn!(
                client_id = %client.client_id,
                "the consent handler granted another user than the one the client is bound to"
            );
            self.audit.record(
                now,
                AuditEvent::ConsentDenied {
                    client_id: client.client_id.clone(),
                },
            );
            return Err(fail(
                "access_denied",
                "this client is bound to another user",
            ));
        }
        if granted.is_empty()
            || !granted.is_subset(&scopes)
            || client.org_id.as_ref().is_some_and(|o| o != &org_id)
            || m2m_core::validate_id(user_id.as_str()).is_err()
            || m2m_core::validate_id(org_id.as_str()).is_err()
        {
            tracing::error!(
                client_id = %client.client_id,
                "the consent handler granted scopes outside the request, an empty set, \
                 another organization than the client's, or an invalid id"
            );
            return Err(fail("server_error", "consent could not be recorded"));
        }

        // 4. A single-use code, stored as its hash.
        let (Ok(code), Ok(grant_id)) = (random_token(CODE_PREFIX), m2m_core::random_id("m2mg_"))
        else {
            return Err(fail("server_error", "the server could not make a code"));
        };
        let record = AuthCodeRecord {
            code_hash: sha256(code.as_bytes()),
            client_id: client.client_id.clone(),
            grant_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge.to_owned(),
            user_id,
            org_id,
            scopes: granted,
            resources,
            created_at: now,
            expires_at: now + CODE_TTL_SECS,
        };
        if let Err(error) = self.store.create_auth_code(&record).await {
            tracing::error!(%error, "could not store an authorization code");
            return Err(fail("server_error", "the server could not store the code"));
        }
        self.audit.record(
            now,
            AuditEvent::ConsentGranted {
                client_id: client.client_id.clone(),
                grant_id: record.grant_id.clone(),
                user_id: record.user_id.clone(),
                org_id: record.org_id.clone(),
                scope: record.scopes.clone(),
            },
        );
        Ok(Authorized::Code {
            redirect_uri,
            code,
            state,
        })
    }

    /// Revokes a grant after a reused code or refresh token.
    async fn revoke_family(
        &self,
        client: &ClientRecord,
        grant_id: &str,
        reason: GrantRevokeReason,
        create_revoked: Option<&GrantRecord>,
        now: u64,
    ) -> Result<(), GrantError> {
        let grant = GrantToRevoke {
            client_id: &client.client_id,
            grant_id,
            reason,
            actor: None,
            create_revoked,
        };
        self.registry.revoke_grant(grant, now).await?;
        Ok(())
    }

    /// An access token for the user of `grant`, for the resources
    /// `requested` (at most the grant's, if it is bound to some), and a new
    /// refresh token.
    fn issue(
        &self,
        client: &ClientRecord,
        grant: &GrantRecord,
        scope: ScopeSet,
        requested: &[&str],
        jkt: Option<&str>,
        now: u64,
    ) -> Result<(Minted, String, RefreshTokenRecord), GrantError> {
        let subject = Subject::User {
            user_id: grant.user_id.clone(),
            org_id: grant.org_id.clone(),
        };
        let aud = if grant.resources.is_empty() {
            self.minter.select_audience(client, requested)?
        } else {
            if let Some(bad) = requested
                .iter()
                .find(|r| !grant.resources.iter().any(|g| g == *r))
            {
                return Err(GrantError::InvalidTarget(bad.chars().take(100).collect()));
            }
            let bound: Vec<&str> = grant.resources.iter().map(String::as_str).collect();
            let chosen = if requested.is_empty() {
                &bound
            } else {
                requested
            };
            // The client's audiences may have shrunk since consent.
            self.minter.select_audience(client, chosen)?
        };
        let access = self.minter.mint(client, &subject, scope, aud, jkt, now)?;
        let refresh_token = random_token(REFRESH_PREFIX)?;
        let refresh = RefreshTokenRecord {
            token_hash: sha256(refresh_token.as_bytes()),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            scopes: grant.scopes.clone(),
            access_jti: access.claims.jti.clone(),
            access_exp: access.claims.exp,
            created_at: now,
            expires_at: now + REFRESH_TTL_SECS,
            used_at: None,
            // RFC 9449 §5: a public client's refresh token is bound to the
            // key that proved the request; a confidential client's is bound
            // to its authentication already.
            dpop_jkt: jkt
                .filter(|_| client.token_endpoint_auth_method.is_public())
                .map(str::to_owned),
        };
        Ok((access, refresh_token, refresh))
    }

    /// `grant_type=authorization_code`.
    pub(crate) async fn exchange_code(
        &self,
        client: &ClientRecord,
        exchange: CodeExchange<'_>,
        requested: &[&str],
        jkt: Option<&str>,
        now: u64,
    ) -> Result<GrantTokens, GrantError> {
        let CodeExchange {
            code,
            redirect_uri,
            verifier,
        } = exchange;
        self.check_user_client(client)?;
        let code = opaque(code, "code")?;
        let redirect_uri = redirect_uri
            .ok_or_else(|| GrantError::InvalidRequest("redirect_uri is required".into()))?;
        let verifier = opaque(verifier, "code_verifier")?;
        if !valid_verifier(verifier) {
            return Err(GrantError::InvalidRequest(
                "code_verifier must be 43 to 128 unreserved characters (RFC 7636)".into(),
            ));
        }
        let record = match self
            .store
            .consume_auth_code(&sha256(code.as_bytes()), now)
            .await?
        {
            ConsumeCode::NotFound => return Err(invalid_grant("unknown authorization code")),
            ConsumeCode::AlreadyUsed(record) => {
                if record.client_id == client.client_id {
                    let grant = grant_of(&record, now);
                    self.revoke_family(
                        client,
                        &record.grant_id,
                        GrantRevokeReason::CodeReused,
                        Some(&grant),
                        now,
                    )
                    .await?;
                }
                return Err(invalid_grant("the authorization code was already used"));
            }
            ConsumeCode::Consumed(record) => record,
        };
        if record.client_id != client.client_id {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if record.expires_at <= now {
            return Err(invalid_grant("the authorization code has expired"));
        }
        if !may_act_for(client, &record.user_id) {
            return Err(invalid_grant(
                "the authorization code is for another user than the client's",
            ));
        }
        if record.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
        if !constant_time_eq(computed.as_bytes(), record.code_challenge.as_bytes()) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        // The client's allowed scopes may have shrunk since consent.
        if !record.scopes.is_subset(&client.scopes) {
            return Err(GrantError::InvalidScope(
                "the consented scope exceeds what this client may now be granted".into(),
            ));
        }
        let grant = grant_of(&record, now);
        let (access, refresh_token, refresh) =
            self.issue(client, &grant, grant.scopes.clone(), requested, jkt, now)?;
        match self.store.create_grant(&grant, &refresh).await {
            Ok(()) => {}
            // A reuse of this code revoked the grant before we stored it.
            Err(StoreError::Conflict(_)) => {
                return Err(invalid_grant("the authorization code was already used"));
            }
            Err(error) => return Err(error.into()),
        }
        self.audit.record(
            now,
            AuditEvent::GrantCreated {
                client_id: client.client_id.clone(),
                grant_id: grant.grant_id.clone(),
                user_id: grant.user_id.clone(),
                org_id: grant.org_id.clone(),
                scope: grant.scopes.clone(),
            },
        );
        Ok(GrantTokens {
            access,
            refresh_token,
            grant_id: grant.grant_id,
        })
    }

    /// `grant_type=refresh_token`.
    pub(crate) async fn refresh(
        &self,
        client: &ClientRecord,
        token: Option<&str>,
        scope: Option<&str>,
        requested: &[&str],
        jkt: Option<&str>,
        now: u64,
    ) -> Result<GrantTokens, GrantError> {
        self.check_user_client(client)?;
        let token = opaque(token, "refresh_token")?;
        if !token.starts_with(REFRESH_PREFIX) {
            return Err(invalid_grant("unknown refresh token"));
        }
        let old_hash = sha256(token.as_bytes());
        let Some(old) = self.store.get_refresh_token(&old_hash).await? else {
            return Err(invalid_grant("unknown refresh token"));
        };
        if old.client_id != client.client_id {
            return Err(invalid_grant("unknown refresh token"));
        }
        // Before reuse detection: without the key, a stolen bound token
        // changes nothing, not even by revoking its grant.
        if let Some(bound) = &old.dpop_jkt
            && jkt != Some(bound.as_str())
        {
            return Err(invalid_grant(
                "this refresh token is bound to a DPoP key: the refresh needs a DPoP proof \
                 signed by that key",
            ));
        }
        if old.used_at.is_some() {
            self.revoke_family(
                client,
                &old.grant_id,
                GrantRevokeReason::RefreshTokenReused,
                None,
                now,
            )
            .await?;
            return Err(invalid_grant("the refresh token was already used"));
        }
        if old.expires_at <= now {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let grant = match self.store.get_grant(&old.grant_id).await? {
            Some(grant) if grant.revoked_at.is_none() => grant,
            _ => return Err(invalid_grant("the grant was revoked")),
        };
        if grant.client_id != client.client_id || !may_act_for(client, &grant.user_id) {
            return Err(invalid_grant(
                "the grant is for another user than the client's",
            ));
        }
        let scope = Minter::select_scope(
            scope,
            &grant.scopes,
            "a refresh may not widen the scope the user consented to",
        )?;
        if !scope.is_subset(&client.scopes) {
            return Err(GrantError::InvalidScope(
                "the scope exceeds what this client may now be granted".into(),
            ));
        }
        let (access, refresh_token, refresh) =
            self.issue(client, &grant, scope, requested, jkt, now)?;
        match self
            .store
            .rotate_refresh_token(&old_hash, &refresh, now)
            .await?
        {
            RotateRefresh::Rotated(_) => Ok(GrantTokens {
                access,
                refresh_token,
                grant_id: grant.grant_id,
            }),
            RotateRefresh::Reused(_) => {
                self.revoke_family(
                    client,
                    &grant.grant_id,
                    GrantRevokeReason::RefreshTokenReused,
                    None,
                    now,
                )
                .await?;
                Err(invalid_grant("the refresh token was already used"))
            }
            RotateRefresh::GrantRevoked => Err(invalid_grant("the grant was revoked")),
            RotateRefresh::NotFound => Err(invalid_grant("unknown refresh token")),
        }
    }

    /// RFC 7009 for a refresh token of `client`: revokes its grant. Returns
    /// whether `token` was one of `client`'s refresh tokens; an unknown or
    /// foreign one changes nothing (RFC 7009 §2.2).
    pub(crate) async fn revoke_refresh_token(
        &self,
        client: &ClientRecord,
        token: &str,
        now: u64,
    ) -> Result<bool, Internal> {
        if !token.starts_with(REFRESH_PREFIX) || token.len() > MAX_OPAQUE_LEN {
            return Ok(false);
        }
        let Some(record) = self
            .store
            .get_refresh_token(&sha256(token.as_bytes()))
            .await?
        else {
            return Ok(false);
        };
        if record.client_id != client.client_id {
            return Ok(false);
        }
        let grant = GrantToRevoke {
            client_id: &client.client_id,
            grant_id: &record.grant_id,
            reason: GrantRevokeReason::RefreshTokenRevoked,
            actor: None,
            create_revoked: None,
        };
        self.registry.revoke_grant(grant, now).await?;
        Ok(true)
    }
}

/// Whether `client` may get tokens for `user_id`: a client bound to a user
/// (created with `user_id`) only for exactly that user, byte for byte (no
/// case folding, trimming or Unicode normalisation); an unbound one for any
/// user its consent handler grants. The one place this rule lives: consent,
/// code exchange and refresh all ask it.
fn may_act_for(client: &ClientRecord, user_id: &UserId) -> bool {
    client
        .user_id
        .as_ref()
        .is_none_or(|bound| bound.as_str().as_bytes() == user_id.as_str().as_bytes())
}

/// The grant an authorization code creates.
fn grant_of(record: &AuthCodeRecord, now: u64) -> GrantRecord {
    GrantRecord {
        grant_id: record.grant_id.clone(),
        client_id: record.client_id.clone(),
        user_id: record.user_id.clone(),
        org_id: record.org_id.clone(),
        scopes: record.scopes.clone(),
        resources: record.resources.clone(),
        created_at: now,
        revoked_at: None,
    }
}
