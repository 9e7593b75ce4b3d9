//! Persistence: the [`Store`] trait that every backend implements.
//!
//! The issuer owns all policy (validation, hashing, encryption, limits'
//! meaning); a store only keeps records and enforces, atomically and in the
//! database itself, the few invariants that must hold across replicas:
//!
//! - at most `max_live` live secrets per client ([`Store::add_secret`]);
//! - a change to a client and the revocation it implies happen together
//!   ([`Store::update_client`], [`Store::delete_client`]), and so do a key
//!   ring change and a key's revocation ([`Store::save_key_ring`]);
//! - the revocation log's sequence numbers only grow and are never reused,
//!   and entries become visible in sequence order, so a reader following a
//!   cursor never skips one ([`Store::revocations_since`]);
//! - key-ring changes are compare-and-swap, so two replicas rotating at once
//!   cannot both win ([`Store::save_key_ring`]);
//! - an authorization code is exchanged once: of concurrent
//!   [`Store::consume_auth_code`] calls exactly one consumes it;
//! - a refresh token is rotated once ([`Store::rotate_refresh_token`]), and a
//!   grant's revocation and its access tokens' entries in the revocation feed
//!   happen together ([`Store::revoke_grant`]); a grant revoked before it was
//!   created (a reused code racing its first exchange) stays revoked.
//!
//! A store never sees a secret, a code, a refresh token or a private key in
//! clear: it gets [`SecretHash`]es, SHA-256 hashes and encrypted PKCS#8 blobs.
//!
//! Times are seconds since the Unix epoch. Cursors are the store's own
//! ordering values; the issuer wraps them into opaque strings.

use std::fmt;

use async_trait::async_trait;

mod memory;

use m2m_core::{
    AccessTokenClaims, Algorithm, ClientId, ClientKind, KeySchedule, OrgId, PublicJwk, Revocation,
    RevokedClient, RevokedKey, RevokedToken, ScopeSet, SecretHash, TokenTtl, UserId,
};
pub use memory::MemoryStore;

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
    /// Free-form JSON object kept for the caller.
    pub metadata: serde_json::Value,
    /// A disabled client can get no token.
    pub enabled: bool,
    /// When it was registered.
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
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

/// A page of the revocation log ([`Store::revocations_since`]).
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

/// The outcome of [`Store::add_secret`].
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
    /// When it was issued.
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: u64,
}

/// The outcome of [`Store::consume_auth_code`].
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
    /// When it was created.
    pub created_at: u64,
    /// When it was revoked, if it was: its refresh tokens no longer work.
    pub revoked_at: Option<u64>,
}

/// What [`Store::revoke_grant`] revokes.
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
    /// grant, and that exchange must then fail ([`Store::create_grant`]
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
}

/// The outcome of [`Store::rotate_refresh_token`].
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

