//! `GET /openapi.json`: the OpenAPI 3.1 description of everything `m2m
//! serve` answers: the issuer's routes ([`m2m_issuer::openapi`]) and the
//! server's own (`/healthz`, `/readyz`, `/metrics`, this document). Public
//! metadata like RFC 8414's, so no authentication. The same bytes on every
//! call and every start (no `servers`), committed as `docs/openapi.json`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::OpenApi;

/// The whole document, pretty-printed (built once).
pub(crate) fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut api = m2m_issuer::openapi();
        let server = serde_json::to_value(ServerApi::openapi()).unwrap_or_default();
        for member in ["paths", "tags"] {
            merge(&mut api, &server, member);
        }
        let mut text = serde_json::to_string_pretty(&api).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// Adds `from`'s `member` (an object or an array) to `into`'s.
fn merge(into: &mut Value, from: &Value, member: &str) {
    match (into.get_mut(member), from.get(member)) {
        (Some(Value::Object(into)), Some(Value::Object(from))) => {
            into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        (Some(Value::Array(into)), Some(Value::Array(from))) => into.extend(from.iter().cloned()),
        _ => {}
    }
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

#[derive(OpenApi)]
#[openapi(
    paths(healthz, readyz, metrics, openapi_json, console, console_slash, console_asset),
    tags(
        (name = "server", description = "The standalone server's own endpoints"),
        (name = "console", description = "The operator console's embedded files (docs/console.md)"),
    )
)]
struct ServerApi;

#[utoipa::path(
    get, path = "/healthz", tag = "server", operation_id = "healthz",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
#[allow(dead_code)] // A description only; the route is a closure in `serve`.
fn healthz() {}

#[utoipa::path(
    get, path = "/readyz", tag = "server", operation_id = "readyz",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "The database does not answer", body = String, content_type = "text/plain"),
    )
)]
#[allow(dead_code)] // A description only.
fn readyz() {}

#[utoipa::path(
    get, path = "/metrics", tag = "server", operation_id = "metrics",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain"))
)]
#[allow(dead_code)] // A description only.
fn metrics() {}

#[utoipa::path(
    get, path = "/openapi.json", tag = "server", operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json"))
)]
#[allow(dead_code)] // A description only.
fn openapi_json() {}

#[utoipa::path(
    get, path = "/console", tag = "console", operation_id = "console",
    summary = "The operator console's page (no authentication: it signs in with admin credentials itself)",
    responses((status = 200, description = "The console", body = String, content_type = "text/html"))
)]
#[allow(dead_code)] // A description only; the route is in `console`.
fn console() {}

#[utoipa::path(
    get, path = "/console/", tag = "console", operation_id = "console_slash",
    summary = "The operator console's page",
    responses((status = 200, description = "The console", body = String, content_type = "text/html"))
)]
#[allow(dead_code)] // A description only.
fn console_slash() {}

/// The console's 404 body, the error object of every other 4xx.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A description only.
struct ConsoleError {
    /// `not_found`.
    error: String,
    /// What was wrong, for a human.
    error_description: String,
}

#[utoipa::path(
    get, path = "/console/{asset}", tag = "console", operation_id = "console_asset",
    summary = "One of the console's embedded files (a fixed list)",
    params(("asset" = String, Path, description = "A file name, e.g. `app.js`")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/html"), (String = "text/css"),
            (String = "text/javascript"), (String = "image/svg+xml"))),
        (status = 404, description = "No such console file", body = ConsoleError),
    )
)]
#[allow(dead_code)] // A description only.
fn console_asset() {}
