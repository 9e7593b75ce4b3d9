//! A larger service that mounts the issuer under `/auth` and guards its own
//! routes with the issuer's tokens.
//!
//! The service has its own state (an invoice list) and routes
//! (`/api/invoices`, `/healthz`). Its routes are guarded by `m2m-guard`, fed
//! in process by the issuer ([`Issuer::guard`]): the issuer's keys as they
//! change and its revocations as they happen, with no HTTP call.
//!
//! ```sh
//! cargo run --example mount_issuer               # serve on 127.0.0.1:8080
//! MOUNT_ISSUER_LISTEN=127.0.0.1:0 cargo run --example mount_issuer  # on a free port
//! cargo run --example mount_issuer -- --self-test  # serve on a free port, call it, exit
//! ```
//!
//! It prints `listening on http://ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use m2m_guard::{Auth, Guard};
use m2m_issuer::Issuer;
use m2m_issuer::store::MemoryStore;
use serde_json::json;

/// The host service's own state.
#[derive(Clone)]
struct AppState {
    invoices: Arc<Mutex<Vec<String>>>,
}

async fn list_invoices(State(state): State<AppState>, auth: Auth) -> Json<serde_json::Value> {
    let invoices = state.invoices.lock().map(|v| v.clone()).unwrap_or_default();
    Json(json!({
        "org": auth.org_id().map(|o| o.as_str()),
        "client": auth.client_id().as_str(),
        "invoices": invoices,
    }))
}

async fn healthz() -> &'static str {
    "ok"
}

/// The variable naming the address to listen on (without `--self-test`).
const LISTEN_ENV: &str = "MOUNT_ISSUER_LISTEN";

/// Where to listen: a free port for the self-test, else `MOUNT_ISSUER_LISTEN`,
/// else 127.0.0.1:8080.
fn listen_address(self_test: bool) -> String {
    if self_test {
        return "127.0.0.1:0".to_owned();
    }
    std::env::var(LISTEN_ENV).unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let listen = listen_address(self_test);
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        format!("cannot listen on {listen} (set {LISTEN_ENV} to another address): {e}")
    })?;
    let addr = listener.local_addr()?;
    let root = format!("http://{addr}");
    let api_audience = format!("{root}/api");

    // The issuer lives at /auth of this service: that is its URL.
    let issuer = Issuer::builder(format!("{root}/auth"), MemoryStore::new())
        .build()
        .await?;
    let (admin_id, admin_secret) = issuer.bootstrap_admin().await?.ok_or("store not empty")?;

    let state = AppState {
        invoices: Arc::new(Mutex::new(vec!["INV-1".into(), "INV-2".into()])),
    };
    // m2m-guard, fed by the issuer in process.
    let guard = issuer
        .guard(Guard::builder(issuer.issuer_url(), api_audience.as_str()))
        .await?;
    let api = Router::new()
        .route("/api/invoices", get(list_invoices))
        .route_layer(guard.require(["invoices:read"]));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .with_state(state)
        .nest("/auth", issuer.router())
        .merge(issuer.well_known_router());

    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    println!("listening on {root}");
    println!("issuer at {root}/auth");

    if !self_test {
        println!("bootstrap admin client_id: {admin_id} (its secret is not printed)");
        server.await??;
        return Ok(());
    }

    // Self-test: an admin registers a client for the API, which gets a token and calls it.
    let http = reqwest::Client::new();
    let token = |id: String, secret: String| {
        let http = http.clone();
        let url = format!("{root}/auth/oauth/token");
        async move {
            let body: serde_json::Value = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await?
                .json()
                .await?;
            Ok::<String, reqwest::Error>(
                body["access_token"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let admin_token = token(admin_id.to_string(), admin_secret.expose().to_owned()).await?;
    let created: serde_json::Value = http
        .post(format!("{root}/auth/admin/clients"))
        .bearer_auth(&admin_token)
        .json(&json!({
            "name": "billing agent", "kind": "service", "org_id": "org_1",
            "scopes": ["invoices:read"], "audiences": [api_audience],
        }))
        .send()
        .await?
        .json()
        .await?;
    let client_id = created["client_id"]
        .as_str()
        .ok_or("no client_id")?
        .to_owned();
    let secret = created["client_secret"]
        .as_str()
        .ok_or("no secret")?
        .to_owned();
    let access = token(client_id.clone(), secret.clone()).await?;

    let invoices = http
        .get(format!("{root}/api/invoices"))
        .bearer_auth(&access)
        .send()
        .await?;
    println!("GET /api/invoices with a token: {}", invoices.status());
    assert_eq!(invoices.status(), 200);
    println!("  {}", invoices.text().await?);
    let anonymous = http.get(format!("{root}/api/invoices")).send().await?;
    println!("GET /api/invoices without a token: {}", anonymous.status());
    assert_eq!(anonymous.status(), 401);
    // The admin token is for the issuer's audience, not the API's.
    let wrong = http
        .get(format!("{root}/api/invoices"))
        .bearer_auth(&admin_token)
        .send()
        .await?;
    println!(
        "GET /api/invoices with a token for another audience: {}",
        wrong.status()
    );
    assert_eq!(wrong.status(), 401);

    let revoked = http
        .post(format!("{root}/auth/oauth/revoke"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await?;
    assert_eq!(revoked.status(), 200);
    // The guard hears of the revocation through a channel, at once or nearly.
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        let after = http
            .get(format!("{root}/api/invoices"))
            .bearer_auth(&access)
            .send()
            .await?;
        status = after.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    println!("GET /api/invoices after revoking the token: {status}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    println!("self-test passed");
    Ok(())
}
