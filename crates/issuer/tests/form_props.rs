//! Structure-aware property test of the OAuth endpoints' request reading
//! (the form body, client_secret_basic and client_secret_post), over real
//! HTTP: forms built from the parameter names the endpoints read with
//! hostile values (multi-byte text, raw `&`, `=` and `%`, bad escapes,
//! escapes of bytes that are not UTF-8, duplicates), Basic headers with
//! hostile ids and secrets or broken base64, and odd content types.
//! Whatever is sent, the answer is a JSON OAuth error with a 4xx status, or
//! a success when the generator happened to send the real credentials.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use m2m_issuer::ThrottleConfig;
use proptest::prelude::*;
use proptest::sample::select;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use crate::common::TestServer;

/// One issuer for every case, with a real client, served on a runtime of
/// its own (proptest's cases are synchronous).
struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    id: String,
    secret: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (server, id, secret) = runtime.block_on(async {
            // Limits out of reach: this test is about parsing, and a
            // throttled answer would hide what comes after it.
            let mut server = TestServer::start_with(|b| {
                b.throttle(ThrottleConfig {
                    max_failures_per_client: 1_000_000,
                    max_failures_per_address: 1_000_000,
                    ..ThrottleConfig::default()
                })
            })
            .await;
            let (id, secret) = server.org_client(&["a:b", "c:d"]).await;
            (server, id, secret)
        });
        Fixture {
            runtime,
            server,
            id,
            secret,
        }
    })
}

const NAMES: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "resource",
    "audience",
    "token",
    "token_type_hint",
    "code",
    "redirect_uri",
    "refresh_token",
    "code_verifier",
];

const NASTY: &[&str] = &[
    "é", "€", "𝄞", "\u{0}", "\u{7f}", "\u{202e}", "\u{feff}", "&", "=", "%", "+", " ", ":", "\"",
    "\\", "\r\n",
];

/// A value the endpoints look for, so hostile variants of it get deep.
#[derive(Debug, Clone)]
enum Word {
    Id,
    Secret,
    Text(&'static str),
}

fn word() -> impl Strategy<Value = Word> {
    prop_oneof![
        2 => Just(Word::Id),
        2 => Just(Word::Secret),
        3 => select(vec![
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "a:b",
            "a:b c:d",
            "x:y",
            "https://api.example.com",
            "access_token",
            "",
            "m2m_",
            "m2ms_",
        ])
        .prop_map(Word::Text),
    ]
}

fn word_text(word: &Word) -> String {
    let f = fixture();
    match word {
        Word::Id => f.id.clone(),
        Word::Secret => f.secret.clone(),
        Word::Text(t) => (*t).to_owned(),
    }
}

/// Text: a known word with a nasty piece inserted at any position, the
/// word itself, or arbitrary unicode.
#[derive(Debug, Clone)]
enum Text {
    Word(Word),
    Spliced(Word, prop::sample::Index, &'static str),
    Any(String),
}

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        3 => word().prop_map(Text::Word),
        3 => (word(), any::<prop::sample::Index>(), select(NASTY))
            .prop_map(|(w, at, n)| Text::Spliced(w, at, n)),
        1 => any::<String>().prop_map(|s| Text::Any(s.chars().take(40).collect())),
    ]
}

fn render_text(text: &Text) -> String {
    match text {
        Text::Word(w) => word_text(w),
        Text::Spliced(w, at, nasty) => {
            let mut chars: Vec<char> = word_text(w).chars().collect();
            let at = at.index(chars.len() + 1);
            let tail: String = chars.split_off(at).into_iter().collect();
            let head: String = chars.into_iter().collect();
            format!("{head}{nasty}{tail}")
        }
        Text::Any(s) => s.clone(),
    }
}

/// How a name or value goes into the body.
#[derive(Debug, Clone)]
enum Part {
    /// Percent-encoded properly (form encoding).
    Encoded(Text),
    /// Written raw: `&`, `=`, `%` and spaces stay as they are.
    Raw(Text),
    /// A broken or hostile escape, alone or after a word.
    Escape(Word, &'static str),
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        8 => text().prop_map(Part::Encoded),
        1 => text().prop_map(Part::Raw),
        1 => (word(), select(vec!["%", "%z", "%4", "%zz", "%ff", "%c3", "%C3%28", "%00", "%e2%82", "%2", "%%41"]))
            .prop_map(|(w, e)| Part::Escape(w, e)),
    ]
}

fn render_part(part: &Part) -> String {
    match part {
        Part::Encoded(t) => {
            serde_urlencoded::to_string([("", render_text(t))]).expect("encodes")[1..].to_owned()
        }
        Part::Raw(t) => render_text(t),
        Part::Escape(w, e) => format!("{}{e}", word_text(w)),
    }
}

