//! The admin API's protection: m2m-guard in front (a Bearer token of this
//! issuer, audience the issuer URL, scope `m2m:admin`, verified in process
//! against the issuer's keys and revocations), then a store check after it
//! for revocations made on another replica a moment ago, which names the
//! acting admin. Answers follow RFC 6750 §3 as contract section 9 says:
//!
//! | request | status | `WWW-Authenticate` | body `error` |
//! |---|---|---|---|
//! | no Bearer token | 401 | `Bearer realm="m2m-admin"` | `unauthorized` |
//! | bad, expired or revoked token | 401 | `..., error="invalid_token"` | `invalid_token` |
//! | token without `m2m:admin` | 403 | `..., error="insufficient_scope", scope="m2m:admin"` | `insufficient_scope` |

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use m2m_guard::{Auth, Rejection, challenge};

use super::extract::AdminActor;
use crate::http::error::AdminError;
use crate::issuer::ADMIN_REALM;
use crate::{ADMIN_SCOPE, Issuer};

/// Puts the admin guard (scope `m2m:admin`) and the store check in front of
/// every route of `routes`, with `route_layer`, so unknown paths stay 404.
pub(crate) fn protect(routes: Router<Issuer>, issuer: &Issuer) -> Router<Issuer> {
    routes
        .route_layer(middleware::from_fn_with_state(issuer.clone(), still_valid))
        .route_layer(issuer.admin_guard().require([ADMIN_SCOPE]))
}

fn refused(rejection: &Rejection) -> Response {
    challenge(rejection, ADMIN_REALM, false)
        .into_response()
        .map(Body::from)
}

/// After the guard: refuses a token revoked on another replica, or whose
/// client was disabled or deleted there, and names the acting admin.
async fn still_valid(State(issuer): State<Issuer>, mut request: Request, next: Next) -> Response {
    // The guard runs first and always inserts `Auth`; fail closed regardless.
    let Some(auth) = request.extensions().get::<Auth>().cloned() else {
        return refused(&Rejection::MissingToken);
    };
    match issuer.own_tokens().admin_actor(auth.claims()).await {
        Ok(Some(actor)) => {
            request.extensions_mut().insert(AdminActor(actor));
            next.run(request).await
        }
        Ok(None) => refused(&Rejection::Revoked),
        Err(error) => AdminError::from(error).into_response(),
    }
}
