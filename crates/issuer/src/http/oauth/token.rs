//! `POST /oauth/token` (contract section 6; RFC 6749 §4.1.3, §4.4, §5, §6;
//! RFC 9449 §5 for DPoP). The rules live in `domain::token` and
//! `domain::dpop`; this reads the form and the `DPoP` headers and writes the
//! RFC 6749 §5.1 response (with `DPoP-Nonce` when nonces are on).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue};
use m2m_core::ScopeSet;
use serde::Serialize;

use crate::Issuer;
use crate::domain::dpop::DpopRequest;
use crate::domain::error::GrantError;
use crate::domain::quota::QuotaStatus;
use crate::domain::token::TokenRequest;
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::ClientRequest;

/// The `DPoP` request header (RFC 9449 §4.1).
const DPOP: &str = "dpop";
/// The `DPoP-Nonce` response header (RFC 9449 §8).
const DPOP_NONCE: &str = "dpop-nonce";
/// The quota policies a token request counts against.
const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// What is left of each of those quotas.
const RATELIMIT: &str = "ratelimit";

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

pub(crate) async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    request: Result<ClientRequest, OAuthError>,
) -> Response {
    let now = issuer.now();
    // A request refused before the handler (form, credentials) gets the
    // nonce too: every token endpoint response carries one.
    let mut response = match request {
        Ok(request) => match answer(&issuer, &headers, &request, now).await {
            Ok(response) => response,
            Err(error) => error,
        },
        Err(error) => error.into_response(),
    };
    if let Some(nonce) = issuer.token_endpoint().dpop().nonce(now)
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
    response
}

async fn answer(
    issuer: &Issuer,
    headers: &HeaderMap,
    request: &ClientRequest,
    now: u64,
) -> Result<Response, Response> {
    let form = &request.form;
    let mut audiences: Vec<&str> = form.all("resource").collect();
    audiences.extend(form.get("audience"));
    let token_request = TokenRequest {
        grant_type: form
            .required("grant_type")
            .map_err(IntoResponse::into_response)?,
        scope: form.get("scope"),
        audiences,
        code: form.get("code"),
        redirect_uri: form.get("redirect_uri"),
        code_verifier: form.get("code_verifier"),
        refresh_token: form.get("refresh_token"),
        assertion: form.get("assertion"),
        subject_token: form.get("subject_token"),
        subject_token_type: form.get("subject_token_type"),
        actor_token: form.get("actor_token"),
        actor_token_type: form.get("actor_token_type"),
        requested_token_type: form.get("requested_token_type"),
    };
    let proofs: Vec<&[u8]> = headers.get_all(DPOP).iter().map(|v| v.as_bytes()).collect();
    let url = format!("{}/oauth/token", issuer.issuer_url());
    let dpop = DpopRequest {
        headers: &proofs,
        method: "POST",
        url: &url,
    };
    let issued = issuer
        .token_endpoint()
        .issue(
            &request.credentials,
            request.source,
            &token_request,
            &dpop,
            now,
        )
        .await
        .map_err(|e| {
            let quota = match &e {
                GrantError::QuotaExceeded(status) => Some(status.clone()),
                _ => None,
            };
            let mut response = oauth_error(e, request.basic).into_response();
            if let Some(status) = quota {
                rate_limit_headers(&mut response, &status);
            }
            response
        })?;
    let mut response = Json(TokenResponse {
        access_token: &issued.access_token,
        token_type: if issued.dpop_bound { "DPoP" } else { "Bearer" },
        expires_in: issued.expires_in,
        scope: &issued.scope,
        refresh_token: issued.refresh_token.as_deref(),
        issued_token_type: issued.issued_token_type,
    })
    .into_response();
    no_store(&mut response);
    if let Some(status) = &issued.quota {
        rate_limit_headers(&mut response, status);
    }
    Ok(response)
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers,
/// structured-field lists): each quota the request counted against as
/// `"client-hour";q=1000;w=3600` and `"client-hour";r=998;t=1834`, where `r`
/// is what this replica knows is left and `t` the seconds until the window
/// ends. Policy names are fixed strings, so no request text reaches them.
fn rate_limit_headers(response: &mut Response, status: &QuotaStatus) {
    if status.policies.is_empty() {
        return;
    }
    let policy = status
        .policies
        .iter()
        .map(|p| format!("\"{}\";q={};w={}", p.name, p.quota, p.window))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = status
        .policies
        .iter()
        .map(|p| format!("\"{}\";r={};t={}", p.name, p.remaining, p.reset))
        .collect::<Vec<_>>()
        .join(", ");
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, limit)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}
