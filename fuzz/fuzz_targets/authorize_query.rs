//! `GET /oauth/authorize` of the in-process issuer, with a consent handler
//! whose decision the input picks (grant as the client's bound user or as
//! another, grant nothing, deny, send to a login page), fed structured
//! queries: `response_type`, `client_id` (the registered clients, user-level
//! ones bound to a user or not, or hostile), `redirect_uri` (registered,
//! near misses, hostile), `scope`, `state`, `code_challenge`,
//! `code_challenge_method`, `resource`, others; repeated, empty, huge, in
//! every encoding; or a raw query string.
//!
//! Asserts: no panic; never a 5xx; every 4xx is JSON with a string `error`;
//! a redirect goes only to a registered redirect URI of the client named
//! (or to the login page the handler chose), and a code is given only when
//! the handler granted as the client's bound user.
#![no_main]

use arbitrary::Arbitrary;
use axum::body::Body;
use http::{Request, header};
use libfuzzer_sys::fuzz_target;
use m2m_fuzz::{
    DECISION_HEADER, Decision, Encoding, Hostile, LOGIN, REDIRECT_URIS, SCOPES, World, encode,
};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    ResponseType,
    ClientId,
    RedirectUri,
    Scope,
    State,
    CodeChallenge,
    CodeChallengeMethod,
    Resource,
    LoginHint,
    Prompt,
}

impl Name {
    fn text(self) -> &'static str {
        match self {
            Name::ResponseType => "response_type",
            Name::ClientId => "client_id",
            Name::RedirectUri => "redirect_uri",
            Name::Scope => "scope",
            Name::State => "state",
            Name::CodeChallenge => "code_challenge",
            Name::CodeChallengeMethod => "code_challenge_method",
            Name::Resource => "resource",
            Name::LoginHint => "login_hint",
            Name::Prompt => "prompt",
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
    ClientId(u8),
    AdminId,
    /// A registered redirect URI, maybe changed a little.
    RedirectUri(u8, Near),
    ResponseType(u8),
    Method(u8),
    /// A 43-character base64url challenge.
    Challenge(u8),
    Scopes(Vec<u8>),
    Hostile(Hostile),
}

#[derive(Arbitrary, Debug)]
enum Near {
    Exact,
    TrailingSlash,
    Upper,
    Fragment,
    ExtraQuery,
    Prefix(String),
    Suffix(String),
}

impl Value {
    fn text(&self, world: &World) -> String {
        match self {
            Value::ClientId(i) => world.client(*i).id.clone(),
            Value::AdminId => world.admin.id.clone(),
            Value::RedirectUri(i, near) => {
                let uri = REDIRECT_URIS[usize::from(*i) % REDIRECT_URIS.len()];
                match near {
                    Near::Exact => uri.to_owned(),
                    Near::TrailingSlash => format!("{uri}/"),
                    Near::Upper => uri.to_ascii_uppercase(),
                    Near::Fragment => format!("{uri}#x"),
                    Near::ExtraQuery => format!("{uri}&a=b"),
                    Near::Prefix(p) => format!("{p}{uri}"),
                    Near::Suffix(s) => format!("{uri}{s}"),
                }
            }
            Value::ResponseType(i) => {
                ["code", "token", "code id_token", "CODE"][usize::from(*i) % 4].to_owned()
            }
            Value::Method(i) => ["S256", "plain", "s256"][usize::from(*i) % 3].to_owned(),
            Value::Challenge(c) => {
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                std::iter::repeat_n(char::from(alphabet[usize::from(*c) % 64]), 43).collect()
            }
            Value::Scopes(picks) => picks
                .iter()
                .take(16)
                .map(|i| SCOPES[usize::from(*i) % SCOPES.len()])
                .collect::<Vec<_>>()
                .join(" "),
            Value::Hostile(h) => h.text(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: ParamName,
    value: Value,
    encoding: Encoding,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Structured {
        decision: Decision,
        /// Start from a valid request for the client at this index.
        base: Option<u8>,
        params: Vec<Param>,
    },
    Raw {
        decision: Decision,
        query: Vec<u8>,
    },
}

fn base_query(world: &World, index: u8) -> String {
    let client = world.client(index);
    let challenge: String = std::iter::repeat_n('A', 43).collect();
    m2m_fuzz::form(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ])
}

fuzz_target!(|input: Input| {
    let world = World::get();
    let (decision, query) = match &input {
        Input::Raw { decision, query } => {
            let Ok(query) = std::str::from_utf8(query) else {
                return;
            };
            (*decision, query.to_owned())
        }
        Input::Structured {
            decision,
            base,
            params,
        } => {
            let mut query = base.map(|i| base_query(world, i)).unwrap_or_default();
            for param in params.iter().take(32) {
                if !query.is_empty() {
                    query.push('&');
                }
                let name = match &param.name {
                    ParamName::Known(n) => n.text().to_owned(),
                    ParamName::Other(h) => encode(&h.text(), Encoding::Form),
                };
                query.push_str(&name);
                query.push('=');
                query.push_str(&encode(&param.value.text(world), param.encoding));
            }
            (*decision, query)
        }
    };
    let mut request = Request::builder().uri(format!("/oauth/authorize?{query}"));
    if let Some(value) = decision.header() {
        request = request.header(DECISION_HEADER, value);
    }
    let Ok(request) = request.body(Body::empty()) else {
        return;
    };
    let answer = world.send_checked("authorize", request, false);
    if !answer.status.is_redirection() {
        return;
    }
    let location = answer
        .headers
        .get(header::LOCATION)
        .expect("a redirect has a Location")
        .to_str()
        .expect("an ASCII Location")
        .to_owned();
    if location == LOGIN {
        assert!(
            matches!(decision, Decision::Login | Decision::Missing),
            "login page without being asked: {decision:?}"
        );
        return;
    }
    // The client the issuer acted for: the first non-empty client_id of the
    // query (RFC 6749 §3.1: a parameter without a value counts as omitted,
    // so `client_id=&client_id=X` names X once).
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(&query).expect("parsed by the issuer");
    let client_id = params
        .iter()
        .find(|(n, v)| n == "client_id" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .expect("a redirect names a client");
    let client = world
        .clients
        .iter()
        .find(|c| c.id == client_id)
        .expect("a redirect for a registered client");
    assert_eq!(
        client.kind, "user",
        "redirected for a {} client",
        client.kind
    );
    let registered = [(0u8, &REDIRECT_URIS[..2]), (1, &REDIRECT_URIS[2..])];
    let user_clients: Vec<_> = world.clients.iter().filter(|c| c.kind == "user").collect();
    let index = user_clients
        .iter()
        .position(|c| c.id == client.id)
        .expect("a user client");
    let uris = registered[index].1;
    let target = uris
        .iter()
        .find(|uri| {
            location
                .strip_prefix(**uri)
                .is_some_and(|rest| rest.starts_with('?') || rest.starts_with('&'))
        })
        .unwrap_or_else(|| panic!("redirect to an unregistered URI: {location}"));
    let back: Vec<(String, String)> =
        serde_urlencoded::from_str(location[target.len() + 1..].trim_start_matches(['?', '&']))
            .expect("the redirect's query");
    if back.iter().any(|(n, _)| n == "code") {
        assert!(
            matches!(decision, Decision::GrantBound | Decision::GrantNone)
                || (client.user_id.is_none() && matches!(decision, Decision::GrantOther)),
            "a code without consent for the bound user: {decision:?} {location}"
        );
    }
});
