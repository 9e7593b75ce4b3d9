//! The HTTP layer: axum only. Extractors read and check a request, each
//! handler calls one domain method, and `error` maps the domain's typed
//! errors to the wire.
//!
//! | method, path | module |
//! |---|---|
//! | POST /oauth/token | `oauth::token` |
//! | GET /oauth/authorize | `oauth::authorize` |
//! | GET /.well-known/jwks.json | `oauth::jwks` |
//! | GET /.well-known/oauth-authorization-server | `oauth::metadata` |
//! | POST /oauth/introspect | `oauth::introspect` |
//! | POST /oauth/revoke | `oauth::revoke` |
//! | POST /oauth/register (only when registration is on) | `oauth::register` |
//! | GET /oauth/revocations | `oauth::feed` |
//! | /admin/... | `admin` |
//!
//! Every response, errors and the 405 fallback included, carries
//! `X-Content-Type-Options: nosniff`: a JSON error body can echo request
//! text, and a browser must never sniff it into HTML.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};

use crate::Issuer;

mod admin;
pub(crate) mod error;
mod extract;
mod oauth;
#[cfg(feature = "openapi")]
pub(crate) mod openapi;
mod source;

use error::AdminError;
use oauth::{authorize, feed, introspect, jwks, metadata, register, revoke, token};

pub(crate) fn router(issuer: Issuer) -> Router {
    let mut router = Router::new();
    if issuer.registration().is_some() {
        router = router.route("/oauth/register", post(register::register));
    }
    router
        .route("/oauth/token", post(token::token))
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/oauth/revocations", get(feed::feed))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .merge(admin::router(&issuer))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(nosniff))
        .with_state(issuer)
}

pub(crate) fn well_known_router(issuer: Issuer) -> Router {
    let path = metadata::well_known_path(issuer.issuer_url());
    Router::new()
        .route(&path, get(metadata::metadata))
        .layer(axum::middleware::map_response(nosniff))
        .with_state(issuer)
}

/// Adds `X-Content-Type-Options: nosniff` to a response.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn method_not_allowed() -> Response {
    AdminError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept this method",
    )
    .into_response()
}
