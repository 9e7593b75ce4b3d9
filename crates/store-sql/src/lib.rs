//! m2m-store-sql: the m2m-auth issuer's [`Store`] on SQLite and PostgreSQL.
//!
//! - [`SqliteStore`]: one file, the embedded default. WAL journal, a 5 s busy
//!   timeout, `synchronous = NORMAL`, foreign keys on.
//! - [`PostgresStore`]: one database shared by several issuer replicas.
//! - [`SqlStore`]: either one, chosen by the URL's scheme, for a server that
//!   takes `--database URL`.
//!
//! Connecting runs the embedded schema migrations. The invariants of the
//! [`Store`] trait hold in the database itself (transactions and row locks),
//! so they hold across connections, processes and replicas:
//!
//! | invariant | SQLite | PostgreSQL |
//! |---|---|---|
//! | at most `max_live` live secrets | `BEGIN IMMEDIATE`: one writer at a time | the client's row `FOR UPDATE` |
//! | client deletion with its revocation entry | one transaction | one transaction |
//! | key ring compare-and-swap | `BEGIN IMMEDIATE` | a `store_locks` row `FOR UPDATE` |
//! | revocation log read in order | one writer at a time | a `store_locks` row `FOR UPDATE` before taking a sequence number |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use m2m_issuer::store::Store;
//! use m2m_store_sql::SqlStore;
//!
//! // `sqlite://m2m.db?mode=rwc` for a file, `postgres://user@host/db` for PostgreSQL.
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! assert!(store.list_keys().await?.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! `sqlite` and `postgres`, both on by default. Turn one off to skip its
//! driver (the `sqlite` feature compiles SQLite from source, bundled).
//! Connections to PostgreSQL are not encrypted: this crate builds no TLS
//! stack, so that it never chooses a crypto backend for the application. Use
//! a local socket, a private network or a TLS sidecar, and `sslmode=disable`
//! or `prefer`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("m2m-store-sql needs at least one of the features `sqlite` and `postgres`");

mod error;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

use async_trait::async_trait;
use m2m_core::{ClientId, UserId};
use m2m_issuer::store::{
    AddSecret, AuditEvent, AuthCodeRecord, ClientFilter, ClientRecord, ConsumeCode, GrantRecord,
    Page, RefreshTokenRecord, RevocationEntry, RotateRefresh, SecretRecord, Store, StoreResult,
    StoredKey, TokenRevocation,
};

pub use error::SqlStoreError;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A SQLite or PostgreSQL store, chosen by URL.
///
/// Cloning is cheap: clones share one connection pool.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlStore {
    /// A SQLite database.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

impl SqlStore {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// - `sqlite://PATH?mode=rwc` opens a file, creating it if missing
    ///   (without `mode=rwc` the file must exist); `sqlite::memory:` is a
    ///   private in-memory database, gone when the store is dropped.
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or `postgresql://`).
    ///
    /// Fails with a one-line [`SqlStoreError`] when the URL is bad, the
    /// database cannot be reached, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Self::sqlite(url).await,
            "postgres" | "postgresql" => Self::postgres(url).await,
            _ => Err(SqlStoreError::InvalidUrl(
                "the database URL must start with sqlite: or postgres:".into(),
            )),
        }
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite(url: &str) -> Result<Self, SqlStoreError> {
        SqliteStore::connect(url).await.map(SqlStore::Sqlite)
    }

    #[cfg(not(feature = "sqlite"))]
    async fn sqlite(_url: &str) -> Result<Self, SqlStoreError> {
        Err(SqlStoreError::InvalidUrl(
            "this build has no SQLite support (feature `sqlite`)".into(),
        ))
    }

    #[cfg(feature = "postgres")]
    async fn postgres(url: &str) -> Result<Self, SqlStoreError> {
        PostgresStore::connect(url).await.map(SqlStore::Postgres)
    }

    #[cfg(not(feature = "postgres"))]
    async fn postgres(_url: &str) -> Result<Self, SqlStoreError> {
        Err(SqlStoreError::InvalidUrl(
            "this build has no PostgreSQL support (feature `postgres`)".into(),
        ))
    }

    /// Closes the connection pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            SqlStore::Sqlite(store) => store.close().await,
            #[cfg(feature = "postgres")]
            SqlStore::Postgres(store) => store.close().await,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteStore> for SqlStore {
    fn from(store: SqliteStore) -> Self {
        SqlStore::Sqlite(store)
    }
}

#[cfg(feature = "postgres")]
impl From<PostgresStore> for SqlStore {
    fn from(store: PostgresStore) -> Self {
        SqlStore::Postgres(store)
    }
}

/// Calls the same `Store` method on whichever backend this is.
macro_rules! delegate {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            #[cfg(feature = "sqlite")]
            SqlStore::Sqlite(store) => store.$method($($arg),*).await,
            #[cfg(feature = "postgres")]
            SqlStore::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

#[async_trait]
impl Store for SqlStore {
    async fn create_client(&self, client: &ClientRecord, secret: &SecretRecord) -> StoreResult<()> {
        delegate!(self.create_client(client, secret))
    }

    async fn get_client(&self, client_id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        delegate!(self.get_client(client_id))
    }

    async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>> {
        delegate!(self.list_clients(filter, after, limit))
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        delegate!(self.update_client(client))
    }

    async fn delete_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<bool> {
        delegate!(self.delete_client(client_id, revoked_at))
    }

    async fn revoke_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<()> {
        delegate!(self.revoke_client(client_id, revoked_at))
    }

    async fn list_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<SecretRecord>> {
        delegate!(self.list_secrets(client_id))
    }

    async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret> {
        delegate!(self.add_secret(secret, max_live, now))
    }

    async fn delete_secret(&self, client_id: &ClientId, secret_id: &str) -> StoreResult<bool> {
        delegate!(self.delete_secret(client_id, secret_id))
    }

    async fn touch_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: u64,
    ) -> StoreResult<()> {
        delegate!(self.touch_secret(client_id, secret_id, at))
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        delegate!(self.list_keys())
    }

    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
    ) -> StoreResult<bool> {
        delegate!(self.save_key_ring(keys, expected_kids))
    }

    async fn revoke_token(&self, revocation: &TokenRevocation) -> StoreResult<()> {
        delegate!(self.revoke_token(revocation))
    }

    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        delegate!(self.is_token_revoked(jti))
    }

    async fn revocations_since(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<(Vec<RevocationEntry>, Option<u64>)> {
        delegate!(self.revocations_since(after, limit))
    }

    async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        delegate!(self.purge_revocations(before))
    }

    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        delegate!(self.create_auth_code(code))
    }

    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode> {
        delegate!(self.consume_auth_code(code_hash, now))
    }

    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64> {
        delegate!(self.purge_auth_codes(before))
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()> {
        delegate!(self.create_grant(grant, refresh))
    }

    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        delegate!(self.get_grant(grant_id))
    }

    async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>> {
        delegate!(self.list_grants(client_id, user_id))
    }

    async fn get_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        delegate!(self.get_refresh_token(token_hash))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh> {
        delegate!(self.rotate_refresh_token(old_hash, new, now))
    }

    async fn revoke_grant(
        &self,
        client_id: &ClientId,
        grant_id: &str,
        now: u64,
    ) -> StoreResult<Option<Vec<TokenRevocation>>> {
        delegate!(self.revoke_grant(client_id, grant_id, now))
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        delegate!(self.append_audit(events))
    }

    async fn list_audit(
        &self,
        client_id: Option<&ClientId>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEvent, u64>> {
        delegate!(self.list_audit(client_id, before, limit))
    }
}
