//! [`SqliteStore`]: the store in one SQLite file.
//!
//! Settings, on every connection:
//!
//! - `journal_mode = WAL`: readers never block the writer or each other.
//! - `synchronous = NORMAL`: a committed transaction survives a crash of the
//!   process (it is in the WAL, which the OS holds); a power loss or OS crash
//!   may lose the last transactions before a checkpoint, never corrupt the
//!   file. That is SQLite's recommended setting for WAL.
//! - `busy_timeout = 5 s`: a writer waits for another instead of failing.
//! - `foreign_keys = ON`.
//!
//! SQLite has one writer at a time per file. Every transaction that reads
//! and then writes starts with `BEGIN IMMEDIATE`, which takes the write lock
//! first, so the read and the write are one atomic step even across
//! processes sharing the file (a plain `BEGIN` would take it only at the
//! first write, and fail with `SQLITE_BUSY` if another writer came between).
//! Every table is `STRICT`: a value of the wrong type is refused, not stored.
//!
//! A new database file is created readable by its owner only (0600 on Unix)
//! before SQLite opens it: it holds secret hashes and the audit log. SQLite
//! gives the `-wal` and `-shm` files the main file's mode.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::SqlStoreError;
use crate::backend::Backend;
use crate::forward::forward_store;

/// How long a writer waits for the write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool of a file database. Reads run in parallel; writes
/// take turns whatever the pool size.
const MAX_CONNECTIONS: u32 = 4;

/// Creates `path` empty with mode 0600 unless it exists, so that SQLite,
/// which would create it with the umask's mode (0644 as a rule), opens a
/// private file and gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The issuer's [`Store`](m2m_issuer::store::Store) in a SQLite database.
///
/// Cloning is cheap: clones share one connection pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use m2m_core::{ClientId, RevokedToken};
/// use m2m_issuer::store::Store;
/// use m2m_store_sql::SqliteStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("m2m.db")).await?;
/// let token = RevokedToken { jti: "jti-1".into(), exp: 1_700_000_900 };
/// assert!(store.revoke_token(&token, &ClientId::new("m2m_a"), 1_700_000_000).await?);
/// let page = store.revocations_since(0, 100).await?;
/// assert_eq!((page.entries.len(), page.head), (1, 1));
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    backend: Backend<Sqlite>,
    target: Arc<str>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("database", &self.target)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens `sqlite://PATH?mode=rwc` (creating the file), `sqlite://PATH`
    /// (the file must exist) or `sqlite::memory:`, and migrates it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use m2m_issuer::store::Store;
    /// let store = m2m_store_sql::SqliteStore::connect("sqlite::memory:").await?;
    /// assert!(store.list_keys().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| SqlStoreError::InvalidUrl(e.to_string()))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let creates = !in_memory
            && url
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|p| p == "mode=rwc"));
        Self::connect_with(options, in_memory, creates).await
    }

    /// Opens the database file at `path`, creating it if missing, and migrates it.
    pub async fn open(path: impl AsRef<std::path::Path>) -> Result<Self, SqlStoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect_with(options, false, true).await
    }

    async fn connect_with(
        options: SqliteConnectOptions,
        in_memory: bool,
        creates: bool,
    ) -> Result<Self, SqlStoreError> {
        let target: Arc<str> = if in_memory {
            "SQLite in-memory database".into()
        } else {
            format!("SQLite database {}", options.get_filename().display()).into()
        };
        if creates {
            create_private(options.get_filename())
                .map_err(|e| SqlStoreError::connect(&target, e))?;
        }
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = if in_memory {
            // Each connection to `:memory:` would be its own database: keep
            // exactly one, for the life of the store.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        let migrator = crate::migrate::migrator(crate::migrate::SQLITE)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        migrator
            .run_direct(&mut *conn)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        drop(conn);
        Ok(SqliteStore {
            backend: Backend::new(pool),
            target,
        })
    }

    /// Closes the connection pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.backend.close().await;
    }

    pub(crate) fn backend(&self) -> &Backend<Sqlite> {
        &self.backend
    }
}

forward_store!(SqliteStore, backend);

#[cfg(test)]
mod tests {
    use sqlx::Row;

    /// Every connection of the pool has the settings the module docs promise.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_connection_has_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(dir.path().join("settings.db"))
            .await
            .unwrap();
        // Hold several at once, so that the pool opens more than one.
        let mut held = Vec::new();
        for _ in 0..super::MAX_CONNECTIONS {
            held.push(store.backend().conn().await.unwrap());
        }
        for conn in &mut held {
            for (pragma, expected) in [
                ("journal_mode", "wal".to_owned()),
                ("synchronous", "1".to_owned()), // NORMAL
                ("busy_timeout", super::BUSY_TIMEOUT.as_millis().to_string()),
                ("foreign_keys", "1".to_owned()),
            ] {
                let row = sqlx::query(Box::leak(format!("PRAGMA {pragma}").into_boxed_str()))
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap();
                let value = row
                    .try_get::<String, _>(0)
                    .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                    .unwrap();
                assert_eq!(value, expected, "PRAGMA {pragma}");
            }
        }
    }
}
