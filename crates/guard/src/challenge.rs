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
use m2m_core::{DpopError, ScopeRequirement, VerifyError};

use crate::dpop::{DPOP_NONCE_HEADER, DpopRejection};

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
    /// A DPoP-bound token (`cnf.jkt`) was presented with the Bearer scheme
    /// (RFC 9449 §7.2): answered `invalid_token`.
    DpopBoundAsBearer,
    /// A token that is not DPoP-bound was presented with the DPoP scheme:
    /// answered `invalid_token` (there is no key to check the proof against).
    NotDpopBound,
    /// The DPoP proof of a bound token was refused: answered
    /// `invalid_dpop_proof`, or `use_dpop_nonce` with a `DPoP-Nonce` header.
    Dpop(DpopRejection),
    /// The token is delegated (it carries an `act` chain, RFC 8693 §4.1)
    /// more deeply than the route allows:
    /// [`direct_only`](crate::RequireScopesLayer::direct_only) (`max` 0) or
    /// [`max_delegation_depth`](crate::RequireScopesLayer::max_delegation_depth).
    /// Answered 403 `insufficient_scope`, with no `scope` parameter.
    DelegationTooDeep {
        /// The token's delegation depth (how many actors its chain names).
        depth: usize,
        /// The deepest chain the route accepts (0: direct tokens only).
        max: usize,
    },
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
            Rejection::DpopBoundAsBearer => "dpop_bound_as_bearer",
            Rejection::NotDpopBound => "not_dpop_bound",
            Rejection::Dpop(e) => e.reason(),
            Rejection::DelegationTooDeep { max: 0, .. } => "delegated_token",
            Rejection::DelegationTooDeep { .. } => "delegation_too_deep",
        }
    }

    /// Whether the refusal is about the DPoP presentation, so its challenge
    /// is the DPoP one.
    fn is_dpop(&self) -> bool {
        matches!(self, Rejection::NotDpopBound | Rejection::Dpop(_))
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
            Rejection::DpopBoundAsBearer => {
                f.write_str("the access token is DPoP-bound and was presented as Bearer")
            }
            Rejection::NotDpopBound => {
                f.write_str("the access token is not DPoP-bound and was presented as DPoP")
            }
            Rejection::Dpop(e) => fmt::Display::fmt(e, f),
            Rejection::DelegationTooDeep { .. } => f.write_str(&delegation_description(self)),
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
    /// The other scheme's challenge (Bearer and DPoP side by side, RFC 9449 §7.1).
    also: Option<HeaderValue>,
    dpop_nonce: Option<HeaderValue>,
    error: &'static str,
    description: String,
}

impl Challenge {
    /// 401 or 403.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` header value (the first one, when the guard
    /// also offers DPoP: the challenge of the scheme the error is about).
    pub fn www_authenticate(&self) -> &str {
        // Built only from visible ASCII, so this never fails.
        self.www_authenticate.to_str().unwrap_or_default()
    }

    /// The second `WWW-Authenticate` value, when the guard accepts DPoP:
    /// the other scheme's challenge (`DPoP algs="..."` beside Bearer).
    pub fn also_www_authenticate(&self) -> Option<&str> {
        self.also.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The `DPoP-Nonce` header value, for `use_dpop_nonce`.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The OAuth error code: `unauthorized`, `invalid_token`,
    /// `insufficient_scope`, `invalid_dpop_proof` or `use_dpop_nonce`.
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
        if let Some(also) = self.also {
            headers.append(header::WWW_AUTHENTICATE, also);
        }
        if let Some(nonce) = self.dpop_nonce {
            headers.insert(DPOP_NONCE_HEADER, nonce);
        }
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// What a challenge is made with besides the [`Rejection`]: the realm, the
/// verbosity, the Protected Resource Metadata URL and the route's scopes.
///
/// A guard fills it from its settings; build one yourself to answer with
/// [`challenge_with`] outside a guard.
///
/// ```
/// use m2m_guard::{ChallengeParams, Rejection, challenge_with};
/// use m2m_core::ScopeRequirement;
///
/// let needed = ScopeRequirement::all_of(["tools:read"]).unwrap();
/// let params = ChallengeParams::new("mcp")
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource/mcp")
///     .route_scopes(&needed);
/// let missing = challenge_with(&Rejection::MissingToken, &params);
/// assert_eq!(
///     missing.www_authenticate(),
///     concat!(
///         r#"Bearer realm="mcp", scope="tools:read", "#,
///         r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#,
///     )
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChallengeParams<'a> {
    realm: &'a str,
    verbose: bool,
    resource_metadata: Option<&'a str>,
    route_scopes: Option<&'a ScopeRequirement>,
    dpop_algs: Option<&'a str>,
    presented_as_dpop: bool,
    dpop_nonce: Option<&'a str>,
}

impl<'a> ChallengeParams<'a> {
    /// A challenge in `realm`, terse, with no metadata URL and no route scopes.
    pub fn new(realm: &'a str) -> Self {
        ChallengeParams {
            realm,
            verbose: false,
            resource_metadata: None,
            route_scopes: None,
            dpop_algs: None,
            presented_as_dpop: false,
            dpop_nonce: None,
        }
    }

