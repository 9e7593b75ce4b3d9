//! The admin API's extractors. Each refuses a malformed request with an
//! [`AdminError`] (JSON, contract section 7) before any domain code runs:
//! [`AdminActor`] (the authenticated admin), [`AdminJson`] and
//! [`OptionalJson`] (bodies: 413, 415, 400, 422), [`ClientPath`] and
//! [`ClientItemPath`] (path ids: an id that cannot exist is 404),
//! [`AdminQuery`] (400).

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use http::request::Parts;
use http::{StatusCode, header};
use m2m_core::ClientId;
use serde::de::DeserializeOwned;

use crate::http::error::AdminError;

/// Items per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest `limit`.
const MAX_LIMIT: usize = 200;

/// A listing's `limit`: 1 to 200.
pub(crate) fn parse_limit(value: &str) -> Result<usize, AdminError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| AdminError::bad_request(format!("limit must be 1 to {MAX_LIMIT}")))
}

/// Largest body the admin API reads.
const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// The admin client that made the request (set by `auth` after the guard).
#[derive(Debug, Clone)]
pub(crate) struct AdminActor(pub(crate) ClientId);

impl<S: Send + Sync> FromRequestParts<S> for AdminActor {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The admin layer always sets it; fail closed regardless.
        parts
            .extensions
            .get::<AdminActor>()
            .cloned()
            .ok_or_else(AdminError::server_error)
    }
}

/// Reads a JSON body. `optional`: an empty body is `None` (whatever its type).
async fn json_body<T: DeserializeOwned>(
    request: Request,
    optional: bool,
) -> Result<Option<T>, AdminError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    let bytes = axum::body::to_bytes(request.into_body(), ADMIN_BODY_LIMIT)
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

/// A required JSON body.
#[derive(Debug)]
pub(crate) struct AdminJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        match json_body(request, false).await? {
            Some(value) => Ok(AdminJson(value)),
            None => Err(AdminError::bad_request("a body is required")),
        }
    }
}

/// A JSON body that may be empty (`None`).
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        json_body(request, true).await.map(OptionalJson)
    }
}

/// A client id from the path: one that cannot be an id is no such client.
fn client_id(id: String) -> Result<ClientId, AdminError> {
    m2m_core::validate_id(&id)
        .map_err(|_| AdminError::not_found(crate::domain::error::Missing::Client))?;
    Ok(ClientId::new(id))
}

async fn path<T: DeserializeOwned + Send, S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<T, AdminError> {
    Path::<T>::from_request_parts(parts, state)
        .await
        .map(|Path(value)| value)
        .map_err(|e| AdminError::bad_request(format!("bad path parameter: {e}")))
}

/// `/admin/clients/{client_id}`.
#[derive(Debug)]
pub(crate) struct ClientPath(pub(crate) ClientId);

impl<S: Send + Sync> FromRequestParts<S> for ClientPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id: String = path(parts, state).await?;
        client_id(id).map(ClientPath)
    }
}

/// `/admin/clients/{client_id}/{secrets|grants}/{id}`: an item id longer
/// than any id is no such item (`what`'s 404 is the handler's to give).
#[derive(Debug)]
pub(crate) struct ClientItemPath(pub(crate) ClientId, pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientItemPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (id, item): (String, String) = path(parts, state).await?;
        let item = (item.len() <= m2m_core::MAX_ID_LEN).then_some(item);
        Ok(ClientItemPath(client_id(id)?, item))
    }
}

/// A path holding one opaque id (a key's kid).
#[derive(Debug)]
pub(crate) struct IdPath(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path(parts, state).await.map(IdPath)
    }
}

/// The query string's pairs.
#[derive(Debug)]
pub(crate) struct AdminQuery(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for AdminQuery {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(AdminQuery)
            .map_err(|_| AdminError::bad_request("the query string is not valid form encoding"))
    }
}
