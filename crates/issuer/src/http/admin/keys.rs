//! `/admin/keys/rotate` and `/admin/keys/{kid}/revoke` (contract section 7).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::{AdminActor, IdPath};
use super::views::rfc3339;
use crate::http::error::AdminError;
use crate::{Issuer, IssuerError};

fn key_error(error: IssuerError) -> AdminError {
    match error {
        IssuerError::UnknownKey(_) => AdminError::not_found(crate::domain::error::Missing::Key),
        other => crate::domain::error::Internal(other).into(),
    }
}

/// `POST /admin/keys/rotate`: the new key is published at once and signs
/// after the pre-publication time.
pub(crate) async fn rotate(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
) -> Result<Response, AdminError> {
    let rotation = issuer
        .keys()
        .rotate(Some(&actor), issuer.now())
        .await
        .map_err(key_error)?;
    Ok(Json(json!({
        "kid": rotation.kid,
        "signs_from": rfc3339(rotation.signs_from),
        "signs_from_unix": rotation.signs_from,
        "superseded": rotation.superseded,
    }))
    .into_response())
}

/// `POST /admin/keys/{kid}/revoke`: an emergency; the key stops signing and
/// leaves the JWKS at once, and its tokens are refused.
pub(crate) async fn revoke(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    IdPath(kid): IdPath,
) -> Result<Response, AdminError> {
    let revoked = issuer
        .keys()
        .revoke(&actor, &kid, issuer.now())
        .await
        .map_err(key_error)?;
    Ok(Json(json!({
        "kid": revoked.kid,
        "replacement": revoked.replacement,
    }))
    .into_response())
}
