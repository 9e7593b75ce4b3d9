//! m2m-auth end to end in one program: an issuer, an API guarded by
//! m2m-guard, and a machine client, each talking real HTTP on 127.0.0.1.
//!
//! Run: `cargo run --example quickstart`

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use m2m_client::TokenSource;
use m2m_guard::{Auth, Guard};
use m2m_issuer::Issuer;
use m2m_issuer::store::MemoryStore;
use serde_json::{Value, json};
use tokio::net::TcpListener;

type Error = Box<dyn std::error::Error + Send + Sync>;

const API_AUDIENCE: &str = "https://api.quickstart.test";

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. The issuer: an axum Router over an in-memory store.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer_url = format!("http://{}", listener.local_addr()?);
    let issuer = Issuer::builder(issuer_url.clone(), MemoryStore::new())
        .build()
        .await?;
    let (admin_id, admin_secret) = issuer
        .bootstrap_admin()
        .await?
        .ok_or("a fresh store has no clients")?;
    let app = issuer
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("1. issuer running at {issuer_url}, admin client {admin_id}");

    // 2. Register a machine client through the admin API.
    let admin = TokenSource::builder(
        format!("{issuer_url}/oauth/token"),
        admin_id.as_str(),
        admin_secret.expose(),
    )
    .scope("m2m:admin")
    .build()?;
    let http = reqwest::Client::new();
    let created: Value = serde_json::from_slice(
        &http
            .post(format!("{issuer_url}/admin/clients"))
            .header("authorization", admin.token().await?.authorization())
            .header("content-type", "application/json")
            .body(
                json!({
                    "name": "report builder",
                    "kind": "service",
                    "audiences": [API_AUDIENCE],
                    "scopes": ["reports:read"],
                })
                .to_string(),
            )
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let client_id = created["client_id"].as_str().ok_or("no client_id")?;
    let client_secret = created["client_secret"].as_str().ok_or("no secret")?;
    println!("2. registered {client_id} with scope reports:read (secret shown once)");

    // 3. An API guarded by m2m-guard, trusting the issuer's JWKS over HTTP.
    let guard = Guard::builder(issuer_url.as_str(), API_AUDIENCE)
        .jwks_url(format!("{issuer_url}/.well-known/jwks.json"))
        .build()
        .await?;
    let api = Router::new()
        .route(
            "/reports",
            get(|auth: Auth| async move { format!("reports for {}", auth.client_id()) }),
        )
        .route_layer(guard.require(["reports:read"]))
        .route(
            "/reports/publish",
            get(|| async { "published" }).route_layer(guard.require(["reports:write"])),
        );
    let api_listener = TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", api_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(api_listener, api).await });
    println!("3. API guarded by m2m-guard at {api_url}");

    // 4. The machine client: gets a token (cached, refreshed before expiry) and calls the API.
    let tokens = TokenSource::builder(
        format!("{issuer_url}/oauth/token"),
        client_id,
        client_secret,
    )
    .resource(API_AUDIENCE)
    .build()?;
    let token = tokens.token().await?;
    println!("4. token for scope {:?}", token.scope().unwrap_or(""));
    for path in ["/reports", "/reports/publish"] {
        let response = http
            .get(format!("{api_url}{path}"))
            .header("authorization", token.authorization())
            .send()
            .await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        println!("   GET {path} -> {status} {body}");
        if let Some(challenge) = challenge {
            println!("      WWW-Authenticate: {challenge}");
        }
    }
    println!("done: the token reads reports, and publishing needs reports:write.");
    Ok(())
}
