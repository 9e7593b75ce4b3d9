//! The [`Store`] trait every backend implements.

use async_trait::async_trait;
use m2m_core::{
    AccessTokenClaims, ClientId, OrgId, Revocation, RevokedClient, RevokedKey, RevokedToken, UserId,
};

use super::error::StoreResult;
use super::records::FederatedCredentialRecord;
use super::records::{
    AddFederatedCredential, AddSecret, AuditFilter, AuditRecord, AuthCodeRecord, ClientFilter,
    ClientRecord, ConsumeCode, GrantRecord, GrantRevocation, Page, RefreshTokenRecord,
    RevocationPage, RotateRefresh, SecretRecord, StoredKey, TokenMinute,
};
use super::records::{ExchangedFrom, ExchangedTokenRecord, QuotaOverride, SecretTouch};

/// Where the issuer keeps clients, secret hashes, signing keys, revocations
/// and audit events.
///
/// Implementations: `MemoryStore` in this crate, SQLite and PostgreSQL in
/// `m2m-store-sql`. Every implementation must pass the conformance suite of
/// the `m2m-store-conformance` crate.
#[async_trait]
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    // ---- clients ----

    /// Stores a new client and its first secret (none for a public
    /// client), atomically. A client with the same id is a
    /// [`StoreError::Conflict`](super::StoreError::Conflict).
    async fn create_client(
        &self,
        client: &ClientRecord,
        secret: Option<&SecretRecord>,
    ) -> StoreResult<()>;

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

    /// Records several secrets' last uses at once, as [`Store::touch_secret`]
    /// does one by one (the default). The issuer's token path batches them
    /// here, so that a store can write a batch in one transaction: with
    /// 100,000 active clients a write per secret was most of the cost of a
    /// token. A secret or client that no longer exists is skipped.
    async fn touch_secrets(&self, touches: &[SecretTouch]) -> StoreResult<()> {
        for touch in touches {
            self.touch_secret(&touch.client_id, &touch.secret_id, touch.at)
                .await?;
        }
        Ok(())
    }

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
    /// [`StoreError::Conflict`](super::StoreError::Conflict).
    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;

    /// Marks the code used at `now` and returns it, in one atomic step: of
    /// any number of concurrent calls for one code, exactly one gets
    /// [`ConsumeCode::Consumed`]. Expiry is the caller's to check.
    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode>;

    /// Drops authorization codes that expired before `before`.
    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64>;

    /// Stores a new grant and the first refresh token of its family,
    /// atomically. A grant with the same id (a revoked one included) is a
    /// [`StoreError::Conflict`](super::StoreError::Conflict), and nothing is stored.
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
    /// old one's, else [`StoreError::Conflict`](super::StoreError::Conflict)). Of any number of
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

    // ---- token exchange ----

    /// Remembers a token about to be minted by token exchange (RFC 8693)
    /// and the token it comes from (`parent`, whose claims are given; its
    /// key is `record.parent_kid`), unless a logged revocation covers the
    /// parent (its jti, its client, its key): then it stores nothing
    /// and returns `false`. The check and the insert are one step ordered
    /// with [`Store::revoke_exchanged`] (both hold the revocation log's
    /// head): a parent revoked concurrently is either seen here, or its
    /// revocation sees this record. A record with the same `jti` is a
    /// [`StoreError::Conflict`](super::StoreError::Conflict).
    async fn record_exchanged_token(
        &self,
        record: &ExchangedTokenRecord,
        parent: &AccessTokenClaims,
    ) -> StoreResult<bool>;

    /// Revokes, in one transaction, every exchanged token descending from
    /// `from` (its children, their children, and so on) whose `exp` is at or
    /// after `live_after`: each enters the revocation log once, as a token
    /// of its own client revoked at `at`. Returns the tokens covered (the
    /// issuer tells in-process guards about them).
    async fn revoke_exchanged(
        &self,
        from: ExchangedFrom<'_>,
        live_after: u64,
        at: u64,
    ) -> StoreResult<Vec<RevokedToken>>;

    /// Drops exchanged-token records whose `exp` is before `before`.
    /// Returns how many.
    async fn purge_exchanged_tokens(&self, before: u64) -> StoreResult<u64>;

    // ---- client assertions ----

    /// Records that the assertion `jti` of `issuer` (a client id, or a
    /// federated issuer) was used, to be refused again until `exp` (the
    /// caller passes the assertion's `exp` plus its leeway). Returns `true`
    /// the first time, `false` while a claim of the same pair is live
    /// (stored `exp > now`); a claim whose `exp` has passed may be claimed
    /// again (the assertion itself is then expired). One atomic step in the
    /// database: of any number of concurrent calls for one pair, on any
    /// number of replicas, exactly one gets `true`.
    async fn claim_assertion_id(
        &self,
        issuer: &str,
        jti: &str,
        exp: u64,
        now: u64,
    ) -> StoreResult<bool>;

    /// Drops assertion-id claims whose `exp` is before `before`. Returns how many.
    async fn purge_assertion_ids(&self, before: u64) -> StoreResult<u64>;

    // ---- usage counters (quotas, failure throttle) ----

    /// Adds `amount` to the shared counter of `(subject, window_secs,
    /// window_start)` (created at 0 when absent) and returns the counter's
    /// new value. One atomic statement: of concurrent calls on any number of
    /// replicas, each sees the sum of its own amount and every amount added
    /// before it, so `new - amount` is what was counted before this call.
    /// Counters of quotas and of the failure throttle both live here (their
    /// subjects differ by prefix).
    async fn add_usage(
        &self,
        subject: &str,
        window_secs: u64,
        window_start: u64,
        amount: u64,
    ) -> StoreResult<u64>;

    /// Drops counters whose window ended before `before`. Returns how many.
    async fn purge_usage(&self, before: u64) -> StoreResult<u64>;

    // ---- organization quota overrides ----

    /// The quota override of organization `org_id`, if one is set.
    async fn get_org_quota(&self, org_id: &OrgId) -> StoreResult<Option<QuotaOverride>>;

    /// Sets (or replaces) the quota override of `org_id`.
    async fn put_org_quota(
        &self,
        org_id: &OrgId,
        quota: &QuotaOverride,
        now: u64,
    ) -> StoreResult<()>;

    /// Removes the quota override of `org_id`; `false` when it had none.
    async fn delete_org_quota(&self, org_id: &OrgId) -> StoreResult<bool>;

    // ---- federated credentials ----

    /// A client's federated credentials, oldest first.
    async fn list_federated_credentials(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Vec<FederatedCredentialRecord>>;

    /// The federated credentials naming `issuer` (exact string), of every
    /// client, ordered by client id then creation, at most `limit`.
    async fn federated_credentials_of_issuer(
        &self,
        issuer: &str,
        limit: usize,
    ) -> StoreResult<Vec<FederatedCredentialRecord>>;

    /// Adds a federated credential unless the client already has `max` of
    /// them; the check and the insert are one atomic step. An entry with the
    /// same id for the same client is a
    /// [`StoreError::Conflict`](super::StoreError::Conflict).
    async fn add_federated_credential(
        &self,
        credential: &FederatedCredentialRecord,
        max: usize,
    ) -> StoreResult<AddFederatedCredential>;

    /// Deletes one federated credential of a client. Returns whether it existed.
    async fn delete_federated_credential(
        &self,
        client_id: &ClientId,
        id: &str,
    ) -> StoreResult<bool>;

    // ---- audit ----

    /// Appends events (their `seq` is ignored and assigned by the store).
    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()>;

    /// Adds each aggregate into the stored one of its `(client_id,
    /// minute)` ([`TokenMinute::merge`]), or stores it when there is none,
    /// atomically per aggregate even when replicas write the same minute at
    /// once. A new aggregate gets a sequence number like an appended event.
    async fn record_token_minutes(&self, minutes: &[TokenMinute]) -> StoreResult<()>;

    /// Events and aggregates matching `filter`, newest first (by sequence
    /// number), starting before sequence number `before`, at most `limit`.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>>;

    /// Deletes at most `limit` events and aggregates with `at < before`,
    /// oldest first, in one short statement. Returns how many; the caller
    /// repeats while that is `limit`.
    async fn purge_audit(&self, before: u64, limit: usize) -> StoreResult<u64>;
}
