//! The HTTP endpoints, one module each, and what the OAuth endpoints share:
//! reading the form body and authenticating the calling client.
//!
//! | method, path | module |
//! |---|---|
//! | POST /oauth/token | [`token`], [`grants`] |
//! | GET /oauth/authorize | [`authorize`] |
//! | GET /.well-known/jwks.json | [`jwks`] |
//! | GET /.well-known/oauth-authorization-server | [`metadata`] |
//! | POST /oauth/introspect | [`introspect`] |
//! | POST /oauth/revoke | [`revoke`] |
//! | GET /oauth/revocations | [`revocations`] |
//! | /admin/... | [`admin`] |

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use m2m_core::{AccessTokenClaims, ClientId, ClientSecret, Validation, VerifyError};

use crate::Issuer;
use crate::error::{AdminError, OAuthError};
use crate::issuer::{CachedClient, Inner};
use crate::store::SecretRecord;

pub(crate) mod admin;
mod authorize;
mod grants;
mod introspect;
mod jwks;
mod metadata;
mod revocations;
mod revoke;
mod token;

/// Largest body the OAuth endpoints read.
pub(crate) const OAUTH_BODY_LIMIT: usize = 16 * 1024;

pub(crate) fn router(issuer: Issuer) -> Router {
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/oauth/revocations", get(revocations::feed))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .merge(admin::router(&issuer))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(issuer)
}

pub(crate) fn well_known_router(issuer: Issuer) -> Router {
    let path = metadata::well_known_path(issuer.issuer_url());
    Router::new()
        .route(&path, get(metadata::metadata))
        .with_state(issuer)
}

async fn method_not_allowed() -> Response {
    AdminError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept this method",
    )
    .into_response()
}

/// The source address, when the server was started with connect info.
pub(crate) fn source_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// An `application/x-www-form-urlencoded` body. Parameters without a value
/// count as omitted (RFC 6749 §3.1); a parameter given twice is refused,
/// except `resource` (RFC 8707).
#[derive(Debug)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub(crate) async fn read(parts: &Parts, body: Body) -> Result<Form, OAuthError> {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim);
        if !content_type
            .is_some_and(|ct| ct.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = axum::body::to_bytes(body, OAUTH_BODY_LIMIT)
            .await
            .map_err(|_| OAuthError::too_large(OAUTH_BODY_LIMIT))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| OAuthError::invalid_request("the body is not valid form encoding"))?;
        let pairs: Vec<(String, String)> =
            pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if name != "resource" && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} given more than once",
                    truncate(name)
                )));
            }
        }
        Ok(Form { pairs })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A name echoed in an error, cut short.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The client's claimed identity and secret, and how it sent them.
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    secret: ClientSecret,
    /// client_secret_basic was used: failures carry a Basic challenge.
    pub(crate) basic: bool,
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic.
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

impl Credentials {
    /// Reads client_secret_basic or client_secret_post, refusing both at once.
    pub(crate) fn read(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
        let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
        let first = authorization.next();
        if authorization.next().is_some() {
            return Err(OAuthError::invalid_request(
                "more than one Authorization header",
            ));
        }
        let (client_id, secret, basic) = match first {
            Some(value) => {
                if form.get("client_secret").is_some() {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method: Basic or client_secret in the body, not both",
                    ));
                }
                let (id, secret) = value
                    .to_str()
                    .ok()
                    .and_then(basic_credentials)
                    .ok_or_else(|| OAuthError::invalid_client(true))?;
                if form.get("client_id").is_some_and(|body_id| body_id != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the one in Basic",
                    ));
                }
                (id, secret, true)
            }
            None => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned(), false),
                (Some(_), None) => return Err(OAuthError::invalid_client(false)),
                (None, _) => return Err(OAuthError::invalid_client(true)),
            },
        };
        if m2m_core::validate_id(&client_id).is_err() || secret.len() > m2m_core::MAX_SECRET_LEN {
            return Err(OAuthError::invalid_client(basic));
        }
        Ok(Credentials {
            client_id,
            secret: ClientSecret::from_received(secret),
            basic,
        })
    }
}

/// An authenticated client and the secret it used.
pub(crate) struct Authenticated {
    pub(crate) entry: CachedClient,
    pub(crate) secret_id: String,
}

