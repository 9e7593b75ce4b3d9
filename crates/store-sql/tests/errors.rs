//! Opening a store that cannot be opened gives a one-line error, not a panic,
//! and never shows a password.

use std::time::{Duration, Instant};

use m2m_store_sql::{SqlStore, SqlStoreError};

async fn open_fails(url: &str) -> SqlStoreError {
    let err = SqlStore::connect(url).await.expect_err(url);
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(!text.contains("hunter2"), "no password: {text}");
    assert!(
        !format!("{err:?}").contains("hunter2"),
        "no password in Debug: {err:?}"
    );
    err
}

#[tokio::test]
async fn unknown_scheme() {
    let err = open_fails("mysql://root:hunter2@localhost/db").await;
    assert!(matches!(err, SqlStoreError::InvalidUrl(_)), "{err}");
    let err = open_fails("m2m.db").await;
    assert!(matches!(err, SqlStoreError::InvalidUrl(_)), "{err}");
}

#[tokio::test]
async fn malformed_postgres_url() {
    let err = open_fails("postgres://u:hunter2@127.0.0.1:notaport/db").await;
    assert!(matches!(err, SqlStoreError::InvalidUrl(_)), "{err}");
}

#[tokio::test]
async fn sqlite_file_that_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    // Without mode=rwc the file must exist.
    let url = format!("sqlite://{}", dir.path().join("missing.db").display());
    let err = open_fails(&url).await;
    assert!(matches!(err, SqlStoreError::Connect { .. }), "{err}");
    // A directory that does not exist.
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("no/such/dir.db").display()
    );
    let err = open_fails(&url).await;
    assert!(
        err.to_string().starts_with("cannot open SQLite database"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_postgres_fails_fast() {
    // Port 1 on the loopback: nothing listens, the connection is refused.
    let started = Instant::now();
    let err = open_fails("postgres://m2m:hunter2@127.0.0.1:1/m2m").await;
    assert!(matches!(err, SqlStoreError::Connect { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot open PostgreSQL at 127.0.0.1:1/m2m"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_newer_schema_fails_the_migration() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&dir);
    SqlStore::connect(&url).await.unwrap().close().await;
    // Pretend a newer m2m-store-sql migrated this file.
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = open_fails(&url).await;
    assert!(matches!(err, SqlStoreError::Migrate { .. }), "{err}");
}

/// Opening a store and using it work inside `tokio::spawn`: the futures are `Send`.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let connect = SqlStore::connect("sqlite::memory:");
    assert_send(&connect);
    let sqlite = m2m_store_sql::SqliteStore::open("unused.db");
    assert_send(&sqlite);
    let postgres = m2m_store_sql::PostgresStore::connect_with_schema("postgres://x", "s");
    assert_send(&postgres);
}
