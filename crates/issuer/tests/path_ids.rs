//! Ids in admin paths (issue 12): each is checked by the parser the bodies
//! use before any store call. One that cannot be an id (NUL and other
//! control bytes, spaces, non-ASCII, over 256 bytes, bad percent-encoding)
//! is 400 `invalid_request`; a well-formed id that names nothing is 404
//! `not_found`; never a 500, on every store. PostgreSQL runs when
//! `M2M_TEST_POSTGRES_URL` is set and is skipped with a message otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use m2m_issuer::store::{MemoryStore, Store};
use m2m_store_sql::{PostgresStore, SqliteStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestServer;

/// Path segments, as sent on the wire, that cannot be ids.
fn malformed() -> Vec<String> {
    let mut ids: Vec<String> = [
        "%00",
        "m2m_%00",
        "a%00b",
        "%01",
        "%07x",
        "x%0A",
        "x%0D%0Ay",
        "%1B%5B31m",
        "%1F",
        "%7F",
        "a%20b",
        "%09",
        "%C3%A9t%C3%A9",
        "%E2%80%8B",
        "%FF",
        "%C0%80",
    ]
    .map(str::to_owned)
    .to_vec();
    ids.push("x".repeat(257));
    ids.push("%41".repeat(300));
    ids
}

/// Every admin path with an id, `{}` standing for the id under test, and
/// the body its method needs.
fn paths(good_client: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/admin/clients/{}".into(), None),
        (
            Method::PATCH,
            "/admin/clients/{}".into(),
            Some(json!({"name": "renamed"})),
        ),
        (Method::DELETE, "/admin/clients/{}".into(), None),
        (Method::POST, "/admin/clients/{}/secrets".into(), None),
        (Method::GET, "/admin/clients/{}/grants".into(), None),
        (
            Method::DELETE,
            "/admin/clients/{}/secrets/m2ms_x".into(),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/clients/{good_client}/secrets/{{}}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/admin/clients/{good_client}/grants/{{}}"),
            None,
        ),
        (Method::POST, "/admin/keys/{}/revoke".into(), None),
    ]
}

async fn check_store(store: Arc<dyn Store>) {
    let mut server = TestServer::start_on(store, |b| b)
        .await
        .expect("issuer builds");
    let (id, secret) = server.org_client(&["invoices:read"]).await;
    let show = format!("/admin/clients/{id}");
    let (status, before) = server.admin(Method::GET, &show, None).await;
    assert_eq!(status, 200, "{before}");

    for (method, template, body) in paths(&id) {
        for bad in malformed() {
            let path = template.replace("{}", &bad);
            let (status, error) = server.admin(method.clone(), &path, body.clone()).await;
            let shown_path: String = path.chars().take(80).collect();
            assert_eq!(status, 400, "{method} {shown_path}: {error}");
            assert_eq!(error["error"], "invalid_request", "{method} {shown_path}");
            let description = error["error_description"].as_str().expect("description");
            assert!(
                description.chars().all(|c| !c.is_control()) && !description.contains("xxxxx"),
                "the description echoes no input: {description:?}"
            );
        }
        // Well-formed ids that name nothing: `%ZZ` is not an escape, so it
        // stays the three characters it is, an id like any other.
        for unknown in ["m2m_nope", "%ZZ", "a%2Fb", &"y".repeat(256)] {
            let path = template.replace("{}", unknown);
            let (status, error) = server.admin(method.clone(), &path, body.clone()).await;
            assert_eq!(status, 404, "{method} {path}: {error}");
            assert_eq!(error["error"], "not_found", "{method} {path}");
        }
    }

    // Nothing changed: the client, its one secret and its token.
    let (status, after) = server.admin(Method::GET, &show, None).await;
    assert_eq!((status, &after), (200, &before));
    assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 200);
}

#[tokio::test]
async fn malformed_path_ids_are_400_and_unknown_ones_404_on_memory() {
    check_store(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn malformed_path_ids_are_400_and_unknown_ones_404_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("m2m.db"))
        .await
        .expect("sqlite");
    check_store(Arc::new(store)).await;
}

#[tokio::test]
async fn malformed_path_ids_are_400_and_unknown_ones_404_on_postgres() {
    let Some(url) = std::env::var("M2M_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Named like m2m-store-sql's conformance schemas, whose test run drops
    // those 15 minutes old: no schema of this test outlives the next run.
    let schema = format!(
        "m2m_conformance_{now}_issuerpaths{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}"));
    check_store(Arc::new(store)).await;
}
