//! Both ends of the revocation feed (contract section 6).
//!
//! The issuer's `GET /oauth/revocations` of the in-process issuer (with
//! revoked tokens and a deleted client in its log), fed structured queries:
//! `since` as a cursor it issued, a cursor rebuilt from a real or hostile
//! sequence number (0, the head, past the head, `u64::MAX`) and a real or
//! forged fingerprint, in the right or a wrong base64 alphabet, padded,
//! cut; or hostile text; repeated, with other parameters, in every
//! encoding; or a raw query string.
//!
//! The guard's reading of a feed page: the JSON body parsed as
//! [`m2m_core::RevocationFeed`] (as the guard's poller does) from structured
//! pages (entries with hostile ids and numbers of every JSON type, missing
//! and duplicate members) or raw bytes, applied to an
//! [`m2m_guard::Revocations`] set, probed and pruned.
//!
//! Asserts: no panic; the issuer never answers 5xx, every 4xx is JSON with
//! a string `error`, a 200 is a feed page whose cursor is accepted again,
//! and a cursor the feed issued is always accepted. The guard's set refuses
//! every token a page it applied named, and after a prune still every one
//! whose revocation had not expired.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use m2m_core::{AccessTokenClaims, RevocationFeed, ScopeSet};
use m2m_fuzz::{Encoding, Hostile, World, encode};
use m2m_guard::Revocations;

/// Cursors the feed issued: one after each revocation made at startup.
fn cursors() -> &'static Vec<String> {
    static CURSORS: OnceLock<Vec<String>> = OnceLock::new();
    CURSORS.get_or_init(|| {
        let world = World::get();
        let mut cursors = vec![page(world, None).1.cursor];
        let client = world.client(0);
        for _ in 0..3 {
            let token = token_of(world, &client.id, &client.secret);
            let request = Request::builder()
                .method(Method::POST)
                .uri("/oauth/revoke")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, m2m_fuzz::basic(&client.id, &client.secret))
                .body(Body::from(m2m_fuzz::form(&[("token", &token)])))
                .expect("request");
            assert_eq!(m2m_fuzz::send(&world.router, request).status, StatusCode::OK);
            cursors.push(page(world, None).1.cursor);
        }
        // A client created and deleted: a client revocation.
        let token = world.admin_token();
        let create = Request::builder()
            .method(Method::POST)
            .uri("/admin/clients")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(
                r#"{"name":"gone","kind":"service","scopes":["invoices:read"],"audiences":["https://api.example.com"]}"#,
            ))
            .expect("request");
        let created = m2m_fuzz::send(&world.router, create);
        let created = created.json().unwrap_or_else(|| panic!("{created:?}"));
        let id = created["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"));
        let delete = Request::builder()
            .method(Method::DELETE)
            .uri(format!("/admin/clients/{id}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        assert_eq!(
            m2m_fuzz::send(&world.router, delete).status,
            StatusCode::NO_CONTENT
        );
        cursors.push(page(world, None).1.cursor);
        cursors.dedup();
        assert!(cursors.len() >= 4, "the feed moved: {cursors:?}");
        cursors
    })
}

fn token_of(world: &World, id: &str, secret: &str) -> String {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, m2m_fuzz::basic(id, secret))
        .body(Body::from("grant_type=client_credentials"))
        .expect("request");
    let answer = m2m_fuzz::send(&world.router, request);
    answer.json().expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// `GET /oauth/revocations?since=...` that must succeed.
fn page(world: &World, since: Option<&str>) -> (StatusCode, RevocationFeed) {
    let uri = match since {
        Some(cursor) => format!(
            "/oauth/revocations?since={}",
            encode(cursor, Encoding::Form)
        ),
        None => "/oauth/revocations".to_owned(),
    };
    let request = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let answer = world.send_checked("feed", request, false);
    assert_eq!(answer.status, StatusCode::OK, "{since:?}");
    let feed = serde_json::from_slice(&answer.body).expect("a feed page");
    (answer.status, feed)
}

fn seq_of(cursor: &str) -> u64 {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).expect("base64url");
    u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[derive(Arbitrary, Debug)]
enum Seq {
    OfCursor(u8),
    Zero,
    Head,
    PastHead(u8),
    Max,
    Near(u64),
}

#[derive(Arbitrary, Debug)]
enum Fingerprint {
    OfCursor(u8),
    Zero,
    Bytes([u8; 8]),
}

