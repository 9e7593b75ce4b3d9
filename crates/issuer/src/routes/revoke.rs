//! `POST /oauth/revoke`: RFC 7009.
//!
//! The caller authenticates as a client and revokes tokens issued to itself.
//! An unknown, foreign, malformed or already expired token answers 200 and
//! changes nothing (RFC 7009 §2.2). `token_type_hint` is accepted and
//! ignored: only access tokens exist.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::{Credentials, Form, authenticate, source_ip, verify_own_token};
use crate::Issuer;
use crate::error::{OAuthError, no_store};
use m2m_core::{Revocation, RevokedToken};

pub(super) async fn revoke(State(issuer): State<Issuer>, request: Request) -> Response {
    match run(&issuer, request).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn run(issuer: &Issuer, request: Request) -> Result<(), OAuthError> {
    let inner = &*issuer.inner;
    let (parts, body) = request.into_parts();
    let form = Form::read(&parts, body).await?;
    let credentials = Credentials::read(&parts.headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let now = inner.now();
    let caller = authenticate(inner, &credentials, source_ip(&parts), now, "revoke").await?;
    let Ok(claims) = verify_own_token(inner, &token, now) else {
        return Ok(());
    };
    if claims.client_id != caller.entry.client.client_id {
        return Ok(());
    }
    let token = RevokedToken {
        jti: claims.jti.clone(),
        exp: claims.exp,
    };
    if !inner
        .store
        .revoke_token(&token, &claims.client_id, now)
        .await?
    {
        return Ok(());
    }
    let _ = inner.revocations.send(Revocation::Token(token));
    inner.audit.record(
        now,
        "token.revoked",
        Some(&claims.client_id),
        Some(&claims.client_id),
        serde_json::json!({"jti": claims.jti}),
    );
    Ok(())
}
