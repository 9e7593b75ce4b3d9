//! An existing axum app (routes, state, other layers) that gains m2m-guard by
//! added lines only: each added line ends with `// [guard]`, and the functions
//! after the `[guard]` banner at the end are new. Delete them and you have the
//! app as it was. docs/guard.md walks through it.
//!
//! Run: `cargo run --example guard_existing_app`. It listens on
//! `INVOICES_LISTEN` (default `127.0.0.1:3000`; port 0 takes a free port) and,
//! once it accepts requests, prints `listening on http://ADDRESS` on stdout.
//!
//! With `M2M_JWKS_URL` (and `M2M_ISSUER`, `M2M_AUDIENCE`) set, the guard reads
//! the issuer's JWKS; without, the example makes a demo key, prints a token
//! signed by it, and trusts only that key. With `M2M_DPOP=http` it accepts
//! DPoP-bound tokens as well (docs/dpop.md).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use m2m_core::{AccessTokenClaims, Algorithm, Audience, JwkSet, SigningKey, now_unix}; // [guard]
use m2m_guard::{Auth, DpopConfig, Guard}; // [guard]
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct Invoice {
    id: u64,
    customer: String,
    amount_cents: u64,
}

#[derive(Clone, Default)]
struct AppState {
    invoices: Arc<Mutex<Vec<Invoice>>>,
}

async fn health() -> &'static str {
    "ok"
}

async fn list_invoices(State(state): State<AppState>) -> Json<Vec<Invoice>> {
    Json(state.invoices.lock().map(|v| v.clone()).unwrap_or_default())
}

async fn get_invoice(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Invoice>, StatusCode> {
    let invoices = state
        .invoices
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    invoices
        .iter()
        .find(|i| i.id == id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn create_invoice(
    State(state): State<AppState>,
    auth: Auth, // [guard]
    Json(mut invoice): Json<Invoice>,
) -> Result<(StatusCode, Json<Invoice>), StatusCode> {
    println!("invoice created by {}", auth.client_id()); // [guard]
    let mut invoices = state
        .invoices
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    invoice.id = invoices.len() as u64 + 1;
    invoices.push(invoice.clone());
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// The app's own middleware: a response header on every answer.
async fn server_header(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        "server",
        axum::http::HeaderValue::from_static("invoices/1.0"),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = make_guard().await?; // [guard]
    let state = AppState::default();

    let app = Router::new()
        .route(
            "/invoices",
            post(create_invoice)
                .route_layer(guard.require(["invoices:write"])) // [guard]
                .get(list_invoices),
        )
        .route("/invoices/{id}", get(get_invoice))
        .route_layer(guard.require_any(["invoices:read", "invoices:write"])) // [guard]
        .route("/health", get(health))
        .layer(middleware::from_fn(server_header))
        .with_state(state);

    // INVOICES_LISTEN=127.0.0.1:0 takes a free port; the line below says which.
    let addr: SocketAddr = std::env::var("INVOICES_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

// ---- [guard] everything below is added ----

/// The guard: from the issuer's JWKS when configured, else from a demo key.
async fn make_guard() -> Result<Guard, Box<dyn std::error::Error>> {
    let issuer = env_or("M2M_ISSUER", "https://auth.example.com");
    let audience = env_or("M2M_AUDIENCE", "https://api.example.com");
    let builder = Guard::builder(issuer.as_str(), audience.as_str());
    let builder = match std::env::var("M2M_JWKS_URL") {
        Ok(url) => builder.jwks_url(url),
        Err(_) => builder.jwk_set(demo_key(&issuer, &audience)?),
    };
    // M2M_DPOP=http (or https): DPoP-bound tokens are accepted too (RFC 9449),
    // each proof checked against the URL the client used (this scheme, the
    // request's Host and path). Only where Host is what the client sent.
    let builder = match std::env::var("M2M_DPOP").as_deref() {
        Ok("https") => builder.dpop(DpopConfig::from_host("https")),
        Ok(_) => builder.dpop(DpopConfig::from_host("http")),
        Err(_) => builder,
    };
    Ok(builder.build().await?)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A demo key, and a token signed by it printed for curl. Not for
/// production: real tokens come from the issuer.
fn demo_key(issuer: &str, audience: &str) -> Result<JwkSet, Box<dyn std::error::Error>> {
    let key = SigningKey::generate(Algorithm::ES256)?;
    let now = now_unix();
    let claims = AccessTokenClaims {
        iss: issuer.into(),
        sub: "m2m_demo".into(),
        client_id: "m2m_demo".into(),
        aud: Audience::from(audience),
        iat: now,
        nbf: Some(now),
        exp: now + 3600,
        jti: "demo-1".into(),
        scope: "invoices:read invoices:write".parse()?,
        oid: None,
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    };
    let token = m2m_core::sign(&key, &claims)?;
    println!("demo token (invoices:read invoices:write):");
    println!("  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:3000/invoices");
    Ok(JwkSet {
        keys: vec![key.public_jwk().clone()],
    })
}
