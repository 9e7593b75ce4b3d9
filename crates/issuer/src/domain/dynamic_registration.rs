//! [`DynamicRegistration`]: OAuth 2.0 Dynamic Client Registration (RFC 7591
//! §3) at `POST /oauth/register`, off unless the host sets a
//! [`RegistrationPolicy`].
//!
//! Anyone who can reach the endpoint may register (or, with an initial
//! access token, anyone who holds it), so what a registered client may be
//! is the operator's policy, never the request's:
//!
//! - kind `user` only, in the policy's organization: it gets tokens only
//!   for a user who consented through the host's consent handler (which is
//!   why the issuer refuses to build with registration on and no handler);
//! - scopes: the requested `scope` must lie within the policy's scopes (a
//!   scope outside it is `invalid_client_metadata`, never dropped in
//!   silence, so the client learns at once what it cannot get); no `scope`
//!   registers all of the policy's;
//! - audiences: the policy's (none: the issuer's default audience);
//! - `token_endpoint_auth_method`: `none` (public, PKCE), or
//!   `client_secret_basic` / `client_secret_post` (the RFC 7591 default)
//!   unless the policy is public only, which registers an omitted method as
//!   `none` (RFC 7591 §3.2.1 lets the server replace a value) and refuses
//!   an explicit secret method;
//! - `grant_types` `authorization_code` (required) and `refresh_token`,
//!   `response_types` `code`: every user-level client here gets rotating
//!   refresh tokens, so the response names both grants;
//! - `redirect_uris` (required, at most 20): the admin API's rules (absolute,
//!   printable ASCII, at most 2,048 bytes, no fragment), and stricter ones
//!   for an anonymous registrant: `https://` with a host, or `http://` only
//!   to a loopback host (`127.0.0.1`, `[::1]`, `localhost`; RFC 8252 §7.3),
//!   and no user information before the host (`https://good@evil`);
//! - `dpop_bound_access_tokens` (RFC 9449 §5.2, optional, default false):
//!   when true, every token request of the client must carry a DPoP proof;
//! - `client_name` (optional, 1-200 characters, no control characters);
//!   other members are ignored (RFC 7591 §2), within the 16 KiB body bound.
//!
//! Every request counts against a per-source-address limit first
//! ([`RateLimit`], keyed like the failure throttle: IPv4 per address, IPv6
//! per /64), then the initial access token is checked (SHA-256 of both
//! sides, compared in constant time), then the metadata. The client is
//! created through [`Registry::register_dynamic`], which owns what a new
//! client implies (store, cache, the `client.registered` audit event). A
//! refusal over the limit writes `registration.rate_limited` for the first
//! refusal of an address per window, and at most
//! [`MAX_AUDITED_REFUSALS`](super::throttle::MAX_AUDITED_REFUSALS) per
//! window in all. Registered clients carry
//! `metadata.registration = "dynamic"`, so operators can find them in the
//! admin API and CLI, and delete them like any other client.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use m2m_core::{ClientId, ClientKind, ClientSecret, OrgId, ScopeSet, TokenTtl, validate_id};
use ring::digest;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::audit::{AuditEvent, AuditSink};
use super::error::{Internal, RegistryError};
use super::registration::{self, MAX_AUDIENCE_LEN, MAX_REDIRECT_URIS};
use super::registry::Registry;
use super::throttle::{Admission, RateLimit};
use crate::IssuerError;
use crate::store::{ClientRecord, TokenEndpointAuthMethod};

/// The window of the registration rate limit, in seconds.
const RATE_WINDOW_SECS: u64 = 60;
/// Source addresses the rate limit tracks at most.
const RATE_MAX_ENTRIES: usize = 100_000;
/// The shortest initial access token accepted.
const MIN_TOKEN_LEN: usize = 16;
/// The longest initial access token accepted.
const MAX_TOKEN_LEN: usize = 1024;
/// The `client_name` of a client that sent none.
const DEFAULT_NAME: &str = "dynamically registered client";
/// The value of `metadata.registration` on every registered client.
pub(crate) const REGISTRATION_MARK: &str = "dynamic";
/// Longest error detail echoed from a JSON parse error.
const MAX_DETAIL: usize = 200;