#[derive(Arbitrary, Debug)]
enum Alphabet {
    UrlNoPad,
    UrlPadded,
    Standard,
    /// Cut to this many characters.
    Cut(u8),
    /// One more character.
    Longer(char),
}

#[derive(Arbitrary, Debug)]
enum Since {
    Issued(u8),
    Built {
        seq: Seq,
        fingerprint: Fingerprint,
        alphabet: Alphabet,
    },
    Hostile(Hostile),
}

impl Since {
    fn text(&self) -> (String, bool) {
        let cursors = cursors();
        let pick = |i: u8| &cursors[usize::from(i) % cursors.len()];
        match self {
            Since::Issued(i) => (pick(*i).clone(), true),
            Since::Built {
                seq,
                fingerprint,
                alphabet,
            } => {
                let head = seq_of(cursors.last().expect("cursors"));
                let seq = match seq {
                    Seq::OfCursor(i) => seq_of(pick(*i)),
                    Seq::Zero => 0,
                    Seq::Head => head,
                    Seq::PastHead(n) => head + 1 + u64::from(*n),
                    Seq::Max => u64::MAX,
                    Seq::Near(n) => *n,
                };
                let fingerprint: [u8; 8] = match fingerprint {
                    Fingerprint::OfCursor(i) => {
                        URL_SAFE_NO_PAD.decode(pick(*i)).expect("base64url")[8..]
                            .try_into()
                            .expect("8 bytes")
                    }
                    Fingerprint::Zero => [0; 8],
                    Fingerprint::Bytes(b) => *b,
                };
                let mut bytes = seq.to_be_bytes().to_vec();
                bytes.extend_from_slice(&fingerprint);
                let text = match alphabet {
                    Alphabet::UrlNoPad => URL_SAFE_NO_PAD.encode(&bytes),
                    Alphabet::UrlPadded => URL_SAFE.encode(&bytes),
                    Alphabet::Standard => STANDARD.encode(&bytes),
                    Alphabet::Cut(n) => {
                        let mut t = URL_SAFE_NO_PAD.encode(&bytes);
                        t.truncate(usize::from(*n) % 22);
                        t
                    }
                    Alphabet::Longer(c) => format!("{}{c}", URL_SAFE_NO_PAD.encode(&bytes)),
                };
                // Rebuilt exactly as issued: it must be accepted.
                let issued = cursors.contains(&text);
                (text, issued)
            }
            Since::Hostile(h) => (h.text(), false),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum QueryName {
    Since,
    Other(Hostile),
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: QueryName,
    value: Since,
    encoding: Encoding,
}

/// A JSON value for a page member.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    RawNumber(bool, Vec<u8>, Option<i32>),
    Str(Hostile),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
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
        Json::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("string"));
                out.push(':');
                write(v, depth + 1, out);
            }
            out.push('}');
        }
    }
}

/// An entry's member: a well-typed value most of the time, anything else sometimes.
#[derive(Arbitrary, Debug)]
enum Member {
    Id(Hostile),
    Time(u64),
    Any(Json),
    Missing,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    id: Member,
    time: Member,
    exp: Member,
    /// One more member (unknown, or a duplicate of a known one).
    extra: Option<(u8, Json)>,
}

#[derive(Arbitrary, Debug)]
struct Page {
    jtis: Option<Vec<Entry>>,
    clients: Option<Vec<Entry>>,
    keys: Option<Vec<Entry>>,
    cursor: Member,
    extra: Vec<(String, Json)>,
}

fn member(out: &mut Vec<String>, name: &str, value: &Member) {
    let text = match value {
        Member::Id(h) => serde_json::to_string(&h.text()).expect("string"),
        Member::Time(t) => t.to_string(),
        Member::Any(json) => {
            let mut s = String::new();
            write(json, 0, &mut s);
            s
        }
        Member::Missing => return,
    };
    out.push(format!(
        "{}:{text}",
        serde_json::to_string(name).expect("name")
    ));
}

fn entries(out: &mut Vec<String>, list: &Option<Vec<Entry>>, name: &str, names: [&str; 3]) {
    let Some(list) = list else {
        return;
    };
    let items: Vec<String> = list
        .iter()
        .take(64)
        .map(|entry| {
            let mut members = Vec::new();
            member(&mut members, names[0], &entry.id);
            member(&mut members, names[1], &entry.time);
            member(&mut members, names[2], &entry.exp);
            if let Some((which, json)) = &entry.extra {
                let key =
                    ["jti", "client_id", "kid", "exp", "revoked_at", "x"][usize::from(*which) % 6];
                let mut s = String::new();
                write(json, 0, &mut s);
                members.push(format!("\"{key}\":{s}"));
            }
            format!("{{{}}}", members.join(","))
        })
        .collect();
    out.push(format!("\"{name}\":[{}]", items.join(",")));
}

