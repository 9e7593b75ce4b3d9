//! What the issuer's fuzz targets share: one in-process issuer (a
//! [`MemoryStore`], real signing keys, a consent handler the input steers),
//! its router driven with `tower::ServiceExt::oneshot` on a current-thread
//! runtime built once, clients with known credentials registered through the
//! admin API, and the checks every answer must pass.
//!
//! The issuer is built once per fuzzing process and keeps its state between
//! inputs (clients the admin target creates, throttle counters, audit):
//! that is how it runs in production, and a crash input still reproduces
//! alone because every check holds whatever the state.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use m2m_core::{OrgId, UserId};
use m2m_issuer::Issuer;
use m2m_issuer::consent::{ConsentDecision, ConsentHandler, ConsentRequest};
use m2m_issuer::store::MemoryStore;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The issuer URL (the router is mounted at the root, as `m2m serve` does).
pub const ISSUER: &str = "https://auth.example.com";
/// The login page the consent handler sends a browser to when told so.
pub const LOGIN: &str = "https://login.example.com/signin";
/// The header the consent handler reads its decision from.
pub const DECISION_HEADER: &str = "x-fuzz-consent";
/// Redirect URIs registered for the user-level clients.
pub const REDIRECT_URIS: [&str; 3] = [
    "https://app.example.com/callback",
    "https://app.example.com/cb?tenant=1",
    "http://127.0.0.1:8765/",
];
/// Scopes the clients may be granted.
pub const SCOPES: [&str; 4] = [
    "invoices:read",
    "invoices:write",
    "reports:read",
    "m2m:admin",
];
/// Audiences the clients may ask for.
pub const AUDIENCES: [&str; 2] = ["https://api.example.com", "https://reports.example.com"];

/// A registered client with its known secret.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its client_id.
    pub id: String,
    /// Its secret, as issued.
    pub secret: String,
    /// `service`, `org` or `user`.
    pub kind: &'static str,
    /// The user it is bound to, if any.
    pub user_id: Option<&'static str>,
}

/// The issuer, its router, and what the targets know about it.
pub struct World {
    /// The issuer (for its keys and state).
    pub issuer: Issuer,
    /// Its router, cloned for each request.
    pub router: Router,
    /// The bootstrap admin client.
    pub admin: Client,
    /// Clients other than the admin: service, org, two user-level ones.
    pub clients: Vec<Client>,
    /// A current admin access token (fetched again when it stops working).
    admin_token: Mutex<String>,
}

/// The runtime every request runs on.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// What the consent handler is told to decide, through [`DECISION_HEADER`].
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Decision {
    /// Grant as the client's bound user (or `alice`).
    GrantBound,
    /// Grant as another user than the bound one.
    GrantOther,
    /// Grant fewer scopes than asked (none).
    GrantNone,
    /// The user refused.
    Deny,
    /// Send the browser to [`LOGIN`].
    Login,
    /// No header: like [`Decision::Login`].
    Missing,
}

impl Decision {
    /// The header value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Decision::GrantBound => Some("grant-bound"),
            Decision::GrantOther => Some("grant-other"),
            Decision::GrantNone => Some("grant-none"),
            Decision::Deny => Some("deny"),
            Decision::Login => Some("login"),
            Decision::Missing => None,
        }
    }
}

/// A consent handler whose decision the input picks.
#[derive(Debug)]
struct Steered;

