//! The admin API of the in-process issuer, with a real admin token (or
//! none, a forged one, a token without `m2m:admin`), fed structured
//! requests: every admin path of contract section 7 with hostile path ids
//! (NUL and control bytes, unicode, `..`, very long, percent-encoded) or
//! real ones (the registered clients, clients and secrets this run created,
//! the signing keys' kids), query parameters, and JSON bodies built from the
//! create and PATCH field names with hostile values of every JSON type
//! (duplicate keys included), over GET, POST, PATCH, DELETE and others; or
//! a raw method, path and body.
//!
//! Asserts: no panic; never a 5xx; every 4xx is JSON with a string `error`
//! (a 404 for a path no route matches may be empty); a 201 for a new
//! client carries its `client_id` and `client_secret`.
//!
//! Valid requests change the stored state (clients are created, patched,
//! deleted, keys rotated and revoked): the admin client itself is never
//! named by a structured path, so the run keeps its admin access.
#![no_main]

use std::sync::Mutex;

use arbitrary::Arbitrary;
use axum::body::Body;
use http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use m2m_fuzz::{AUDIENCES, Encoding, Hostile, REDIRECT_URIS, SCOPES, World, encode};

/// Ids this run learnt: clients and secrets it created (bounded).
#[derive(Default)]
struct Learnt {
    clients: Vec<String>,
    secrets: Vec<(String, String)>,
    service_token: Option<String>,
}

static LEARNT: Mutex<Learnt> = Mutex::new(Learnt {
    clients: Vec::new(),
    secrets: Vec::new(),
    service_token: None,
});

const KEEP: usize = 64;

fn remember<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= KEEP {
        list.remove(0);
    }
    list.push(item);
}

#[derive(Arbitrary, Debug)]
enum Verb {
    Get,
    Post,
    Patch,
    Delete,
    Put,
    Head,
    Options,
}

impl Verb {
    fn method(&self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
            Verb::Put => Method::PUT,
            Verb::Head => Method::HEAD,
            Verb::Options => Method::OPTIONS,
        }
    }
}

/// A path id: a real one or a hostile one, encoded for the path.
#[derive(Arbitrary, Debug)]
enum Id {
    Client(u8),
    Created(u8),
    Secret(u8),
    /// The client of a learnt secret.
    SecretOwner(u8),
    Kid(u8),
    Hostile(Hostile, Encoding),
}

impl Id {
    /// The path segment, and whether it can match a route (a segment that
    /// is empty or holds a raw `/`, `?` or `#` cannot).
    fn segment(&self, world: &World, learnt: &Learnt) -> (String, bool) {
        let pick = |list: &[String], i: u8| {
            if list.is_empty() {
                world.client(i).id.clone()
            } else {
                list[usize::from(i) % list.len()].clone()
            }
        };
        let text = match self {
            Id::Client(i) => world.client(*i).id.clone(),
            Id::Created(i) => pick(&learnt.clients, *i),
            Id::Secret(i) => {
                let ids: Vec<String> = learnt.secrets.iter().map(|(_, s)| s.clone()).collect();
                pick(&ids, *i)
            }
            Id::SecretOwner(i) => {
                let ids: Vec<String> = learnt.secrets.iter().map(|(c, _)| c.clone()).collect();
                pick(&ids, *i)
            }
            Id::Kid(i) => {
                let kids: Vec<String> = world
                    .issuer
                    .jwks()
                    .keys
                    .iter()
                    .filter_map(|k| k.kid.clone())
                    .collect();
                pick(&kids, *i)
            }
            Id::Hostile(h, encoding) => encode(&h.text(), *encoding),
        };
        // The segment routes only if it stays one non-empty path segment:
        // a raw `?` starts the query and a raw `#` a fragment, which the
        // request's URI drops (`secrets/#x` is the path `secrets/`).
        let routable = !text.is_empty() && !text.contains(['/', '?', '#']);
        (text, routable)
    }
}

#[derive(Arbitrary, Debug)]
enum AdminPath {
    Clients,
    Client(Id),
    Secrets(Id),
    SecretOf(Id, Id),
    Grants(Id),
    Grant(Id, Id),
    Rotate,
    RevokeKey(Id),
    Audit,
    /// Under /admin but no route: `/admin`, `/admin/`, `/admin/keys`...
    Near(u8),
}

