//! `/admin/clients/{client_id}/jwks[/{kid}]`: a `private_key_jwt` client's
//! public keys, added and removed for rotation like secrets.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::extract::{AdminActor, AdminJson, ClientItemPath, ClientPath};
use crate::Issuer;
use crate::http::error::AdminError;

/// `POST`: the body is one public JWK; 201 with the key as stored (its
/// `kid` filled in with the RFC 7638 thumbprint when absent).
pub(crate) async fn add(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientPath(client_id): ClientPath,
    AdminJson(jwk): AdminJson<serde_json::Value>,
) -> Result<Response, AdminError> {
    let stored = issuer
        .registry()
        .add_client_key(&actor, &client_id, &jwk, issuer.now())
        .await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// `DELETE .../{kid}`: 204.
pub(crate) async fn remove(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientItemPath(client_id, kid): ClientItemPath,
) -> Result<Response, AdminError> {
    issuer
        .registry()
        .remove_client_key(&actor, &client_id, &kid, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
