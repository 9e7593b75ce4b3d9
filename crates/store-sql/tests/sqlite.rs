//! The scenarios on SQLite files, plus what only SQLite has: reopening a file.

use m2m_core::{ClientId, ClientKind};
use m2m_issuer::store::{Store, StoreError, TokenRevocation};
use m2m_store_sql::{SqlStore, SqliteStore};
use sqlx::{Connection, Row};

use crate::scenarios;
use crate::support::{self, NOW, client, key, secret};

#[tokio::test]
async fn records_round_trip() {
    let (_dir, store) = support::sqlite().await;
    scenarios::records_round_trip(&store).await;
}

#[tokio::test]
async fn records_round_trip_in_memory() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    scenarios::records_round_trip(&store).await;
    scenarios::secret_limit_holds_under_concurrency(&store).await;
}

#[tokio::test]
async fn expired_secrets_do_not_count() {
    let (_dir, store) = support::sqlite().await;
    scenarios::expired_secrets_do_not_count(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_limit_holds_under_concurrency() {
    let (_dir, store) = support::sqlite().await;
    scenarios::secret_limit_holds_under_concurrency(&store).await;
}

/// Two stores (as two processes would) on one file still keep the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_limit_holds_across_pools() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    a.create_client(
        &client("m2m_two", ClientKind::Org, Some("o")),
        &secret("m2m_two", "s", None),
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                store
                    .add_secret(&secret("m2m_two", &format!("s{i}"), None), 5, NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        a.list_secrets(&ClientId::new("m2m_two"))
            .await
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_races_with_add_secret() {
    let (_dir, store) = support::sqlite().await;
    scenarios::delete_races_with_add_secret(&store).await;
}

#[tokio::test]
async fn revocation_log() {
    let (_dir, store) = support::sqlite().await;
    scenarios::revocation_log(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_revocations_lose_nothing() {
    let (_dir, store) = support::sqlite().await;
    scenarios::concurrent_revocations_lose_nothing(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_ring_compare_and_swap() {
    let (_dir, store) = support::sqlite().await;
    scenarios::key_ring_compare_and_swap(&store).await;
}

#[tokio::test]
async fn audit_pages_newest_first() {
    let (_dir, store) = support::sqlite().await;
    scenarios::audit_pages_newest_first(&store).await;
}

/// Everything written is there after closing and reopening the file, and
/// migrating again changes nothing.
#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    let c = client("m2m_keep", ClientKind::Org, Some("o"));
    {
        let store = SqlStore::connect(&url).await.unwrap();
        store
            .create_client(&c, &secret("m2m_keep", "s1", None))
            .await
            .unwrap();
        assert!(store.save_key_ring(&[key("k1", NOW)], &[]).await.unwrap());
        let revocation = TokenRevocation {
            jti: "j".into(),
            client_id: c.client_id.clone(),
            exp: NOW + 60,
            revoked_at: NOW,
        };
        store.revoke_token(&revocation).await.unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(dir.path().join("m2m.db")).await.unwrap();
    assert_eq!(
        store.get_client(&c.client_id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.list_secrets(&c.client_id).await.unwrap(),
        vec![secret("m2m_keep", "s1", None)]
    );
    assert_eq!(store.list_keys().await.unwrap(), vec![key("k1", NOW)]);
    assert!(store.is_token_revoked("j").await.unwrap());
}

/// The file is in WAL mode, and SQLite's STRICT tables refuse wrong types.
#[tokio::test]
async fn file_is_in_wal_mode() {
    let (dir, _store) = support::sqlite().await;
    let mut conn = sqlx::SqliteConnection::connect(&support::sqlite_url(&dir))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

/// A row that does not parse back is `Corrupt`, not a panic.
#[tokio::test]
async fn unreadable_rows_are_corrupt() {
    let (dir, store) = support::sqlite().await;
    let c = client("m2m_bad", ClientKind::Org, Some("o"));
    store
        .create_client(&c, &secret("m2m_bad", "s1", None))
        .await
        .unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&support::sqlite_url(&dir))
        .await
        .unwrap();
    for (sql, what) in [
        ("UPDATE clients SET kind = 'robot'", "kind"),
        (
            "UPDATE clients SET kind = 'org', metadata = '{not json'",
            "metadata",
        ),
        (
            "UPDATE clients SET metadata = '{}', token_ttl = 5",
            "token_ttl",
        ),
        (
            "UPDATE clients SET token_ttl = 900, created_at = -1",
            "created_at",
        ),
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        let err = store.get_client(&c.client_id).await.expect_err(what);
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains(what)),
            "{what}: {err}"
        );
    }
    sqlx::query("UPDATE secrets SET hash = x'0102'")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = store
        .list_secrets(&c.client_id)
        .await
        .expect_err("short hash");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// A time beyond what the database can hold is refused, not wrapped.
#[tokio::test]
async fn out_of_range_times_are_refused() {
    let (_dir, store) = support::sqlite().await;
    let mut c = client("m2m_far", ClientKind::Org, Some("o"));
    c.created_at = u64::MAX;
    let err = store
        .create_client(&c, &secret("m2m_far", "s", None))
        .await
        .expect_err("u64::MAX");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), None);
}