#[derive(Arbitrary, Debug)]
enum QueryName {
    OrgId,
    Kind,
    Limit,
    Cursor,
    ClientId,
    Since,
    Until,
    Other(Hostile),
}

#[derive(Arbitrary, Debug)]
enum QueryValue {
    Number(i64),
    Kind(u8),
    Id(Id),
    Hostile(Hostile),
}

#[derive(Arbitrary, Debug)]
struct QueryParam {
    name: QueryName,
    value: QueryValue,
    encoding: Encoding,
}

/// A JSON value of any type, hostile where it can be.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// A number as text: huge, exponent, `-0`, leading zeros.
    RawNumber(bool, Vec<u8>, Option<i32>),
    Str(Hostile),
    Known(Word),
    Array(Vec<Json>),
    Object(Vec<(Key, Json)>),
}

/// Values the validators look for, so that the fuzzer gets past the first check.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    Kind(u8),
    Scope(u8),
    Audience(u8),
    RedirectUri(u8),
    Org,
    User,
    Time(u8),
    Ttl(u8),
}

#[derive(Arbitrary, Debug)]
enum Key {
    Field(Field),
    Other(Hostile),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Name,
    Kind,
    OrgId,
    UserId,
    Scopes,
    Audiences,
    TokenTtlSeconds,
    RedirectUris,
    Metadata,
    Enabled,
    ExpiresAt,
    ClientId,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Kind => "kind",
            Field::OrgId => "org_id",
            Field::UserId => "user_id",
            Field::Scopes => "scopes",
            Field::Audiences => "audiences",
            Field::TokenTtlSeconds => "token_ttl_seconds",
            Field::RedirectUris => "redirect_uris",
            Field::Metadata => "metadata",
            Field::Enabled => "enabled",
            Field::ExpiresAt => "expires_at",
            Field::ClientId => "client_id",
        }
    }
}

fn word(w: Word) -> String {
    match w {
        Word::Kind(i) => ["service", "org", "user", "Service", "admin"][usize::from(i) % 5].into(),
        Word::Scope(i) => SCOPES[usize::from(i) % SCOPES.len()].into(),
        Word::Audience(i) => AUDIENCES[usize::from(i) % AUDIENCES.len()].into(),
        Word::RedirectUri(i) => [
            REDIRECT_URIS[0],
            "http://evil.example.com/",
            "javascript:alert(1)",
            "https://app.example.com/cb#frag",
            "/relative",
        ][usize::from(i) % 5]
            .into(),
        Word::Org => "org_1".into(),
        Word::User => "alice".into(),
        Word::Time(i) => [
            "2030-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2030-02-30T00:00:00Z",
            "2030-01-01T00:00:00+25:00",
            "2030-01-01",
        ][usize::from(i) % 6]
            .into(),
        Word::Ttl(i) => ["300", "86400", "299", "86401"][usize::from(i) % 4].into(),
    }
}

fn write(value: &Json, depth: usize, out: &mut String) {
    if depth > 32 {
        out.push_str("null");
        return;
    }
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Uint(u) => out.push_str(&u.to_string()),
        Json::Float(f) => out.push_str(&serde_json::to_string(f).expect("float")),
        Json::RawNumber(negative, digits, exponent) => {
            if *negative {
                out.push('-');
            }
            if digits.is_empty() {
                out.push('0');
            }
            for digit in digits.iter().take(400) {
                out.push(char::from(b'0' + digit % 10));
            }
            if let Some(e) = exponent {
                out.push_str(&format!("e{e}"));
            }
        }
        Json::Str(h) => out.push_str(&serde_json::to_string(&h.text()).expect("string")),
        Json::Known(Word::Ttl(i)) => out.push_str(&word(Word::Ttl(*i))),
        Json::Known(w) => out.push_str(&serde_json::to_string(&word(*w)).expect("string")),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, depth + 1, out);
            }
            out.push(']');
        }
        Json::Object(members) => object(members, depth + 1, "", out),
    }
}

fn object(members: &[(Key, Json)], depth: usize, base: &str, out: &mut String) {
    out.push('{');
    out.push_str(base);
    let mut first = base.is_empty();
    for (key, value) in members {
        if !first {
            out.push(',');
        }
        first = false;
        let name = match key {
            Key::Field(f) => f.name().to_owned(),
            Key::Other(h) => h.text(),
        };
        out.push_str(&serde_json::to_string(&name).expect("string"));
        out.push(':');
        write(value, depth, out);
    }
    out.push('}');
}

