//! Wire errors, and the one place each domain error becomes one.
//!
//! - The OAuth endpoints (token, authorization, introspection, revocation,
//!   feed) answer per RFC 6749 §5.2: JSON `{"error","error_description"}`,
//!   400 for all but `invalid_client` (401, with `WWW-Authenticate: Basic`
//!   when Basic was used or nothing was sent), 429 for `slow_down` with
//!   `Retry-After`, `Cache-Control: no-store` and `Pragma: no-cache`.
//! - The admin API answers JSON `{"error","error_description"}` with the
//!   statuses of contract section 7: 400 unparsable JSON or bad query,
//!   413 body too large, 415 wrong content type, 422 validation, 404 unknown
//!   client (or secret, grant, key), 409 sixth secret.
//!
//! [`oauth_error`] and [`admin_error`] are the only functions that map a
//! domain error to the wire. A failure that is not the caller's fault is
//! logged there and answered with a bare 500 `server_error`; nothing a
//! caller sends becomes a 500.

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::domain::dynamic_registration::RegisterError;
use crate::domain::error::{AuthError, GrantError, Internal, Missing, RegistryError};
use crate::domain::feed::FeedError;

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
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
    /// RFC 6750 §3.1: a missing or wrong initial access token.
    InvalidToken,
    /// RFC 9449 §5: the DPoP proof is missing, invalid or replayed.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof needs a current server nonce.
    UseDpopNonce,
}

impl OAuthCode {
    pub(crate) fn as_str(self) -> &'static str {
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
            OAuthCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthCode::InvalidToken => "invalid_token",
            OAuthCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthCode::UseDpopNonce => "use_dpop_nonce",
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
    /// A `WWW-Authenticate: Bearer` challenge (registration's initial access token).
    pub(crate) bearer_challenge: Option<&'static str>,
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
            bearer_challenge: None,
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

