//! The admin API's extractors. Each refuses a malformed request with an
//! [`AdminError`] (JSON, contract section 7) before any domain code runs:
//! [`AdminActor`] (the authenticated admin), [`AdminJson`] and
//! [`OptionalJson`] (bodies: 413, 415, 400, 422), [`ClientPath`],
//! [`ClientItemPath`] and [`IdPath`] (path ids: one that cannot be an id is
//! 400, checked before any store call),
//! [`AdminQuery`] (400).

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use http::request::Parts;
use http::{StatusCode, header};
use m2m_core::{ClientId, OrgId};
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

/// Every parameter of the path, each checked by the parser the bodies use
/// ([`m2m_core::validate_id`]: 1 to 256 printable ASCII characters, no
/// space) before any store call. One that cannot be an id (a NUL or other
/// control byte, a space, non-ASCII, too long, empty) is 400
/// `invalid_request` naming the parameter; a well-formed id that names
/// nothing is the handler's 404. The value is never echoed.
async fn path_ids<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Vec<String>, AdminError> {
    let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map(|Path(params)| params)
        .map_err(|_| {
            AdminError::bad_request("a path parameter is not valid percent-encoded UTF-8")
        })?;
    params
        .into_iter()
        .map(|(name, value)| {
            m2m_core::validate_id(&value)
                .map(|()| value)
                .map_err(|e| AdminError::bad_request(format!("{name}: {e}")))
        })
        .collect()
}

/// `/admin/clients/{client_id}`.
#[derive(Debug)]
pub(crate) struct ClientPath(pub(crate) ClientId);

impl<S: Send + Sync> FromRequestParts<S> for ClientPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <[String; 1]>::try_from(path_ids(parts, state).await?) {
            Ok([id]) => Ok(ClientPath(ClientId::new(id))),
            // The routes give this extractor exactly one parameter.
            Err(_) => Err(AdminError::server_error()),
        }
    }
}

/// `/admin/orgs/{org_id}/...`: the id checked like every path id.
#[derive(Debug)]
pub(crate) struct OrgPath(pub(crate) OrgId);

impl<S: Send + Sync> FromRequestParts<S> for OrgPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <[String; 1]>::try_from(path_ids(parts, state).await?) {
            Ok([id]) => Ok(OrgPath(OrgId::new(id))),
            // The routes give this extractor exactly one parameter.
            Err(_) => Err(AdminError::server_error()),
        }
    }
}

/// `/admin/clients/{client_id}/{secrets|grants}/{id}`.
#[derive(Debug)]
pub(crate) struct ClientItemPath(pub(crate) ClientId, pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for ClientItemPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <[String; 2]>::try_from(path_ids(parts, state).await?) {
            Ok([id, item]) => Ok(ClientItemPath(ClientId::new(id), item)),
            // The routes give this extractor exactly two parameters.
            Err(_) => Err(AdminError::server_error()),
        }
    }
}

/// A path holding one opaque id (a key's kid).
#[derive(Debug)]
pub(crate) struct IdPath(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <[String; 1]>::try_from(path_ids(parts, state).await?) {
            Ok([id]) => Ok(IdPath(id)),
            // The routes give this extractor exactly one parameter.
            Err(_) => Err(AdminError::server_error()),
        }
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
