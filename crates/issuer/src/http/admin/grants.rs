//! `/admin/clients/{client_id}/grants[/{grant_id}]`: a user-level client's
//! grants, and revoking one (its refresh tokens stop working and its access
//! tokens are revoked).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use m2m_core::UserId;
use serde_json::json;

use super::extract::{AdminActor, AdminQuery, ClientItemPath, ClientPath};
use super::views::grant_view;
use crate::Issuer;
use crate::http::error::AdminError;

/// `GET /admin/clients/{client_id}/grants[?user_id=]`, oldest first.
pub(crate) async fn list(
    State(issuer): State<Issuer>,
    ClientPath(client_id): ClientPath,
    AdminQuery(query): AdminQuery,
) -> Result<Response, AdminError> {
    let mut user_id = None;
    for (name, value) in query {
        match name.as_str() {
            "user_id" => {
                m2m_core::validate_id(&value)
                    .map_err(|e| AdminError::bad_request(format!("user_id: {e}")))?;
                user_id = Some(UserId::new(value));
            }
            other => {
                return Err(AdminError::bad_request(format!(
                    "unknown query parameter {}",
                    crate::http::extract::truncate(other)
                )));
            }
        }
    }
    let grants = issuer
        .registry()
        .grants(&client_id, user_id.as_ref())
        .await?;
    let items: Vec<serde_json::Value> = grants.iter().map(grant_view).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// `DELETE /admin/clients/{client_id}/grants/{grant_id}`.
pub(crate) async fn revoke(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientItemPath(client_id, grant_id): ClientItemPath,
) -> Result<Response, AdminError> {
    issuer
        .registry()
        .revoke_grant_as_admin(&actor, &client_id, &grant_id, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