#[derive(Debug, Clone)]
enum Body {
    /// `name=value&...`; a pair without value is written `name`.
    Form(Vec<(Result<&'static str, Part>, Option<Part>)>),
    /// Bytes, mostly not UTF-8.
    Bytes(Vec<u8>),
    /// Past the endpoints' body limit.
    Huge,
}

fn body() -> impl Strategy<Value = Body> {
    let name = prop_oneof![4 => select(NAMES).prop_map(Ok), 1 => part().prop_map(Err)];
    prop_oneof![
        16 => prop::collection::vec((name, proptest::option::weighted(0.9, part())), 0..5)
            .prop_map(Body::Form),
        2 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        1 => Just(Body::Huge),
    ]
}

fn render_body(body: &Body) -> Vec<u8> {
    match body {
        Body::Form(pairs) => pairs
            .iter()
            .map(|(name, value)| {
                let name = match name {
                    Ok(n) => (*n).to_owned(),
                    Err(p) => render_part(p),
                };
                match value {
                    Some(v) => format!("{name}={}", render_part(v)),
                    None => name,
                }
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        Body::Bytes(bytes) => bytes.clone(),
        Body::Huge => format!(
            "grant_type=client_credentials&scope={}",
            "a".repeat(17 * 1024)
        )
        .into_bytes(),
    }
}

#[derive(Debug, Clone)]
enum Auth {
    /// The real client's credentials.
    Real,
    /// `Basic base64(id:secret)`, id and secret form-encoded or not.
    Basic(Part, Part),
    /// Basic over bytes that are not `id:secret` text.
    BasicBytes(Vec<u8>),
    /// Any header text (scheme and all).
    Header(Text),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        3 => Just(Auth::Real),
        4 => (part(), part()).prop_map(|(i, s)| Auth::Basic(i, s)),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Auth::BasicBytes),
        1 => text().prop_map(Auth::Header),
    ]
}

fn render_auth(auth: &Auth) -> Vec<u8> {
    let f = fixture();
    match auth {
        Auth::Real => format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", f.id, f.secret))
        )
        .into_bytes(),
        Auth::Basic(id, secret) => format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", render_part(id), render_part(secret)))
        )
        .into_bytes(),
        Auth::BasicBytes(bytes) => format!("Basic {}", STANDARD.encode(bytes)).into_bytes(),
        Auth::Header(t) => render_text(t).into_bytes(),
    }
}

#[derive(Debug, Clone)]
struct Case {
    endpoint: &'static str,
    content_type: Option<Text>,
    form_content_type: bool,
    /// Start the form with the parameter the endpoint needs
    /// (`grant_type=client_credentials`, or a `token`).
    base: bool,
    body: Body,
    /// Zero, one or two Authorization headers.
    auth: Vec<Auth>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec!["/oauth/token", "/oauth/introspect", "/oauth/revoke"]),
        proptest::option::weighted(0.05, text()),
        proptest::bool::weighted(0.95),
        proptest::bool::weighted(0.7),
        body(),
        prop_oneof![
            3 => Just(Vec::new()),
            6 => auth().prop_map(|a| vec![a]),
            1 => prop::collection::vec(auth(), 2),
        ],
    )
        .prop_map(
            |(endpoint, content_type, form_content_type, base, body, auth)| Case {
                endpoint,
                content_type,
                form_content_type,
                base,
                body,
                auth,
            },
        )
}

/// Sends `case`; returns the status, the content type and the body.
fn send(case: &Case) -> (u16, String, Vec<u8>) {
    let f = fixture();
    let mut body = Vec::new();
    if case.base {
        body.extend_from_slice(match case.endpoint {
            "/oauth/token" => b"grant_type=client_credentials&".as_slice(),
            _ => b"token=abc.def.ghi&",
        });
    }
    body.extend(render_body(&case.body));
    let mut request = f.server.http.post(f.server.url(case.endpoint)).body(body);
    let content_type = match (&case.content_type, case.form_content_type) {
        (Some(text), _) => HeaderValue::from_str(&render_text(text)).ok(),
        (None, true) => Some(HeaderValue::from_static(
            "application/x-www-form-urlencoded",
        )),
        (None, false) => None,
    };
    if let Some(value) = content_type {
        request = request.header(CONTENT_TYPE, value);
    }
    for auth in &case.auth {
        // Only what HTTP can carry: a header value without controls.
        if let Ok(value) = HeaderValue::from_bytes(&render_auth(auth)) {
            request = request.header(AUTHORIZATION, value);
        }
    }
    f.runtime.block_on(async {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response.bytes().await.expect("body").to_vec();
        (status, content_type, bytes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_requests_get_json_4xx_or_a_real_answer(case in case()) {
        let (status, content_type, bytes) = send(&case);
        prop_assert!(status < 500, "status {} for {:?}", status, case);
        if status == 200 {
            if case.endpoint == "/oauth/token" {
                let body: Value = serde_json::from_slice(&bytes).expect("token JSON");
                prop_assert!(body["access_token"].is_string(), "{}", body);
            } else if case.endpoint == "/oauth/introspect" {
                let body: Value = serde_json::from_slice(&bytes).expect("introspection JSON");
                prop_assert!(body["active"].is_boolean(), "{}", body);
            }
            return Ok(());
        }
        prop_assert!((400..500).contains(&status), "status {}", status);
        prop_assert!(
            content_type.starts_with("application/json"),
            "content type {:?} for {} {:?}",
            content_type,
            status,
            String::from_utf8_lossy(&bytes)
        );
        let body: Value = serde_json::from_slice(&bytes).expect("JSON error body");
        prop_assert!(body["error"].is_string(), "{}", body);
        prop_assert!(body["error_description"].is_string(), "{}", body);
    }
}
