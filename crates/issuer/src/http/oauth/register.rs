//! `POST /oauth/register`: Dynamic Client Registration (RFC 7591 §3),
//! mounted only when the issuer has a registration policy. The rules live
//! in `domain::dynamic_registration`; this reads the bounded JSON body, the
//! `Authorization` header and the source address, and writes the §3.2.1
//! response (201, `Cache-Control: no-store`: it may hold a secret).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::json;

use crate::Issuer;
use crate::domain::dynamic_registration::RegistrationRequest;
use crate::http::error::{OAuthError, no_store, registration_error};
use crate::http::extract::OAUTH_BODY_LIMIT;
use crate::http::source::source_address;

/// A registration request: the JSON body (at most [`OAUTH_BODY_LIMIT`]
/// bytes), the Bearer token if an `Authorization` header was sent, and the
/// source address.
#[derive(Debug)]
pub(crate) struct RegistrationBody {
    body: axum::body::Bytes,
    /// `Some("")` for an `Authorization` header that is not one Bearer token.
    access_token: Option<String>,
    source: Option<std::net::IpAddr>,
}

impl FromRequest<Issuer> for RegistrationBody {
    type Rejection = OAuthError;

    async fn from_request(request: Request, issuer: &Issuer) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let is_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(OAuthError::invalid_request(
                "the body must be application/json client metadata (RFC 7591)",
            ));
        }
        let mut authorization = parts.headers.get_all(header::AUTHORIZATION).iter();
        let access_token = match (authorization.next(), authorization.next()) {
            (None, _) => None,
            (Some(value), None) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim().to_owned())
                    .unwrap_or_default(),
            ),
            (Some(_), Some(_)) => Some(String::new()),
        };
        let body = axum::body::to_bytes(body, OAUTH_BODY_LIMIT)
            .await
            .map_err(|_| OAuthError::too_large(OAUTH_BODY_LIMIT))?;
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                source_address(addr.ip(), &parts.headers, issuer.trusted_proxies())
            });
        Ok(RegistrationBody {
            body,
            access_token,
            source,
        })
    }
}

pub(crate) async fn register(
    State(issuer): State<Issuer>,
    request: RegistrationBody,
) -> Result<Response, OAuthError> {
    let Some(registration) = issuer.registration() else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let registered = registration
        .register(
            &RegistrationRequest {
                body: &request.body,
                access_token: request.access_token.as_deref(),
                source: request.source,
            },
            issuer.now(),
        )
        .await
        .map_err(registration_error)?;
    let client = &registered.client;
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": registered.grant_types,
        "response_types": registered.response_types,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "scope": client.scopes.to_string(),
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
    });
    if let Some(secret) = &registered.secret {
        body["client_secret"] = json!(secret.expose());
        // Never expires (RFC 7591 §3.2.1); rotate it with the admin API.
        body["client_secret_expires_at"] = json!(0);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}
