//! The records a [`Store`](super::Store) keeps, and the outcomes of its
//! operations. Plain data: no I/O.

use std::collections::BTreeSet;

use m2m_core::{
    Algorithm, ClientId, ClientKind, JwkSet, KeySchedule, OrgId, PublicJwk, Revocation, ScopeSet,
    SecretHash, TokenTtl, UserId,
};

/// A registered machine client, without its secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    /// The client id (`m2m_...`).
    pub client_id: ClientId,
    /// A human-readable name.
    pub name: String,
    /// What the client acts for.
    pub kind: ClientKind,
    /// The organization (org and user clients; optional for service clients).
    pub org_id: Option<OrgId>,
    /// The user (user clients, after consent).
    pub user_id: Option<UserId>,
    /// The scopes the client may be granted.
    pub scopes: ScopeSet,
    /// The audiences the client may ask for; empty means the issuer's default.
    pub audiences: Vec<String>,
    /// Lifetime of the client's access tokens.
    pub token_ttl: TokenTtl,
    /// Registered redirect URIs (user clients).
    pub redirect_uris: Vec<String>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// A `private_key_jwt` client's public keys: inline or by URL.
    pub client_keys: Option<ClientKeys>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: the client's every token
    /// request must carry a DPoP proof (its access tokens are always bound).
    pub dpop_bound_access_tokens: bool,
    /// Token exchange (RFC 8693): whom the client may act for; `None`: it
    /// may not exchange tokens.
    pub token_exchange: Option<TokenExchangePolicy>,
    /// The client's own token quota, overriding the server's default per
    /// window; `None`: the default.
    pub quota: Option<QuotaOverride>,
    /// Free-form JSON object kept for the caller.
    pub metadata: serde_json::Value,
    /// A disabled client can get no token.
    pub enabled: bool,
    /// When it was registered.
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// A secret in HTTP Basic (the default). The body form works too.
    #[default]
    ClientSecretBasic,
    /// A secret in the body. HTTP Basic works too.
    ClientSecretPost,
    /// A public client: no secret, `client_id` in the form only. User-level
    /// clients only; PKCE S256 and rotating refresh tokens.
    None,
    /// A JWT signed with one of the client's keys ([`ClientKeys`]), sent as
    /// `client_assertion` (RFC 7523 §2.2). The client has no secret.
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The RFC 7591 name, as in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The method named `name`, if it is one this issuer knows.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "client_secret_basic" => Some(TokenEndpointAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(TokenEndpointAuthMethod::ClientSecretPost),
            "none" => Some(TokenEndpointAuthMethod::None),
            "private_key_jwt" => Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }

    /// Whether the client is public (has no secret).
    pub fn is_public(self) -> bool {
        self == TokenEndpointAuthMethod::None
    }

    /// Whether the client authenticates with a secret (and so has secrets).
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        )
    }
}

/// Where a `private_key_jwt` client's public keys are (exactly one of
/// RFC 7591's `jwks` and `jwks_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    /// `jwks`: a JWK Set of public keys, kept with the client.
    Jwks(JwkSet),
    /// `jwks_uri`: an https URL the issuer fetches the JWK Set from.
    JwksUri(String),
}

impl std::fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of a client's secrets, as stored: a keyed hash, never the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRecord {
    /// The secret's id (shown to admins; not secret).
    pub secret_id: String,
    /// The client it belongs to.
    pub client_id: ClientId,
    /// HMAC-SHA-256 of the secret under the issuer's pepper.
    pub hash: SecretHash,
    /// When it was created.
    pub created_at: u64,
    /// When it stops working, if ever.
    pub expires_at: Option<u64>,
    /// When it last authenticated a request (updated coarsely, see the issuer docs).
    pub last_used_at: Option<u64>,
}

impl SecretRecord {
    /// Whether the secret still works at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A signing key as stored: its private half encrypted by the issuer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// The PKCS#8 private key, sealed with AES-256-GCM by the issuer.
    pub encrypted_private_key: Vec<u8>,
    /// The public half, as published.
    pub public_jwk: PublicJwk,
    /// When it is published, signs and is dropped.
    pub schedule: KeySchedule,
}