    /// The resource accepts DPoP with these proof algorithms
    /// (space-separated): every challenge offers `DPoP algs="..."` beside
    /// Bearer (RFC 9449 §7.1).
    pub fn dpop_algs(mut self, algs: &'a str) -> Self {
        self.dpop_algs = Some(algs);
        self
    }

    /// The token was presented with the DPoP scheme: the error goes in the
    /// DPoP challenge.
    pub fn presented_as_dpop(mut self, dpop: bool) -> Self {
        self.presented_as_dpop = dpop;
        self
    }

    /// A fresh nonce for a `use_dpop_nonce` answer, sent as `DPoP-Nonce`.
    pub fn dpop_nonce(mut self, nonce: &'a str) -> Self {
        self.dpop_nonce = Some(nonce);
        self
    }

    /// Gives the precise verification error in `error_description`.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The absolute URL of the Protected Resource Metadata (RFC 9728 §5.1),
    /// named in `resource_metadata` on every challenge.
    pub fn resource_metadata(mut self, url: &'a str) -> Self {
        self.resource_metadata = Some(url);
        self
    }

    /// The scopes the route needs, named in `scope` on a 401 for a missing
    /// token, so that a client asks for them the first time (MCP).
    pub fn route_scopes(mut self, scopes: &'a ScopeRequirement) -> Self {
        self.route_scopes = Some(scopes);
        self
    }
}

/// Maps a rejection to its RFC 6750 §3 challenge, in `realm`: a shorthand
/// for [`challenge_with`] with no metadata URL and no route scopes.
///
/// - missing token: 401, `Bearer realm="..."`, body error `unauthorized`;
/// - malformed header, invalid or revoked token: 401, `error="invalid_token"`;
/// - missing scope: 403, `error="insufficient_scope", scope="..."`;
/// - a delegated token on a route that refuses it, or a chain deeper than
///   the route allows: 403, `error="insufficient_scope"` and no `scope`.
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
    challenge_with(rejection, &ChallengeParams::new(realm).verbose(verbose))
}

