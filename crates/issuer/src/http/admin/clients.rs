//! `/admin/clients` and `/admin/clients/{client_id}` (contract section 7).
//! Each handler extracts, calls one `Registry` method, and shows the result.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use m2m_core::{ClientId, ClientKind, OrgId};
use serde_json::json;

use super::extract::{AdminActor, AdminJson, AdminQuery, ClientPath, DEFAULT_LIMIT, parse_limit};
use super::views::ClientView;
use crate::Issuer;
use crate::domain::registration::{ClientChanges, NewClient};
use crate::http::error::AdminError;
use crate::store::ClientFilter;

pub(crate) async fn create(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    AdminJson(request): AdminJson<NewClient>,
) -> Result<Response, AdminError> {
    let created = issuer
        .registry()
        .create_client(&actor, request, issuer.now())
        .await?;
    let mut body = serde_json::to_value(ClientView::new(&created.client)).unwrap_or_default();
    // A public client has no secret.
    if let Some((secret, record)) = &created.secret {
        body["client_secret"] = json!(secret.expose());
        body["secret_id"] = json!(record.secret_id);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn list(
    State(issuer): State<Issuer>,
    AdminQuery(query): AdminQuery,
) -> Result<Response, AdminError> {
    let mut filter = ClientFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for (name, value) in query {
        match name.as_str() {
            "org_id" => {
                m2m_core::validate_id(&value)
                    .map_err(|e| AdminError::bad_request(format!("org_id: {e}")))?;
                filter.org_id = Some(OrgId::new(value));
            }
            "kind" => {
                let kind: ClientKind =
                    value.parse().map_err(|e: m2m_core::UnknownClientKind| {
                        AdminError::bad_request(e.to_string())
                    })?;
                filter.kind = Some(kind);
            }
            "limit" => limit = parse_limit(&value)?,
            "cursor" => {
                let id = URL_SAFE_NO_PAD
                    .decode(&value)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|id| m2m_core::validate_id(id).is_ok())
                    .ok_or_else(|| AdminError::bad_request("cursor is not valid"))?;
                after = Some(ClientId::new(id));
            }
            _ => {}
        }
    }
    let page = issuer
        .registry()
        .clients(&filter, after.as_ref(), limit)
        .await?;
    let items: Vec<ClientView> = page.items.iter().map(ClientView::new).collect();
    let next_cursor = page.next.map(|id| URL_SAFE_NO_PAD.encode(id.as_str()));
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})).into_response())
}

pub(crate) async fn show(
    State(issuer): State<Issuer>,
    ClientPath(client_id): ClientPath,
) -> Result<Response, AdminError> {
    let (client, secrets) = issuer.registry().client(&client_id).await?;
    Ok(Json(ClientView::new(&client).with_secrets(&secrets)).into_response())
}

pub(crate) async fn update(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientPath(client_id): ClientPath,
    AdminJson(changes): AdminJson<ClientChanges>,
) -> Result<Response, AdminError> {
    let client = issuer
        .registry()
        .update_client(&actor, &client_id, changes, issuer.now())
        .await?;
    Ok(Json(ClientView::new(&client)).into_response())
}

pub(crate) async fn delete(
    State(issuer): State<Issuer>,
    AdminActor(actor): AdminActor,
    ClientPath(client_id): ClientPath,
) -> Result<Response, AdminError> {
    issuer
        .registry()
        .delete_client(&actor, &client_id, issuer.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
