//! `POST /oauth/introspect`: RFC 7662.
//!
//! The caller authenticates as a client, as at the token endpoint. A client
//! may introspect tokens issued to itself; a client with scope `m2m:admin`
//! may introspect any token; for anything else, and for a token that is
//! malformed, forged, expired, revoked, or whose client was deleted or is
//! disabled, the answer is `{"active":false}` (RFC 7662 §2.2). The rules
//! live in `domain::own_tokens`. A DPoP-bound token's answer has its `cnf`
//! (`{"jkt": ..}`) and `token_type: DPoP` (RFC 9449 §6.2).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Issuer;
use crate::domain::error::GrantError;
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::ClientRequest;

pub(crate) async fn introspect(
    State(issuer): State<Issuer>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let token = request.form.required("token")?;
    let claims = issuer
        .own_tokens()
        .introspect(&request.credentials, request.source, token, issuer.now())
        .await
        .map_err(|e| oauth_error(GrantError::Auth(e), request.basic))?;
    let body = match claims {
        None => json!({"active": false}),
        Some(claims) => {
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
                "token_type": if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
            });
            // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
            if let Some(cnf) = &claims.cnf {
                body["cnf"] = json!(cnf);
            }
            if let Some(oid) = &claims.oid {
                body["oid"] = json!(oid);
            }
            if let Some(uid) = &claims.uid {
                body["uid"] = json!(uid);
            }
            body
        }
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    Ok(response)
}
