//! User-level clients (issue 7): authorization code with PKCE, consent
//! through the host's handler, rotating refresh tokens, `uid` in tokens, and
//! the admin API for grants. Every test runs over a real TCP listener.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{OrgId, UserId};
use m2m_guard::{Auth, Guard};
use m2m_issuer::LAST_USED_GRANULARITY_SECS;
use m2m_issuer::consent::{ConsentDecision, ConsentHandler, ConsentRequest, DevConsent};
use serde_json::{Value, json};

use crate::common::{T0, TestServer, claims_of, expect_oauth_error, in_process_verdict};

const CALLBACK: &str = "https://app.example.com/callback";
const OTHER_CALLBACK: &str = "https://app.example.com/other?keep=1";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Grants as `user_42` unless the request carries `x-test-consent: deny`
/// (refuse) or `login` (send to the host's login page).
#[derive(Debug)]
struct TestConsent;

#[async_trait]
impl ConsentHandler for TestConsent {
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        match request
            .headers
            .get("x-test-consent")
            .and_then(|v| v.to_str().ok())
        {
            Some("deny") => ConsentDecision::Denied,
            Some("login") => ConsentDecision::Redirect("https://host.example.com/login".into()),
            _ => ConsentDecision::Granted {
                user_id: UserId::new("user_42"),
                org_id: OrgId::new("org_1"),
                scopes: request.scopes.clone(),
            },
        }
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

struct UserClient {
    id: String,
    secret: String,
    secret_id: String,
}

async fn server() -> TestServer {
    TestServer::start_with(|b| b.consent(Arc::new(TestConsent))).await
}

async fn user_client(server: &mut TestServer) -> UserClient {
    let (id, secret, created) = server
        .create_client(json!({
            "name": "agent",
            "kind": "user",
            "org_id": "org_1",
            "scopes": ["invoices:read", "invoices:write"],
            "redirect_uris": [CALLBACK, OTHER_CALLBACK],
        }))
        .await;
    let secret_id = created["secret_id"].as_str().expect("secret_id").to_owned();
    UserClient {
        id,
        secret,
        secret_id,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn authorize_with(
    server: &TestServer,
    params: &[(&str, &str)],
    consent: Option<&str>,
) -> reqwest::Response {
    let query = serde_urlencoded::to_string(params).expect("query");
    let mut request = no_redirects().get(format!("{}?{query}", server.url("/oauth/authorize")));
    if let Some(consent) = consent {
        request = request.header("x-test-consent", consent);
    }
    request.send().await.expect("authorize")
}

/// A complete, valid authorization request for `client`.
fn params<'a>(client: &'a UserClient, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", CALLBACK),
        ("state", "xyz-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The Location of a 302, split into the URI before `?` and its parameters.
fn location(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    assert_eq!(response.status(), 302, "expected a redirect");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let (base, query) = location.split_once('?').unwrap_or((&location, ""));
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    (base.to_owned(), params.into_iter().collect())
}

async fn code_for(server: &TestServer, client: &UserClient, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut query = params(client, &challenge);
    query.extend_from_slice(extra);
    let response = authorize_with(server, &query, None).await;
    let (base, params) = location(&response);
    assert_eq!(base, CALLBACK);
    assert_eq!(params["state"], "xyz-123");
    assert_eq!(params["iss"], server.base);
    params["code"].clone()
}

async fn exchange(
    server: &TestServer,
    client: &UserClient,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token")
}

async fn refresh(
    server: &TestServer,
    client: &UserClient,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&form)
        .send()
        .await
        .expect("token")
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// Tokens from a full authorize + exchange.
async fn tokens(server: &TestServer, client: &UserClient) -> Value {
    let code = code_for(server, client, &[]).await;
    ok_json(exchange(server, client, &code, VERIFIER).await).await
}

async fn revoked_jtis(server: &TestServer) -> Vec<String> {
    let feed: Value = server
        .http
        .get(server.url("/oauth/revocations"))
        .send()
        .await
        .expect("feed")
        .json()
        .await
        .expect("json");
    feed["revoked_jtis"]
        .as_array()
        .expect("revoked_jtis")
        .iter()
        .map(|e| e["jti"].as_str().expect("jti").to_owned())
        .collect()
}

#[tokio::test]
async fn happy_path_end_to_end_to_a_guarded_call_seeing_uid() {
    let mut server = server().await;
    let client = user_client(&mut server).await;

    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["authorization_endpoint"],
        server.url("/oauth/authorize")
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );

    let first = tokens(&server, &client).await;
    let access = first["access_token"].as_str().expect("access_token");
    let refresh_token = first["refresh_token"].as_str().expect("refresh_token");
    assert!(refresh_token.starts_with("m2mr_"));
    assert_eq!(first["scope"], "invoices:read invoices:write");
    let claims = server.verify(access, &server.base).await.expect("verifies");
    assert_eq!(claims.sub, "user_42");
    assert_eq!(claims.uid.as_ref().map(UserId::as_str), Some("user_42"));
    assert_eq!(claims.oid.as_ref().map(OrgId::as_str), Some("org_1"));
    assert_eq!(claims.client_id.as_str(), client.id);

    server.advance(10);
    let second = ok_json(refresh(&server, &client, refresh_token, None).await).await;
    let access = second["access_token"].as_str().expect("access_token");
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    assert_eq!(claims_of(access)["uid"], "user_42");

    // A guarded API sees the user.
    let now = server.now();
    let guard = Guard::builder(server.base.as_str(), server.base.as_str())
        .jwk_set(server.jwks().await)
        .clock(Arc::new(move || now))
        .build()
        .await
        .expect("guard");
    let app = Router::new()
        .route(
            "/invoices",
            get(|auth: Auth| async move {
                auth.user_id()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default()
            }),
        )
        .route_layer(guard.require(["invoices:read"]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let response = server
        .http
        .get(format!("{api}/invoices"))
        .bearer_auth(access)
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "user_42");
}

/// The secret rotation of docs/security.md waits until the old secret's
/// `last_used_at` stops moving: it must move for an agent acting for users,
/// whose secret never sees the client-credentials grant.
#[tokio::test]
async fn the_secrets_last_use_moves_with_exchanges_refreshes_introspection_and_revocation() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let (id, secret_id) = (client.id.clone(), client.secret_id.clone());
    assert_eq!(server.last_used_at(&id, &secret_id).await, None);

    let first = tokens(&server, &client).await;
    server.wait_last_used(&id, &secret_id, T0).await;

    server.advance(LAST_USED_GRANULARITY_SECS);
    let refresh_token = first["refresh_token"].as_str().expect("refresh_token");
    let second = ok_json(refresh(&server, &client, refresh_token, None).await).await;
    server
        .wait_last_used(&id, &secret_id, T0 + LAST_USED_GRANULARITY_SECS)
        .await;

    server.advance(LAST_USED_GRANULARITY_SECS);
    let access = second["access_token"].as_str().expect("access_token");
    let introspected = server.introspect(&id, &client.secret, access).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    server
        .wait_last_used(&id, &secret_id, T0 + 2 * LAST_USED_GRANULARITY_SECS)
        .await;

    server.advance(LAST_USED_GRANULARITY_SECS);
    let refresh_token = second["refresh_token"].as_str().expect("refresh_token");
    let revoked = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&id, Some(&client.secret))
        .form(&[("token", refresh_token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    server
        .wait_last_used(&id, &secret_id, T0 + 3 * LAST_USED_GRANULARITY_SECS)
        .await;
}

#[tokio::test]
async fn pkce_is_required_and_plain_is_refused() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let challenge = challenge(VERIFIER);

    let mut missing = params(&client, &challenge);
    missing.retain(|(k, _)| !k.starts_with("code_challenge"));
    let (base, got) = location(&authorize_with(&server, &missing, None).await);
    assert_eq!(base, CALLBACK);
    assert_eq!(got["error"], "invalid_request");
    assert_eq!(got["state"], "xyz-123");
    assert!(!got.contains_key("code"));

    let mut plain = params(&client, VERIFIER);
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let (_, got) = location(&authorize_with(&server, &plain, None).await);
    assert_eq!(got["error"], "invalid_request");

    let mut no_method = params(&client, &challenge);
    no_method.retain(|(k, _)| *k != "code_challenge_method");
    let (_, got) = location(&authorize_with(&server, &no_method, None).await);
    assert_eq!(
        got["error"], "invalid_request",
        "no method means plain (RFC 7636 §4.3)"
    );

    let code = code_for(&server, &client, &[]).await;
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-0";
    expect_oauth_error(
        exchange(&server, &client, &code, wrong).await,
        400,
        "invalid_grant",
    )
    .await;
    let code = code_for(&server, &client, &[]).await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .expect("token");
    expect_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_redirect_uri_mismatch_is_an_error_page_never_a_redirect() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let challenge = challenge(VERIFIER);
    for uri in [
        Some("https://evil.example.com/callback"),
        Some("https://app.example.com/callback/"),
        Some("https://app.example.com/callback?x=1"),
        None, // two registered: it must be given
    ] {
        let mut query = params(&client, &challenge);
        query.retain(|(k, _)| *k != "redirect_uri");
        if let Some(uri) = uri {
            query.push(("redirect_uri", uri));
        }
        let response = authorize_with(&server, &query, None).await;
        assert!(
            response.headers().get("location").is_none(),
            "no redirect for {uri:?}"
        );
        expect_oauth_error(response, 400, "invalid_request").await;
    }
    // The second registered URI, with its own query, works exactly.
    let mut query = params(&client, &challenge);
    query.retain(|(k, _)| *k != "redirect_uri");
    query.push(("redirect_uri", OTHER_CALLBACK));
    let response = authorize_with(&server, &query, None).await;
    let (base, got) = location(&response);
    assert_eq!(base, "https://app.example.com/other");
    assert_eq!(got["keep"], "1");
    assert!(got.contains_key("code"));
    // The token endpoint wants the same redirect_uri back.
    let response = exchange(&server, &client, &got["code"], VERIFIER).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_its_first_use_issued() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let code = code_for(&server, &client, &[]).await;
    let first = ok_json(exchange(&server, &client, &code, VERIFIER).await).await;
    let jti = claims_of(first["access_token"].as_str().expect("at"))["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    expect_oauth_error(
        exchange(&server, &client, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(
        revoked_jtis(&server).await.contains(&jti),
        "access token in the feed"
    );
    let rt = first["refresh_token"].as_str().expect("rt");
    expect_oauth_error(
        refresh(&server, &client, rt, None).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let code = code_for(&server, &client, &[]).await;
    server.advance(61);
    expect_oauth_error(
        exchange(&server, &client, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reuse_revokes_the_family() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let first = tokens(&server, &client).await;
    let rt1 = first["refresh_token"].as_str().expect("rt").to_owned();
    let second = ok_json(refresh(&server, &client, &rt1, None).await).await;
    let rt2 = second["refresh_token"].as_str().expect("rt").to_owned();
    assert_ne!(rt1, rt2);

    expect_oauth_error(
        refresh(&server, &client, &rt1, None).await,
        400,
        "invalid_grant",
    )
    .await;
    // The whole family is gone, the newest token too, and its access tokens
    // are in the feed.
    expect_oauth_error(
        refresh(&server, &client, &rt2, None).await,
        400,
        "invalid_grant",
    )
    .await;
    let revoked = revoked_jtis(&server).await;
    for body in [&first, &second] {
        let jti = claims_of(body["access_token"].as_str().expect("at"))["jti"].clone();
        assert!(revoked.iter().any(|r| json!(r) == jti), "{jti} revoked");
    }
    // Another client cannot use someone else's refresh token.
    let third = tokens(&server, &client).await;
    let other = user_client(&mut server).await;
    let rt3 = third["refresh_token"].as_str().expect("rt");
    expect_oauth_error(
        refresh(&server, &other, rt3, None).await,
        400,
        "invalid_grant",
    )
    .await;
    ok_json(refresh(&server, &client, rt3, None).await).await;
}

#[tokio::test]
async fn refused_consent_sends_access_denied_to_the_client() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let challenge = challenge(VERIFIER);
    let query = params(&client, &challenge);
    let (base, got) = location(&authorize_with(&server, &query, Some("deny")).await);
    assert_eq!(base, CALLBACK);
    assert_eq!(got["error"], "access_denied");
    assert_eq!(got["state"], "xyz-123");
    assert!(!got.contains_key("code"));

    let (base, _) = location(&authorize_with(&server, &query, Some("login")).await);
    assert_eq!(base, "https://host.example.com/login");
}

#[tokio::test]
async fn scope_is_limited_at_authorize_and_cannot_grow_at_refresh() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let challenge = challenge(VERIFIER);
    let mut query = params(&client, &challenge);
    query.push(("scope", "invoices:read admin:all"));
    let (_, got) = location(&authorize_with(&server, &query, None).await);
    assert_eq!(got["error"], "invalid_scope");

    let code = code_for(&server, &client, &[("scope", "invoices:read")]).await;
    let body = ok_json(exchange(&server, &client, &code, VERIFIER).await).await;
    assert_eq!(body["scope"], "invoices:read");
    let rt = body["refresh_token"].as_str().expect("rt");
    expect_oauth_error(
        refresh(&server, &client, rt, Some("invoices:read invoices:write")).await,
        400,
        "invalid_scope",
    )
    .await;
    // The refused escalation changed nothing: the token still rotates.
    let body = ok_json(refresh(&server, &client, rt, Some("invoices:read")).await).await;
    assert_eq!(body["scope"], "invoices:read");
}

#[tokio::test]
async fn admins_list_and_revoke_a_users_grants() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let body = tokens(&server, &client).await;
    let path = format!("/admin/clients/{}/grants", client.id);
    let (status, list) = server
        .admin(
            reqwest::Method::GET,
            &format!("{path}?user_id=user_42"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["user_id"], "user_42");
    assert_eq!(items[0]["org_id"], "org_1");
    assert_eq!(items[0]["revoked_at"], Value::Null);
    let grant_id = items[0]["grant_id"].as_str().expect("grant_id").to_owned();
    let (status, list) = server
        .admin(
            reqwest::Method::GET,
            &format!("{path}?user_id=someone_else"),
            None,
        )
        .await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    let access = body["access_token"].as_str().expect("at").to_owned();
    let audience = claims_of(&access)["aud"].as_str().expect("aud").to_owned();
    assert!(
        in_process_verdict(&server.issuer, &audience, &access)
            .await
            .is_ok()
    );
    let (status, _) = server
        .admin(reqwest::Method::DELETE, &format!("{path}/{grant_id}"), None)
        .await;
    assert_eq!(status, 204);
    let jti = claims_of(body["access_token"].as_str().expect("at"))["jti"].clone();
    assert!(revoked_jtis(&server).await.iter().any(|r| json!(r) == jti));
    assert_eq!(
        in_process_verdict(&server.issuer, &audience, &access).await,
        Err(m2m_guard::Rejection::Revoked),
        "in-process guards refuse the grant's access token at once"
    );
    let rt = body["refresh_token"].as_str().expect("rt");
    expect_oauth_error(
        refresh(&server, &client, rt, None).await,
        400,
        "invalid_grant",
    )
    .await;
    let (_, list) = server.admin(reqwest::Method::GET, &path, None).await;
    assert!(list["items"][0]["revoked_at"].is_string());

    let (status, _) = server
        .admin(reqwest::Method::DELETE, &format!("{path}/m2mg_nope"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .admin(reqwest::Method::GET, "/admin/clients/m2m_nope/grants", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .admin(reqwest::Method::GET, &format!("{path}?bogus=1"), None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn user_clients_are_off_without_a_consent_handler() {
    let mut server = TestServer::start().await;
    let client = user_client(&mut server).await;
    let challenge = challenge(VERIFIER);

    // A valid request is denied back to the client, with state and iss
    // (RFC 6749 §4.1.2.1, RFC 9207): no code, no consent to ask for.
    let response = authorize_with(&server, &params(&client, &challenge), None).await;
    let (base, redirect) = location(&response);
    assert_eq!(base, CALLBACK);
    assert_eq!(redirect["error"], "access_denied");
    assert!(redirect["error_description"].contains("consent handler"));
    assert_eq!(redirect["state"], "xyz-123");
    assert_eq!(redirect["iss"], server.base);
    assert!(!redirect.contains_key("code"));

    // The request is still checked first: a missing PKCE challenge is told
    // as such, not as a denial.
    let no_pkce: Vec<(&str, &str)> = params(&client, &challenge)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("code_challenge"))
        .collect();
    let (_, redirect) = location(&authorize_with(&server, &no_pkce, None).await);
    assert_eq!(redirect["error"], "invalid_request");

    // An unregistered redirect_uri or an unknown client never gets a redirect.
    let mut elsewhere = params(&client, &challenge);
    elsewhere[2] = ("redirect_uri", "https://attacker.example.com/cb");
    let response = authorize_with(&server, &elsewhere, None).await;
    assert!(response.headers().get("location").is_none());
    expect_oauth_error(response, 400, "invalid_request").await;
    let mut unknown = params(&client, &challenge);
    unknown[1] = ("client_id", "m2m_unknownclient00000000");
    let response = authorize_with(&server, &unknown, None).await;
    assert!(response.headers().get("location").is_none());
    expect_oauth_error(response, 400, "invalid_request").await;

    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["authorization_endpoint"],
        server.url("/oauth/authorize"),
        "advertised always: MCP SDKs require it"
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(metadata["response_types_supported"], json!([]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ]),
        "no public clients without user-level clients"
    );
    assert!(metadata.get("scopes_supported").is_none());
    expect_oauth_error(
        exchange(&server, &client, "m2mc_x", VERIFIER).await,
        400,
        "unsupported_grant_type",
    )
    .await;
}

#[tokio::test]
async fn user_clients_cannot_use_client_credentials_and_others_cannot_authorize() {
    let mut server = server().await;
    let client = user_client(&mut server).await;
    let response = server.token_basic(&client.id, &client.secret, &[]).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;

    let (org_id, _) = server.org_client(&["invoices:read"]).await;
    let challenge = challenge(VERIFIER);
    let org = UserClient {
        id: org_id,
        secret: String::new(),
        secret_id: String::new(),
    };
    let response = authorize_with(&server, &params(&org, &challenge), None).await;
    assert!(response.headers().get("location").is_none());
    expect_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn dev_consent_grants_the_login_hint_user() {
    let mut server =
        TestServer::start_with(|b| b.consent(Arc::new(DevConsent::new("dev_user", "dev_org"))))
            .await;
    let client = user_client(&mut server).await;
    let code = code_for(&server, &client, &[("login_hint", "alice")]).await;
    let body = ok_json(exchange(&server, &client, &code, VERIFIER).await).await;
    let claims = claims_of(body["access_token"].as_str().expect("at"));
    assert_eq!(claims["uid"], "alice");
    assert_eq!(claims["oid"], "org_1", "the client's own organization");
}
