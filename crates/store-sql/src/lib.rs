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
//! so they hold across connections, processes and replicas. Every query is
//! written once for both databases; they differ only in how a transaction
//! that reads and then writes keeps what it read true: SQLite starts it with
//! `BEGIN IMMEDIATE` (the file's one write lock, taken at once), PostgreSQL
//! (READ COMMITTED) reads the rows that must not change `FOR UPDATE`.
//!
//! | invariant | SQLite | PostgreSQL |
//! |---|---|---|
//! | at most `max_live` live secrets | `BEGIN IMMEDIATE`: one writer at a time | the client's row `FOR UPDATE`, then count and insert |
//! | a client's change or deletion with its revocation entry | one transaction | one transaction; the client's row is written (locked) first |
//! | key ring compare-and-swap, with a killed key's entry | `BEGIN IMMEDIATE` | the `key_ring` row of `store_locks` `FOR UPDATE`, then compare and replace |
//! | log sequence numbers never reused | `revocation_head` read and bumped in the append's transaction | the same |
//! | log entries visible in sequence order | one writer at a time | `revocation_head` `FOR UPDATE` before taking a number, held until commit |
//! | a token logged once | the jti looked up after the head is locked (and `UNIQUE`) | the same |
//! | `is_revoked`, purge: index lookups | the jti's unique index, `revocation_log_by_client`, `revocation_log_by_kid`, `revocation_log_by_exp` | the same |
//! | an authorization code used once | `UPDATE ... WHERE used_at IS NULL RETURNING` | the same |
//! | a refresh token rotated once | `BEGIN IMMEDIATE`, then the same conditional update | the grant's row `FOR UPDATE`, then `UPDATE ... WHERE used_at IS NULL` |
//! | a grant's revocation with its access tokens' entries | one transaction | the grant's row written (locked) first, then its family read by a new statement, so a rotation that held the row is seen |
//! | a grant revoked before it exists stays revoked | `BEGIN IMMEDIATE`: the tombstone and `create_grant` take turns | `INSERT ... ON CONFLICT DO UPDATE`: it inserts the tombstone (a racing `create_grant` then fails on the key) or waits for the racing `create_grant` and revokes its grant |
//!
//! Row locks are taken in one order (a client or grant row, the `key_ring`
//! row, the revocation head), so transactions never wait for each other in
//! a circle.
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

mod backend;
mod dialect;
mod error;
mod forward;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tables;

use m2m_issuer::store::Store;

use crate::forward::forward_store;

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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use m2m_store_sql::{SqlStore, SqlStoreError};
    /// let err = SqlStore::connect("mysql://db/m2m").await.unwrap_err();
    /// assert!(matches!(err, SqlStoreError::InvalidUrl(_)));
    /// # }
    /// ```
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

impl SqlStore {
    /// The backend this is, as a `Store`.
    fn store(&self) -> &dyn Store {
        match self {
            #[cfg(feature = "sqlite")]
            SqlStore::Sqlite(store) => store,
            #[cfg(feature = "postgres")]
            SqlStore::Postgres(store) => store,
        }
    }
}

forward_store!(SqlStore, store);
