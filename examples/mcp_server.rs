//! An MCP server guarded by m2m-guard: the official Rust MCP SDK (rmcp) with
//! its streamable HTTP transport at `/mcp`, two tools with a scope each,
//! Protected Resource Metadata (RFC 9728) naming the issuer, and challenges
//! an MCP client follows from a bare 401 to a token.
//!
//! Run (an `m2m serve` issuer must be running; docs/mcp.md walks through it):
//!
//! ```text
//! M2M_ISSUER=http://127.0.0.1:8080 cargo run --release --example mcp_server
//! ```
//!
//! - `MCP_LISTEN`: the address to listen on, default `127.0.0.1:3001` (port 0
//!   takes a free port).
//! - `M2M_ISSUER`: the issuer trusted; its keys come from the `jwks_uri` of
//!   its RFC 8414 metadata (`/.well-known/oauth-authorization-server`).
//! - `MCP_RESOURCE`: this server's resource URI, default
//!   `http://<MCP_LISTEN>/mcp`. Tokens must carry its canonical form in
//!   `aud`: create the clients with `audiences: [MCP_RESOURCE]`.
//!
//! Scopes: every request to `/mcp` needs a valid token for this resource with
//! `invoices:read` (so `initialize`, `tools/list` and `list_invoices` work
//! with it, and a 401 names it in `scope=`); `tools/call` of `create_invoice`
//! also needs `invoices:write`, and without it is 403 `insufficient_scope`
//! with `scope="invoices:read invoices:write"`, so a client can step up.
//!
//! Once it accepts requests it prints `resource <URI>` and
//! `listening on http://ADDRESS` on stdout.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use m2m_core::ScopeRequirement;
use m2m_guard::{Auth, Guard, Rejection};
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{ErrorData, Json, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The scope every request to `/mcp` needs.
const READ: &str = "invoices:read";
/// The scope each tool needs beyond [`READ`].
const TOOLS: [(&str, &[&str]); 2] = [
    ("list_invoices", &[READ]),
    ("create_invoice", &[READ, "invoices:write"]),
];
/// The largest JSON-RPC body read, in bytes (rmcp's own limit is larger).
const MAX_BODY: usize = 1024 * 1024;
/// The most invoices kept in memory.
const MAX_INVOICES: usize = 1000;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let listen = std::env::var("MCP_LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let issuer = std::env::var("M2M_ISSUER")
        .map_err(|_| "set M2M_ISSUER to the issuer's URL (an `m2m serve`)")?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let resource = std::env::var("MCP_RESOURCE").unwrap_or_else(|_| format!("http://{addr}/mcp"));

    let guard = Guard::builder(&issuer, &resource)
        .jwks_url(discover_jwks(&issuer).await?)
        .resource(&resource)
        .build()
        .await?;
    let canonical = guard.resource().ok_or("the guard has a resource")?.clone();
    let metadata = guard
        .resource_metadata()
        .ok_or("the guard has a resource")?
        .scopes_supported([READ, "invoices:write"])
        .field("resource_name", "Invoices (m2m-auth MCP example)");

    // rmcp refuses a Host it does not know (DNS rebinding): loopback, plus
    // the resource's own host.
    let resource_host = canonical
        .as_str()
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .unwrap_or_default()
        .to_owned();
    let config = StreamableHttpServerConfig::default().with_allowed_hosts([
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        resource_host,
        addr.to_string(),
    ]);
    let invoices = Invoices::default();
    let mcp: StreamableHttpService<InvoiceServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(InvoiceServer::new(invoices.clone())),
        Default::default(),
        config,
    );

    let app = Router::new()
        .route_service("/mcp", mcp)
        // Inner: the tool's own scope, once the JSON-RPC body names the tool.
        .route_layer(middleware::from_fn_with_state(guard.clone(), tool_scope))
        // Outer: a valid token for this resource with the scope every call needs.
        .route_layer(guard.require([READ]))
        .route_service(&metadata.path(), metadata)
        .route("/health", get(|| async { "ok" }));

    println!("resource {canonical}");
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The issuer's `jwks_uri`, from its RFC 8414 metadata, after checking that
/// the metadata names the issuer itself.
async fn discover_jwks(issuer: &str) -> Result<String, Error> {
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        issuer.trim_end_matches('/')
    );
    let metadata: Value = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if metadata["issuer"] != issuer {
        return Err(format!(
            "{url} names the issuer {}, not {issuer}",
            metadata["issuer"]
        )
        .into());
    }
    Ok(metadata["jwks_uri"]
        .as_str()
        .ok_or_else(|| format!("{url} has no jwks_uri"))?
        .to_owned())
}

