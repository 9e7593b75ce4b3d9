//! Why a request was refused, and the RFC 6750 §3 answer to it.
//!
//! [`challenge`] is the one function that maps a [`Rejection`] to its
//! [`Challenge`]: the status, the `WWW-Authenticate` header and the JSON body.
//! A guard's layers answer through one `Responder` (its realm, its verbosity
//! and the host's [`on_rejection`](crate::GuardBuilder::on_rejection) hook),
//! which also writes the one log event of each refusal.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use m2m_core::{ScopeRequirement, VerifyError};

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No `Authorization: Bearer` header (absent, or another scheme).
    MissingToken,
    /// The `Authorization` header is not a well-formed Bearer credential
    /// (not visible ASCII, or an empty token).
    MalformedHeader,
    /// The token failed verification.
    InvalidToken(VerifyError),
    /// The token, or every token of its client issued before a point in time, was revoked.
    Revoked,
    /// The token is valid but lacks the route's scopes.
    InsufficientScope(ScopeRequirement),
}

impl Rejection {
    /// A short, stable reason for logs and metrics (`missing_token`, `expired`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::MalformedHeader => "malformed_header",
            Rejection::InvalidToken(e) => e.reason(),
            Rejection::Revoked => "revoked",
            Rejection::InsufficientScope(_) => "insufficient_scope",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingToken => f.write_str("no bearer token in the Authorization header"),
            Rejection::MalformedHeader => f.write_str("the Authorization header is malformed"),
            Rejection::InvalidToken(e) => fmt::Display::fmt(e, f),
            Rejection::Revoked => f.write_str("the access token was revoked"),
            Rejection::InsufficientScope(_) => {
                f.write_str("the access token lacks the required scope")
            }
        }
    }
}

/// The answer to a [`Rejection`]: status, `WWW-Authenticate` and JSON body.
///
/// Made by [`challenge`]; turned into a response by [`Challenge::into_response`]
/// or, with a body of your own, [`Challenge::response_with_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    status: StatusCode,
    www_authenticate: HeaderValue,
    error: &'static str,
    description: String,
}

impl Challenge {
    /// 401 or 403.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` header value.
    pub fn www_authenticate(&self) -> &str {
        // Built only from visible ASCII, so this never fails.
        self.www_authenticate.to_str().unwrap_or_default()
    }

    /// The OAuth error code: `unauthorized`, `invalid_token` or `insufficient_scope`.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The human-readable description (already made safe for a header).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The JSON body `{"error","error_description"}`.
    pub fn json_body(&self) -> Bytes {
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        Bytes::from(body.to_string())
    }

    /// The full response with the default JSON body.
    pub fn into_response(self) -> Response<Bytes> {
        let body = self.json_body();
        self.response_with_body(body, HeaderValue::from_static("application/json"))
    }

