//! The guard as an MCP resource server: Protected Resource Metadata (RFC
//! 9728), `resource_metadata` and `scope` in its challenges, and the
//! resource's canonical URI as the audience (RFC 8707 §2). Served over real
//! HTTP on 127.0.0.1, read with a plain hyper client.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use m2m_core::{Audience, RevokedToken, ScopeRequirement};
use m2m_guard::{
    Auth, BuildError, ChallengeParams, Guard, InvalidResource, Policy, Rejection, ResourceUri,
    challenge_with,
};
use proptest::prelude::*;
use serde_json::json;
use tower::ServiceExt;

use crate::common::*;

/// A server on 127.0.0.1, its address known before the guard is built (the
/// resource URI names it).
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn serve(listener: tokio::net::TcpListener, app: Router) -> Server {
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, task }
}

/// One response over a fresh HTTP/1.1 connection, read whole.
async fn http(addr: SocketAddr, method: Method, path: &str, bearer: Option<&str>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(token) = bearer {
        request = request.header("authorization", token);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get_path(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    http(addr, Method::GET, path, bearer.as_deref()).await
}

/// The path of an absolute http URL on `addr`.
fn path_of(url: &str, addr: SocketAddr) -> String {
    let prefix = format!("http://{addr}");
    url.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} is not on {addr}"))
        .to_owned()
}

async fn whoami(auth: Auth) -> String {
    auth.client_id().to_string()
}

/// An MCP-like API: `/mcp` needs `invoices:read`, `/mcp/admin` one of
/// `invoices:write` or `admin`, `/mcp/me` any token; and its metadata.
fn mcp_app(guard: &Guard) -> Router {
    let metadata = guard
        .resource_metadata()
        .expect("a guard with a resource has metadata")
        .field("resource_name", "Invoices MCP server");
    Router::new()
        .route("/mcp", get(whoami).post(whoami))
        .route_layer(guard.require(["invoices:read"]))
        .merge(
            Router::new()
                .route("/mcp/admin", get(whoami))
                .route_layer(guard.require_any(["invoices:write", "admin"])),
        )
        .merge(
            Router::new()
                .route("/mcp/me", get(whoami))
                .route_layer(guard.authenticate()),
        )
        .route_service(&metadata.path(), metadata)
}

fn token_for(key: &m2m_core::SigningKey, aud: &str, scope: &str) -> String {
    token_with(key, |c| {
        c.aud = Audience::from(aud);
        c.scope = scope.parse().unwrap();
    })
}

/// The parameters of a Bearer challenge, checking its syntax on the way:
/// `Bearer name="value", ...`, every value a quoted string of visible ASCII
/// and spaces without `"` or `\` (RFC 6750 §3).
fn params(challenge: &str) -> Vec<(String, String)> {
    let mut rest = challenge
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {challenge:?}"));
    let mut out = Vec::new();
    loop {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("no name=\" in {challenge:?}"));
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "bad name {name:?} in {challenge:?}"
        );
        let (value, after) = after
            .split_once('"')
            .unwrap_or_else(|| panic!("unterminated value in {challenge:?}"));
        assert!(
            value
                .bytes()
                .all(|b| (0x20..=0x7E).contains(&b) && b != b'\\'),
            "bad value {value:?} in {challenge:?}"
        );
        out.push((name.to_owned(), value.to_owned()));
        if after.is_empty() {
            return out;
        }
        rest = after
            .strip_prefix(", ")
            .unwrap_or_else(|| panic!("expected `, ` in {challenge:?}"));
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(n, _)| n == name);
    let first = found.next().map(|(_, v)| v.as_str());
    assert!(found.next().is_none(), "{name} twice in {params:?}");
    first
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_metadata_document_of_a_path_resource() {
    let key = key();
    let (listener, addr) = listen().await;
    let resource = format!("http://{addr}/mcp");
    let guard = Guard::builder(ISS, &resource)
        .resource(&resource)
        .issuer("https://auth2.test")
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let server = serve(listener, mcp_app(&guard));

    let path = "/.well-known/oauth-protected-resource/mcp";
    let answer = get_path(server.addr, path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(header(&answer.headers, "content-type"), "application/json");
    assert_eq!(
        header(&answer.headers, "cache-control"),
        "public, max-age=3600"
    );
    assert_eq!(header(&answer.headers, "access-control-allow-origin"), "*");
    assert_eq!(header(&answer.headers, "x-content-type-options"), "nosniff");
    assert_eq!(
        answer.json(),
        json!({
            "resource": resource,
            "authorization_servers": [ISS, "https://auth2.test"],
            // Every scope of the guard's layers, sorted, once.
            "scopes_supported": ["admin", "invoices:read", "invoices:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Invoices MCP server",
        })
    );
    let get_len = answer.body.len();

    let head = http(server.addr, Method::HEAD, path, None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.body, "");
    assert_eq!(header(&head.headers, "content-length"), get_len.to_string());
    assert_eq!(header(&head.headers, "content-type"), "application/json");

    let preflight = http(server.addr, Method::OPTIONS, path, None).await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        header(&preflight.headers, "access-control-allow-origin"),
        "*"
    );
    assert_eq!(
        header(&preflight.headers, "access-control-allow-methods"),
        "GET, HEAD"
    );

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let refused = http(server.addr, method.clone(), path, None).await;
        assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&refused.headers, "allow"), "GET, HEAD, OPTIONS");
        assert_eq!(refused.json()["error"], "method_not_allowed");
    }

    // The root form is not this resource's document.
    let root = get_path(server.addr, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);

    // Used on its own (plain tower), it answers its path only.
    let metadata = guard.resource_metadata().unwrap();
    let other = metadata
        .oneshot(Request::get("/elsewhere").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_metadata_document_of_a_root_resource() {
    let key = key();
    let (listener, _) = listen().await;
    // An https resource, served here over http on loopback as a proxy would.
    let guard = Guard::builder(ISS, "https://api.example.com")
        .resource("HTTPS://API.Example.COM:443/")
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    assert_eq!(
        guard.resource().unwrap().as_str(),
        "https://api.example.com"
    );
    let metadata = guard
        .resource_metadata()
        .unwrap()
        .scopes_supported(["tools:read", "tools:write"])
        .authorization_servers(["https://login.example.com"])
        .max_age(std::time::Duration::from_secs(600))
        // The guard's own fields are not the host's to replace.
        .field("resource", "https://evil.example")
        .field("bearer_methods_supported", json!(["query"]))
        .fields(
            json!({"resource_documentation": "https://api.example.com/docs"})
                .as_object()
                .unwrap()
                .clone(),
        );
    assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource");
    assert_eq!(
        metadata.url(),
        "https://api.example.com/.well-known/oauth-protected-resource"
    );
    let app = Router::new()
        .route("/tools", get(whoami))
        .route_layer(guard.require(["tools:read"]))
        .route_service(&metadata.path(), metadata);
    let server = serve(listener, app);

    let answer = get_path(server.addr, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(header(&answer.headers, "content-type"), "application/json");
    assert_eq!(
        header(&answer.headers, "cache-control"),
        "public, max-age=600"
    );
    assert_eq!(
        answer.json(),
        json!({
            "resource": "https://api.example.com",
            "authorization_servers": ["https://login.example.com"],
            "scopes_supported": ["tools:read", "tools:write"],
            "bearer_methods_supported": ["header"],
            "resource_documentation": "https://api.example.com/docs",
        })
    );

    // The root with or without its `/` is one URI (RFC 3986 §6.2.3): MCP
    // clients send either as `resource`, so both are the audience.
    for aud in ["https://api.example.com", "https://api.example.com/"] {
        let ok = get_path(
            server.addr,
            "/tools",
            Some(&token_for(&key, aud, "tools:read")),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{aud}: {ok:?}");
    }
    let missing = get_path(server.addr, "/tools", None).await;
    assert_eq!(
        missing.challenge(),
        concat!(
            r#"Bearer realm="api", scope="tools:read", "#,
            r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        )
    );
}

#[tokio::test]
async fn a_client_discovers_everything_from_a_bare_401() {
    let key = key();
    let (listener, addr) = listen().await;
    let resource = format!("http://{addr}/mcp");
    let guard = Guard::builder(ISS, &resource)
        .resource(&resource)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let server = serve(listener, mcp_app(&guard));

    // 1. A bare request: 401 naming the metadata and the scope to ask for.
    let answer = http(server.addr, Method::POST, "/mcp", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let metadata_url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        answer.challenge(),
        format!(r#"Bearer realm="api", scope="invoices:read", resource_metadata="{metadata_url}""#)
    );
    assert_eq!(answer.json()["error"], "unauthorized");

    // 2. The metadata it names, fetched as a client would.
    let challenge = params(answer.challenge());
    let url = param(&challenge, "resource_metadata").unwrap();
    let document = get_path(server.addr, &path_of(url, addr), None).await;
    assert_eq!(document.status, StatusCode::OK);
    let document = document.json();
    // RFC 9728 §3.3: the `resource` is the one the client started from.
    assert_eq!(document["resource"], resource);
    assert_eq!(document["authorization_servers"], json!([ISS]));

    // 3. A token for that resource with that scope passes.
    let scope = param(&challenge, "scope").unwrap();
    let token = token_for(&key, document["resource"].as_str().unwrap(), scope);
    let ok = http(
        server.addr,
        Method::POST,
        "/mcp",
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");

    // Each route's own scopes, on its own 401; none for a route that only
    // authenticates.
    let admin = get_path(server.addr, "/mcp/admin", None).await;
    assert_eq!(
        param(&params(admin.challenge()), "scope"),
        Some("admin invoices:write")
    );
    let me = get_path(server.addr, "/mcp/me", None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let me = params(me.challenge());
    assert_eq!(param(&me, "scope"), None);
    assert_eq!(param(&me, "resource_metadata"), Some(metadata_url.as_str()));
}

#[tokio::test]
async fn every_challenge_carries_resource_metadata() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let (listener, addr) = listen().await;
    let resource = format!("http://{addr}/mcp");
    let metadata_url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    // Keys from the issuer's JWKS over HTTP, so an unknown kid takes the
    // re-fetch path before it is refused.
    let guard = builder(&issuer).resource(&resource).build().await.unwrap();
    let server = serve(listener, mcp_app(&guard));

    let expired = token_with(&key, |c| {
        c.aud = Audience::from(resource.as_str());
        c.exp = m2m_core::now_unix() - 3600;
        c.iat = c.exp - 600;
        c.nbf = Some(c.iat);
    });
    let revoked_claims = {
        let mut c = claims("invoices:read");
        c.aud = Audience::from(resource.as_str());
        c
    };
    guard.revocations().revoke(RevokedToken {
        jti: revoked_claims.jti.clone(),
        exp: revoked_claims.exp,
    });
    let revoked = m2m_core::sign(&key, &revoked_claims).unwrap();
    let unknown_kid = token_for(&crate::common::key(), &resource, "invoices:read");
    let wrong_issuer = token_with(&key, |c| {
        c.aud = Audience::from(resource.as_str());
        c.iss = "https://evil.test".into();
    });
    let other_resource = token_for(&key, &format!("http://{addr}/other"), "invoices:read");
    let good = token_for(&key, &resource, "invoices:read");
    let tampered = format!("{}x", &good[..good.len() - 1]);

    let cases: Vec<(&str, Option<String>, StatusCode, Option<&str>)> = vec![
        ("missing token", None, StatusCode::UNAUTHORIZED, None),
        (
            "another scheme",
            Some(format!("Basic {good}")),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "malformed header",
            Some("Bearer a b".into()),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "not a JWT",
            Some("Bearer not-a-jwt".into()),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "revoked",
            Some(format!("Bearer {revoked}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "unknown kid",
            Some(format!("Bearer {unknown_kid}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "wrong issuer",
            Some(format!("Bearer {wrong_issuer}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "another resource",
            Some(format!("Bearer {other_resource}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "bad signature",
            Some(format!("Bearer {tampered}")),
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
    ];
    for (what, authorization, status, error) in cases {
        let answer = http(server.addr, Method::GET, "/mcp", authorization.as_deref()).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        let challenge = params(answer.challenge());
        assert_eq!(param(&challenge, "realm"), Some("api"), "{what}");
        assert_eq!(
            param(&challenge, "resource_metadata"),
            Some(metadata_url.as_str()),
            "{what}: {challenge:?}"
        );
        assert_eq!(param(&challenge, "error"), error, "{what}");
        match error {
            // A missing token names the route's scopes (MCP).
            None => {
                assert_eq!(param(&challenge, "scope"), Some("invoices:read"), "{what}");
                assert_eq!(answer.json()["error"], "unauthorized", "{what}");
            }
            Some(error) => {
                assert_eq!(answer.json()["error"], error, "{what}");
            }
        }
    }

    // 403 keeps `insufficient_scope` and `scope`, with the metadata too.
    let read_only = token_for(&key, &resource, "invoices:read");
    let answer = get_path(server.addr, "/mcp/admin", Some(&read_only)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge(),
        format!(
            concat!(
                r#"Bearer realm="api", error="insufficient_scope", "#,
                r#"error_description="the access token needs one of the scopes", "#,
                r#"scope="admin invoices:write", resource_metadata="{}""#
            ),
            metadata_url
        )
    );
    assert_eq!(answer.json()["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_token_for_another_resource_is_invalid_token() {
    let key = key();
    let guard = Guard::builder(ISS, "https://api.example.com/mcp")
        .resource("https://api.example.com/mcp")
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let (listener, _) = listen().await;
    let server = serve(listener, mcp_app(&guard));
    for aud in [
        "https://api.example.com.evil.com/mcp",
        "https://evil.com/https://api.example.com/mcp",
        "https://api.example.com/mcpx",
        "https://api.example.com/mcp/tools",
        "https://api.example.com",
        "https://api.example.com:8443/mcp",
        "http://api.example.com/mcp",
        "https://other.example.com/mcp",
    ] {
        let answer = get_path(
            server.addr,
            "/mcp",
            Some(&token_for(&key, aud, "invoices:read")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{aud}");
        assert_eq!(
            param(&params(answer.challenge()), "error"),
            Some("invalid_token"),
            "{aud}"
        );
        assert_eq!(answer.json()["error"], "invalid_token", "{aud}");
    }
    // Ours, alone or among others, passes.
    let ok = get_path(
        server.addr,
        "/mcp",
        Some(&token_for(
            &key,
            "https://api.example.com/mcp",
            "invoices:read",
        )),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let several = token_with(&key, |c| {
        c.aud = Audience::from_list(vec![
            "https://other.example.com".into(),
            "https://api.example.com/mcp".into(),
        ]);
    });
    let ok = get_path(server.addr, "/mcp", Some(&several)).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn the_resource_is_normalized_and_validated_at_build() {
    let key = key();
    let build = |resource: &str| {
        Guard::builder(ISS, AUD)
            .resource(resource)
            .jwk_set(jwk_set(&[&key]))
            .build()
    };
    for (input, canonical) in [
        ("https://API.EXAMPLE.com/mcp", "https://api.example.com/mcp"),
        (
            "https://api.example.com:443/mcp",
            "https://api.example.com/mcp",
        ),
        (
            "HTTPS://api.example.com:8443/Mcp",
            "https://api.example.com:8443/Mcp",
        ),
        ("https://api.example.com/", "https://api.example.com"),
        ("http://LOCALHOST:80/mcp", "http://localhost/mcp"),
    ] {
        let guard = build(input).await.unwrap();
        assert_eq!(guard.resource().unwrap().as_str(), canonical, "{input}");
        // The canonical URI is the audience: its tokens pass.
        assert!(
            guard.check_token(&token_for(&key, canonical, "x")).is_ok(),
            "{input}"
        );
    }
    for (input, why) in [
        (
            "https://api.example.com/mcp#frag",
            InvalidResource::Fragment,
        ),
        (
            "https://api.example.com/mcp?tenant=1",
            InvalidResource::Query,
        ),
        ("https://me@api.example.com/mcp", InvalidResource::UserInfo),
        ("http://api.example.com/mcp", InvalidResource::Scheme),
        ("http://192.168.1.10/mcp", InvalidResource::Scheme),
        ("wss://api.example.com/mcp", InvalidResource::Scheme),
        (
            "https://api.example.com/m cp",
            InvalidResource::BadCharacter,
        ),
    ] {
        assert_eq!(
            build(input).await.unwrap_err(),
            BuildError::InvalidResource(why),
            "{input}"
        );
    }
    for input in ["api.example.com/mcp", "/mcp", "https:api.example.com", ""] {
        let err = build(input).await.unwrap_err();
        assert!(
            matches!(
                err,
                BuildError::InvalidResource(InvalidResource::NotAbsolute(_))
            ),
            "{input}: {err:?}"
        );
        assert!(err.to_string().starts_with("invalid resource URI"), "{err}");
    }
    // Lookalikes are other resources.
    let ours = ResourceUri::parse("https://api.example.com/mcp").unwrap();
    for other in [
        "https://api.example.com.evil.com/mcp",
        "https://evil-api.example.com/mcp",
        "https://api.example.co/mcp",
        "https://api.example.com/mcp/",
    ] {
        assert_ne!(ResourceUri::parse(other).unwrap(), ours, "{other}");
    }
    assert_eq!(
        ResourceUri::parse("HTTPS://Api.Example.Com:443/mcp").unwrap(),
        ours
    );
}

#[tokio::test]
async fn without_a_resource_the_challenges_stay_bare() {
    let key = key();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    assert!(guard.resource().is_none());
    assert!(guard.resource_metadata().is_none());
    let app = Router::new()
        .route("/invoices", get(whoami))
        .route_layer(guard.require(["invoices:read"]));
    let (listener, _) = listen().await;
    let server = serve(listener, app);
    let answer = get_path(server.addr, "/invoices", None).await;
    assert_eq!(answer.challenge(), r#"Bearer realm="api""#);
}

/// A policy of the host's that knows its scopes before a token is shown.
struct ToolScopes;

impl<B> Policy<B> for ToolScopes {
    fn authorize(&self, auth: Option<&Auth>, request: &Request<B>) -> Result<(), Rejection> {
        let auth = auth.ok_or(Rejection::MissingToken)?;
        let needed = self.required_scopes(request).unwrap();
        if needed.is_met_by(auth.scopes()) {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope(needed))
        }
    }

    fn required_scopes(&self, request: &Request<B>) -> Option<ScopeRequirement> {
        let tool = request
            .headers()
            .get("mcp-name")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        ScopeRequirement::all_of([format!("tools:{tool}")]).ok()
    }
}

#[tokio::test]
async fn a_policy_of_the_hosts_names_its_scopes_and_handlers_answer_alike() {
    let key = key();
    let (listener, addr) = listen().await;
    let resource = format!("http://{addr}/mcp");
    let metadata_url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    let guard = Guard::builder(ISS, &resource)
        .resource(&resource)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    // A handler's own check past the layer answers with the guard's challenge.
    let in_handler = guard.clone();
    let app = Router::new()
        .route(
            "/mcp",
            get(move |auth: Auth| async move {
                let write = ScopeRequirement::all_of(["invoices:write"]).unwrap();
                if write.is_met_by(auth.scopes()) {
                    axum::response::IntoResponse::into_response("written")
                } else {
                    in_handler
                        .reject(&Rejection::InsufficientScope(write), None)
                        .map(axum::body::Body::from)
                }
            }),
        )
        .route_layer(guard.authorize(ToolScopes));
    let server = serve(listener, app);

    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("/mcp")
        .header("host", addr.to_string())
        .header("mcp-name", "search")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(r#"Bearer realm="api", scope="tools:search", resource_metadata="{metadata_url}""#)
            .as_str()
    );

    let token = token_for(&key, &resource, "tools:none");
    let answer = get_path(server.addr, "/mcp", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    let challenge = params(answer.challenge());
    assert_eq!(param(&challenge, "error"), Some("insufficient_scope"));
    assert_eq!(param(&challenge, "scope"), Some("invoices:write"));
    assert_eq!(
        param(&challenge, "resource_metadata"),
        Some(metadata_url.as_str())
    );
    assert_eq!(answer.json()["error"], "insufficient_scope");
}

/// Scope-ish text: mostly valid scope characters, sometimes not.
fn scope_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!#-\\[\\]-~]{1,40}",
        any::<String>(),
        "[a-z]{1,8}:[a-z\"\\\\ ]{0,8}",
    ]
}

fn any_rejection() -> impl Strategy<Value = u8> {
    0u8..5
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the scopes, the realm or the resource, the challenge is a
    /// valid header value and well-formed auth-params, naming exactly the
    /// scopes and metadata URL it was given.
    #[test]
    fn the_challenge_is_always_a_valid_header(
        scopes in proptest::collection::vec(scope_text(), 1..12),
        any_of in any::<bool>(),
        realm in any::<String>(),
        resource in prop_oneof![
            "https?://[A-Za-z0-9.\\-]{1,20}(:[0-9]{1,5})?(/[ -~]{0,30})?",
            any::<String>(),
        ],
        raw_url in any::<String>(),
        kind in any_rejection(),
        verbose in any::<bool>(),
    ) {
        let Ok(requirement) = (if any_of {
            ScopeRequirement::any_of(&scopes)
        } else {
            ScopeRequirement::all_of(&scopes)
        }) else {
            return Ok(());
        };
        let resource = ResourceUri::parse(&resource).ok();
        let url = resource.as_ref().map(ResourceUri::metadata_url);
        if let Some(resource) = &resource {
            // Canonical forms are fixed points.
            prop_assert_eq!(&ResourceUri::parse(resource.as_str()).unwrap(), resource);
        }
        let rejection = match kind {
            0 => Rejection::MissingToken,
            1 => Rejection::MalformedHeader,
            2 => Rejection::Revoked,
            3 => Rejection::InvalidToken(m2m_core::VerifyError::WrongType(Some(realm.clone()))),
            _ => Rejection::InsufficientScope(requirement.clone()),
        };
        for metadata in [url.as_deref(), Some(raw_url.as_str())] {
            let mut params_in = ChallengeParams::new(&realm)
                .verbose(verbose)
                .route_scopes(&requirement);
            if let Some(metadata) = metadata {
                params_in = params_in.resource_metadata(metadata);
            }
            let challenge = challenge_with(&rejection, &params_in);
            let value = challenge.www_authenticate();
            prop_assert!(http::HeaderValue::from_str(value).is_ok());
            let parsed = params(value);
            if matches!(kind, 0 | 4) {
                let expected: Vec<&str> =
                    requirement.scopes().iter().map(|s| s.as_str()).collect();
                let expected = expected.join(" ");
                let named = param(&parsed, "scope").unwrap_or_default();
                if expected.len() <= 1024 {
                    prop_assert_eq!(named, expected.as_str());
                } else {
                    // Whole scopes only, in order, within the bound.
                    prop_assert!(named.len() <= 1024);
                    prop_assert!(expected.starts_with(named));
                    prop_assert_eq!(expected.as_bytes().get(named.len()), Some(&b' '));
                }
            } else {
                prop_assert_eq!(param(&parsed, "scope"), None);
            }
            if let (Some(url), true) = (&url, metadata == url.as_deref()) {
                prop_assert_eq!(param(&parsed, "resource_metadata"), Some(url.as_str()));
            }
        }
    }
}