/// Whether `client` registered itself (it carries the registration mark).
pub(crate) fn is_self_registered(client: &ClientRecord) -> bool {
    client.metadata.get("registration").and_then(|v| v.as_str()) == Some(REGISTRATION_MARK)
}

/// What dynamic client registration may create, and who may use it.
///
/// ```
/// use m2m_issuer::RegistrationPolicy;
/// let policy = RegistrationPolicy::new("org_mcp")
///     .scopes(["invoices:read"])
///     .audiences(["https://mcp.example.com/mcp"])
///     .public_only(true)
///     .rate_per_minute(5);
/// assert!(format!("{policy:?}").contains("org_mcp"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct RegistrationPolicy {
    org_id: String,
    scopes: Option<Vec<String>>,
    audiences: Vec<String>,
    public_only: bool,
    initial_access_token: Option<Zeroizing<String>>,
    rate_per_minute: u32,
}

impl fmt::Debug for RegistrationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationPolicy")
            .field("org_id", &self.org_id)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("public_only", &self.public_only)
            .field(
                "initial_access_token",
                &self.initial_access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("rate_per_minute", &self.rate_per_minute)
            .finish()
    }
}

impl RegistrationPolicy {
    /// Registered clients are of kind `user` in the organization `org_id`:
    /// a consent must name this organization. Defaults: the scopes the
    /// issuer lists as `scopes_supported`, the issuer's default audience,
    /// public and confidential clients, no initial access token, 10
    /// registrations per source address and minute.
    pub fn new(org_id: impl Into<String>) -> Self {
        RegistrationPolicy {
            org_id: org_id.into(),
            scopes: None,
            audiences: Vec::new(),
            public_only: false,
            initial_access_token: None,
            rate_per_minute: 10,
        }
    }

    /// The most a registered client may get (default: `scopes_supported`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The audiences every registered client gets tokens for (default: the
    /// issuer's default audience).
    pub fn audiences<S: Into<String>>(mut self, audiences: impl IntoIterator<Item = S>) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Register public clients only (`token_endpoint_auth_method: none`).
    pub fn public_only(mut self, public_only: bool) -> Self {
        self.public_only = public_only;
        self
    }

    /// Require this initial access token (RFC 7591 §3) as a Bearer token on
    /// every registration: 16 to 1,024 printable ASCII characters.
    pub fn initial_access_token(mut self, token: impl Into<String>) -> Self {
        self.initial_access_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Registration requests per source address (IPv6: per /64) and minute
    /// (default 10; at least 1). Every request counts, refused ones too.
    pub fn rate_per_minute(mut self, requests: u32) -> Self {
        self.rate_per_minute = requests;
        self
    }
}

/// A registration request as the HTTP layer read it: the bounded JSON body
/// and what the `Authorization` header held.
#[derive(Debug)]
pub(crate) struct RegistrationRequest<'a> {
    pub(crate) body: &'a [u8],
    /// `None`: no `Authorization` header. `Some(token)`: the Bearer token, or
    /// `""` for a header of another scheme (which never matches).
    pub(crate) access_token: Option<&'a str>,
    pub(crate) source: Option<IpAddr>,
}

/// A client just registered: the record, its secret (shown this once;
/// none for a public client) and the grant and response types it may use.
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) client: ClientRecord,
    pub(crate) secret: Option<ClientSecret>,
    pub(crate) grant_types: &'static [&'static str],
    pub(crate) response_types: &'static [&'static str],
}

/// A registration failed.
#[derive(Debug)]
pub(crate) enum RegisterError {
    /// Over the limit for the source address.
    RateLimited {
        retry_after: u64,
    },
    /// The initial access token is required and was missing (`sent: false`)
    /// or wrong.
    InvalidToken {
        sent: bool,
    },
    /// RFC 7591 §3.2.2 `invalid_redirect_uri`.
    InvalidRedirectUri(Cow<'static, str>),
    /// RFC 7591 §3.2.2 `invalid_client_metadata`.
    InvalidClientMetadata(Cow<'static, str>),
    Internal(Internal),
}

impl From<RegistryError> for RegisterError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Internal(error) => RegisterError::Internal(error),
            RegistryError::Invalid(description) => {
                RegisterError::InvalidClientMetadata(description)
            }
            other => RegisterError::Internal(Internal(IssuerError::Config(format!(
                "unexpected registry error: {other:?}"
            )))),
        }
    }
}

