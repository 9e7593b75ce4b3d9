//! Token exchange end to end with the real parts: agents with m2m-client
//! exchange an organization's token at the real m2m-issuer router (on
//! 127.0.0.1, over a SQLite file), then call routes behind the real
//! m2m-guard (JWKS and revocation feed over HTTP) that cap the delegation
//! depth or refuse delegated tokens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use m2m_client::{Error, SubjectToken, TokenSource};
use m2m_guard::{Auth, Guard};
use m2m_issuer::Issuer;
use m2m_store_sql::SqliteStore;
use serde_json::{Value, json};

const API: &str = "https://api.test";

/// The issuer under `/auth` over a fresh SQLite file, and a guarded API.
struct World {
    base: String,
    api: String,
    admin_token: String,
    _dir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a route's handler read from the extractor.
async fn chain(auth: Auth) -> axum::Json<Value> {
    axum::Json(json!({
        "sub": auth.sub,
        "oid": auth.org_id().map(|o| o.as_str().to_owned()),
        "client_id": auth.client_id().as_str(),
        "actor": auth.actor().map(|a| a.sub.clone()),
        "chain": auth.delegation_chain().map(|a| a.sub.clone()).collect::<Vec<_>>(),
        "depth": auth.delegation_depth(),
    }))
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("m2m.db")).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/auth", listener.local_addr().unwrap());
        let issuer = Issuer::builder_with_shared_store(&base, store)
            .master_key([9; 32])
            .build()
            .await
            .unwrap();
        let app = Router::new()
            .nest("/auth", issuer.router())
            .merge(issuer.well_known_router());
        let issuer_task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let (id, secret) = issuer.bootstrap_admin().await.unwrap().unwrap();
        let admin_token = TokenSource::builder(
            format!("{base}/oauth/token"),
            id.to_string(),
            secret.expose(),
        )
        .build()
        .unwrap()
        .token()
        .await
        .unwrap()
        .secret()
        .to_owned();