/// One entry of the revocation log and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRevocation {
    /// The entry's sequence number: positive, increasing, never reused.
    pub seq: u64,
    /// What was revoked.
    pub revocation: Revocation,
}

/// A page of the revocation log ([`Store::revocations_since`](super::Store::revocations_since)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationPage {
    /// Entries after the requested sequence number, in sequence order.
    pub entries: Vec<LoggedRevocation>,
    /// The largest sequence number the log ever assigned (0 if none), purged
    /// entries included: no cursor beyond it was ever handed out.
    pub head: u64,
}

/// An audit event as stored. `detail` never holds a secret or a token.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Store-assigned, increasing; `0` when appending.
    pub seq: u64,
    /// When it happened.
    pub at: u64,
    /// What happened: `token.issued`, `auth.failed`, `client.created`, ...
    pub kind: String,
    /// The client the event is about, if any.
    pub client_id: Option<ClientId>,
    /// The admin client that acted, for admin changes.
    pub actor: Option<ClientId>,
    /// More about it (a reason category, changed field names, ...).
    pub detail: serde_json::Value,
}

/// Which audit events [`Store::list_audit`](super::Store::list_audit) returns
/// (every condition given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events about this client.
    pub client_id: Option<ClientId>,
    /// Only events of this kind (`auth.failed`, `tokens.issued`, ...).
    pub kind: Option<String>,
    /// Only events with `at >= since`.
    pub since: Option<u64>,
    /// Only events with `at < until`.
    pub until: Option<u64>,
}

impl AuditFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &AuditRecord) -> bool {
        self.client_id
            .as_ref()
            .is_none_or(|c| event.client_id.as_ref() == Some(c))
            && self.kind.as_ref().is_none_or(|k| &event.kind == k)
            && self.since.is_none_or(|s| event.at >= s)
            && self.until.is_none_or(|u| event.at < u)
    }
}

/// One use of a client secret, for [`Store::touch_secrets`](super::Store::touch_secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretTouch {
    /// The client whose secret it is.
    pub client_id: ClientId,
    /// The secret that authenticated a request.
    pub secret_id: String,
    /// When (seconds since the epoch): the new `last_used_at`.
    pub at: u64,
}

/// The tokens one client was issued in one minute: the audit log's record of
/// token issuance unless per-token events are on. Stored as an
/// [`AuditRecord`] of kind [`TokenMinute::KIND`] whose `at` is the minute;
/// a store keeps one per `(client_id, minute)` and [merges](TokenMinute::merge)
/// into it, so replicas writing the same minute add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMinute {
    /// The client the tokens were issued to.
    pub client_id: ClientId,
    /// The start of the minute (a multiple of 60).
    pub minute: u64,
    /// How many tokens.
    pub count: u64,
    /// Every scope granted in any of them.
    pub scopes: BTreeSet<String>,
    /// Every audience of any of them.
    pub audiences: BTreeSet<String>,
    /// The `jti` of the first token (earliest `first_at`).
    pub first_jti: String,
    /// When the first token was issued.
    pub first_at: u64,
    /// The `jti` of the last token (latest `last_at`).
    pub last_jti: String,
    /// When the last token was issued.
    pub last_at: u64,
}

impl TokenMinute {
    /// The audit kind of a stored aggregate.
    pub const KIND: &'static str = "tokens.issued";

    /// The minute that `at` falls in.
    pub fn minute_of(at: u64) -> u64 {
        at - at % 60
    }

    /// One token issued at `at`.
    pub fn one(
        client_id: ClientId,
        at: u64,
        jti: String,
        scopes: impl IntoIterator<Item = String>,
        audiences: impl IntoIterator<Item = String>,
    ) -> Self {
        TokenMinute {
            client_id,
            minute: Self::minute_of(at),
            count: 1,
            scopes: scopes.into_iter().collect(),
            audiences: audiences.into_iter().collect(),
            first_jti: jti.clone(),
            first_at: at,
            last_jti: jti,
            last_at: at,
        }
    }