/// The RFC 7591 §2 members this issuer reads; the rest are ignored.
#[derive(Debug, Deserialize)]
struct ClientMetadata {
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    /// RFC 9449 §5.2: every token request of the client carries a DPoP proof.
    #[serde(default)]
    dpop_bound_access_tokens: Option<bool>,
}

/// The grant types every registered client gets.
const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];
/// The response types every registered client gets.
const RESPONSE_TYPES: &[&str] = &["code"];

#[derive(Debug)]
pub(crate) struct DynamicRegistration {
    registry: Arc<Registry>,
    audit: Arc<AuditSink>,
    org_id: OrgId,
    scopes: ScopeSet,
    audiences: Vec<String>,
    public_only: bool,
    /// SHA-256 of the initial access token, if one is required.
    token_digest: Option<Vec<u8>>,
    limit: RateLimit,
}

fn invalid(description: impl Into<Cow<'static, str>>) -> RegisterError {
    RegisterError::InvalidClientMetadata(description.into())
}

fn bad_uri(description: impl Into<Cow<'static, str>>) -> RegisterError {
    RegisterError::InvalidRedirectUri(description.into())
}

/// At most 64 characters of a value, for an error description.
fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// Compares two digests without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

impl DynamicRegistration {
    /// Checks `policy` into the unit; `scopes_supported` is the default of
    /// its scopes.
    pub(crate) fn new(
        policy: RegistrationPolicy,
        scopes_supported: Option<&[String]>,
        registry: Arc<Registry>,
        audit: Arc<AuditSink>,
    ) -> Result<Self, IssuerError> {
        let config = |message: String| IssuerError::Config(format!("registration: {message}"));
        validate_id(&policy.org_id).map_err(|e| config(format!("org_id: {e}")))?;
        let names = policy
            .scopes
            .as_deref()
            .or(scopes_supported)
            .unwrap_or_default();
        let mut scopes = ScopeSet::new();
        for name in names {
            let scope =
                m2m_core::Scope::new(name).map_err(|e| config(format!("scope {name:?}: {e}")))?;
            scopes.insert(scope);
        }
        if scopes.is_empty() {
            return Err(config(
                "no scope a registered client may get: set the policy's scopes or scopes_supported"
                    .into(),
            ));
        }
        for audience in &policy.audiences {
            if audience.is_empty()
                || audience.len() > MAX_AUDIENCE_LEN
                || !audience.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(config(format!("audience {audience:?} is not valid")));
            }
        }
        let token_digest = match &policy.initial_access_token {
            None => None,
            Some(token) => {
                if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len())
                    || !token.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(config(format!(
                        "the initial access token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} \
                         printable ASCII characters"
                    )));
                }
                Some(sha256(token.as_bytes()))
            }
        };
        if policy.rate_per_minute == 0 {
            return Err(config("the rate must be at least 1 per minute".into()));
        }
        Ok(DynamicRegistration {
            registry,
            audit,
            org_id: OrgId::new(policy.org_id),
            scopes,
            audiences: policy.audiences,
            public_only: policy.public_only,
            token_digest,
            limit: RateLimit::new(policy.rate_per_minute, RATE_WINDOW_SECS, RATE_MAX_ENTRIES),
        })
    }

    /// Registers a client (RFC 7591 §3.1), or says why not; a refused
    /// request stores nothing.
    pub(crate) async fn register(
        &self,
        request: &RegistrationRequest<'_>,
        now: u64,
    ) -> Result<Registered, RegisterError> {
        if let Admission::Refused { retry_after, audit } = self.limit.admit(request.source, now) {
            if audit {
                self.audit.record(
                    now,
                    AuditEvent::RegistrationRateLimited {
                        source: request.source,
                        retry_after,
                    },
                );
            }
            return Err(RegisterError::RateLimited { retry_after });
        }
        self.check_token(request.access_token)?;
        let metadata: ClientMetadata = serde_json::from_slice(request.body).map_err(|e| {
            let detail: String = e.to_string().chars().take(MAX_DETAIL).collect();
            invalid(format!(
                "the body must be a JSON object of client metadata: {detail}"
            ))
        })?;
        let client = self.client_record(metadata, now)?;
        let created = self
            .registry
            .register_dynamic(client, request.source, now)
            .await?;
        Ok(Registered {
            client: created.client,
            secret: created.secret.map(|(secret, _)| secret),
            grant_types: GRANT_TYPES,
            response_types: RESPONSE_TYPES,
        })
    }

    fn check_token(&self, presented: Option<&str>) -> Result<(), RegisterError> {
        let Some(expected) = &self.token_digest else {
            return Ok(());
        };
        let presented = presented.ok_or(RegisterError::InvalidToken { sent: false })?;
        if presented.len() > MAX_TOKEN_LEN
            || !constant_time_eq(&sha256(presented.as_bytes()), expected)
        {
            return Err(RegisterError::InvalidToken { sent: true });
        }
        Ok(())
    }

    /// The record the metadata asks for, within the policy.
    fn client_record(
        &self,
        metadata: ClientMetadata,
        now: u64,
    ) -> Result<ClientRecord, RegisterError> {
        let redirect_uris = check_redirect_uris(metadata.redirect_uris)?;
        check_grant_types(metadata.grant_types.as_deref())?;
        check_response_types(metadata.response_types.as_deref())?;
        let method = self.auth_method(metadata.token_endpoint_auth_method.as_deref())?;
        let scopes = self.scopes(metadata.scope.as_deref())?;
        let name = match metadata.client_name.as_deref() {
            None => DEFAULT_NAME.to_owned(),
            Some(name) => registration::check_name(name).map_err(|_| {
                invalid("client_name must be 1 to 200 characters, none of them a control character")
            })?,
        };
        Ok(ClientRecord {
            client_id: ClientId::generate().map_err(|e| RegisterError::Internal(e.into()))?,
            name,
            kind: ClientKind::User,
            org_id: Some(self.org_id.clone()),
            user_id: None,
            scopes,
            audiences: self.audiences.clone(),
            token_ttl: TokenTtl::default(),
            redirect_uris,
            token_endpoint_auth_method: method,
            client_keys: None,
            dpop_bound_access_tokens: metadata.dpop_bound_access_tokens.unwrap_or(false),
            token_exchange: None,
            quota: None,
            metadata: serde_json::json!({ "registration": REGISTRATION_MARK }),
            enabled: true,
            created_at: now,
            updated_at: now,
        })
    }

    fn auth_method(&self, name: Option<&str>) -> Result<TokenEndpointAuthMethod, RegisterError> {
        let method = match name {
            None if self.public_only => return Ok(TokenEndpointAuthMethod::None),
            None => return Ok(TokenEndpointAuthMethod::ClientSecretBasic),
            Some(name) => TokenEndpointAuthMethod::from_name(name).ok_or_else(|| {
                invalid(format!(
                    "token_endpoint_auth_method {:?} must be none, client_secret_basic or \
                     client_secret_post",
                    short(name)
                ))
            })?,
        };
        if method == TokenEndpointAuthMethod::PrivateKeyJwt {
            // Its keys are registered through the admin API.
            return Err(invalid(
                "token_endpoint_auth_method private_key_jwt is not offered here: \
                 ask an administrator to register the client with its keys",
            ));
        }
        if self.public_only && !method.is_public() {
            return Err(invalid(
                "this issuer registers public clients only: token_endpoint_auth_method none",
            ));
        }
        Ok(method)
    }

    fn scopes(&self, requested: Option<&str>) -> Result<ScopeSet, RegisterError> {
        let Some(requested) = requested else {
            return Ok(self.scopes.clone());
        };
        let scopes = ScopeSet::parse(requested).map_err(|e| {
            invalid(format!(
                "scope is not a valid scope list: {}",
                short(&e.to_string())
            ))
        })?;
        if scopes.is_empty() {
            return Err(invalid("scope must name at least one scope, or be omitted"));
        }
        let outside = scopes.difference(&self.scopes);
        if let Some(first) = outside.iter().next() {
            return Err(invalid(format!(
                "scope {:?} is not available to dynamically registered clients",
                short(first.as_str())
            )));
        }
        Ok(scopes)
    }
}

