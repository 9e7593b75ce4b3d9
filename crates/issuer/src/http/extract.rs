//! The OAuth endpoints' extractors: the form body ([`OAuthForm`]), the
//! client's credentials in it or in Basic ([`ClientRequest`]), and the
//! source address. Each refuses a malformed request with its own
//! [`OAuthError`], before any domain code runs.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, Request};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use http::{HeaderMap, header};
use m2m_core::ClientSecret;

use super::error::OAuthError;
use super::source::source_address;
use crate::Issuer;
use crate::domain::client_auth::Credentials;

/// Largest body the OAuth endpoints read.
pub(crate) const OAUTH_BODY_LIMIT: usize = 16 * 1024;

/// A name echoed in an error, cut short.
pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// An `application/x-www-form-urlencoded` body. Parameters without a value
/// count as omitted (RFC 6749 §3.1); a parameter given twice is refused,
/// except `resource` (RFC 8707).
#[derive(Debug)]
pub(crate) struct OAuthForm {
    pairs: Vec<(String, String)>,
}

impl OAuthForm {
    async fn read(parts: &Parts, body: axum::body::Body) -> Result<Self, OAuthError> {
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
        let pairs = parse_form(&bytes)
            .ok_or_else(|| OAuthError::invalid_request("the body is not valid form encoding"))?;
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
        Ok(OAuthForm { pairs })
    }

    /// The value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter (`resource` may repeat).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be there.
    pub(crate) fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// A request to an endpoint where the client authenticates: the form, the
/// credentials (client_secret_basic or client_secret_post, never both, or a
/// `client_id` alone in the form, which only a public client passes with) and
/// the source address (when the server was started with connect info; see
/// `http::source` for proxies).
#[derive(Debug)]
pub(crate) struct ClientRequest {
    pub(crate) form: OAuthForm,
    pub(crate) credentials: Credentials,
    /// Basic was used (or nothing was sent): failures carry a Basic challenge.
    pub(crate) basic: bool,
    pub(crate) source: Option<IpAddr>,
}

impl FromRequest<Issuer> for ClientRequest {
    type Rejection = OAuthError;

    async fn from_request(request: Request, issuer: &Issuer) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let form = OAuthForm::read(&parts, body).await?;
        let (credentials, basic) = read_credentials(&parts.headers, &form)?;
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                source_address(addr.ip(), &parts.headers, issuer.trusted_proxies())
            });
        Ok(ClientRequest {
            form,
            credentials,
            basic,
            source,
        })
    }
}

/// An `application/x-www-form-urlencoded` body as (name, value) pairs, or
/// `None` if it is not well-formed: every escape is `%` and two hex digits,
/// and every name and value, decoded, is UTF-8. A lenient decoder would turn
/// bad bytes into U+FFFD and let a garbled request through as another one
/// (with a parameter that is not the one sent, or without its credentials).
fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// One form-urlencoded name or value (`+` is a space), strictly: see
/// [`parse_form`]. RFC 6749 §2.3.1 puts id and secret inside Basic this way too.
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

/// Reads client_secret_basic, client_secret_post, a JWT client assertion
/// (`private_key_jwt` or a federated token, RFC 7521 §4.2) or a bare
/// `client_id` (`none`), refusing two methods at once.
fn read_credentials(
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<(Credentials, bool), OAuthError> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(OAuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    if let Some(credentials) = read_assertion(first.is_some(), form)? {
        return Ok((credentials, false));
    }
    // The JWT-bearer grant (RFC 7523 §2.1) without client authentication:
    // its `assertion` is the credential.
    if first.is_none()
        && form.get("client_secret").is_none()
        && form.get("grant_type") == Some(crate::domain::token::JWT_BEARER_GRANT)
    {
        let assertion = form.required("assertion")?;
        let client_id = form.get("client_id");
        if assertion.len() > m2m_core::DEFAULT_MAX_ASSERTION_LEN {
            return Err(OAuthError::invalid_request("the assertion is too long"));
        }
        if client_id.is_some_and(|id| m2m_core::validate_id(id).is_err()) {
            return Err(OAuthError::invalid_request("client_id is malformed"));
        }
        return Ok((
            Credentials::BearerGrant {
                client_id: client_id.map(str::to_owned),
                assertion: assertion.to_owned(),
            },
            false,
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
            (id, Some(secret), true)
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), secret) => (id.to_owned(), secret.map(str::to_owned), false),
            (None, _) => return Err(OAuthError::invalid_client(true)),
        },
    };
    if m2m_core::validate_id(&client_id).is_err()
        || secret
            .as_ref()
            .is_some_and(|s| s.len() > m2m_core::MAX_SECRET_LEN)
    {
        return Err(OAuthError::invalid_client(basic));
    }
    Ok((
        Credentials::Secret {
            client_id,
            secret: secret.map(ClientSecret::from_received),
        },
        basic,
    ))
}

/// `client_assertion_type` and `client_assertion` (RFC 7521 §4.2), if
/// sent: both or neither (`invalid_request`), with no secret and no
/// Authorization header (two methods: `invalid_request`), of the one type
/// this issuer knows, JWT (another: `invalid_client`, RFC 6749 §5.2's
/// "unsupported authentication method"), at most
/// [`DEFAULT_MAX_ASSERTION_LEN`](m2m_core::DEFAULT_MAX_ASSERTION_LEN) bytes,
/// with an optional `client_id` of valid form.
fn read_assertion(
    authorization: bool,
    form: &OAuthForm,
) -> Result<Option<Credentials>, OAuthError> {
    let assertion = match (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) {
        (None, None) => return Ok(None),
        (Some(kind), Some(assertion)) => (kind, assertion),
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion_type and client_assertion go together",
            ));
        }
    };
    if authorization || form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method: a client assertion, Basic or \
             client_secret, not several",
        ));
    }
    let (kind, assertion) = assertion;
    let client_id = form.get("client_id");
    if kind != m2m_core::CLIENT_ASSERTION_TYPE_JWT
        || assertion.len() > m2m_core::DEFAULT_MAX_ASSERTION_LEN
        || client_id.is_some_and(|id| m2m_core::validate_id(id).is_err())
    {
        return Err(OAuthError::invalid_client(false));
    }
    Ok(Some(Credentials::Assertion {
        client_id: client_id.map(str::to_owned),
        assertion: assertion.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_decoded_strictly() {
        let pairs = |body: &str| parse_form(body.as_bytes());
        assert_eq!(
            pairs("a=1&b=x+y%26z&&c&d="),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y&z".into()),
                ("c".into(), String::new()),
                ("d".into(), String::new()),
            ])
        );
        assert_eq!(
            pairs("scope=caf%C3%A9"),
            Some(vec![("scope".into(), "café".into())])
        );
        assert_eq!(pairs(""), Some(vec![]));
        for bad in ["a=%FF", "a%C3=1", "a=%zz", "a=%4", "a=%"] {
            assert_eq!(pairs(bad), None, "{bad}");
        }
        assert_eq!(parse_form(&[0xff, b'=', 0xfe]), None);
    }

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