    /// The status and `WWW-Authenticate` header of this challenge, with your body.
    pub fn response_with_body(
        self,
        body: impl Into<Bytes>,
        content_type: HeaderValue,
    ) -> Response<Bytes> {
        let mut response = Response::new(body.into());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::WWW_AUTHENTICATE, self.www_authenticate);
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Maps a rejection to its RFC 6750 §3 challenge.
///
/// - missing token: 401, `Bearer realm="..."`, body error `unauthorized`;
/// - malformed header, invalid or revoked token: 401, `error="invalid_token"`;
/// - missing scope: 403, `error="insufficient_scope", scope="..."`.
///
/// With `verbose` false (the default of [`GuardBuilder`](crate::GuardBuilder)),
/// an invalid token is described only as expired, revoked or invalid; with
/// `verbose` true the precise verification error is given. Anything taken from
/// the request is stripped of quotes, backslashes and control characters.
///
/// ```
/// use m2m_guard::{challenge, Rejection};
/// use m2m_core::{ScopeRequirement, VerifyError};
///
/// let missing = challenge(&Rejection::MissingToken, "api", false);
/// assert_eq!(missing.status(), 401);
/// assert_eq!(missing.www_authenticate(), r#"Bearer realm="api""#);
/// assert_eq!(missing.error(), "unauthorized");
///
/// let expired = challenge(&Rejection::InvalidToken(VerifyError::Expired), "api", false);
/// assert_eq!(
///     expired.www_authenticate(),
///     r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#
/// );
///
/// let needed = ScopeRequirement::all_of(["invoices:read", "invoices:write"]).unwrap();
/// let forbidden = challenge(&Rejection::InsufficientScope(needed), "api", false);
/// assert_eq!(forbidden.status(), 403);
/// assert!(forbidden.www_authenticate().ends_with(r#"scope="invoices:read invoices:write""#));
/// ```
pub fn challenge(rejection: &Rejection, realm: &str, verbose: bool) -> Challenge {
    let realm = header_safe(realm);
    let (status, error, description, scope) = match rejection {
        Rejection::MissingToken => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a bearer access token is required".to_owned(),
            None,
        ),
        Rejection::MalformedHeader => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the Authorization header is not a valid bearer credential".to_owned(),
            None,
        ),
        Rejection::InvalidToken(e) => {
            let description = match e {
                _ if verbose => header_safe(&e.to_string()),
                VerifyError::Expired => "the access token expired".to_owned(),
                _ => "the access token is invalid".to_owned(),
            };
            (StatusCode::UNAUTHORIZED, "invalid_token", description, None)
        }
        Rejection::Revoked => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token was revoked".to_owned(),
            None,
        ),
        Rejection::InsufficientScope(needed) => {
            let scopes = needed
                .scopes()
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let description = match needed {
                ScopeRequirement::AnyOf(_) => "the access token needs one of the scopes",
                ScopeRequirement::AllOf(_) => "the access token needs all of the scopes",
            };
            (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                description.to_owned(),
                Some(header_safe(&scopes)),
            )
        }
    };
    let mut value = format!("Bearer realm=\"{realm}\"");
    if status != StatusCode::UNAUTHORIZED || error != "unauthorized" {
        value.push_str(&format!(
            ", error=\"{error}\", error_description=\"{description}\""
        ));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    let www_authenticate = HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"api\""));
    Challenge {
        status,
        www_authenticate,
        error,
        description,
    }
}

/// Makes the response for a refused request, from the rejection and its
/// default challenge.
pub(crate) type RejectionHook = Arc<dyn Fn(&Rejection, Challenge) -> Response<Bytes> + Send + Sync>;

/// How a guard answers the requests it refuses.
pub(crate) struct Responder {
    realm: Box<str>,
    verbose: bool,
    hook: Option<RejectionHook>,
}

impl Responder {
    pub(crate) fn new(realm: &str, verbose: bool, hook: Option<RejectionHook>) -> Self {
        Responder {
            realm: header_safe(realm).into_boxed_str(),
            verbose,
            hook,
        }
    }

    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// The response to a rejection: one tracing event with its reason (never
    /// the token), then the host's hook or the default challenge.
    pub(crate) fn respond(&self, rejection: &Rejection) -> Response<Bytes> {
        let challenge = challenge(rejection, &self.realm, self.verbose);
        tracing::info!(
            target: "m2m_guard",
            reason = rejection.reason(),
            status = challenge.status().as_u16(),
            "request refused"
        );
        match &self.hook {
            Some(hook) => hook(rejection, challenge),
            None => challenge.into_response(),
        }
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("verbose", &self.verbose)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// Keeps visible ASCII and spaces, minus `"` and `\`, and at most 200 bytes:
/// safe inside a quoted header parameter.
pub(crate) fn header_safe(text: &str) -> String {
    text.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_sanitized() {
        let c = challenge(
            &Rejection::InvalidToken(VerifyError::WrongType(Some("x\"\r\n\\é".into()))),
            "my \"realm\"",
            true,
        );
        let v = c.www_authenticate();
        assert!(v.starts_with(r#"Bearer realm="my realm""#), "{v}");
        assert!(
            !v.contains('\\') && !v.contains('\r') && !v.contains('é'),
            "{v}"
        );
        assert_eq!(v.matches('"').count(), 6, "{v}");
    }

    #[test]
    fn terse_by_default() {
        let c = challenge(
            &Rejection::InvalidToken(VerifyError::BadSignature),
            "api",
            false,
        );
        assert_eq!(c.description(), "the access token is invalid");
        let c = challenge(&Rejection::Revoked, "api", false);
        assert_eq!(c.error(), "invalid_token");
        assert_eq!(c.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn body_is_json() {
        let c = challenge(&Rejection::MissingToken, "api", false);
        let r = c.into_response();
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["error"], "unauthorized");
    }
}
