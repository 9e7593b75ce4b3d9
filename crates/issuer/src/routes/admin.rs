//! The admin API (contract section 7), behind [`crate::admin_auth`].
//!
//! Bodies are JSON of at most 64 KiB. Unparsable JSON and bad query
//! parameters (limit, cursor, kind) are 400; a wrong content type 415; JSON
//! that breaks a rule (unknown field, TTL out of range, bad scope, kind
//! rules) 422; an unknown client or secret 404; a sixth live secret 409.
//! Listings page with opaque cursors (`next_cursor`, `null` on the last page);
//! `limit` defaults to 50 and may be 1 to 200.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{StatusCode, header};
use m2m_core::{ClientId, ClientKind, OrgId, UserId};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::revocations::{decode_seq, encode_seq};
use crate::Issuer;
use crate::admin_auth::AdminActor;
use crate::clients::{
    self, ClientView, CreateClient, CreateSecret, MAX_LIVE_SECRETS, UpdateClient, rfc3339,
};
use crate::error::AdminError;
use crate::store::{
    AddSecret, AuditRecord as AuditEvent, ClientFilter, GrantRecord, GrantRevocation,
};
use m2m_core::{Revocation, RevokedClient};

const ADMIN_BODY_LIMIT: usize = 64 * 1024;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

pub(crate) fn router(issuer: &Issuer) -> Router<Issuer> {
    let routes = Router::new()
        .route("/admin/clients", post(create_client).get(list_clients))
        .route(
            "/admin/clients/{client_id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/admin/clients/{client_id}/secrets", post(add_secret))
        .route(
            "/admin/clients/{client_id}/secrets/{secret_id}",
            delete(delete_secret),
        )
        .route("/admin/clients/{client_id}/grants", get(list_grants))
        .route(
            "/admin/clients/{client_id}/grants/{grant_id}",
            delete(revoke_grant),
        )
        .route("/admin/keys/rotate", post(rotate))
        .route("/admin/audit", get(audit));
    crate::admin_auth::protect(routes, issuer)
}

/// A path parameter; a bad one (undecodable) is a JSON 400, not axum's text.
struct AdminPath<T>(T);

impl<T, S> FromRequestParts<S> for AdminPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| AdminPath(value))
            .map_err(|e| AdminError::bad_request(format!("bad path parameter: {e}")))
    }
}

/// Reads a JSON body. `optional`: an empty body is `None` (whatever its type).
async fn json_body<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    optional: bool,
) -> Result<Option<T>, AdminError> {
    let bytes = axum::body::to_bytes(body, ADMIN_BODY_LIMIT)
        .await
        .map_err(|_| {
            AdminError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body must be at most {ADMIN_BODY_LIMIT} bytes"),
            )
        })?;
    if optional && bytes.is_empty() {
        return Ok(None);
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !is_json {
        return Err(AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        if e.is_data() {
            AdminError::validation(e.to_string())
        } else {
            AdminError::bad_request(format!("the body is not valid JSON: {e}"))
        }
    })
}

fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>, AdminError> {
    serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
        .map_err(|_| AdminError::bad_request("the query string is not valid form encoding"))
}

fn parse_limit(value: &str) -> Result<usize, AdminError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| AdminError::bad_request(format!("limit must be 1 to {MAX_LIMIT}")))
}

fn client_id_param(id: String) -> Result<ClientId, AdminError> {
    m2m_core::validate_id(&id).map_err(|_| AdminError::not_found("no such client"))?;
    Ok(ClientId::new(id))
}

fn created(body: serde_json::Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn create_client(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    request: Request,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let (parts, body) = request.into_parts();
    let Some(create) = json_body::<CreateClient>(&parts, body, false).await? else {
        return Err(AdminError::bad_request("a body is required"));
    };
    let now = inner.now();
    let client = create.into_record(now)?;
    let (secret, record) = clients::new_secret(&inner.hasher, &client.client_id, now, None)?;
    inner.store.create_client(&client, &record).await?;
    inner.cache.invalidate(&client.client_id);
    inner.audit.record(
        now,
        "client.created",
        Some(&client.client_id),
        Some(&actor),
        json!({"kind": client.kind, "scopes": client.scopes.to_string()}),
    );
    let mut body = serde_json::to_value(ClientView::new(&client)).unwrap_or_default();
    body["client_secret"] = json!(secret.expose());
    body["secret_id"] = json!(record.secret_id);
    Ok(created(body))
}

async fn list_clients(
    State(issuer): State<Issuer>,
    request: Request,
) -> Result<Response, AdminError> {
    let (parts, _) = request.into_parts();
    let mut filter = ClientFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for (name, value) in query_pairs(&parts)? {
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
        .inner
        .store
        .list_clients(&filter, after.as_ref(), limit)
        .await?;
    let items: Vec<ClientView> = page.items.iter().map(ClientView::new).collect();
    let next_cursor = page.next.map(|id| URL_SAFE_NO_PAD.encode(id.as_str()));
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})).into_response())
}