    /// Adds `other` (the same client and minute) into this one: counts add
    /// up, scopes and audiences unite, the first jti is the earlier one's and
    /// the last jti the later one's (ties keep this one's).
    pub fn merge(&mut self, other: &TokenMinute) {
        self.count = self.count.saturating_add(other.count);
        self.scopes.extend(other.scopes.iter().cloned());
        self.audiences.extend(other.audiences.iter().cloned());
        if other.first_at < self.first_at {
            self.first_at = other.first_at;
            self.first_jti.clone_from(&other.first_jti);
        }
        if other.last_at > self.last_at {
            self.last_at = other.last_at;
            self.last_jti.clone_from(&other.last_jti);
        }
    }

    /// The stored form (`seq` 0, `at` the minute, no actor).
    pub fn to_record(&self) -> AuditRecord {
        AuditRecord {
            seq: 0,
            at: self.minute,
            kind: Self::KIND.to_owned(),
            client_id: Some(self.client_id.clone()),
            actor: None,
            detail: serde_json::json!({
                "count": self.count,
                "scopes": self.scopes,
                "audiences": self.audiences,
                "first_jti": self.first_jti,
                "first_at": self.first_at,
                "last_jti": self.last_jti,
                "last_at": self.last_at,
            }),
        }
    }

    /// Reads a stored aggregate back; `None` if `record` is not one.
    pub fn from_record(record: &AuditRecord) -> Option<Self> {
        if record.kind != Self::KIND {
            return None;
        }
        let d = &record.detail;
        let text = |k: &str| d.get(k)?.as_str().map(str::to_owned);
        let int = |k: &str| d.get(k)?.as_u64();
        let set = |k: &str| -> Option<BTreeSet<String>> {
            d.get(k)?
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Some(TokenMinute {
            client_id: record.client_id.clone()?,
            minute: record.at,
            count: int("count")?,
            scopes: set("scopes")?,
            audiences: set("audiences")?,
            first_jti: text("first_jti")?,
            first_at: int("first_at")?,
            last_jti: text("last_jti")?,
            last_at: int("last_at")?,
        })
    }
}

/// Which clients to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFilter {
    /// Only clients of this organization.
    pub org_id: Option<OrgId>,
    /// Only clients of this kind.
    pub kind: Option<ClientKind>,
}

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<C>,
}

/// The outcome of [`Store::add_secret`](super::Store::add_secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddSecret {
    /// The secret was stored.
    Added,
    /// The client already has `max_live` live secrets; nothing was stored.
    LimitReached,
    /// No such client; nothing was stored.
    NoSuchClient,
}

/// An authorization code (RFC 6749 section 4.1), as stored: the SHA-256 of
/// the code, never the code. Single use; bound to its client, redirect URI
/// and PKCE challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthCodeRecord {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The grant that exchanging it creates (chosen when the code is issued,
    /// so that a reused code can revoke what its first use issued).
    pub grant_id: String,
    /// The `redirect_uri` of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge (base64url of SHA-256 of the verifier).
    pub code_challenge: String,
    /// The user who consented.
    pub user_id: UserId,
    /// The user's organization.
    pub org_id: OrgId,
    /// The consented scopes.
    pub scopes: ScopeSet,
    /// The `resource` values (RFC 8707) of the authorization request, each
    /// one of the client's allowed audiences; empty when none was given.
    pub resources: Vec<String>,
    /// When it was issued.
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: u64,
}

/// The outcome of [`Store::consume_auth_code`](super::Store::consume_auth_code).
#[derive(Debug, Clone, PartialEq)]
pub enum ConsumeCode {
    /// This call marked the code used: the caller may exchange it (after
    /// checking its expiry and bindings).
    Consumed(AuthCodeRecord),
    /// The code had been used already: the caller must refuse it and revoke
    /// the grant it created (RFC 6749 section 4.1.2).
    AlreadyUsed(AuthCodeRecord),
    /// No such code.
    NotFound,
}