/// Authenticates a client: throttling, lookup, constant-time check against
/// every secret (or a dummy hash for an unknown client), then liveness and
/// `enabled`. Every failure answers the same `invalid_client`.
pub(crate) async fn authenticate(
    inner: &Inner,
    credentials: &Credentials,
    address: Option<IpAddr>,
    now: u64,
    endpoint: &'static str,
) -> Result<Authenticated, OAuthError> {
    if let Some(seconds) = inner
        .throttle
        .retry_after(&credentials.client_id, address, now)
    {
        return Err(OAuthError {
            retry_after: Some(seconds),
            ..OAuthError::new(
                crate::error::OAuthCode::SlowDown,
                "too many failed authentications; retry later",
            )
        });
    }
    let client_id = ClientId::new(credentials.client_id.as_str());
    let secret = credentials.secret.expose();
    let found = inner.lookup(&client_id).await?;
    let failure = match &found {
        None => {
            let _ = inner.hasher.verify(secret, &inner.dummy_hash);
            Err("unknown_client")
        }
        Some(entry) => {
            let mut matched: Option<&SecretRecord> = None;
            for record in entry.secrets.iter() {
                if inner.hasher.verify(secret, &record.hash) && matched.is_none() {
                    matched = Some(record);
                }
            }
            match matched {
                None => Err("bad_secret"),
                Some(record) if !record.is_live(now) => Err("expired_secret"),
                Some(_) if !entry.client.enabled => Err("disabled_client"),
                Some(record) => Ok(record.secret_id.clone()),
            }
        }
    };
    match (failure, found) {
        (Ok(secret_id), Some(entry)) => Ok(Authenticated { entry, secret_id }),
        (failure, found) => {
            let reason = failure.err().unwrap_or("unknown_client");
            inner
                .throttle
                .record_failure(&credentials.client_id, address, now);
            inner.audit.record(
                now,
                "auth.failed",
                found.as_ref().map(|e| &e.client.client_id),
                None,
                serde_json::json!({
                    "reason": reason,
                    "endpoint": endpoint,
                    "source": address.map(|a| a.to_string()),
                }),
            );
            Err(OAuthError::invalid_client(credentials.basic))
        }
    }
}

/// Verifies a token this issuer signed, whatever its audience: the claims
/// are read once unverified only to learn the audience to check against,
/// then the token is verified in full (signature, `iss`, time, audience).
pub(crate) fn verify_own_token(
    inner: &Inner,
    token: &str,
    now: u64,
) -> Result<AccessTokenClaims, VerifyError> {
    if token.len() > m2m_core::DEFAULT_MAX_TOKEN_LEN {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: m2m_core::DEFAULT_MAX_TOKEN_LEN,
        });
    }
    let payload = token.split('.').nth(1).ok_or(VerifyError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VerifyError::Base64)?;
    let peeked: AccessTokenClaims =
        serde_json::from_slice(&payload).map_err(|e| VerifyError::ClaimsJson(e.to_string()))?;
    let audience = peeked
        .aud
        .iter()
        .next()
        .ok_or(VerifyError::WrongAudience)?
        .to_owned();
    let keys = inner.keys.snapshot().verifying_keys(now);
    Validation::new(inner.issuer_url.as_str(), audience)
        .leeway(inner.leeway)
        .verify(token, &keys, now)
        .map(|verified| verified.claims)
}

/// Whether a verified token still stands: not revoked, its client exists and is enabled.
pub(crate) async fn still_valid(
    inner: &Inner,
    claims: &AccessTokenClaims,
) -> Result<bool, crate::store::StoreError> {
    if inner.store.is_revoked(claims, None).await? {
        return Ok(false);
    }
    Ok(inner
        .lookup(&claims.client_id)
        .await?
        .is_some_and(|entry| entry.client.enabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("m2m_a%2Bb:s%3Ac+d%25"));
        assert_eq!(
            basic_credentials(&header),
            Some(("m2m_a+b".to_owned(), "s:c d%".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        let no_colon = format!("basic {}", STANDARD.encode("nocolon"));
        assert_eq!(basic_credentials(&no_colon), None);
        let bad_escape = format!("Basic {}", STANDARD.encode("a:%zz"));
        assert_eq!(basic_credentials(&bad_escape), None);
        let truncated = format!("Basic {}", STANDARD.encode("a:%4"));
        assert_eq!(basic_credentials(&truncated), None);
    }
}
