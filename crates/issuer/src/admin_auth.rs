//! Protection of the admin API: a Bearer token issued by this issuer, with
//! audience the issuer URL and scope `m2m:admin`, checked in process against
//! the issuer's own keys. Answers follow RFC 6750 §3 as contract section 9
//! says:
//!
//! | request | status | `WWW-Authenticate` | body `error` |
//! |---|---|---|---|
//! | no Bearer token | 401 | `Bearer realm="m2m-admin"` | `unauthorized` |
//! | bad, expired or revoked token | 401 | `..., error="invalid_token"` | `invalid_token` |
//! | token without `m2m:admin` | 403 | `..., error="insufficient_scope", scope="m2m:admin"` | `insufficient_scope` |
//!
//! This is the one seam to swap for `m2m-guard` once it exists: [`protect`]
//! is the only function the admin router calls.

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use m2m_core::{ClientId, Validation};

use crate::routes::still_valid;
use crate::{ADMIN_SCOPE, Issuer};

const REALM: &str = "m2m-admin";

/// The admin client that made the request, for audit events.
#[derive(Debug, Clone)]
pub(crate) struct AdminActor(pub(crate) ClientId);

/// Puts the admin check in front of every route of `routes` (with
/// `route_layer`, so unknown paths stay 404).
pub(crate) fn protect(routes: Router<Issuer>, issuer: &Issuer) -> Router<Issuer> {
    routes.route_layer(middleware::from_fn_with_state(
        issuer.clone(),
        require_admin,
    ))
}

enum Bearer<'a> {
    Missing,
    Malformed,
    Token(&'a str),
}

fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Bearer::Missing;
    };
    if values.next().is_some() {
        return Bearer::Malformed;
    }
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() || token.contains(' ') {
                Bearer::Malformed
            } else {
                Bearer::Token(token)
            }
        }
        // "Bearer" with nothing after it.
        None if value.trim().eq_ignore_ascii_case("bearer") => Bearer::Malformed,
        // Another scheme (Basic, ...): no Bearer token was presented.
        _ => Bearer::Missing,
    }
}

fn challenge(status: StatusCode, www: String, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&www) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn unauthorized() -> Response {
    challenge(
        StatusCode::UNAUTHORIZED,
        format!("Bearer realm=\"{REALM}\""),
        "unauthorized",
        "a Bearer token with scope m2m:admin is required",
    )
}

fn invalid_token(description: &str) -> Response {
    challenge(
        StatusCode::UNAUTHORIZED,
        format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
        ),
        "invalid_token",
        description,
    )
}

fn insufficient_scope() -> Response {
    challenge(
        StatusCode::FORBIDDEN,
        format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\""),
        "insufficient_scope",
        "the token lacks scope m2m:admin",
    )
}

async fn require_admin(State(issuer): State<Issuer>, mut request: Request, next: Next) -> Response {
    let inner = &*issuer.inner;
    let token = match bearer(request.headers()) {
        Bearer::Missing => return unauthorized(),
        Bearer::Malformed => return invalid_token("malformed Authorization header"),
        Bearer::Token(token) => token,
    };
    let now = inner.now();
    let keys = inner.keys.snapshot().verifying_keys(now);
    let verified = Validation::new(inner.issuer_url.as_str(), inner.issuer_url.as_str())
        .leeway(inner.leeway)
        .verify(token, &keys, now);
    let claims = match verified {
        Ok(verified) => verified.claims,
        Err(error) => return invalid_token(error.reason()),
    };
    match still_valid(inner, &claims).await {
        Ok(true) => {}
        Ok(false) => return invalid_token("revoked"),
        Err(error) => {
            tracing::error!(%error, "store failed while checking an admin token");
            return crate::error::AdminError::server_error().into_response();
        }
    }
    if !claims.has_scope(ADMIN_SCOPE) {
        return insufficient_scope();
    }
    request
        .extensions_mut()
        .insert(AdminActor(claims.client_id));
    next.run(request).await
}
