//! `/admin/clients/{client_id}/federated-credentials[/{id}]` (contract
//! section 12): a client's trust entries for external issuers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::extract::{AdminActor, AdminJson, ClientItemPath, ClientPath};
use super::views::FederatedCredentialView;
use crate::Issuer;
use crate::domain::federation::NewFederatedCredential;
use crate::http::error::AdminError;

/// The body of `POST /admin/clients/{id}/federated-credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEntry {
    issuer: String,
    subject: String,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    claims: BTreeMap<String, String>,
    #[serde(default)]
    jwks: Option<serde_json::Value>,
}

pub(crate) async fn add(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientPath(client_id): ClientPath,
    AdminJson(request): AdminJson<NewEntry>,
) -> Result<Response, AdminError> {
    let new = NewFederatedCredential {
        issuer: request.issuer,
        subject: request.subject,
        audience: request.audience,
        claims: request.claims,
        jwks: request.jwks,
    };
    let record = issuer
        .registry()
        .add_federated_credential(&actor, &client_id, new, issuer.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(FederatedCredentialView::new(&record)),
    )
        .into_response())
}

pub(crate) async fn list(
    State(issuer): State<Issuer>,
    ClientPath(client_id): ClientPath,
) -> Result<Response, AdminError> {
    let entries = issuer.registry().federated_credentials(&client_id).await?;
    let items: Vec<_> = entries.iter().map(FederatedCredentialView::new).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

pub(crate) async fn remove(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientItemPath(client_id, id): ClientItemPath,
) -> Result<Response, AdminError> {
    issuer
        .registry()
        .remove_federated_credential(&actor, &client_id, &id, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
