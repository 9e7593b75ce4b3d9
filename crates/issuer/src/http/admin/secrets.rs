//! `/admin/clients/{client_id}/secrets[/{secret_id}]` (contract section 7).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::extract::{AdminActor, ClientItemPath, ClientPath, OptionalJson};
use super::views::{parse_rfc3339, rfc3339};
use crate::Issuer;
use crate::http::error::AdminError;

/// The body of `POST /admin/clients/{id}/secrets` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    #[serde(default)]
    expires_at: Option<String>,
}

pub(crate) async fn add(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientPath(client_id): ClientPath,
    OptionalJson(request): OptionalJson<NewSecret>,
) -> Result<Response, AdminError> {
    let request = request.unwrap_or_default();
    let expires_at =
        match &request.expires_at {
            None => None,
            Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
                AdminError::validation("expires_at must be an RFC 3339 date-time")
            })?),
        };
    let now = issuer.now();
    let (record, secret) = issuer
        .registry()
        .add_secret(&actor, &client_id, expires_at, now)
        .await?;
    let mut body = json!({
        "secret_id": record.secret_id,
        "client_secret": secret.expose(),
        "created_at": rfc3339(record.created_at),
    });
    if let Some(at) = record.expires_at {
        body["expires_at"] = json!(rfc3339(at));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn remove(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientItemPath(client_id, secret_id): ClientItemPath,
) -> Result<Response, AdminError> {
    issuer
        .registry()
        .remove_secret(&actor, &client_id, &secret_id, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