#[derive(Arbitrary, Debug)]
enum BodyBase {
    Empty,
    /// A valid create body of this kind.
    Create(u8),
    /// `{"enabled":true}`.
    Patch,
    /// `{"expires_at":"2030-01-01T00:00:00Z"}`.
    Expiry,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    None,
    Json {
        base: BodyBase,
        members: Vec<(Key, Json)>,
    },
    /// Any JSON value at the top (an array, a string...).
    Value(Json),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Json,
    JsonCharset,
    Missing,
    Form,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    Admin,
    Missing,
    /// A token of a client without `m2m:admin`.
    NotAdmin,
    Garbage(String),
    OtherScheme,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Structured {
        verb: Verb,
        path: AdminPath,
        query: Vec<QueryParam>,
        payload: Payload,
        content_type: ContentType,
        auth: Auth,
    },
    Raw {
        verb: Verb,
        path: Vec<u8>,
        body: Vec<u8>,
        json: bool,
    },
}

fn create_base(kind: u8) -> String {
    match kind % 3 {
        0 => r#""name":"svc","kind":"service","scopes":["invoices:read"],"audiences":["https://api.example.com"]"#.into(),
        1 => r#""name":"org","kind":"org","org_id":"org_1","scopes":["invoices:read"]"#.into(),
        _ => format!(
            r#""name":"app","kind":"user","org_id":"org_1","user_id":"bob","scopes":["invoices:read"],"redirect_uris":["{}"]"#,
            REDIRECT_URIS[0]
        ),
    }
}

fn service_token(world: &World, learnt: &mut Learnt) -> String {
    if let Some(token) = &learnt.service_token {
        return token.clone();
    }
    let client = world.client(0);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::AUTHORIZATION,
            m2m_fuzz::basic(&client.id, &client.secret),
        )
        .body(Body::from("grant_type=client_credentials"))
        .expect("request");
    let answer = m2m_fuzz::send(&world.router, request);
    let token = answer
        .json()
        .and_then(|b| b["access_token"].as_str().map(str::to_owned))
        .unwrap_or_default();
    learnt.service_token = Some(token.clone());
    token
}