async fn get_client(
    State(issuer): State<Issuer>,
    AdminPath(client_id): AdminPath<String>,
) -> Result<Response, AdminError> {
    let client_id = client_id_param(client_id)?;
    let store = &issuer.inner.store;
    let client = store
        .get_client(&client_id)
        .await?
        .ok_or_else(|| AdminError::not_found("no such client"))?;
    let secrets = store.list_secrets(&client_id).await?;
    Ok(Json(ClientView::new(&client).with_secrets(&secrets)).into_response())
}

async fn update_client(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    AdminPath(client_id): AdminPath<String>,
    request: Request,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    let (parts, body) = request.into_parts();
    let Some(update) = json_body::<UpdateClient>(&parts, body, false).await? else {
        return Err(AdminError::bad_request("a body is required"));
    };
    let mut client = inner
        .store
        .get_client(&client_id)
        .await?
        .ok_or_else(|| AdminError::not_found("no such client"))?;
    let was_enabled = client.enabled;
    let now = inner.now();
    let changed = update.apply(&mut client, now)?;
    // A disabled client gets no token, and its live tokens are revoked.
    let revocation =
        (was_enabled && !client.enabled).then(|| RevokedClient::new(client_id.clone(), now));
    if !inner
        .store
        .update_client(&client, revocation.as_ref())
        .await?
    {
        return Err(AdminError::not_found("no such client"));
    }
    inner.cache.invalidate(&client_id);
    if let Some(revocation) = revocation {
        let _ = inner.revocations.send(Revocation::Client(revocation));
    }
    inner.audit.record(
        now,
        "client.updated",
        Some(&client_id),
        Some(&actor),
        json!({"fields": changed}),
    );
    Ok(Json(ClientView::new(&client)).into_response())
}