#[async_trait]
impl ConsentHandler for Steered {
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        let decision = request
            .headers
            .get(DECISION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("login");
        let bound = request
            .client_user_id
            .as_ref()
            .map_or("alice", |u| u.as_str())
            .to_owned();
        let org = request
            .client_org_id
            .as_ref()
            .map_or("org_1", |o| o.as_str())
            .to_owned();
        match decision {
            "grant-bound" => ConsentDecision::Granted {
                user_id: UserId::new(bound),
                org_id: OrgId::new(org),
                scopes: request.scopes.clone(),
            },
            "grant-other" => ConsentDecision::Granted {
                user_id: UserId::new(format!("{bound}x")),
                org_id: OrgId::new(org),
                scopes: request.scopes.clone(),
            },
            "grant-none" => ConsentDecision::Granted {
                user_id: UserId::new(bound),
                org_id: OrgId::new(org),
                scopes: m2m_core::ScopeSet::new(),
            },
            "deny" => ConsentDecision::Denied,
            _ => ConsentDecision::Redirect(LOGIN.to_owned()),
        }
    }
}

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends one request through `router`.
pub fn send(router: &Router, request: Request<Body>) -> Answer {
    runtime().block_on(async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("in-memory body")
            .to_bytes()
            .to_vec();
        // Let the issuer's background tasks (audit writer, purges, timers)
        // run between requests, as they do on a server's runtime.
        for _ in 0..2 {
            tokio::task::yield_now().await;
        }
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
}

/// The checks every answer passes: never a 5xx; every error (4xx) is JSON
/// with a string `error`, except an empty body when `bodiless` (a 404 or
/// 405 for a path no route matches, which is the host's business, as axum
/// answers it; any answer to HEAD).
pub fn check_answer(what: &str, answer: &Answer, bodiless: bool) {
    assert!(
        !answer.status.is_server_error(),
        "{what}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    if answer.status.is_client_error() {
        if bodiless && answer.body.is_empty() {
            return;
        }
        let body = answer.json();
        assert!(
            body.as_ref().is_some_and(|b| b["error"].is_string()),
            "{what}: {} without a JSON error: {:?}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form")
}

/// RFC 6749 §2.3.1 Basic: id and secret form-encoded, then base64.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| {
        let pair = serde_urlencoded::to_string([("", s)]).expect("form");
        pair[1..].to_owned()
    };
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn token_request(id: &str, secret: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic(id, secret))
        .body(Body::from(form(&pairs)))
        .expect("request")
}

