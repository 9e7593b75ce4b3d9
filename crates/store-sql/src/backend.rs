//! [`Backend`]: the store over one connection pool of any [`Dialect`]. Its
//! operations live in the table modules (`tables/`), one `impl` block each;
//! this module has what they share: connections, transactions, and running
//! a [`Sql`] on them with errors mapped to [`StoreError`]s.

use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use m2m_issuer::store::{StoreError, StoreResult};

use crate::dialect::{Dialect, Sql};
use crate::rows::backend;

/// The store on one pool. Cloning shares the pool.
pub(crate) struct Backend<D: Dialect> {
    pool: Pool<D>,
}

impl<D: Dialect> Clone for Backend<D> {
    fn clone(&self) -> Self {
        Backend {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Dialect> Backend<D> {
    pub(crate) fn new(pool: Pool<D>) -> Self {
        Backend { pool }
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// A connection for one statement (each statement is atomic on its own).
    pub(crate) async fn conn(&self) -> StoreResult<PoolConnection<D>> {
        self.pool.acquire().await.map_err(backend)
    }

    /// A transaction that may read and then write: on SQLite it holds the
    /// write lock from its start (`BEGIN IMMEDIATE`), so what it read is
    /// still true when it writes; on PostgreSQL, what must stay true is
    /// locked row by row ([`Dialect::FOR_UPDATE`]).
    pub(crate) async fn write(&self) -> StoreResult<Transaction<'static, D>> {
        self.pool.begin_with(D::BEGIN_WRITE).await.map_err(backend)
    }
}

/// Runs a statement; returns how many rows it changed.
pub(crate) async fn execute<D: Dialect>(
    conn: &mut D::Connection,
    sql: Sql<'_>,
) -> StoreResult<u64> {
    D::execute(conn, &sql).await.map_err(backend)
}

/// Runs an insert: a duplicate key is a [`StoreError::Conflict`] about `what`.
pub(crate) async fn insert<D: Dialect>(
    conn: &mut D::Connection,
    sql: Sql<'_>,
    what: impl FnOnce() -> String,
) -> StoreResult<u64> {
    D::execute(conn, &sql)
        .await
        .map_err(|e| crate::rows::insert_error(e, what))
}

/// Runs a query; returns every row.
pub(crate) async fn fetch_all<D: Dialect>(
    conn: &mut D::Connection,
    sql: Sql<'_>,
) -> StoreResult<Vec<D::Row>> {
    D::fetch_all(conn, &sql).await.map_err(backend)
}

/// Runs a query; returns its first row, if any.
pub(crate) async fn fetch_optional<D: Dialect>(
    conn: &mut D::Connection,
    sql: Sql<'_>,
) -> StoreResult<Option<D::Row>> {
    D::fetch_optional(conn, &sql).await.map_err(backend)
}

/// Runs a query that always returns a row.
pub(crate) async fn fetch_one<D: Dialect>(
    conn: &mut D::Connection,
    sql: Sql<'_>,
) -> StoreResult<D::Row> {
    fetch_optional::<D>(conn, sql).await?.ok_or_else(|| {
        StoreError::Corrupt("a query that always returns a row returned none".to_owned())
    })
}

/// Commits a transaction.
pub(crate) async fn commit<D: Dialect>(tx: Transaction<'static, D>) -> StoreResult<()> {
    tx.commit().await.map_err(backend)
}
