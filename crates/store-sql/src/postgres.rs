//! [`PostgresStore`]: the store in a PostgreSQL database that several issuer
//! replicas share.
//!
//! Transactions run at PostgreSQL's default isolation, READ COMMITTED, and
//! serialize where an invariant needs it by locking a row `FOR UPDATE` (the
//! queries are the same as on SQLite; see the crate docs' table):
//!
//! - adding a secret locks the client's row, then counts and inserts, so
//!   concurrent adders for one client take turns (adders for different
//!   clients do not wait for each other);
//! - saving the key ring locks the `key_ring` row of `store_locks`, then
//!   compares the stored kids and replaces them;
//! - appending to the revocation log locks the one row of `revocation_head`
//!   before taking a sequence number, and writes the new head back in the
//!   same transaction. Without the lock, two appends could commit out of
//!   sequence order, and a reader that saw seq 11 before seq 10 committed
//!   would move its cursor past 10 and never see it. With it, appends commit
//!   in sequence order, and a rolled-back append hands out no number.
//!   Appends are rare (a revocation, a client change), so the lock costs
//!   nothing that matters.
//!
//! Every statement within a transaction after a lock sees what the previous
//! lock holder committed (READ COMMITTED takes a snapshot per statement).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, Postgres};

use crate::SqlStoreError;
use crate::backend::Backend;
use crate::forward::forward_store;

/// How long opening the first connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections in the pool of each replica.
const MAX_CONNECTIONS: u32 = 10;

/// The issuer's [`Store`](m2m_issuer::store::Store) in a PostgreSQL database.
///
/// Cloning is cheap: clones share one connection pool.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use m2m_issuer::store::Store;
/// use m2m_store_sql::PostgresStore;
///
/// // Several stores (or test runs) can share one database, a schema each.
/// let store = PostgresStore::connect_with_schema("postgres://m2m@localhost/m2m", "issuer").await?;
/// assert!(store.revocations_since(0, 100).await?.entries.is_empty());
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    backend: Backend<Postgres>,
    target: Arc<str>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` and
    /// migrates the first schema of the search path (normally `public`).
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        Self::connect_inner(url, None).await
    }

    /// Like [`connect`](Self::connect), but keeps everything in `schema`,
    /// created if missing: several stores (or test runs) can share one
    /// database without seeing each other. `schema` is 1 to 63 of
    /// `a-z`, `0-9` and `_`, starting with a letter or `_`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, SqlStoreError> {
        Self::connect_inner(url, Some(schema)).await
    }

    async fn connect_inner(url: &str, schema: Option<&str>) -> Result<Self, SqlStoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| SqlStoreError::InvalidUrl(e.to_string()))?;
        let mut target = format!(
            "PostgreSQL at {}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        if let Some(schema) = schema {
            check_schema_name(schema)?;
            options = options.options([("search_path", schema)]);
            target = format!("{target} (schema {schema})");
        }
        // One connection first, without the pool's retries, so that an
        // unreachable server fails fast with its real reason.
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                SqlStoreError::connect(
                    &target,
                    format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })?
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        if let Some(schema) = schema {
            // The name was checked above: it needs no quoting beyond this.
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&mut conn)
                .await
                .map_err(|e| SqlStoreError::migrate(&target, e))?;
        }
        // Takes a database-wide advisory lock, so replicas starting together
        // migrate one after the other.
        let migrator = crate::migrate::migrator(crate::migrate::POSTGRES)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        migrator
            .run_direct(&mut conn)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        // Best effort: the pool opens its own connections.
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        Ok(PostgresStore {
            backend: Backend::new(pool),
            target: target.into(),
        })
    }

    /// Closes the connection pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.backend.close().await;
    }

    pub(crate) fn backend(&self) -> &Backend<Postgres> {
        &self.backend
    }
}

forward_store!(PostgresStore, backend);

fn check_schema_name(schema: &str) -> Result<(), SqlStoreError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(SqlStoreError::InvalidUrl(format!(
            "schema name `{schema}`: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
        )))
    }
}