/// The one function that decides every challenge: maps a rejection to its
/// status, `WWW-Authenticate` header (RFC 6750 §3, RFC 9728 §5.1) and body.
///
/// - missing token: 401, `Bearer realm="..."`, then `scope="..."` with the
///   route's scopes when [`ChallengeParams::route_scopes`] gives them; body
///   error `unauthorized`;
/// - malformed header, invalid or revoked token: 401, `error="invalid_token"`;
/// - missing scope: 403, `error="insufficient_scope", scope="..."` (the
///   scopes the token lacks, as the policy named them);
/// - delegation refused: 403, `error="insufficient_scope"`,
///   `error_description="delegated tokens are not accepted here"` (a
///   [`direct_only`](crate::RequireScopesLayer::direct_only) route) or
///   `"delegation depth N exceeds M"`, and no `scope` (no scope would help:
///   the caller needs a token with a shorter chain);
/// - every challenge ends with `resource_metadata="..."` when
///   [`ChallengeParams::resource_metadata`] gives it.
///
/// Every value is a quoted string of the characters RFC 6750 §3 allows:
/// realms and descriptions are stripped of quotes, backslashes and
/// anything but visible ASCII and spaces (at most 200 bytes); scopes are
/// RFC 6749 scope-tokens already, named whole while they fit in 1 KiB; the
/// metadata URL is percent-encoded where it holds anything else, and left
/// out beyond 2 KiB. The header is therefore always a valid header value.
pub fn challenge_with(rejection: &Rejection, params: &ChallengeParams<'_>) -> Challenge {
    let realm = header_safe(params.realm);
    let (status, error, description, scope) = match rejection {
        Rejection::MissingToken => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a bearer access token is required".to_owned(),
            params.route_scopes.map(scope_param),
        ),
        Rejection::MalformedHeader => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the Authorization header is not a valid bearer credential".to_owned(),
            None,
        ),
        Rejection::InvalidToken(e) => {
            let description = match e {
                _ if params.verbose => header_safe(&e.to_string()),
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
        Rejection::DpopBoundAsBearer => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is DPoP-bound: present it with the DPoP scheme and a proof"
                .to_owned(),
            None,
        ),
        Rejection::NotDpopBound => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is not DPoP-bound: present it with the Bearer scheme".to_owned(),
            None,
        ),
        Rejection::Dpop(DpopRejection::NotAccepted) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "this resource does not accept DPoP-bound tokens".to_owned(),
            None,
        ),
        Rejection::Dpop(DpopRejection::Proof(DpopError::UseNonce)) => (
            StatusCode::UNAUTHORIZED,
            "use_dpop_nonce",
            "the DPoP proof must carry the nonce given in DPoP-Nonce".to_owned(),
            None,
        ),
        Rejection::Dpop(e) => {
            let description = match e {
                _ if params.verbose => header_safe(&e.to_string()),
                DpopRejection::Proof(DpopError::MissingProof) => {
                    "a DPoP proof is required".to_owned()
                }
                _ => "the DPoP proof is invalid".to_owned(),
            };
            (
                StatusCode::UNAUTHORIZED,
                "invalid_dpop_proof",
                description,
                None,
            )
        }
        Rejection::InsufficientScope(needed) => {
            let description = match needed {
                ScopeRequirement::AnyOf(_) => "the access token needs one of the scopes",
                ScopeRequirement::AllOf(_) => "the access token needs all of the scopes",
            };
            (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                description.to_owned(),
                Some(scope_param(needed)),
            )
        }
        // RFC 6750 §3.1: "the request requires higher privileges than
        // provided by the access token". A token held through delegation
        // carries less privilege than a direct one, and the 403 shape stays
        // the one clients already handle; no `scope`, since none would help.
        Rejection::DelegationTooDeep { .. } => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            delegation_description(rejection),
            None,
        ),
    };
    let metadata = params.resource_metadata.and_then(url_param);
    let mut errors = String::new();
    if status != StatusCode::UNAUTHORIZED || error != "unauthorized" {
        errors.push_str(&format!(
            ", error=\"{error}\", error_description=\"{description}\""
        ));
    }
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        errors.push_str(&format!(", scope=\"{scope}\""));
    }
    let bearer = |errors: &str| {
        let mut value = format!("Bearer realm=\"{realm}\"{errors}");
        if let Some(url) = &metadata {
            value.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        value
    };
    // The DPoP challenge (RFC 9449 §7.1): `algs`, and the error when it is
    // about the DPoP presentation. Its parameters are built the same way.
    let dpop = |errors: &str| {
        let mut params_text: Vec<String> = Vec::new();
        if let Some(rest) = errors.strip_prefix(", ") {
            params_text.push(rest.to_owned());
        }
        if let Some(algs) = params.dpop_algs {
            params_text.push(format!("algs=\"{}\"", header_safe(algs)));
        }
        if let Some(url) = &metadata {
            params_text.push(format!("resource_metadata=\"{url}\""));
        }
        if params_text.is_empty() {
            "DPoP".to_owned()
        } else {
            format!("DPoP {}", params_text.join(", "))
        }
    };
    let in_dpop = params.presented_as_dpop || rejection.is_dpop();
    let (first, second) = if in_dpop {
        (dpop(&errors), Some(bearer("")))
    } else {
        (bearer(&errors), params.dpop_algs.map(|_| dpop("")))
    };
    let fallback = || HeaderValue::from_static("Bearer realm=\"api\"");
    let www_authenticate = HeaderValue::from_str(&first).unwrap_or_else(|_| fallback());
    let also = second.and_then(|v| HeaderValue::from_str(&v).ok());
    let dpop_nonce = params
        .dpop_nonce
        .filter(|_| error == "use_dpop_nonce")
        .and_then(|n| HeaderValue::from_str(&header_safe(n)).ok());
    Challenge {
        status,
        www_authenticate,
        also,
        dpop_nonce,
        error,
        description,
    }
}

