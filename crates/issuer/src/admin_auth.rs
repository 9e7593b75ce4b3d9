//! Protection of the admin API by m2m-guard: a Bearer token issued by this
//! issuer, with audience the issuer URL and scope `m2m:admin`, verified in
//! process against the issuer's own keys (pushed into the guard's
//! [`InProcessKeys`] whenever the key ring changes) and refused once revoked
//! (revocations made on this node are pushed into the guard at once; a
//! revocation made on another replica is caught by a store check on each
//! admin request). Answers follow RFC 6750 §3 as contract section 9 says:
//!
//! | request | status | `WWW-Authenticate` | body `error` |
//! |---|---|---|---|
//! | no Bearer token | 401 | `Bearer realm="m2m-admin"` | `unauthorized` |
//! | bad, expired or revoked token | 401 | `..., error="invalid_token"` | `invalid_token` |
//! | token without `m2m:admin` | 403 | `..., error="insufficient_scope", scope="m2m:admin"` | `insufficient_scope` |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use m2m_core::{ClientId, JwkSet, RevokedClient, RevokedToken};
use m2m_guard::{Auth, Guard, GuardBuilder, InProcessKeys, Revocations};
use tokio::sync::{broadcast, watch};

use crate::routes::still_valid;
use crate::store::RevocationEntry;
use crate::{ADMIN_SCOPE, Issuer, IssuerError};

const REALM: &str = "m2m-admin";

/// The admin client that made the request, for audit events.
#[derive(Debug, Clone)]
pub(crate) struct AdminActor(pub(crate) ClientId);

/// Completes `builder` into a guard fed in process: the JWK Set of `jwks`
/// now and on every change, and each revocation of `revoked` as it happens.
/// The feeding tasks end when the issuer (the senders) is dropped.
pub(crate) async fn fed_guard(
    builder: GuardBuilder,
    mut jwks: watch::Receiver<JwkSet>,
    mut revoked: broadcast::Receiver<RevocationEntry>,
) -> Result<Guard, IssuerError> {
    let keys = InProcessKeys::new();
    keys.set_jwk_set(&jwks.borrow_and_update())
        .map_err(IssuerError::Key)?;
    let revocations = Revocations::new();
    let guard = builder
        .in_process(&keys)
        .revocations(&revocations)
        .build()
        .await
        .map_err(|e| IssuerError::Config(format!("in-process guard: {e}")))?;
    tokio::spawn(async move {
        while jwks.changed().await.is_ok() {
            let set = jwks.borrow_and_update().clone();
            if let Err(error) = keys.set_jwk_set(&set) {
                tracing::error!(%error, "an in-process guard could not load the issuer's keys");
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match revoked.recv().await {
                Ok(RevocationEntry::Token { jti, exp }) => {
                    revocations.revoke(RevokedToken { jti, exp })
                }
                Ok(RevocationEntry::Client {
                    client_id,
                    revoked_at,
                }) => revocations.revoke(RevokedClient::new(client_id, revoked_at)),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Ok(guard)
}

/// The guard of the admin API: audience the issuer URL, realm `m2m-admin`.
pub(crate) async fn admin_guard(
    issuer_url: &str,
    leeway: u64,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    jwks: watch::Receiver<JwkSet>,
    revoked: broadcast::Receiver<RevocationEntry>,
) -> Result<Guard, IssuerError> {
    let builder = Guard::builder(issuer_url, issuer_url)
        .leeway(leeway)
        .realm(REALM)
        .clock(clock);
    fed_guard(builder, jwks, revoked).await
}

/// Puts the admin guard (scope `m2m:admin`) and the store check in front of
/// every route of `routes`, with `route_layer`, so unknown paths stay 404.
pub(crate) fn protect(routes: Router<Issuer>, issuer: &Issuer) -> Router<Issuer> {
    routes
        .route_layer(middleware::from_fn_with_state(
            issuer.clone(),
            still_valid_admin,
        ))
        .route_layer(issuer.inner.admin_guard.require([ADMIN_SCOPE]))
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

/// After the guard: refuses a token revoked on another replica, or whose
/// client was disabled or deleted there, and names the acting admin.
async fn still_valid_admin(
    State(issuer): State<Issuer>,
    mut request: Request,
    next: Next,
) -> Response {
    // The guard runs first and always inserts `Auth`; fail closed regardless.
    let Some(auth) = request.extensions().get::<Auth>().cloned() else {
        return invalid_token("not authenticated");
    };
    match still_valid(&issuer.inner, auth.claims()).await {
        Ok(true) => {}
        Ok(false) => return invalid_token("revoked"),
        Err(error) => {
            tracing::error!(%error, "store failed while checking an admin token");
            return crate::error::AdminError::server_error().into_response();
        }
    }
    request
        .extensions_mut()
        .insert(AdminActor(auth.client_id().clone()));
    next.run(request).await
}
