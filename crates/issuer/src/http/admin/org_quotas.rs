//! `/admin/orgs/{org_id}/quota`: an organization's quota override
//! (contract section 14), the same shape as a client's `quota` field.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::extract::{AdminActor, AdminJson, OrgPath};
use crate::Issuer;
use crate::domain::error::RegistryError;
use crate::http::error::AdminError;
use crate::store::QuotaOverride;

/// `GET`: 200 with the override, 404 when the organization has none.
pub(crate) async fn show(
    State(issuer): State<Issuer>,
    OrgPath(org_id): OrgPath,
) -> Result<Response, AdminError> {
    let quota = issuer.quotas().org_quota(&org_id).await?;
    Ok(Json(quota).into_response())
}

/// `PUT`: sets or replaces the override; 200 with it.
pub(crate) async fn put(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    OrgPath(org_id): OrgPath,
    AdminJson(body): AdminJson<serde_json::Value>,
) -> Result<Response, AdminError> {
    // An object only: serde would read `[10]` as `{"per_minute": 10}`.
    if !body.is_object() {
        return Err(RegistryError::invalid("the quota must be a JSON object").into());
    }
    let quota: QuotaOverride =
        serde_json::from_value(body).map_err(|e| RegistryError::invalid(format!("quota: {e}")))?;
    let quota = issuer
        .quotas()
        .set_org_quota(&actor, &org_id, quota, issuer.now())
        .await?;
    Ok(Json(quota).into_response())
}

/// `DELETE`: 204; 404 when the organization had none.
pub(crate) async fn clear(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    OrgPath(org_id): OrgPath,
) -> Result<Response, AdminError> {
    issuer
        .quotas()
        .clear_org_quota(&actor, &org_id, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
