//! `POST /oauth/token` (contract section 6, RFC 6749 §4.4 and §5); the
//! user-level grants are in [`super::grants`].
//!
//! The hot path: one client lookup (cached briefly), one constant-time HMAC
//! per stored secret, one signature with a key read from an `ArcSwap`, no
//! store write (audit goes to a queue, `last_used_at` is written at most once
//! a minute per secret, off the request).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use m2m_core::{AccessTokenClaims, Audience, ScopeSet};
use serde::Serialize;

use super::{Credentials, Form, authenticate, source_ip};
use crate::Issuer;
use crate::error::{OAuthCode, OAuthError, no_store};

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a ScopeSet,
}

pub(super) async fn token(State(issuer): State<Issuer>, request: Request) -> Response {
    match issue(&issuer, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue(issuer: &Issuer, request: Request) -> Result<Response, OAuthError> {
    let inner = &*issuer.inner;
    let (parts, body) = request.into_parts();
    let form = Form::read(&parts, body).await?;
    let credentials = Credentials::read(&parts.headers, &form)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let now = inner.now();
    let auth = authenticate(inner, &credentials, source_ip(&parts), now, "token").await?;
    let client = &*auth.entry.client;

    match grant_type {
        "client_credentials" => {}
        // User-level clients (routes::grants); off without a consent handler.
        "authorization_code" => {
            return super::grants::authorization_code(inner, client, &form, now).await;
        }
        "refresh_token" => return super::grants::refresh_token(inner, client, &form, now).await,
        _ => {
            return Err(OAuthError::new(
                OAuthCode::UnsupportedGrantType,
                "grant_type must be client_credentials, authorization_code or refresh_token",
            ));
        }
    }
    if !client.kind.uses_client_credentials() {
        return Err(OAuthError::new(
            OAuthCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }

    let scope = select_scope(
        form.get("scope"),
        &client.scopes,
        "the requested scope exceeds what this client may be granted",
    )?;

    let default_audience = [inner.default_audience.clone()];
    let allowed: &[String] = if client.audiences.is_empty() {
        &default_audience
    } else {
        &client.audiences
    };
    let mut requested: Vec<String> = form.all("resource").map(str::to_owned).collect();
    if let Some(audience) = form.get("audience") {
        requested.push(audience.to_owned());
    }
    let aud = if requested.is_empty() {
        Audience::from_list(allowed.to_vec())
    } else {
        if let Some(bad) = requested.iter().find(|r| !allowed.contains(r)) {
            let bad: String = bad.chars().take(100).collect();
            return Err(OAuthError::new(
                OAuthCode::InvalidTarget,
                format!("this client may not get tokens for {bad}"),
            ));
        }
        requested.sort();
        requested.dedup();
        Audience::from_list(requested)
    };

    let ttl = client.token_ttl.seconds();
    // Org clients always have an org_id; service clients only if created with one.
    let oid = client.org_id.clone();
    let claims = AccessTokenClaims {
        iss: inner.issuer_url.clone(),
        sub: client.client_id.to_string(),
        client_id: client.client_id.clone(),
        aud,
        exp: now + ttl,
        nbf: Some(now),
        iat: now,
        jti: m2m_core::random_id("").map_err(|_| OAuthError::server_error())?,
        scope,
        oid,
        uid: None,
    };
    let snapshot = inner.keys.snapshot();
    let key = snapshot.signing_key(now).ok_or_else(|| {
        tracing::error!("no signing key is current");
        OAuthError::server_error()
    })?;
    let access_token = m2m_core::sign(key, &claims).map_err(|error| {
        tracing::error!(%error, "signing failed");
        OAuthError::server_error()
    })?;
    let kid = key.kid().to_owned();
    drop(snapshot);

    inner.touch(&client.client_id, &auth.secret_id, now);
    inner.audit.record(
        now,
        "token.issued",
        Some(&client.client_id),
        None,
        serde_json::json!({
            "jti": claims.jti,
            "scope": claims.scope.to_string(),
            "aud": claims.aud,
            "exp": claims.exp,
            "kid": kid,
        }),
    );

    let mut response = Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: &claims.scope,
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// The scopes to grant: all of `allowed` when `requested` is absent or
/// empty, else `requested` if it is within `allowed` (never a silent
/// subset), else `invalid_scope` saying `too_wide`.
pub(crate) fn select_scope(
    requested: Option<&str>,
    allowed: &ScopeSet,
    too_wide: &'static str,
) -> Result<ScopeSet, OAuthError> {
    let Some(text) = requested else {
        return Ok(allowed.clone());
    };
    let requested = ScopeSet::parse(text)
        .map_err(|e| OAuthError::new(OAuthCode::InvalidScope, e.to_string()))?;
    if requested.is_empty() {
        Ok(allowed.clone())
    } else if requested.is_subset(allowed) {
        Ok(requested)
    } else {
        Err(OAuthError::new(OAuthCode::InvalidScope, too_wide))
    }
}
