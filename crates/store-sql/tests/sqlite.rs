//! What only SQLite has: a file that several pools (processes) share, that
//! is reopened, whose tables are STRICT, and whose rows can be edited behind
//! the store's back.

use m2m_core::{ClientId, ClientKind, RevokedToken};
use m2m_issuer::store::{AddSecret, Store, StoreError};
use m2m_store_sql::{SqlStore, SqliteStore};
use sqlx::{Connection, Row};

use crate::support::{self, NOW, client, key, secret};

/// Two stores (as two processes would) on one file still keep the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_limit_holds_across_pools() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    a.create_client(
        &client("m2m_two", ClientKind::Org, Some("o")),
        Some(&secret("m2m_two", "s", None)),
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
    let mut added = 0;
    for task in tasks {
        if task.await.unwrap() == AddSecret::Added {
            added += 1;
        }
    }
    assert_eq!(added, 4, "4 of 20 adders across two pools get in");
    assert_eq!(
        a.list_secrets(&ClientId::new("m2m_two"))
            .await
            .unwrap()
            .len(),
        5
    );
}

/// Everything written is there after closing and reopening the file, and
/// migrating again changes nothing.
#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    let c = client("m2m_keep", ClientKind::Org, Some("o"));
    let revoked = RevokedToken {
        jti: "j".into(),
        exp: NOW + 60,
    };
    let head = {
        let store = SqlStore::connect(&url).await.unwrap();
        store
            .create_client(&c, Some(&secret("m2m_keep", "s1", None)))
            .await
            .unwrap();
        assert!(
            store
                .save_key_ring(&[key("k1", NOW)], &[], None)
                .await
                .unwrap()
        );
        assert!(
            store
                .revoke_token(&revoked, &c.client_id, NOW)
                .await
                .unwrap()
        );
        let head = store.revocations_since(0, 10).await.unwrap().head;
        store.close().await;
        head
    };
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
    let page = store.revocations_since(0, 10).await.unwrap();
    assert_eq!(page.head, head, "the head survives a reopen");
    assert_eq!(page.entries.len(), 1);
    assert!(
        !store
            .revoke_token(&revoked, &c.client_id, NOW)
            .await
            .unwrap()
    );
}

/// Every table of the schema is STRICT, and so refuses a value of the wrong
/// type instead of storing it; the file is in WAL mode.
#[tokio::test]
async fn tables_are_strict_and_the_file_is_in_wal_mode() {
    let (dir, _store) = support::sqlite().await;
    let mut conn = sqlx::SqliteConnection::connect(&support::sqlite_url(&dir))
        .await
        .unwrap();
    let tables: Vec<(String, bool)> = sqlx::query(
        "SELECT name, strict FROM pragma_table_list \
         WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get("name"), row.get::<i64, _>("strict") == 1))
    .collect();
    let names: Vec<&str> = tables.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "assertion_ids",
            "audit_events",
            "auth_codes",
            "clients",
            "exchanged_tokens",
            "federated_credentials",
            "grants",
            "org_quotas",
            "refresh_tokens",
            "revocation_head",
            "revocation_log",
            "secrets",
            "signing_keys",
            "store_locks",
            "usage_counters"
        ],
        "the tables of the schema"
    );
    let loose: Vec<&str> = tables
        .iter()
        .filter(|(_, strict)| !strict)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(loose.is_empty(), "tables that are not STRICT: {loose:?}");

    // And STRICT does what it says, on the tables a bug would hit first.
    for sql in [
        "INSERT INTO revocation_log (seq, kind, jti, client_id, exp, revoked_at) \
         VALUES (1, 'token', 'j', 'c', 'soon', 0)",
        "INSERT INTO clients (client_id, name, kind, scopes, audiences, token_ttl, \
         redirect_uris, metadata, enabled, created_at, updated_at) \
         VALUES ('c', 'n', 'org', '', '[]', '900s', '[]', '{}', 1, 0, 0)",
    ] {
        let err = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect_err("a text in an INTEGER column of a STRICT table");
        assert!(
            err.to_string()
                .contains("cannot store TEXT value in INTEGER column"),
            "{sql}: {err}"
        );
    }

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
        .create_client(&c, Some(&secret("m2m_bad", "s1", None)))
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

    let revoked = RevokedToken {
        jti: "j".into(),
        exp: NOW,
    };
    assert!(
        store
            .revoke_token(&revoked, &c.client_id, NOW)
            .await
            .unwrap()
    );
    sqlx::query("UPDATE revocation_log SET exp = -5")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = store
        .revocations_since(0, 10)
        .await
        .expect_err("negative exp");
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("exp")),
        "{err}"
    );
}

/// A time beyond what the database can hold is refused, not wrapped.
#[tokio::test]
async fn out_of_range_times_are_refused() {
    let (_dir, store) = support::sqlite().await;
    let mut c = client("m2m_far", ClientKind::Org, Some("o"));
    c.created_at = u64::MAX;
    let err = store
        .create_client(&c, Some(&secret("m2m_far", "s", None)))
        .await
        .expect_err("u64::MAX");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), None);
}
