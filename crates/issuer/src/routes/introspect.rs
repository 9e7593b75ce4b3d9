//! `POST /oauth/introspect`: RFC 7662.
//!
//! The caller authenticates as a client, as at the token endpoint. A client
//! may introspect tokens issued to itself; a client with scope `m2m:admin`
//! may introspect any token; for anything else, and for a token that is
//! malformed, forged, expired, revoked, or whose client was deleted or is
//! disabled, the answer is `{"active":false}` (RFC 7662 §2.2).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Credentials, Form, authenticate, source_ip, still_valid, verify_own_token};
use crate::error::{OAuthError, no_store};
use crate::{ADMIN_SCOPE, Issuer};

pub(super) async fn introspect(State(issuer): State<Issuer>, request: Request) -> Response {
    match run(&issuer, request).await {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn run(issuer: &Issuer, request: Request) -> Result<serde_json::Value, OAuthError> {
    let inner = &*issuer.inner;
    let (parts, body) = request.into_parts();
    let form = Form::read(&parts, body).await?;
    let credentials = Credentials::read(&parts.headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let now = inner.now();
    let caller = authenticate(inner, &credentials, source_ip(&parts), now, "introspect").await?;
    let inactive = json!({"active": false});

    let Ok(claims) = verify_own_token(inner, &token, now) else {
        return Ok(inactive);
    };
    let caller_client = &caller.entry.client;
    let allowed =
        claims.client_id == caller_client.client_id || caller_client.scopes.contains(ADMIN_SCOPE);
    if !allowed || !still_valid(inner, &claims).await? {
        return Ok(inactive);
    }
    let mut body = json!({
        "active": true,
        "scope": claims.scope.to_string(),
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf.unwrap_or(claims.iat),
        "jti": claims.jti,
        "token_type": "Bearer",
    });
    if let Some(oid) = &claims.oid {
        body["oid"] = json!(oid);
    }
    if let Some(uid) = &claims.uid {
        body["uid"] = json!(uid);
    }
    Ok(body)
}
