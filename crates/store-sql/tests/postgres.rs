//! What only PostgreSQL has: schemas, and URLs that name one.

use m2m_core::{ClientId, ClientKind};
use m2m_issuer::store::Store;
use m2m_store_sql::{PostgresStore, SqlStore};

use crate::support::{client, secret, with_postgres, with_postgres_schema};

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
            .create_client(&c, Some(&secret("m2m_pg", "s", None)))
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

/// `SqlStore::connect` picks PostgreSQL by scheme (`postgresql:` too) and
/// uses the schema that the URL's `search_path` names: it reads what a store
/// of that schema wrote, and writes where that store reads.
#[tokio::test]
async fn sql_store_dispatches_on_scheme_and_keeps_the_urls_schema() {
    with_postgres_schema("sql_store_dispatches_on_scheme", |url, schema| async move {
        let written = client("m2m_in_schema", ClientKind::Org, Some("o"));
        let direct = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        direct
            .create_client(&written, Some(&secret("m2m_in_schema", "s", None)))
            .await
            .unwrap();
        // Put the search path in the URL, as a deployment would.
        let sep = if url.contains('?') { '&' } else { '?' };
        let with_path = format!("{url}{sep}options=-c%20search_path%3D{schema}");
        for url in [
            with_path.clone(),
            with_path.replacen("postgres://", "postgresql://", 1),
        ] {
            let store = SqlStore::connect(&url).await.unwrap();
            assert!(matches!(store, SqlStore::Postgres(_)), "{url}: {store:?}");
            assert_eq!(
                store.get_client(&written.client_id).await.unwrap(),
                Some(written.clone()),
                "{url}: SqlStore must read the schema the URL names"
            );
            store.close().await;
        }
        let store = SqlStore::connect(&with_path).await.unwrap();
        let other = client("m2m_via_url", ClientKind::Org, Some("o"));
        store
            .create_client(&other, Some(&secret("m2m_via_url", "s", None)))
            .await
            .unwrap();
        store.close().await;
        assert_eq!(
            direct.get_client(&other.client_id).await.unwrap(),
            Some(other),
            "SqlStore must write into the schema the URL names"
        );
        direct.close().await;
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
