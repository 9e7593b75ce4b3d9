//! `POST /oauth/token` of the in-process issuer, fed structured requests:
//! form bodies with known and hostile parameter names and values (grant
//! types, real client ids and secrets or mangled ones, scopes, audiences,
//! codes, verifiers, refresh tokens, duplicated keys, percent-encoding edge
//! cases, huge values), starting from nothing or from a valid request of
//! each grant (client credentials; a code just issued through
//! `/oauth/authorize`, with its verifier; a refresh token an earlier
//! exchange returned), Authorization headers (valid Basic of `id:secret`
//! form-encoded per RFC 6749 §2.3.1, invalid base64, non-UTF-8, no colon,
//! other schemes, two headers) and content types; or raw bytes.
//!
//! Asserts: no panic; never a 5xx; every 4xx is JSON with a string `error`;
//! a 200 carries a string `access_token`.
#![no_main]

use std::sync::Mutex;

use arbitrary::Arbitrary;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use m2m_fuzz::{AUDIENCES, Encoding, Hostile, REDIRECT_URIS, SCOPES, World, encode};

#[derive(Arbitrary, Debug)]
enum ContentType {
    Form,
    FormCharset,
    FormUpper,
    Json,
    Missing,
    Other(String),
}

impl ContentType {
    fn value(&self) -> Option<String> {
        match self {
            ContentType::Form => Some("application/x-www-form-urlencoded".into()),
            ContentType::FormCharset => {
                Some("application/x-www-form-urlencoded; charset=UTF-8".into())
            }
            ContentType::FormUpper => Some(" APPLICATION/X-WWW-FORM-URLENCODED ;".into()),
            ContentType::Json => Some("application/json".into()),
            ContentType::Missing => None,
            ContentType::Other(s) => Some(s.clone()),
        }
    }
}

/// An id or a secret: a real one, a real one changed, or hostile text.
#[derive(Arbitrary, Debug)]
enum Credential {
    Id(u8),
    Secret(u8),
    AdminId,
    AdminSecret,
    /// A real secret with one byte changed, cut, or with text added.
    Mangled(u8, Mangle),
    Hostile(Hostile),
}

#[derive(Arbitrary, Debug)]
enum Mangle {
    Flip(u16),
    Cut(u16),
    Append(String),
    Upper,
}