/// The admin API's rules, then the stricter ones for an anonymous registrant.
fn check_redirect_uris(uris: Option<Vec<String>>) -> Result<Vec<String>, RegisterError> {
    let uris = uris.unwrap_or_default();
    if uris.is_empty() {
        return Err(bad_uri("redirect_uris is required: at least one"));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(bad_uri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    registration::check_redirect_uris(&uris).map_err(|_| {
        bad_uri(format!(
            "every redirect_uri must be an absolute http(s) URI of at most {MAX_AUDIENCE_LEN} \
             printable ASCII characters, without fragment"
        ))
    })?;
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        check_redirect_uri(&uri)?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// `https://` with a host, or `http://` to a loopback host; no user
/// information. The admin API's rules already held (absolute, no fragment,
/// printable ASCII).
fn check_redirect_uri(uri: &str) -> Result<(), RegisterError> {
    let (https, rest) = match uri.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, uri.strip_prefix("http://").unwrap_or_default()),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad_uri(format!(
            "redirect_uri {:?} must not carry user information",
            short(uri)
        )));
    }
    let host = host_of(authority).ok_or_else(|| {
        bad_uri(format!(
            "redirect_uri {:?} must have a host (and a numeric port, if any)",
            short(uri)
        ))
    })?;
    if !https && !is_loopback(host) {
        return Err(bad_uri(format!(
            "redirect_uri {:?}: http is allowed only to a loopback host (127.0.0.1, [::1], \
             localhost); use https",
            short(uri)
        )));
    }
    Ok(())
}