impl Page {
    fn json(&self) -> String {
        let mut members = Vec::new();
        entries(
            &mut members,
            &self.jtis,
            "revoked_jtis",
            ["jti", "exp", "exp"],
        );
        entries(
            &mut members,
            &self.clients,
            "revoked_clients",
            ["client_id", "revoked_at", "exp"],
        );
        entries(
            &mut members,
            &self.keys,
            "revoked_keys",
            ["kid", "revoked_at", "exp"],
        );
        member(&mut members, "cursor", &self.cursor);
        for (k, v) in self.extra.iter().take(8) {
            let mut s = String::new();
            write(v, 0, &mut s);
            members.push(format!("{}:{s}", serde_json::to_string(k).expect("key")));
        }
        format!("{{{}}}", members.join(","))
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Query {
        params: Vec<Param>,
        /// A bare `since` (no `=`) in front.
        bare: bool,
    },
    RawQuery(Vec<u8>),
    Page {
        page: Page,
        prune_before: u64,
    },
    RawPage(Vec<u8>),
}

fn claims(client_id: &str, iat: u64, jti: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "i".into(),
        sub: client_id.into(),
        client_id: client_id.into(),
        aud: "a".into(),
        exp: iat.saturating_add(300),
        nbf: Some(iat),
        iat,
        jti: jti.into(),
        scope: ScopeSet::new(),
        oid: None,
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

fn guard_reads(body: &[u8], prune_before: u64) {
    let Ok(page) = serde_json::from_slice::<RevocationFeed>(body) else {
        return;
    };
    let set = Revocations::new();
    set.apply(&page);
    assert!(set.len() <= page.len());
    for token in &page.revoked_jtis {
        assert!(set.is_revoked(&claims("m2m_probe", 0, &token.jti), None));
    }
    for client in &page.revoked_clients {
        let c = claims(client.client_id.as_str(), client.revoked_at, "probe");
        assert!(set.is_revoked(&c, None), "client at revoked_at");
    }
    for key in &page.revoked_keys {
        assert!(set.is_revoked(&claims("m2m_probe", 0, "probe"), Some(&key.kid)));
    }
    set.prune(prune_before);
    for token in page.revoked_jtis.iter().filter(|t| t.exp >= prune_before) {
        assert!(
            set.is_revoked(&claims("m2m_probe", 0, &token.jti), None),
            "pruned a live token revocation"
        );
    }
}

fuzz_target!(|input: Input| {
    let world = World::get();
    let cursors = cursors();
    let (query, must_accept) = match &input {
        Input::Page { page, prune_before } => {
            return guard_reads(page.json().as_bytes(), *prune_before);
        }
        Input::RawPage(bytes) => return guard_reads(bytes, bytes.len() as u64),
        Input::RawQuery(bytes) => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            (text.to_owned(), false)
        }
        Input::Query { params, bare } => {
            let mut query = String::new();
            if *bare {
                query.push_str("since&");
            }
            let mut sinces = usize::from(*bare);
            let mut accept = !*bare;
            for param in params.iter().take(8) {
                if !query.is_empty() && !query.ends_with('&') {
                    query.push('&');
                }
                let (value, issued) = param.value.text();
                let name = match &param.name {
                    QueryName::Since => {
                        sinces += 1;
                        accept &= issued;
                        "since".to_owned()
                    }
                    QueryName::Other(h) => encode(&h.text(), Encoding::Form),
                };
                query.push_str(&name);
                query.push('=');
                query.push_str(&encode(&value, param.encoding));
            }
            (query, sinces == 1 && accept)
        }
    };
    let Ok(request) = Request::builder()
        .uri(format!("/oauth/revocations?{query}"))
        .body(Body::empty())
    else {
        return;
    };
    let answer = world.send_checked("feed", request, false);
    if must_accept {
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "an issued cursor was refused: {query}"
        );
    }
    if answer.status == StatusCode::OK {
        let feed: RevocationFeed = serde_json::from_slice(&answer.body).expect("a feed page");
        assert!(
            cursors.contains(&feed.cursor),
            "a cursor never issued: {}",
            feed.cursor
        );
        page(world, Some(&feed.cursor));
    }
});