impl Credential {
    fn text(&self, world: &World) -> String {
        match self {
            Credential::Id(i) => world.client(*i).id.clone(),
            Credential::Secret(i) => world.client(*i).secret.clone(),
            Credential::AdminId => world.admin.id.clone(),
            Credential::AdminSecret => world.admin.secret.clone(),
            Credential::Mangled(i, mangle) => {
                let mut secret = world.client(*i).secret.clone().into_bytes();
                match mangle {
                    Mangle::Flip(at) => {
                        let at = usize::from(*at) % secret.len();
                        secret[at] = if secret[at] == b'a' { b'b' } else { b'a' };
                    }
                    Mangle::Cut(len) => secret.truncate(usize::from(*len) % secret.len()),
                    Mangle::Append(s) => secret.extend_from_slice(s.as_bytes()),
                    Mangle::Upper => secret.make_ascii_uppercase(),
                }
                String::from_utf8(secret).expect("ASCII secret")
            }
            Credential::Hostile(h) => h.text(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Scheme {
    Basic,
    Lower,
    Bearer,
    ExtraSpaces,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    /// `Basic base64(enc(id):enc(secret))`.
    Basic {
        scheme: Scheme,
        id: Credential,
        secret: Credential,
        id_encoding: Encoding,
        secret_encoding: Encoding,
    },
    /// Base64 of these bytes (maybe not UTF-8, maybe no colon).
    Bytes(Scheme, Vec<u8>),
    /// Text that is likely not base64 at all.
    NotBase64(Scheme, String),
    /// The whole header value, raw.
    Raw(Vec<u8>),
    /// Two Authorization headers.
    Twice(Credential, Credential),
}

fn scheme(s: &Scheme) -> String {
    match s {
        Scheme::Basic => "Basic ".into(),
        Scheme::Lower => "basic ".into(),
        Scheme::Bearer => "Bearer ".into(),
        Scheme::ExtraSpaces => "  Basic   ".into(),
        Scheme::Other(s) => format!("{s} "),
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    GrantType,
    ClientId,
    ClientSecret,
    Scope,
    Audience,
    Resource,
    Code,
    CodeVerifier,
    RedirectUri,
    RefreshToken,
    State,
}

impl Name {
    fn text(self) -> &'static str {
        match self {
            Name::GrantType => "grant_type",
            Name::ClientId => "client_id",
            Name::ClientSecret => "client_secret",
            Name::Scope => "scope",
            Name::Audience => "audience",
            Name::Resource => "resource",
            Name::Code => "code",
            Name::CodeVerifier => "code_verifier",
            Name::RedirectUri => "redirect_uri",
            Name::RefreshToken => "refresh_token",
            Name::State => "state",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ParamName {
    Known(Name),
    Other(Hostile),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Grant(u8),
    Credential(Credential),
    /// Known scopes joined by spaces (maybe doubled, maybe with extra spaces).
    Scopes(Vec<u8>, bool),
    Audience(u8),
    RedirectUri(u8),
    /// A 43-character verifier-like value.
    Verifier(u8),
    /// Something shaped like an issued token: `m2mc_...`, `m2mr_...`.
    Prefixed(u8, String),
    Hostile(Hostile),
}

const GRANTS: [&str; 8] = [
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "password",
    "CLIENT_CREDENTIALS",
    "client_credentials ",
];

impl Value {
    fn text(&self, world: &World) -> String {
        match self {
            Value::Grant(i) => GRANTS[usize::from(*i) % GRANTS.len()].to_owned(),
            Value::Credential(c) => c.text(world),
            Value::Scopes(picks, double_space) => {
                let sep = if *double_space { "  " } else { " " };
                picks
                    .iter()
                    .take(16)
                    .map(|i| SCOPES[usize::from(*i) % SCOPES.len()])
                    .collect::<Vec<_>>()
                    .join(sep)
            }
            Value::Audience(i) => [AUDIENCES[0], AUDIENCES[1], m2m_fuzz::ISSUER, "urn:x"]
                [usize::from(*i) % 4]
                .to_owned(),
            Value::RedirectUri(i) => {
                REDIRECT_URIS[usize::from(*i) % REDIRECT_URIS.len()].to_owned()
            }
            Value::Verifier(c) => std::iter::repeat_n(char::from(b'A' + c % 26), 43).collect(),
            Value::Prefixed(i, rest) => {
                let prefix = ["m2mc_", "m2mr_", "m2ms_", "m2m_"][usize::from(*i) % 4];
                format!("{prefix}{rest}")
            }
            Value::Hostile(h) => h.text(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: ParamName,
    value: Value,
    name_encoding: Encoding,
    value_encoding: Encoding,
    /// `name` alone, no `=`.
    bare: bool,
}

/// A valid request to start from.
#[derive(Arbitrary, Debug)]
enum Base {
    /// `client_credentials` for the client at this index.
    ClientCredentials(u8),
    /// `authorization_code` with a code issued for this request, its
    /// verifier and redirect URI, by the user-level client that asked.
    Code,
    /// `refresh_token` with a refresh token an earlier exchange returned.
    Refresh(u8),
}

/// The PKCE verifier of every code this target asks for.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Refresh tokens returned by successful exchanges (bounded; they rotate).
static REFRESH_TOKENS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The user-level client (bound to no user) that codes are issued to.
fn code_client(world: &World) -> &m2m_fuzz::Client {
    &world.clients[3]
}

/// A fresh authorization code, through `/oauth/authorize` with consent.
fn fresh_code(world: &World) -> String {
    let client = code_client(world);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let query = m2m_fuzz::form(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", REDIRECT_URIS[2]),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("scope", "invoices:read"),
    ]);
    let request = Request::builder()
        .uri(format!("/oauth/authorize?{query}"))
        .header(m2m_fuzz::DECISION_HEADER, "grant-bound")
        .body(Body::empty())
        .expect("request");
    let answer = world.send_checked("authorize", request, false);
    let location = answer
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no code: {answer:?}"));
    let (_, query) = location.split_once('?').expect("a query");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    params
        .into_iter()
        .find(|(n, _)| n == "code")
        .map(|(_, v)| v)
        .expect("a code")
}

#[derive(Arbitrary, Debug)]
enum Input {
    Structured {
        content_type: ContentType,
        auth: Option<Auth>,
        /// Start from a valid request of a grant type (with the client's
        /// credentials in the body when there is no Authorization header).
        base: Option<Base>,
        params: Vec<Param>,
        /// `&&`, a trailing `&`, a leading `&`.
        separators: u8,
    },
    Raw {
        content_type: ContentType,
        authorization: Option<Vec<u8>>,
        body: Vec<u8>,
    },
}

fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

fn build(input: &Input, world: &World) -> Option<Request<Body>> {
    let mut request = Request::builder().method(Method::POST).uri("/oauth/token");
    let (content_type, body) = match input {
        Input::Raw {
            content_type,
            authorization,
            body,
        } => {
            if let Some(auth) = authorization {
                request = request.header(header::AUTHORIZATION, header_value(auth)?);
            }
            (content_type, body.clone())
        }
        Input::Structured {
            content_type,
            auth,
            base,
            params,
            separators,
        } => {
            match auth {
                None => {}
                Some(Auth::Basic {
                    scheme: s,
                    id,
                    secret,
                    id_encoding,
                    secret_encoding,
                }) => {
                    let pair = format!(
                        "{}:{}",
                        encode(&id.text(world), *id_encoding),
                        encode(&secret.text(world), *secret_encoding)
                    );
                    let value = format!("{}{}", scheme(s), STANDARD.encode(pair));
                    request =
                        request.header(header::AUTHORIZATION, header_value(value.as_bytes())?);
                }
                Some(Auth::Bytes(s, bytes)) => {
                    let value = format!("{}{}", scheme(s), STANDARD.encode(bytes));
                    request =
                        request.header(header::AUTHORIZATION, header_value(value.as_bytes())?);
                }
                Some(Auth::NotBase64(s, text)) => {
                    let value = format!("{}{text}", scheme(s));
                    request =
                        request.header(header::AUTHORIZATION, header_value(value.as_bytes())?);
                }
                Some(Auth::Raw(bytes)) => {
                    request = request.header(header::AUTHORIZATION, header_value(bytes)?);
                }
                Some(Auth::Twice(a, b)) => {
                    let client = world.client(0);
                    for (id, secret) in [
                        (a.text(world), client.secret.clone()),
                        (b.text(world), client.secret.clone()),
                    ] {
                        request = request.header(
                            header::AUTHORIZATION,
                            header_value(m2m_fuzz::basic(&id, &secret).as_bytes())?,
                        );
                    }
                }
            }
            let mut body = String::new();
            if separators & 1 != 0 {
                body.push('&');
            }
            if let Some(base) = base {
                let client = match base {
                    Base::ClientCredentials(i) => {
                        body.push_str("grant_type=client_credentials");
                        world.client(*i)
                    }
                    Base::Code => {
                        body.push_str(&m2m_fuzz::form(&[
                            ("grant_type", "authorization_code"),
                            ("code", &fresh_code(world)),
                            ("code_verifier", VERIFIER),
                            ("redirect_uri", REDIRECT_URIS[2]),
                        ]));
                        code_client(world)
                    }
                    Base::Refresh(i) => {
                        let tokens = REFRESH_TOKENS.lock().expect("lock");
                        let token = match tokens.len() {
                            0 => "m2mr_none".to_owned(),
                            n => tokens[usize::from(*i) % n].clone(),
                        };
                        body.push_str(&m2m_fuzz::form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", &token),
                        ]));
                        code_client(world)
                    }
                };
                if auth.is_none() {
                    body.push_str(&format!(
                        "&client_id={}&client_secret={}",
                        encode(&client.id, Encoding::Form),
                        encode(&client.secret, Encoding::Form)
                    ));
                }
            }
            for param in params.iter().take(64) {
                if !body.is_empty() {
                    body.push_str(if separators & 2 != 0 { "&&" } else { "&" });
                }
                let name = match &param.name {
                    ParamName::Known(n) => n.text().to_owned(),
                    ParamName::Other(h) => h.text(),
                };
                body.push_str(&encode(&name, param.name_encoding));
                if !param.bare {
                    body.push('=');
                    body.push_str(&encode(&param.value.text(world), param.value_encoding));
                }
            }
            if separators & 4 != 0 {
                body.push('&');
            }
            (content_type, body.into_bytes())
        }
    };
    if let Some(ct) = content_type.value() {
        request = request.header(header::CONTENT_TYPE, header_value(ct.as_bytes())?);
    }
    request.body(Body::from(body)).ok()
}

fuzz_target!(|input: Input| {
    let world = World::get();
    let Some(request) = build(&input, world) else {
        return;
    };
    let answer = world.send_checked("token endpoint", request, false);
    if answer.status == StatusCode::OK {
        let body = answer.json().expect("a 200 is JSON");
        assert!(
            body["access_token"].is_string(),
            "200 without access_token: {body}"
        );
        assert_eq!(body["token_type"], "Bearer", "{body}");
        if let Some(refresh) = body["refresh_token"].as_str() {
            let mut tokens = REFRESH_TOKENS.lock().expect("lock");
            if tokens.len() >= 16 {
                tokens.remove(0);
            }
            tokens.push(refresh.to_owned());
        }
    }
});
