//! Errors: what building an issuer can fail with ([`IssuerError`]), and how
//! the endpoints answer failed requests.
//!
//! - The OAuth endpoints (token, introspection, revocation, feed) answer per
//!   RFC 6749 §5.2: JSON `{"error","error_description"}`, 400 for all but
//!   `invalid_client` (401, with `WWW-Authenticate: Basic` when Basic was
//!   used), `Cache-Control: no-store` and `Pragma: no-cache`.
//! - The admin API answers JSON `{"error","error_description"}` with the
//!   statuses of contract section 7: 400 unparsable JSON or bad query,
//!   413 body too large, 415 wrong content type, 422 validation, 404 unknown
//!   client, 409 sixth secret.
//!
//! Every way a request can be malformed maps to one of these; nothing that a
//! caller sends turns into a 500.

use std::borrow::Cow;
use std::fmt;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::store::StoreError;

/// Building or running an [`Issuer`](crate::Issuer) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum IssuerError {
    /// The builder was given a setting that cannot work.
    Config(String),
    /// The store failed.
    Store(StoreError),
    /// A stored signing key could not be decrypted: most likely the master
    /// key differs from the one the key was sealed with.
    KeyDecryption {
        /// The key that could not be opened.
        kid: String,
    },
    /// A signing key could not be generated or loaded.
    Key(m2m_core::KeyError),
    /// The operating system's random generator failed.
    Randomness,
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerError::Config(what) => write!(f, "invalid issuer configuration: {what}"),
            IssuerError::Store(error) => write!(f, "{error}"),
            IssuerError::KeyDecryption { kid } => write!(
                f,
                "cannot decrypt stored signing key {kid}: the master key is not the one it was sealed with"
            ),
            IssuerError::Key(error) => write!(f, "signing key error: {error}"),
            IssuerError::Randomness => {
                f.write_str("the operating system's random generator failed")
            }
        }
    }
}

impl std::error::Error for IssuerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IssuerError::Store(error) => Some(error),
            IssuerError::Key(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for IssuerError {
    fn from(error: StoreError) -> Self {
        IssuerError::Store(error)
    }
}

impl From<m2m_core::KeyError> for IssuerError {
    fn from(error: m2m_core::KeyError) -> Self {
        IssuerError::Key(error)
    }
}

impl From<m2m_core::RandomnessUnavailable> for IssuerError {
    fn from(_: m2m_core::RandomnessUnavailable) -> Self {
        IssuerError::Randomness
    }
}

/// The error codes of RFC 6749 §5.2, RFC 8707 and throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    InvalidGrant,
    SlowDown,
    ServerError,
}

impl OAuthCode {
    fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::InvalidTarget => "invalid_target",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::SlowDown => "slow_down",
            OAuthCode::ServerError => "server_error",
        }
    }
}

/// A failed OAuth request, answered per RFC 6749 §5.2.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) code: OAuthCode,
    pub(crate) description: Cow<'static, str>,
    /// Overrides the code's usual status (413 for an oversized body).
    pub(crate) status: Option<StatusCode>,
    /// Send `WWW-Authenticate: Basic realm=".."` (the client used Basic, or sent nothing).
    pub(crate) basic_challenge: bool,
    /// `Retry-After` seconds (throttling).
    pub(crate) retry_after: Option<u64>,
}

/// The one description every failed client authentication gets, whatever
/// the reason: no oracle for whether a client exists.
pub(crate) const INVALID_CLIENT_DESCRIPTION: &str = "client authentication failed";

/// The realm in `WWW-Authenticate: Basic` challenges.
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"m2m-auth\", charset=\"UTF-8\"";

impl OAuthError {
    pub(crate) fn new(code: OAuthCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status: None,
            basic_challenge: false,
            retry_after: None,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidRequest, description)
    }

    /// `invalid_client` with the one description used for every reason.
    pub(crate) fn invalid_client(basic_challenge: bool) -> Self {
        OAuthError {
            basic_challenge,
            ..Self::new(OAuthCode::InvalidClient, INVALID_CLIENT_DESCRIPTION)
        }
    }

    pub(crate) fn server_error() -> Self {
        Self::new(
            OAuthCode::ServerError,
            "the server could not complete the request",
        )
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        OAuthError {
            status: Some(StatusCode::PAYLOAD_TOO_LARGE),
            ..Self::invalid_request(format!("request body larger than {limit} bytes"))
        }
    }

    fn status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        match self.code {
            OAuthCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthCode::SlowDown => StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed during an OAuth request");
        OAuthError::server_error()
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for every token-bearing or error response.
pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        });
        let mut response = (self.status(), Json(body)).into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A failed admin API request.
#[derive(Debug)]
pub(crate) struct AdminError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: Cow<'static, str>,
}

impl AdminError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        AdminError {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400: a body that is not JSON, or a bad query parameter or cursor.
    pub(crate) fn bad_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 422: valid JSON that breaks a rule.
    pub(crate) fn validation(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            description,
        )
    }

    /// 404: no such client (or secret).
    pub(crate) fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    pub(crate) fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server could not complete the request",
        )
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed during an admin request");
        AdminError::server_error()
    }
}

impl From<IssuerError> for AdminError {
    fn from(error: IssuerError) -> Self {
        tracing::error!(%error, "admin request failed");
        AdminError::server_error()
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        (self.status, Json(body)).into_response()
    }
}
