//! Records to store, and databases to store them in.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use m2m_core::{
    Algorithm, ClientId, ClientKind, KeySchedule, OrgId, PublicJwk, ScopeSet, SecretHash, TokenTtl,
    UserId,
};
use m2m_issuer::store::{ClientRecord, SecretRecord, StoredKey, TokenEndpointAuthMethod};
use m2m_store_sql::{PostgresStore, SqliteStore};
use sqlx::Connection;

pub(crate) const NOW: u64 = 1_700_000_000;

pub(crate) fn client(id: &str, kind: ClientKind, org: Option<&str>) -> ClientRecord {
    ClientRecord {
        client_id: ClientId::new(id),
        name: format!("client {id} – ünïcode"),
        kind,
        org_id: org.map(OrgId::new),
        user_id: (kind == ClientKind::User).then(|| UserId::new("user_1")),
        scopes: ScopeSet::parse("invoices:read invoices:write").expect("scopes"),
        audiences: vec!["https://api.example.com".into(), "https://b.example".into()],
        token_ttl: TokenTtl::new(900).expect("ttl"),
        redirect_uris: vec!["https://app.example.com/cb?x=1&y=\"2\"".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::default(),
        client_keys: None,
        dpop_bound_access_tokens: false,
        token_exchange: None,
        quota: None,
        metadata: serde_json::json!({"team": "billing", "n": [1, 2.5, null], "nested": {"ok": true}}),
        enabled: true,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(crate) fn secret(client_id: &str, secret_id: &str, expires_at: Option<u64>) -> SecretRecord {
    let mut hash = [0u8; 32];
    for (i, byte) in secret_id.bytes().chain(client_id.bytes()).enumerate() {
        hash[i % 32] ^= byte;
    }
    SecretRecord {
        secret_id: secret_id.into(),
        client_id: ClientId::new(client_id),
        hash: SecretHash::from_bytes(hash),
        created_at: NOW,
        expires_at,
        last_used_at: None,
    }
}

pub(crate) fn key(kid: &str, created_at: u64) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: Algorithm::EdDSA,
        encrypted_private_key: vec![0, 1, 2, 255, kid.len() as u8],
        public_jwk: PublicJwk {
            kty: "OKP".into(),
            key_use: Some("sig".into()),
            alg: Some("EdDSA".into()),
            kid: Some(kid.into()),
            crv: Some("Ed25519".into()),
            x: Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()),
            y: None,
            n: None,
            e: None,
        },
        schedule: KeySchedule {
            created_at,
            signs_from: created_at + 60,
            signs_until: None,
            published_until: None,
        },
    }
}

/// A fresh SQLite file in a temporary directory (deleted with the `TempDir`).
pub(crate) async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let store = SqliteStore::connect(&url).await.expect("open SQLite");
    (dir, store)
}

pub(crate) fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display())
}

/// `M2M_TEST_POSTGRES_URL`, or `None` after saying the test is skipped.
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("M2M_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("{test}: skipped: M2M_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// Runs `body` against a store in a fresh, uniquely named schema, then drops
/// the schema (best effort) whether `body` passed or panicked. Skips when
/// `M2M_TEST_POSTGRES_URL` is unset; fails when it is set and unusable.
pub(crate) async fn with_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(PostgresStore) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let test_name = test.to_owned();
    with_postgres_schema(test, move |url, schema| async move {
        let store = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap_or_else(|e| panic!("{test_name}: M2M_TEST_POSTGRES_URL is set but: {e}"));
        body(store.clone()).await;
        store.close().await;
    })
    .await;
}

/// Runs `body` with the database URL and a fresh, unique schema name, then
/// drops that schema and every `{schema}_...` (best effort), whether `body`
/// passed or panicked.
pub(crate) async fn with_postgres_schema<F, Fut>(test: &str, body: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let Some(url) = postgres_url(test) else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!(
        "m2m_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let outcome = tokio::spawn(body(url.clone(), schema.clone())).await;
    // The schema, and any `{schema}_...` that `body` made from its name.
    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
        let names: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
        let prefix = format!("{schema}_");
        for name in names
            .iter()
            .filter(|n| **n == schema || n.starts_with(&prefix))
        {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .execute(&mut conn)
                .await;
        }
        let _ = conn.close().await;
    }
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("{test}: {error}"),
        }
    }
}