/// Refuses a `tools/call` whose tool needs a scope the token lacks, with the
/// guard's own 403 (`insufficient_scope`, `scope`, `resource_metadata`). A
/// batch is refused when any call in it would be.
async fn tool_scope(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": "the request body is too large",
            })),
        )
            .into_response();
    };
    // A body that is not JSON goes on to rmcp, which answers it.
    let message: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let calls = match &message {
        Value::Array(batch) => batch.iter().collect(),
        single => vec![single],
    };
    for call in calls {
        if call["method"] != "tools/call" {
            continue;
        }
        let tool = call["params"]["name"].as_str().unwrap_or_default();
        let Some((_, scopes)) = TOOLS.iter().find(|(name, _)| *name == tool) else {
            continue; // rmcp answers an unknown tool
        };
        let needed = ScopeRequirement::all_of(scopes.iter().copied()).expect("valid scopes");
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
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// One invoice.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
struct Invoice {
    /// The invoice's id.
    id: String,
    /// Who is billed.
    customer: String,
    /// The amount, in cents.
    amount_cents: u64,
    /// The client that created it (the token's `client_id`).
    created_by: String,
}

/// The invoices, shared by every MCP session.
#[derive(Debug, Clone, Default)]
struct Invoices(Arc<Mutex<Vec<Invoice>>>);

/// `list_invoices`' result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct InvoiceList {
    /// Every invoice, oldest first.
    invoices: Vec<Invoice>,
}

/// `create_invoice`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct NewInvoice {
    /// Who is billed (1 to 200 characters).
    customer: String,
    /// The amount, in cents.
    amount_cents: u64,
}

/// The MCP service: one per session, over the shared invoices.
#[derive(Debug, Clone)]
struct InvoiceServer {
    invoices: Invoices,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl InvoiceServer {
    fn new(invoices: Invoices) -> Self {
        Self {
            invoices,
            tool_router: Self::tool_router(),
        }
    }

    /// Lists the invoices (scope `invoices:read`).
    #[tool(description = "List every invoice. Needs the scope invoices:read.")]
    async fn list_invoices(&self) -> Result<Json<InvoiceList>, ErrorData> {
        let invoices = self.invoices.0.lock().map_err(poisoned)?.clone();
        Ok(Json(InvoiceList { invoices }))
    }

    /// Creates an invoice (scope `invoices:write`, checked by `tool_scope`).
    #[tool(description = "Create an invoice. Needs the scope invoices:write.")]
    async fn create_invoice(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(new): Parameters<NewInvoice>,
    ) -> Result<Json<Invoice>, ErrorData> {
        let customer = new.customer.trim();
        if customer.is_empty() || customer.chars().count() > 200 {
            return Err(ErrorData::invalid_params(
                "customer must be 1 to 200 characters",
                None,
            ));
        }
        // The guard put the verified token's identity on the request.
        let created_by = parts
            .extensions
            .get::<Auth>()
            .map(|auth| auth.client_id().to_string())
            .ok_or_else(|| ErrorData::internal_error("no verified token", None))?;
        let mut invoices = self.invoices.0.lock().map_err(poisoned)?;
        if invoices.len() >= MAX_INVOICES {
            return Err(ErrorData::invalid_request(
                "this example keeps at most 1000 invoices",
                None,
            ));
        }
        let invoice = Invoice {
            id: format!("inv_{}", invoices.len() + 1),
            customer: customer.to_owned(),
            amount_cents: new.amount_cents,
            created_by,
        };
        invoices.push(invoice.clone());
        Ok(Json(invoice))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for InvoiceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Invoices. list_invoices needs invoices:read, create_invoice invoices:write.",
        )
    }
}

fn poisoned<T>(_: T) -> ErrorData {
    ErrorData::internal_error("the invoice list is unavailable", None)
}
