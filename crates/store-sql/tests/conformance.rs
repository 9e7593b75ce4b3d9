//! The Store conformance suite, one test per section, on a SQLite file, on
//! in-memory SQLite, and on PostgreSQL (a schema of its own per section;
//! skipped when `M2M_TEST_POSTGRES_URL` is unset).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use m2m_store_sql::{PostgresStore, SqlStore, SqliteStore};
use sqlx::Connection;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// This process's folder for database files, under Cargo's folder for test
/// files; folders that earlier runs left behind are removed when they are
/// an hour old.
fn files() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = root.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

mod sqlite_file {
    use super::*;

    async fn fresh() -> SqliteStore {
        let path = files().join(format!("m2m-{}.db", NEXT.fetch_add(1, Ordering::Relaxed)));
        SqliteStore::open(&path)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
    }

    m2m_store_conformance::suite!(fresh);
}

mod sqlite_in_memory {
    use super::*;

    async fn fresh() -> SqlStore {
        SqlStore::connect("sqlite::memory:")
            .await
            .unwrap_or_else(|e| panic!("open in-memory SQLite: {e}"))
    }

    m2m_store_conformance::suite!(fresh);
}

mod postgres {
    use super::*;

    /// Schemas of this suite are named `m2m_conformance_{unix seconds}_...`;
    /// those 15 minutes old are dropped by whichever run comes next.
    async fn drop_old_schemas(url: &str, now: u64) {
        let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
            return;
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'm2m\\_conformance\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        for name in names {
            let made = name
                .split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<u64>().ok());
            if made.is_some_and(|made| made + 900 < now) {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .execute(&mut conn)
                    .await;
            }
        }
        let _ = conn.close().await;
    }

    async fn fresh() -> Option<PostgresStore> {
        let url = std::env::var("M2M_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        static CLEANED: AtomicBool = AtomicBool::new(false);
        if !CLEANED.swap(true, Ordering::Relaxed) {
            drop_old_schemas(&url, now).await;
        }
        let schema = format!(
            "m2m_conformance_{now}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Some(
            PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}")),
        )
    }

    m2m_store_conformance::suite!(optional = fresh);
}