async fn delete_client(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    AdminPath(client_id): AdminPath<String>,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    let now = inner.now();
    let revocation = RevokedClient::new(client_id.clone(), now);
    if !inner.store.delete_client(&client_id, &revocation).await? {
        return Err(AdminError::not_found("no such client"));
    }
    inner.cache.invalidate(&client_id);
    let _ = inner.revocations.send(Revocation::Client(revocation));
    inner.audit.record(
        now,
        "client.deleted",
        Some(&client_id),
        Some(&actor),
        json!({}),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn grant_view(grant: &GrantRecord) -> serde_json::Value {
    json!({
        "grant_id": grant.grant_id,
        "client_id": grant.client_id.as_str(),
        "user_id": grant.user_id.as_str(),
        "org_id": grant.org_id.as_str(),
        "scopes": grant.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(grant.created_at),
        "revoked_at": grant.revoked_at.map(rfc3339),
    })
}

/// `GET /admin/clients/{client_id}/grants[?user_id=]`: a user-level
/// client's grants (revoked ones too), oldest first.
async fn list_grants(
    State(issuer): State<Issuer>,
    AdminPath(client_id): AdminPath<String>,
    request: Request,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    let (parts, _) = request.into_parts();
    let mut user_id = None;
    for (name, value) in query_pairs(&parts)? {
        match name.as_str() {
            "user_id" => {
                m2m_core::validate_id(&value)
                    .map_err(|e| AdminError::bad_request(format!("user_id: {e}")))?;
                user_id = Some(UserId::new(value));
            }
            other => {
                return Err(AdminError::bad_request(format!(
                    "unknown query parameter {}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    if inner.store.get_client(&client_id).await?.is_none() {
        return Err(AdminError::not_found("no such client"));
    }
    let grants = inner
        .store
        .list_grants(&client_id, user_id.as_ref())
        .await?;
    let items: Vec<serde_json::Value> = grants.iter().map(grant_view).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// `DELETE /admin/clients/{client_id}/grants/{grant_id}`: revokes the grant;
/// its refresh tokens stop working and its access tokens enter the feed.
async fn revoke_grant(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    AdminPath((client_id, grant_id)): AdminPath<(String, String)>,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    if grant_id.len() > m2m_core::MAX_ID_LEN {
        return Err(AdminError::not_found("no such grant"));
    }
    let now = inner.now();
    let revocation = GrantRevocation {
        client_id: &client_id,
        grant_id: &grant_id,
        at: now,
        live_after: now.saturating_sub(inner.leeway),
        create_revoked: None,
    };
    let Some(revoked) = inner.store.revoke_grant(&revocation).await? else {
        return Err(AdminError::not_found("no such grant"));
    };
    inner.announce_revoked(revoked);
    inner.audit.record(
        now,
        "grant.revoked",
        Some(&client_id),
        Some(&actor),
        json!({ "grant_id": grant_id, "reason": "admin" }),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_secret(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    AdminPath(client_id): AdminPath<String>,
    request: Request,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    let (parts, body) = request.into_parts();
    let request = json_body::<CreateSecret>(&parts, body, true)
        .await?
        .unwrap_or_default();
    let now = inner.now();
    let expires_at = request.expires_at(now)?;
    let (secret, record) = clients::new_secret(&inner.hasher, &client_id, now, expires_at)?;
    match inner
        .store
        .add_secret(&record, MAX_LIVE_SECRETS, now)
        .await?
    {
        AddSecret::Added => {}
        AddSecret::LimitReached => {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "secret_limit_reached",
                format!(
                    "a client may have at most {MAX_LIVE_SECRETS} live secrets; delete one first"
                ),
            ));
        }
        AddSecret::NoSuchClient => return Err(AdminError::not_found("no such client")),
    }
    inner.cache.invalidate(&client_id);
    inner.audit.record(
        now,
        "secret.created",
        Some(&client_id),
        Some(&actor),
        json!({"secret_id": record.secret_id}),
    );
    let mut body = json!({
        "secret_id": record.secret_id,
        "client_secret": secret.expose(),
        "created_at": rfc3339(now),
    });
    if let Some(at) = expires_at {
        body["expires_at"] = json!(rfc3339(at));
    }
    Ok(created(body))
}

async fn delete_secret(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
    AdminPath((client_id, secret_id)): AdminPath<(String, String)>,
) -> Result<Response, AdminError> {
    let inner = &*issuer.inner;
    let client_id = client_id_param(client_id)?;
    if secret_id.len() > m2m_core::MAX_ID_LEN
        || !inner.store.delete_secret(&client_id, &secret_id).await?
    {
        return Err(AdminError::not_found("no such secret"));
    }
    inner.cache.invalidate(&client_id);
    inner.audit.record(
        inner.now(),
        "secret.deleted",
        Some(&client_id),
        Some(&actor),
        json!({"secret_id": secret_id}),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(
    State(issuer): State<Issuer>,
    axum::Extension(AdminActor(actor)): axum::Extension<AdminActor>,
) -> Result<Response, AdminError> {
    let rotation = issuer.rotate_keys().await?;
    issuer.inner.audit.record(
        issuer.now(),
        "keys.rotated",
        None,
        Some(&actor),
        json!({"kid": rotation.kid, "signs_from": rotation.signs_from}),
    );
    Ok(Json(json!({
        "kid": rotation.kid,
        "signs_from": rfc3339(rotation.signs_from),
        "signs_from_unix": rotation.signs_from,
    }))
    .into_response())
}

fn event_view(event: &AuditEvent) -> serde_json::Value {
    json!({
        "id": event.seq.to_string(),
        "at": rfc3339(event.at),
        "kind": event.kind,
        "client_id": event.client_id,
        "actor": event.actor,
        "detail": event.detail,
    })
}

async fn audit(State(issuer): State<Issuer>, request: Request) -> Result<Response, AdminError> {
    let (parts, _) = request.into_parts();
    let mut client_id = None;
    let mut limit = DEFAULT_LIMIT;
    let mut before = None;
    for (name, value) in query_pairs(&parts)? {
        match name.as_str() {
            "client_id" => {
                m2m_core::validate_id(&value)
                    .map_err(|e| AdminError::bad_request(format!("client_id: {e}")))?;
                client_id = Some(ClientId::new(value));
            }
            "limit" => limit = parse_limit(&value)?,
            "cursor" => {
                before = Some(
                    decode_seq(&value)
                        .ok_or_else(|| AdminError::bad_request("cursor is not valid"))?,
                );
            }
            _ => {}
        }
    }
    issuer.flush_audit().await;
    let page = issuer
        .inner
        .store
        .list_audit(client_id.as_ref(), before, limit)
        .await?;
    let items: Vec<serde_json::Value> = page.items.iter().map(event_view).collect();
    Ok(Json(json!({"items": items, "next_cursor": page.next.map(encode_seq)})).into_response())
}