/// A user's consent to one client, and the family of refresh tokens issued
/// under it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRecord {
    /// The grant's id (shown to admins; not secret).
    pub grant_id: String,
    /// The user-level client.
    pub client_id: ClientId,
    /// The user who consented.
    pub user_id: UserId,
    /// The user's organization.
    pub org_id: OrgId,
    /// The consented scopes: refreshes may narrow them, never widen.
    pub scopes: ScopeSet,
    /// The resources (RFC 8707) the grant is bound to: its tokens' `aud` is
    /// these (or a subset asked for); empty means the client's audiences.
    pub resources: Vec<String>,
    /// When it was created.
    pub created_at: u64,
    /// When it was revoked, if it was: its refresh tokens no longer work.
    pub revoked_at: Option<u64>,
}

/// What [`Store::revoke_grant`](super::Store::revoke_grant) revokes.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRevocation<'a> {
    /// The grant's client: a grant of another client is not touched.
    pub client_id: &'a ClientId,
    /// The grant.
    pub grant_id: &'a str,
    /// When it is revoked (kept if it was revoked before).
    pub at: u64,
    /// Access tokens of the grant whose `exp` is at or after this time enter
    /// the revocation log (the issuer passes `now - leeway`: a verifier still
    /// accepts a token until `exp + leeway`).
    pub live_after: u64,
    /// If no such grant exists yet, store this one, revoked at `at`: a reused
    /// authorization code may arrive before its first exchange created the
    /// grant, and that exchange must then fail ([`Store::create_grant`](super::Store::create_grant)
    /// conflicts with it).
    pub create_revoked: Option<&'a GrantRecord>,
}

/// A refresh token, as stored: the SHA-256 of the token, never the token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The grant (token family) it belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The scopes it may refresh to (a subset of the grant's).
    pub scopes: ScopeSet,
    /// The `jti` of the access token issued with it: revoking the grant puts
    /// it in the revocation feed.
    pub access_jti: String,
    /// That access token's `exp`.
    pub access_exp: u64,
    /// When it was issued.
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: u64,
    /// When it was rotated (used); a used token presented again is a reuse.
    pub used_at: Option<u64>,
    /// The RFC 7638 thumbprint of the DPoP key it is bound to (a public
    /// client's token issued with a proof, RFC 9449 §5): a refresh must be
    /// proven with that key.
    pub dpop_jkt: Option<String>,
}

/// The outcome of [`Store::rotate_refresh_token`](super::Store::rotate_refresh_token).
#[derive(Debug, Clone, PartialEq)]
pub enum RotateRefresh {
    /// The old token is now used and the new one stored; here is the old one
    /// as it was before.
    Rotated(RefreshTokenRecord),
    /// The old token had been used already; nothing was stored. The caller
    /// must revoke the whole grant.
    Reused(RefreshTokenRecord),
    /// The token's grant is revoked; nothing was stored.
    GrantRevoked,
    /// No such token; nothing was stored.
    NotFound,
}

/// A federated credential (workload identity federation): a trust entry
/// saying that a JWT from an external issuer, with this subject, audience
/// and claims, authenticates the client. Public data only: no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct FederatedCredentialRecord {
    /// The entry's id (shown to admins; not secret).
    pub id: String,
    /// The client it authenticates.
    pub client_id: ClientId,
    /// The external issuer, compared as an exact string with the token's `iss`.
    pub issuer: String,
    /// The subject: an exact value, or a pattern with `*` (see the issuer's
    /// federation docs).
    pub subject: String,
    /// The audience the token must carry.
    pub audience: String,
    /// Claim conditions: claim name to the required value.
    pub claims: std::collections::BTreeMap<String, String>,
    /// The issuer's keys (a JWK Set), for an issuer whose discovery is not
    /// reachable; `None` means OIDC discovery.
    pub jwks: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: u64,
}

/// The outcome of [`Store::add_federated_credential`](super::Store::add_federated_credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddFederatedCredential {
    /// The entry was stored.
    Added,
    /// The client already has `max` entries; nothing was stored.
    LimitReached,
    /// No such client; nothing was stored.
    NoSuchClient,
}