fuzz_target!(|input: Input| {
    let world = World::get();
    let mut learnt = LEARNT.lock().expect("lock");
    let (request, routable, structured_path) = match &input {
        Input::Raw {
            verb,
            path,
            body,
            json,
        } => {
            let Ok(path) = std::str::from_utf8(path) else {
                return;
            };
            let mut request = Request::builder()
                .method(verb.method())
                .uri(format!("/admin/{path}"))
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", world.admin_token()),
                );
            if *json {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            let Ok(request) = request.body(Body::from(body.clone())) else {
                return;
            };
            (request, false, None)
        }
        Input::Structured {
            verb,
            path,
            query,
            payload,
            content_type,
            auth,
        } => {
            let mut routable = true;
            let mut owner = None;
            let mut seg = |id: &Id| {
                let (text, ok) = id.segment(world, &learnt);
                routable &= ok;
                text
            };
            let mut uri = match path {
                AdminPath::Clients => "/admin/clients".to_owned(),
                AdminPath::Client(id) => format!("/admin/clients/{}", seg(id)),
                AdminPath::Secrets(id) => {
                    let client = seg(id);
                    owner = Some(client.clone());
                    format!("/admin/clients/{client}/secrets")
                }
                AdminPath::SecretOf(c, s) => {
                    format!("/admin/clients/{}/secrets/{}", seg(c), seg(s))
                }
                AdminPath::Grants(id) => format!("/admin/clients/{}/grants", seg(id)),
                AdminPath::Grant(c, g) => format!("/admin/clients/{}/grants/{}", seg(c), seg(g)),
                AdminPath::Rotate => "/admin/keys/rotate".to_owned(),
                AdminPath::RevokeKey(id) => format!("/admin/keys/{}/revoke", seg(id)),
                AdminPath::Audit => "/admin/audit".to_owned(),
                AdminPath::Near(i) => {
                    routable = false;
                    [
                        "/admin",
                        "/admin/",
                        "/admin/keys",
                        "/admin/clients/",
                        "/admin//clients",
                    ][usize::from(*i) % 5]
                        .to_owned()
                }
            };
            for (i, param) in query.iter().take(16).enumerate() {
                uri.push(if i == 0 { '?' } else { '&' });
                let name = match &param.name {
                    QueryName::OrgId => "org_id".to_owned(),
                    QueryName::Kind => "kind".to_owned(),
                    QueryName::Limit => "limit".to_owned(),
                    QueryName::Cursor => "cursor".to_owned(),
                    QueryName::ClientId => "client_id".to_owned(),
                    QueryName::Since => "since".to_owned(),
                    QueryName::Until => "until".to_owned(),
                    QueryName::Other(h) => encode(&h.text(), Encoding::Form),
                };
                let value = match &param.value {
                    QueryValue::Number(n) => n.to_string(),
                    QueryValue::Kind(k) => word(Word::Kind(*k)),
                    QueryValue::Id(id) => id.segment(world, &learnt).0,
                    QueryValue::Hostile(h) => h.text(),
                };
                uri.push_str(&name);
                uri.push('=');
                uri.push_str(&encode(&value, param.encoding));
            }
            let mut request = Request::builder().method(verb.method()).uri(uri);
            match auth {
                Auth::Admin => {
                    request = request.header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", world.admin_token()),
                    );
                }
                Auth::Missing => {}
                Auth::NotAdmin => {
                    let token = service_token(world, &mut learnt);
                    request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
                }
                Auth::Garbage(text) => match http::HeaderValue::from_str(&format!("Bearer {text}"))
                {
                    Ok(v) => request = request.header(header::AUTHORIZATION, v),
                    Err(_) => return,
                },
                Auth::OtherScheme => {
                    request = request.header(header::AUTHORIZATION, "Basic YTpi");
                }
            }
            let content_type = match content_type {
                ContentType::Json => Some("application/json".to_owned()),
                ContentType::JsonCharset => Some("application/json; charset=utf-8".to_owned()),
                ContentType::Missing => None,
                ContentType::Form => Some("application/x-www-form-urlencoded".to_owned()),
                ContentType::Other(s) => Some(s.clone()),
            };
            if let Some(ct) = content_type {
                match http::HeaderValue::from_str(&ct) {
                    Ok(v) => request = request.header(header::CONTENT_TYPE, v),
                    Err(_) => return,
                }
            }
            let body = match payload {
                Payload::None => Vec::new(),
                Payload::Json { base, members } => {
                    let base = match base {
                        BodyBase::Empty => String::new(),
                        BodyBase::Create(kind) => create_base(*kind),
                        BodyBase::Patch => r#""enabled":true"#.to_owned(),
                        BodyBase::Expiry => r#""expires_at":"2030-01-01T00:00:00Z""#.to_owned(),
                    };
                    let mut out = String::new();
                    object(members, 0, &base, &mut out);
                    out.into_bytes()
                }
                Payload::Value(value) => {
                    let mut out = String::new();
                    write(value, 0, &mut out);
                    out.into_bytes()
                }
                Payload::Raw(bytes) => bytes.clone(),
            };
            let Ok(request) = request.body(Body::from(body)) else {
                return;
            };
            (request, routable, Some((verb, path, owner)))
        }
    };
    let answer = world.send_checked("admin API", request, !routable);
    if !answer.status.is_success() {
        return;
    }
    let body = answer.json();
    match structured_path {
        Some((Verb::Post, AdminPath::Clients, _)) => {
            let body = body.expect("a created client is JSON");
            let id = body["client_id"].as_str().expect("client_id").to_owned();
            assert!(body["client_secret"].is_string(), "{body}");
            let secret_id = body["secret_id"].as_str().expect("secret_id").to_owned();
            remember(&mut learnt.secrets, (id.clone(), secret_id));
            remember(&mut learnt.clients, id);
        }
        Some((Verb::Post, AdminPath::Secrets(_), Some(owner))) => {
            let body = body.expect("a created secret is JSON");
            assert!(body["client_secret"].is_string(), "{body}");
            let secret_id = body["secret_id"].as_str().expect("secret_id").to_owned();
            remember(&mut learnt.secrets, (owner, secret_id));
        }
        Some((Verb::Post, AdminPath::RevokeKey(_), _)) => {
            // The admin token's key may be the one revoked.
            world.renew_admin_token();
            learnt.service_token = None;
        }
        _ => {}
    }
});
