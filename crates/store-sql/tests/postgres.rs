//! The scenarios on PostgreSQL, each in a schema of its own, with the
//! store's multi-connection pool.

use m2m_core::{ClientId, ClientKind};
use m2m_issuer::store::Store;
use m2m_store_sql::{PostgresStore, SqlStore};

use crate::scenarios;
use crate::support::{self, NOW, client, secret, with_postgres, with_postgres_schema};

#[tokio::test]
async fn records_round_trip() {
    with_postgres("records_round_trip", |store| async move {
        scenarios::records_round_trip(&store).await;
    })
    .await;
}

#[tokio::test]
async fn expired_secrets_do_not_count() {
    with_postgres("expired_secrets_do_not_count", |store| async move {
        scenarios::expired_secrets_do_not_count(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_limit_holds_under_concurrency() {
    with_postgres("secret_limit_holds_under_concurrency", |store| async move {
        scenarios::secret_limit_holds_under_concurrency(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_races_with_add_secret() {
    with_postgres("delete_races_with_add_secret", |store| async move {
        scenarios::delete_races_with_add_secret(&store).await;
    })
    .await;
}

#[tokio::test]
async fn revocation_log() {
    with_postgres("revocation_log", |store| async move {
        scenarios::revocation_log(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_revocations_lose_nothing() {
    with_postgres("concurrent_revocations_lose_nothing", |store| async move {
        scenarios::concurrent_revocations_lose_nothing(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_ring_compare_and_swap() {
    with_postgres("key_ring_compare_and_swap", |store| async move {
        scenarios::key_ring_compare_and_swap(&store).await;
    })
    .await;
}

#[tokio::test]
async fn audit_pages_newest_first() {
    with_postgres("audit_pages_newest_first", |store| async move {
        scenarios::audit_pages_newest_first(&store).await;
    })
    .await;
}

/// Reconnecting to a schema keeps its data and migrates nothing twice;
/// another schema in the same database sees none of it.
#[tokio::test]
async fn schemas_are_separate_and_reconnecting_keeps_data() {
    with_postgres_schema("schemas_are_separate", |url, schema| async move {
        let c = client("m2m_pg", ClientKind::Org, Some("o"));
        let store = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        store
            .create_client(&c, &secret("m2m_pg", "s", None))
            .await
            .unwrap();
        store.close().await;
        let again = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        assert_eq!(
            again.get_client(&c.client_id).await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(again.list_secrets(&c.client_id).await.unwrap().len(), 1);
        again.close().await;
        with_postgres("schemas_are_separate (other)", move |other| async move {
            assert_eq!(
                other.get_client(&ClientId::new("m2m_pg")).await.unwrap(),
                None
            );
        })
        .await;
    })
    .await;
}

/// `SqlStore::connect` picks PostgreSQL by scheme (`postgresql:` too).
#[tokio::test]
async fn sql_store_dispatches_on_scheme() {
    with_postgres_schema("sql_store_dispatches_on_scheme", |url, schema| async move {
        // Put the search path in the URL, as a deployment would.
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}options=-c%20search_path%3D{schema}").replacen(
            "postgres://",
            "postgresql://",
            1,
        );
        // The schema must exist first when only the URL names it.
        let _made = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        let store = SqlStore::connect(&url).await.unwrap();
        assert!(matches!(store, SqlStore::Postgres(_)), "{store:?}");
        assert!(store.list_keys().await.unwrap().is_empty());
        assert_eq!(NOW, support::NOW);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn bad_schema_name_is_refused() {
    let err = PostgresStore::connect_with_schema("postgres://u@127.0.0.1:1/x", "Robert'); DROP")
        .await
        .expect_err("bad name");
    assert!(err.to_string().contains("schema name"), "{err}");
}
