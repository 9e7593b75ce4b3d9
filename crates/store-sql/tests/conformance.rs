//! The issuer's Store conformance suite, on SQLite files, on in-memory
//! SQLite, and on PostgreSQL (a fresh schema for each section).

use std::sync::atomic::{AtomicU32, Ordering};

use m2m_issuer::store::conformance;
use m2m_store_sql::{PostgresStore, SqlStore, SqliteStore};

use crate::support::with_postgres_schema;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    conformance::run(|| {
        n += 1;
        let path = dir.path().join(format!("m2m-{n}.db"));
        async move { SqliteStore::open(path).await.expect("open SQLite file") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_passes_the_conformance_suite() {
    conformance::run(|| async {
        SqlStore::connect("sqlite::memory:")
            .await
            .expect("open in-memory SQLite")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_suite() {
    with_postgres_schema(
        "postgres_passes_the_conformance_suite",
        |url, schema| async move {
            let n = AtomicU32::new(0);
            conformance::run(|| {
                let section = format!("{schema}_{}", n.fetch_add(1, Ordering::Relaxed));
                let url = url.clone();
                async move {
                    PostgresStore::connect_with_schema(&url, &section)
                        .await
                        .expect("M2M_TEST_POSTGRES_URL is set but")
                }
            })
            .await;
        },
    )
    .await;
}