        let guard = Guard::builder(issuer.issuer_url(), API)
            .jwks_url(format!("{base}/.well-known/jwks.json"))
            .revocation_feed(format!("{base}/oauth/revocations"))
            .revocation_poll_interval(Duration::from_millis(200))
            .build()
            .await
            .unwrap();
        let api_app = Router::new()
            .route("/invoices", get(chain))
            .route_layer(guard.require(["invoices:read"]).max_delegation_depth(1))
            .merge(
                Router::new()
                    .route("/settings", get(chain))
                    .route_layer(guard.require(["invoices:read"]).direct_only()),
            );
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", api_listener.local_addr().unwrap());
        let api_task = tokio::spawn(async move {
            axum::serve(api_listener, api_app).await.unwrap();
        });
        World {
            base,
            api,
            admin_token,
            _dir: dir,
            tasks: vec![issuer_task, api_task],
        }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// A client made through the admin API: its id and secret.
    async fn client(&self, body: Value) -> (String, String) {
        let (status, created) = post(
            &format!("{}/admin/clients", self.base),
            Some(&format!("Bearer {}", self.admin_token)),
            "application/json",
            body.to_string(),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        (
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// GET `path` on the API with `token`: the status and the JSON body.
    async fn call(&self, path: &str, token: &str) -> (u16, Value, String) {
        let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let request = http::Request::get(format!("{}{path}", self.api))
            .header("authorization", format!("Bearer {token}"))
            .body(Empty::new())
            .unwrap();
        let response = http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            challenge,
        )
    }
}

async fn post(
    url: &str,
    authorization: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::post(url).header("content-type", content_type);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = http
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn assert_refused(answer: &(u16, Value, String), description: &str) {
    let (status, body, challenge) = answer;
    assert_eq!(*status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    assert_eq!(body["error_description"], description, "{body}");
    assert!(
        challenge.contains(&format!(
            r#"error="insufficient_scope", error_description="{description}""#
        )),
        "{challenge}"
    );
}

#[tokio::test]
async fn agents_exchange_an_orgs_token_and_routes_cap_the_chain() {
    let world = World::start().await;
    let (org_id, org_secret) = world
        .client(json!({
            "name": "billing", "kind": "org", "org_id": "org_1",
            "scopes": ["invoices:read"], "audiences": [API],
        }))
        .await;
    let (planner_id, planner_secret) = world
        .client(json!({
            "name": "planner", "kind": "service",
            "scopes": ["invoices:read"], "audiences": [API],
            "token_exchange": {"subjects": ["org:org_1"]},
        }))
        .await;
    let (worker_id, worker_secret) = world
        .client(json!({
            "name": "worker", "kind": "service",
            "scopes": ["invoices:read"], "audiences": [API],
            "token_exchange": {"subjects": [planner_id], "max_depth": 2},
        }))
        .await;

    // The org's own token: the subject.
    let org = TokenSource::builder(world.token_endpoint(), &org_id, &org_secret)
        .scope("invoices:read")
        .resource(API)
        .build()
        .unwrap();
    // The planner acts for the org; the worker for the planner's token.
    let planner = TokenSource::token_exchange(
        world.token_endpoint(),
        &planner_id,
        &planner_secret,
        org.clone(),
    )
    .resource(API)
    .scope("invoices:read")
    .retry_backoff(Duration::ZERO, Duration::ZERO)
    .build()
    .unwrap();
    let worker = TokenSource::token_exchange(
        world.token_endpoint(),
        &worker_id,
        &worker_secret,
        SubjectToken::from_source(planner.clone()),
    )
    .resource(API)
    .build()
    .unwrap();

    let direct = org.token().await.unwrap();
    let for_org = planner.token().await.unwrap();
    let via_planner = worker.token().await.unwrap();
    assert_eq!(for_org.scope(), Some("invoices:read"));

    // A direct token passes both routes.
    let (status, body, _) = world.call("/settings", direct.secret()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["depth"], 0);

    // One delegation: the org's subject, the planner acting.
    let (status, body, _) = world.call("/invoices", for_org.secret()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "sub": org_id, "oid": "org_1", "client_id": planner_id,
            "actor": planner_id, "chain": [planner_id], "depth": 1,
        })
    );
    assert_refused(
        &world.call("/settings", for_org.secret()).await,
        "delegated tokens are not accepted here",
    );

    // Two: the worker after the planner, refused by a route capped at one.
    let answer = world.call("/invoices", via_planner.secret()).await;
    assert_refused(&answer, "delegation depth 2 exceeds 1");
    assert_refused(
        &world.call("/settings", via_planner.secret()).await,
        "delegated tokens are not accepted here",
    );
    // Twice more, now that the guard has the tokens cached.
    assert_refused(
        &world.call("/invoices", via_planner.secret()).await,
        "delegation depth 2 exceeds 1",
    );
    assert_eq!(world.call("/invoices", for_org.secret()).await.0, 200);

    // The issuer refuses a wider scope than the subject's: no silent subset.
    let wider = TokenSource::token_exchange(
        world.token_endpoint(),
        &planner_id,
        &planner_secret,
        org.clone(),
    )
    .scope("invoices:read invoices:write")
    .build()
    .unwrap();
    match wider.token().await {
        Err(Error::Refused { error, .. }) => assert_eq!(error, "invalid_scope"),
        other => panic!("expected invalid_scope, got {other:?}"),
    }

    // Revoking the org's token revokes what was exchanged from it: the
    // guard, polling the feed, refuses the planner's token within a poll.
    let (status, body) = post(
        &format!("{}/oauth/revoke", world.base),
        Some(&basic(&org_id, &org_secret)),
        "application/x-www-form-urlencoded",
        format!("token={}", direct.secret()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let start = Instant::now();
    loop {
        let (status, body, _) = world.call("/invoices", for_org.secret()).await;
        if status == 401 {
            assert_eq!(body["error"], "invalid_token", "{body}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the exchanged token is still accepted: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The planner's next exchange trades the revoked subject token: refused
    // (RFC 8693 §2.2.2), which drops the org source's cached token, so the
    // exchange after that carries a fresh one and succeeds.
    planner.invalidate();
    match planner.token().await {
        Err(Error::Refused { error, .. }) => assert_eq!(error, "invalid_request"),
        other => panic!("expected the revoked subject token refused, got {other:?}"),
    }
    let renewed = planner.token().await.unwrap();
    assert_ne!(renewed.secret(), for_org.secret());
    let (status, body, _) = world.call("/invoices", renewed.secret()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actor"], planner_id.as_str());
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}
