//! `POST /oauth/token` (contract section 6; RFC 6749 §4.1.3, §4.4, §5, §6).
//! The rules live in `domain::token`; this reads the form and writes the
//! RFC 6749 §5.1 response.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use m2m_core::ScopeSet;
use serde::Serialize;

use crate::Issuer;
use crate::domain::token::TokenRequest;
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::ClientRequest;

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

pub(crate) async fn token(
    State(issuer): State<Issuer>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let form = &request.form;
    let mut audiences: Vec<&str> = form.all("resource").collect();
    audiences.extend(form.get("audience"));
    let token_request = TokenRequest {
        grant_type: form.required("grant_type")?,
        scope: form.get("scope"),
        audiences,
        code: form.get("code"),
        redirect_uri: form.get("redirect_uri"),
        code_verifier: form.get("code_verifier"),
        refresh_token: form.get("refresh_token"),
        assertion: form.get("assertion"),
    };
    let issued = issuer
        .token_endpoint()
        .issue(
            &request.credentials,
            request.source,
            &token_request,
            issuer.now(),
        )
        .await
        .map_err(|e| oauth_error(e, request.basic))?;
    let mut response = Json(TokenResponse {
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: &issued.scope,
        refresh_token: issued.refresh_token.as_deref(),
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}