/// A store failed. The issuer answers such failures with a 5xx (they are not
/// the caller's fault) and logs them.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// A record with the same identity exists already.
    Conflict(String),
    /// The backend failed (connection lost, disk full, ...).
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be read back (corrupt or from a newer version).
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(error))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "already exists: {what}"),
            StoreError::Backend(error) => write!(f, "store backend failed: {error}"),
            StoreError::Corrupt(what) => write!(f, "stored record is unreadable: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(error) => Some(&**error),
            _ => None,
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where the issuer keeps clients, secret hashes, signing keys, revocations
/// and audit events.
///
/// Implementations: `MemoryStore` in this crate, SQLite and PostgreSQL in
/// `m2m-store-sql`. Every implementation must pass the conformance suite of
/// the `m2m-store-conformance` crate.
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    // ---- clients ----

    /// Stores a new client and its first secret, atomically.
    /// A client with the same id is a [`StoreError::Conflict`].
    async fn create_client(&self, client: &ClientRecord, secret: &SecretRecord) -> StoreResult<()>;

    /// The client with this id.
    async fn get_client(&self, client_id: &ClientId) -> StoreResult<Option<ClientRecord>>;

    /// Clients matching `filter`, ordered by client id, starting after
    /// `after` (a client id), at most `limit` of them.
    async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>>;

    /// Replaces a client's fields (matched by id) and, in the same
    /// transaction, appends `revocation` to the revocation log when given (a
    /// disabled or narrowed client). Returns whether the client existed;
    /// when it did not, nothing is written.
    async fn update_client(
        &self,
        client: &ClientRecord,
        revocation: Option<&RevokedClient>,
    ) -> StoreResult<bool>;

    /// Deletes a client and its secrets and, in the same transaction,
    /// appends `revocation` to the revocation log. Returns whether the client
    /// existed; when it did not, nothing is written.
    async fn delete_client(
        &self,
        client_id: &ClientId,
        revocation: &RevokedClient,
    ) -> StoreResult<bool>;

    // ---- secrets ----

    /// A client's secrets (live and expired), oldest first.
    async fn list_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<SecretRecord>>;

    /// Adds a secret unless the client already has `max_live` secrets live at
    /// `now`. The check and the insert are one atomic step in the database.
    async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret>;

    /// Deletes one secret. Returns whether it existed.
    async fn delete_secret(&self, client_id: &ClientId, secret_id: &str) -> StoreResult<bool>;

    /// Records that a secret authenticated a request at `at`.
    async fn touch_secret(&self, client_id: &ClientId, secret_id: &str, at: u64)
    -> StoreResult<()>;

    // ---- signing keys ----

    /// Every stored signing key.
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;

    /// Replaces the key ring with `keys` (inserting new kids, updating
    /// schedules, deleting kids not in `keys`) if and only if the stored kids
    /// are exactly `expected_kids` (in any order), and in the same
    /// transaction appends `revoked` to the revocation log when given (a key
    /// killed in an emergency). Returns whether it did; `false` means another
    /// replica changed the ring first and nothing was written: reload and retry.
    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
        revoked: Option<&RevokedKey>,
    ) -> StoreResult<bool>;

    // ---- revocation ----

    /// Revokes a token of `client_id` at `at`: appends it to the revocation
    /// log the first time; revoking it again changes nothing. Returns whether
    /// this call revoked it.
    async fn revoke_token(
        &self,
        token: &RevokedToken,
        client_id: &ClientId,
        at: u64,
    ) -> StoreResult<bool>;

    /// Whether a logged revocation covers the token with `claims`, verified
    /// by the key `kid` (see [`Revocation::covers`]): its `jti` revoked, its
    /// client revoked at or after its `iat`, or its key revoked.
    async fn is_revoked(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> StoreResult<bool>;

    /// Revocation-log entries with a sequence number above `after` (0 for the
    /// start), in sequence order, at most `limit`, and the log's head.
    async fn revocations_since(&self, after: u64, limit: usize) -> StoreResult<RevocationPage>;

    /// The entry with sequence number `seq`, if it is still in the log.
    async fn revocation_at(&self, seq: u64) -> StoreResult<Option<Revocation>>;

    /// Drops log entries of every kind whose [`Revocation::exp`] is before
    /// `before` (the issuer passes `now - leeway`). Returns how many.
    async fn purge_revocations(&self, before: u64) -> StoreResult<u64>;

    // ---- user-level clients: codes, grants, refresh tokens ----

    /// Stores a new authorization code. A code with the same hash is a
    /// [`StoreError::Conflict`].
    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;

    /// Marks the code used at `now` and returns it, in one atomic step: of
    /// any number of concurrent calls for one code, exactly one gets
    /// [`ConsumeCode::Consumed`]. Expiry is the caller's to check.
    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode>;

    /// Drops authorization codes that expired before `before`.
    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64>;

    /// Stores a new grant and the first refresh token of its family,
    /// atomically. A grant with the same id (a revoked one included) is a
    /// [`StoreError::Conflict`], and nothing is stored.
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()>;

    /// The grant with this id.
    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>>;

    /// A client's grants (revoked ones too), optionally of one user, oldest
    /// first.
    async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>>;

    /// The refresh token with this hash.
    async fn get_refresh_token(&self, token_hash: &[u8])
    -> StoreResult<Option<RefreshTokenRecord>>;

    /// Rotates a refresh token, in one atomic step: marks the token with
    /// `old_hash` used at `now` and stores `new` (whose `grant_id` must be the
    /// old one's, else [`StoreError::Conflict`]). Of any number of
    /// concurrent rotations of one token, exactly one gets
    /// [`RotateRefresh::Rotated`]; the others get [`RotateRefresh::Reused`].
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh>;

    /// Revokes a grant, atomically: its refresh tokens stop working, and the
    /// access tokens issued under it with `exp >= live_after` enter the
    /// revocation log (each once). Idempotent. Returns `None` when the client
    /// has no such grant and `create_revoked` is `None`; else the access
    /// tokens covered (the issuer tells in-process guards about them), in
    /// issue order.
    async fn revoke_grant(
        &self,
        revocation: &GrantRevocation<'_>,
    ) -> StoreResult<Option<Vec<RevokedToken>>>;

    // ---- audit ----

    /// Appends events (their `seq` is ignored and assigned by the store).
    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()>;

    /// Events, newest first, optionally for one client, starting before
    /// sequence number `before`, at most `limit`.
    async fn list_audit(
        &self,
        client_id: Option<&ClientId>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>>;
}