/// Whom a token-exchange actor may act for: one entry of a client's
/// `token_exchange.subjects` (written `m2m_...` or `org:<org_id>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ExchangeSubject {
    /// Tokens whose `client_id` is this client (its user-level grants' too).
    Client(ClientId),
    /// Tokens whose `oid` is this organization.
    Org(OrgId),
}

impl ExchangeSubject {
    /// Whether a token with this `client_id` and `oid` is of this subject.
    pub fn matches(&self, client_id: &ClientId, oid: Option<&OrgId>) -> bool {
        match self {
            ExchangeSubject::Client(id) => id == client_id,
            ExchangeSubject::Org(org) => oid == Some(org),
        }
    }
}

impl From<ExchangeSubject> for String {
    fn from(subject: ExchangeSubject) -> String {
        match subject {
            ExchangeSubject::Client(id) => id.to_string(),
            ExchangeSubject::Org(org) => format!("org:{org}"),
        }
    }
}

impl TryFrom<String> for ExchangeSubject {
    type Error = String;

    /// Reads `org:<org_id>` or a client id; the issuer checks their form.
    fn try_from(value: String) -> Result<Self, String> {
        match value.strip_prefix("org:") {
            Some("") => Err("an org subject needs an org id after `org:`".to_owned()),
            Some(org) => Ok(ExchangeSubject::Org(OrgId::new(org))),
            None if value.is_empty() => Err("a subject must not be empty".to_owned()),
            None => Ok(ExchangeSubject::Client(ClientId::new(value))),
        }
    }
}

/// What a quota does once exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaMode {
    /// Refuse with 429 `slow_down` until the window ends.
    #[default]
    Enforce,
    /// Issue anyway; record the audit event and the metric.
    LogOnly,
}

/// A client's quota override (contract section 14): each window set here
/// replaces the server's default for that window; a window left out keeps
/// the default. `mode`, when set, replaces the server's mode for this
/// client's windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    /// Tokens per clock minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    /// Tokens per clock hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    /// Tokens per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
    /// Enforce or only log; `None`: the server's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<QuotaMode>,
}

/// A client's token-exchange policy (RFC 8693; contract section 13): the
/// client may exchange tokens of these subjects, acting for them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangePolicy {
    /// Whose tokens the client may exchange.
    pub subjects: Vec<ExchangeSubject>,
    /// The audiences an exchanged token may have; `None`: the client's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// The deepest `act` chain the client's exchanged tokens may carry
    /// (its own delegation included); `None`: 1, a single delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u8>,
}

impl TokenExchangePolicy {
    /// The depth limit when `max_depth` is unset: one delegation, no chain.
    pub const DEFAULT_MAX_DEPTH: u8 = 1;

    /// The deepest chain allowed.
    pub fn max_depth(&self) -> u8 {
        self.max_depth.unwrap_or(Self::DEFAULT_MAX_DEPTH)
    }
}

/// An access token minted by token exchange, kept so that revoking the
/// token it came from (or that token's grant or client) revokes it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangedTokenRecord {
    /// The exchanged token's `jti`.
    pub jti: String,
    /// Its `exp`.
    pub exp: u64,
    /// Its `client_id`: the actor.
    pub client_id: ClientId,
    /// The subject token's `jti`.
    pub parent_jti: String,
    /// The subject token's `client_id`.
    pub parent_client_id: ClientId,
    /// The subject token's `iat` (a client revocation covers tokens issued
    /// at or before it).
    pub parent_iat: u64,
    /// The `kid` of the key that signed the subject token (a key revocation
    /// covers every token it signed).
    pub parent_kid: String,
}

/// What [`Store::revoke_exchanged`](super::Store::revoke_exchanged) starts
/// from: the tokens whose exchanged descendants it revokes.
#[derive(Debug, Clone, Copy)]
pub enum ExchangedFrom<'a> {
    /// These tokens (by `jti`): one revoked token, or a revoked grant's
    /// access tokens.
    Tokens(&'a [String]),
    /// The tokens of this client issued at or before `issued_before`.
    Client {
        /// The client.
        client_id: &'a ClientId,
        /// The client revocation's `revoked_at`.
        issued_before: u64,
    },
    /// The tokens signed by the key with this `kid`.
    Key(&'a str),
}
