//! The guard in front of an MCP endpoint: Protected Resource Metadata
//! (RFC 9728), challenges that name it, the canonical resource URI as the
//! audience, and a scope per tool (a tool's scope is checked once the
//! JSON-RPC body says which tool is called, and refused with 403
//! `insufficient_scope` naming it, so that a client can step up).
//!
//! The JSON-RPC handler here is a stand-in that answers `tools/list` and
//! `tools/call`; a real server puts its MCP SDK's service (rmcp's streamable
//! HTTP service, say) where `mcp` is. docs/guard.md walks through it.
//!
//! Run: `cargo run -p m2m-guard --example mcp_resource`. It listens on
//! `MCP_LISTEN` (default `127.0.0.1:3001`; port 0 takes a free port), its
//! resource URI is `MCP_RESOURCE` (default `http://<address>/mcp`), and once
//! it accepts requests it prints `listening on http://ADDRESS` on stdout.
//! With `M2M_ISSUER` and `M2M_JWKS_URL` set it trusts that issuer; without,
//! it makes a demo key and prints two tokens signed by it, one with
//! `invoices:read` and one with `invoices:read invoices:write`.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, ScopeRequirement, SigningKey, now_unix, sign,
};
use m2m_guard::{Auth, Guard, Rejection};
use serde_json::{Value, json};

/// The scope each tool needs; every call also needs `invoices:read`, on the route.
const TOOLS: [(&str, &str); 2] = [
    ("list_invoices", "invoices:read"),
    ("create_invoice", "invoices:write"),
];

/// The largest JSON-RPC body read, in bytes.
const MAX_BODY: usize = 1024 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("MCP_LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let resource = std::env::var("MCP_RESOURCE").unwrap_or_else(|_| format!("http://{addr}/mcp"));

    let builder = match (std::env::var("M2M_ISSUER"), std::env::var("M2M_JWKS_URL")) {
        (Ok(issuer), Ok(jwks)) => Guard::builder(issuer, &resource).jwks_url(jwks),
        _ => {
            let issuer = "https://demo-issuer.invalid";
            let key = SigningKey::generate(Algorithm::ES256)?;
            let canonical = m2m_guard::ResourceUri::parse(&resource)?;
            for scope in ["invoices:read", "invoices:read invoices:write"] {
                println!(
                    "demo token ({scope}): {}",
                    demo_token(&key, issuer, canonical.as_str(), scope)?
                );
            }
            Guard::builder(issuer, &resource).jwk_set(JwkSet {
                keys: vec![key.public_jwk().clone()],
            })
        }
    };
    let guard = builder.resource(&resource).build().await?;

    let metadata = guard
        .resource_metadata()
        .ok_or("the guard has a resource")?
        .scopes_supported(TOOLS.map(|(_, scope)| scope))
        .field("resource_name", "Invoices (m2m-guard example)");
    let app = Router::new()
        .route("/mcp", post(mcp))
        // Inner: the tool's own scope, once the body names the tool.
        .route_layer(middleware::from_fn_with_state(guard.clone(), tool_scope))
        // Outer: a valid token for this resource with the scope every call needs.
        .route_layer(guard.require(["invoices:read"]))
        .route_service(&metadata.path(), metadata);

    println!("resource {}", guard.resource().ok_or("a resource")?);
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Refuses a `tools/call` whose tool needs a scope the token lacks, with the
/// guard's own 403 (`insufficient_scope`, `scope`, `resource_metadata`).
async fn tool_scope(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return jsonrpc_error(Value::Null, -32600, "the request body is too large");
    };
    let call: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if call["method"] == "tools/call" {
        let tool = call["params"]["name"].as_str().unwrap_or_default();
        if let Some((_, scope)) = TOOLS.iter().find(|(name, _)| *name == tool) {
            let needed = ScopeRequirement::all_of([*scope]).expect("a valid scope");
            let granted = parts
                .extensions
                .get::<Auth>()
                .is_some_and(|auth| needed.is_met_by(auth.scopes()));
            if !granted {
                return guard
                    .reject(&Rejection::InsufficientScope(needed), None)
                    .map(Body::from);
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A stand-in for an MCP SDK's service: `tools/list` and `tools/call`.
async fn mcp(auth: Auth, Json(call): Json<Value>) -> Response {
    let id = call["id"].clone();
    match call["method"].as_str() {
        Some("tools/list") => Json(json!({
            "jsonrpc": "2.0",
            "id": id,
            "result": {"tools": TOOLS.map(|(name, _)| json!({"name": name}))},
        }))
        .into_response(),
        Some("tools/call") => {
            let text = format!(
                "{} called by {}",
                call["params"]["name"].as_str().unwrap_or("?"),
                auth.client_id()
            );
            Json(json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {"content": [{"type": "text", "text": text}]},
            }))
            .into_response()
        }
        _ => jsonrpc_error(id, -32601, "method not found"),
    }
}

fn jsonrpc_error(id: Value, code: i64, message: &str) -> Response {
    Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
        .into_response()
}

fn demo_token(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    scope: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let now = now_unix();
    let claims = AccessTokenClaims {
        iss: issuer.into(),
        sub: "demo_agent".into(),
        client_id: "demo_agent".into(),
        aud: Audience::from(audience),
        iat: now,
        nbf: Some(now),
        exp: now + 3600,
        jti: m2m_core::random_id("demo_")?,
        scope: scope.parse()?,
        oid: None,
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    };
    Ok(sign(key, &claims)?)
}