    /// The RFC 6749 status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        match self.code {
            OAuthCode::InvalidClient | OAuthCode::InvalidToken => StatusCode::UNAUTHORIZED,
            OAuthCode::SlowDown => StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Logs a failure that is not the caller's fault.
fn log_internal(error: &Internal) {
    tracing::error!(%error, "request failed inside the issuer");
}

/// The wire form of a failed OAuth request. `basic` says whether the client
/// authenticated with HTTP Basic (or sent no credentials), which decides the
/// `WWW-Authenticate` challenge of `invalid_client`.
pub(crate) fn oauth_error(error: GrantError, basic: bool) -> OAuthError {
    match error {
        GrantError::Auth(AuthError::Throttled { retry_after }) => OAuthError {
            retry_after: Some(retry_after),
            ..OAuthError::new(
                OAuthCode::SlowDown,
                "too many failed authentications; retry later",
            )
        },
        GrantError::QuotaExceeded(status) => OAuthError {
            retry_after: status.retry_after,
            ..OAuthError::new(
                OAuthCode::SlowDown,
                "the token quota of this client or its organization is exhausted; retry later",
            )
        },
        GrantError::Auth(AuthError::InvalidClient) => OAuthError::invalid_client(basic),
        GrantError::Auth(AuthError::Internal(error)) | GrantError::Internal(error) => {
            log_internal(&error);
            OAuthError::server_error()
        }
        GrantError::InvalidRequest(description) => OAuthError::invalid_request(description),
        GrantError::UnsupportedGrantType(description) => {
            OAuthError::new(OAuthCode::UnsupportedGrantType, description)
        }
        GrantError::UnauthorizedClient(description) => {
            OAuthError::new(OAuthCode::UnauthorizedClient, description)
        }
        GrantError::InvalidScope(description) => {
            OAuthError::new(OAuthCode::InvalidScope, description)
        }
        GrantError::InvalidTarget(target) => OAuthError::new(
            OAuthCode::InvalidTarget,
            format!("this client may not get tokens for {target}"),
        ),
        GrantError::InvalidGrant(description) => {
            OAuthError::new(OAuthCode::InvalidGrant, description)
        }
        GrantError::Dpop(m2m_core::DpopError::UseNonce) => OAuthError::new(
            OAuthCode::UseDpopNonce,
            "the DPoP proof must carry the current nonce from the DPoP-Nonce header",
        ),
        GrantError::Dpop(m2m_core::DpopError::MissingProof) => OAuthError::new(
            OAuthCode::InvalidDpopProof,
            "this client's access tokens must be DPoP-bound: a DPoP proof is required",
        ),
        GrantError::Dpop(error) => OAuthError::new(OAuthCode::InvalidDpopProof, error.to_string()),
        GrantError::DpopReplayed => OAuthError::new(
            OAuthCode::InvalidDpopProof,
            "the DPoP proof was already used (its jti was seen): make a new proof per request",
        ),
        // A page at the authorization endpoint, not an authentication: 400.
        GrantError::ClientMetadata(description) => OAuthError {
            status: Some(StatusCode::BAD_REQUEST),
            ..OAuthError::new(OAuthCode::InvalidClient, description)
        },
    }
}

/// The realm of the registration endpoint's Bearer challenges, without and
/// with the RFC 6750 §3.1 error (a token was sent and is wrong).
const REGISTRATION_CHALLENGE: &str = "Bearer realm=\"m2m-registration\"";
const REGISTRATION_CHALLENGE_INVALID: &str =
    "Bearer realm=\"m2m-registration\", error=\"invalid_token\"";

/// The wire form of a failed registration (RFC 7591 §3.2.2; RFC 6750 §3.1
/// for the initial access token; 429 with `Retry-After` over the limit).
pub(crate) fn registration_error(error: RegisterError) -> OAuthError {
    match error {
        RegisterError::RateLimited { retry_after } => OAuthError {
            retry_after: Some(retry_after),
            ..OAuthError::new(
                OAuthCode::SlowDown,
                "too many registrations from this address; retry later",
            )
        },
        RegisterError::InvalidToken { sent } => OAuthError {
            bearer_challenge: Some(if sent {
                REGISTRATION_CHALLENGE_INVALID
            } else {
                REGISTRATION_CHALLENGE
            }),
            ..OAuthError::new(
                OAuthCode::InvalidToken,
                "registration requires a valid initial access token (Bearer)",
            )
        },
        RegisterError::InvalidRedirectUri(description) => {
            OAuthError::new(OAuthCode::InvalidRedirectUri, description)
        }
        RegisterError::InvalidClientMetadata(description) => {
            OAuthError::new(OAuthCode::InvalidClientMetadata, description)
        }
        RegisterError::Internal(error) => {
            log_internal(&error);
            OAuthError::server_error()
        }
    }
}

/// The wire form of a failed revocation-feed request.
pub(crate) fn feed_error(error: FeedError) -> OAuthError {
    match error {
        FeedError::UnknownCursor => OAuthError::invalid_request(
            "since is not a cursor of this feed (or the log was restored): read from the start",
        ),
        FeedError::Internal(error) => {
            log_internal(&error);
            OAuthError::server_error()
        }
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
        if let Some(challenge) = self.bearer_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
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

    /// 404: no such record.
    pub(crate) fn not_found(missing: Missing) -> Self {
        let description = match missing {
            Missing::Client => "no such client",
            Missing::Secret => "no such secret",
            Missing::Grant => "no such grant",
            Missing::Key => "no such key",
            Missing::FederatedCredential => "no such federated credential",
            Missing::OrgQuota => "this organization has no quota override",
        };
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

/// The wire form of a failed admin operation.
pub(crate) fn admin_error(error: RegistryError) -> AdminError {
    match error {
        RegistryError::NotFound(missing) => AdminError::not_found(missing),
        RegistryError::Invalid(description) => AdminError::validation(description),
        RegistryError::SecretLimit { max } => AdminError::new(
            StatusCode::CONFLICT,
            "secret_limit_reached",
            format!("a client may have at most {max} live secrets; delete one first"),
        ),
        RegistryError::KeyLimit { max } => AdminError::new(
            StatusCode::CONFLICT,
            "key_limit_reached",
            format!("a client may have at most {max} keys; delete one first"),
        ),
        RegistryError::FederatedCredentialLimit { max } => AdminError::new(
            StatusCode::CONFLICT,
            "federated_credential_limit_reached",
            format!("a client may have at most {max} federated credentials; delete one first"),
        ),
        RegistryError::Internal(error) => {
            log_internal(&error);
            AdminError::server_error()
        }
    }
}

impl From<RegistryError> for AdminError {
    fn from(error: RegistryError) -> Self {
        admin_error(error)
    }
}

impl From<Internal> for AdminError {
    fn from(error: Internal) -> Self {
        admin_error(RegistryError::Internal(error))
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