fn admin_request(token: &str, method: Method, path: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn fetch_admin_token(router: &Router, admin: &Client) -> String {
    let answer = send(router, token_request(&admin.id, &admin.secret, &[]));
    assert_eq!(answer.status, StatusCode::OK, "admin token");
    answer.json().expect("json")["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

impl World {
    /// The world, built on first use.
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::build)
    }

    fn build() -> World {
        let issuer = runtime().block_on(async {
            Issuer::builder(ISSUER, MemoryStore::new())
                .master_key([7; 32])
                .consent(std::sync::Arc::new(Steered))
                // The background purges run often and keep little, so that
                // a long run's memory stays bounded (and the purges race
                // the requests, as on a server).
                .key_check_interval(Duration::from_secs(5))
                .audit_retention(Some(Duration::from_secs(30)))
                .build()
                .await
                .expect("issuer builds")
        });
        let router = issuer.router();
        let (admin_id, admin_secret) = runtime()
            .block_on(issuer.bootstrap_admin())
            .expect("bootstrap")
            .expect("empty store");
        let admin = Client {
            id: admin_id.to_string(),
            secret: admin_secret.expose().to_owned(),
            kind: "service",
            user_id: None,
        };
        let token = fetch_admin_token(&router, &admin);
        let bodies: [(&'static str, Option<&'static str>, Value); 4] = [
            (
                "service",
                None,
                json!({"name": "billing", "kind": "service",
                       "scopes": SCOPES[..3], "audiences": AUDIENCES}),
            ),
            (
                "org",
                None,
                json!({"name": "org agent", "kind": "org", "org_id": "org_1",
                       "scopes": SCOPES[..2]}),
            ),
            (
                "user",
                Some("alice"),
                json!({"name": "alice's agent", "kind": "user", "org_id": "org_1",
                       "user_id": "alice", "scopes": SCOPES[..2],
                       "redirect_uris": REDIRECT_URIS[..2]}),
            ),
            (
                "user",
                None,
                json!({"name": "any user's app", "kind": "user", "org_id": "org_2",
                       "scopes": SCOPES[..3], "audiences": AUDIENCES[..1],
                       "redirect_uris": REDIRECT_URIS[2..]}),
            ),
        ];
        let clients = bodies
            .into_iter()
            .map(|(kind, user_id, body)| {
                let answer = send(
                    &router,
                    admin_request(&token, Method::POST, "/admin/clients", &body),
                );
                assert_eq!(
                    answer.status,
                    StatusCode::CREATED,
                    "create {body}: {}",
                    String::from_utf8_lossy(&answer.body)
                );
                let created = answer.json().expect("json");
                Client {
                    id: created["client_id"].as_str().expect("id").to_owned(),
                    secret: created["client_secret"]
                        .as_str()
                        .expect("secret")
                        .to_owned(),
                    kind,
                    user_id,
                }
            })
            .collect();
        World {
            issuer,
            router,
            admin,
            clients,
            admin_token: Mutex::new(token),
        }
    }

    /// A client other than the admin, picked by `index`.
    pub fn client(&self, index: u8) -> &Client {
        &self.clients[usize::from(index) % self.clients.len()]
    }

    /// The current admin token.
    pub fn admin_token(&self) -> String {
        self.admin_token.lock().expect("lock").clone()
    }

    /// Fetches a new admin token (after a key revocation made the old one
    /// invalid).
    pub fn renew_admin_token(&self) {
        let token = fetch_admin_token(&self.router, &self.admin);
        *self.admin_token.lock().expect("lock") = token;
    }

    /// Sends a request and checks the answer with [`check_answer`].
    pub fn send_checked(&self, what: &str, request: Request<Body>, unrouted: bool) -> Answer {
        let what = format!("{what}: {} {}", request.method(), request.uri());
        // An answer to HEAD has no body, errors included.
        let head = request.method() == Method::HEAD;
        let answer = send(&self.router, request);
        check_answer(&what, &answer, unrouted || head);
        assert!(!head || answer.body.is_empty(), "{what}: a body for HEAD");
        answer
    }
}

/// Text a fuzzer can make hostile: given, or one of the shapes parsers trip on.
#[derive(Arbitrary, Debug, Clone)]
pub enum Hostile {
    /// Any text.
    Text(String),
    /// One character repeated, up to 20,000 times (a huge value).
    Repeat(char, u16),
    /// NUL and control bytes.
    Control(u8),
    /// `..` and slashes.
    DotDot(u8),
    /// Unicode: combining marks, RTL override, emoji, non-characters.
    Unicode(u8),
    /// Percent signs with or without hex after them.
    Percent(u8),
    /// Empty.
    Empty,
}

impl Hostile {
    /// The text.
    pub fn text(&self) -> String {
        match self {
            Hostile::Text(s) => s.clone(),
            // Past every limit (16 KiB bodies, 8 KiB queries, 255-byte
            // ids) but not so long that building it costs more than the request.
            Hostile::Repeat(c, n) => std::iter::repeat_n(*c, usize::from(*n) % 20_000).collect(),
            Hostile::Control(b) => format!("a{}b", char::from(b % 0x20)),
            Hostile::DotDot(i) => {
                ["..", "../..", "/..", "a/b", "./", "%2e%2e"][usize::from(*i) % 6].to_owned()
            }
            Hostile::Unicode(i) => [
                "e\u{301}",
                "\u{202e}abc",
                "😀",
                "\u{fffe}",
                "ß",
                "İ",
                "\u{0}",
            ][usize::from(*i) % 7]
                .to_owned(),
            Hostile::Percent(i) => ["%", "%4", "%zz", "%00", "%C3", "%FF", "%2F", "%25"]
                [usize::from(*i) % 8]
                .to_owned(),
            Hostile::Empty => String::new(),
        }
    }
}

/// How a value is written into a form or a query.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Encoding {
    /// Form-urlencoded, as a browser would.
    Form,
    /// As is: reserved and non-ASCII characters unescaped.
    Raw,
    /// Every byte as `%XX`, upper or lower case hex.
    PercentAll(bool),
}

/// `text` encoded as `encoding` says.
pub fn encode(text: &str, encoding: Encoding) -> String {
    match encoding {
        Encoding::Form => {
            let pair = serde_urlencoded::to_string([("", text)]).expect("form");
            pair[1..].to_owned()
        }
        Encoding::Raw => text.to_owned(),
        Encoding::PercentAll(upper) => text
            .bytes()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect(),
    }
}