/// The host of `host[:port]` or `[v6][:port]`, if the port is numeric.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':').map_or(Some(after), Some)?)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (authority, ""),
        }
    };
    let port_ok = (port.is_empty() && !authority.ends_with(':'))
        || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
    (!host.is_empty() && port_ok).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

fn check_grant_types(grant_types: Option<&[String]>) -> Result<(), RegisterError> {
    let Some(grant_types) = grant_types else {
        return Ok(());
    };
    for grant_type in grant_types {
        match grant_type.as_str() {
            "authorization_code" | "refresh_token" => {}
            "client_credentials" => {
                return Err(invalid(
                    "a dynamically registered client is user-level: grant_types may be \
                     authorization_code and refresh_token, not client_credentials",
                ));
            }
            other => {
                return Err(invalid(format!(
                    "grant_type {:?} is not supported: use authorization_code and refresh_token",
                    short(other)
                )));
            }
        }
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(invalid("grant_types must include authorization_code"));
    }
    Ok(())
}

fn check_response_types(response_types: Option<&[String]>) -> Result<(), RegisterError> {
    match response_types {
        None => Ok(()),
        Some(types) if !types.is_empty() && types.iter().all(|t| t == "code") => Ok(()),
        Some(_) => Err(invalid("response_types must be [\"code\"]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_an_anonymous_client_may_register() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?x=1",
            "https://app.example.com",
            "http://127.0.0.1:33418/callback",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "http://LOCALHOST:9/cb",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "http://app.example.com/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.2/cb",
            "https://good.example@evil.example/cb",
            "http://localhost@evil.example/cb",
            "https:///cb",
            "https://:443/cb",
            "https://app.example.com:/cb",
            "https://app.example.com:80a/cb",
            "http://[::1/cb",
            "http://[::1]x/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grant_and_response_types() {
        let types = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_grant_types(None).is_ok());
        assert!(check_grant_types(Some(&types(&["authorization_code", "refresh_token"]))).is_ok());
        assert!(check_grant_types(Some(&types(&["refresh_token"]))).is_err());
        assert!(check_grant_types(Some(&types(&["client_credentials"]))).is_err());
        assert!(check_grant_types(Some(&types(&["implicit", "authorization_code"]))).is_err());
        assert!(check_response_types(Some(&types(&["code"]))).is_ok());
        assert!(check_response_types(Some(&types(&["token"]))).is_err());
        assert!(check_response_types(Some(&[])).is_err());
    }
}
