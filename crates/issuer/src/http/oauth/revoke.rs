//! `POST /oauth/revoke`: RFC 7009.
//!
//! The caller authenticates as a client and revokes a token issued to
//! itself: an access token (that token), or a refresh token (its grant: the
//! refresh family and the grant's access tokens, RFC 7009 §2.1).
//! `token_type_hint` is a hint only: both kinds are looked for. An unknown,
//! foreign, malformed or already expired token answers 200 and changes
//! nothing (RFC 7009 §2.2). The rules live in `domain::own_tokens`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::Issuer;
use crate::domain::error::GrantError;
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::ClientRequest;

pub(crate) async fn revoke(
    State(issuer): State<Issuer>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let token = request.form.required("token")?;
    issuer
        .own_tokens()
        .revoke(&request.credentials, request.source, token, issuer.now())
        .await
        .map_err(|e| oauth_error(GrantError::Auth(e), request.basic))?;
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