/// The description of a delegation refusal (the same in the header, the
/// body and `Display`; numbers only, so header-safe).
fn delegation_description(rejection: &Rejection) -> String {
    match rejection {
        Rejection::DelegationTooDeep { max: 0, .. } => {
            "delegated tokens are not accepted here".to_owned()
        }
        Rejection::DelegationTooDeep { depth, max } => {
            format!("delegation depth {depth} exceeds {max}")
        }
        _ => String::new(),
    }
}

/// The longest `scope` parameter value named, in bytes.
const MAX_SCOPE_PARAM: usize = 1024;
/// The longest `resource_metadata` URL named, in bytes.
const MAX_URL_PARAM: usize = 2048;

/// The scopes, space-separated, whole scope-tokens only, within
/// [`MAX_SCOPE_PARAM`] bytes.
fn scope_param(needed: &ScopeRequirement) -> String {
    let mut out = String::new();
    for scope in needed.scopes().iter() {
        // A `Scope` is an RFC 6749 scope-token already; checked again here
        // because this text goes into a header.
        let scope = scope.as_str();
        if !scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        {
            continue;
        }
        let extra = scope.len() + usize::from(!out.is_empty());
        if out.len() + extra > MAX_SCOPE_PARAM {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(scope);
    }
    out
}

/// The URL with every byte that may not stand in a quoted header value
/// unescaped (non-visible ASCII, `"`, `\`) percent-encoded; `None` when
/// empty or longer than [`MAX_URL_PARAM`].
fn url_param(url: &str) -> Option<String> {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        if out.len() > MAX_URL_PARAM {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Makes the response for a refused request, from the rejection and its
/// default challenge.
pub(crate) type RejectionHook = Arc<dyn Fn(&Rejection, Challenge) -> Response<Bytes> + Send + Sync>;

/// How a guard answers the requests it refuses.
pub(crate) struct Responder {
    realm: Box<str>,
    verbose: bool,
    /// The DPoP proof algorithms, for a guard that accepts DPoP.
    dpop_algs: Option<Box<str>>,
    /// The Protected Resource Metadata URL, for a guard with a resource.
    resource_metadata: Option<Box<str>>,
    hook: Option<RejectionHook>,
}

impl Responder {
    pub(crate) fn new(
        realm: &str,
        verbose: bool,
        resource_metadata: Option<String>,
        hook: Option<RejectionHook>,
    ) -> Self {
        Responder {
            realm: header_safe(realm).into_boxed_str(),
            verbose,
            dpop_algs: None,
            resource_metadata: resource_metadata.map(String::into_boxed_str),
            hook,
        }
    }

    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// Offers DPoP with these proof algorithms in every challenge.
    pub(crate) fn with_dpop(mut self, algs: &str) -> Self {
        self.dpop_algs = Some(algs.into());
        self
    }

    /// The response to a rejection: one tracing event with its reason (never
    /// the token), then the host's hook or the default challenge.
    ///
    /// `route_scopes` are the scopes the route needs, for a missing token.
    /// A guard with a resource names them (MCP asks for it); one without
    /// keeps the bare RFC 6750 §3.1 challenge.
    pub(crate) fn respond(
        &self,
        rejection: &Rejection,
        route_scopes: Option<&ScopeRequirement>,
    ) -> Response<Bytes> {
        self.respond_to(rejection, route_scopes, false, None)
    }

    /// [`Responder::respond`] for a token presented with the DPoP scheme
    /// (`presented_as_dpop`), with a fresh nonce for `use_dpop_nonce`.
    pub(crate) fn respond_to(
        &self,
        rejection: &Rejection,
        route_scopes: Option<&ScopeRequirement>,
        presented_as_dpop: bool,
        nonce: Option<&str>,
    ) -> Response<Bytes> {
        let mut params = ChallengeParams::new(&self.realm)
            .verbose(self.verbose)
            .presented_as_dpop(presented_as_dpop);
        if let Some(algs) = &self.dpop_algs {
            params = params.dpop_algs(algs);
        }
        if let Some(nonce) = nonce {
            params = params.dpop_nonce(nonce);
        }
        if let Some(url) = &self.resource_metadata {
            params = params.resource_metadata(url);
            if let Some(scopes) = route_scopes {
                params = params.route_scopes(scopes);
            }
        }
        let challenge = challenge_with(rejection, &params);
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
            .field("resource_metadata", &self.resource_metadata)
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
