//! Dynamic Client Registration (RFC 7591) at `POST /oauth/register`: off by
//! default, the operator's policy, the initial access token, the rate limit
//! per source address, and hostile requests. Every test runs over a real TCP
//! listener; the confidential-client test keeps its records in a real SQLite
//! file.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_issuer::consent::DevConsent;
use m2m_issuer::store::{AuditFilter, ClientFilter, Store};
use m2m_issuer::{IssuerBuilder, RegistrationPolicy};
use serde_json::{Value, json};

use crate::common::{TestServer, claims_of, expect_oauth_error};

const CALLBACK: &str = "http://127.0.0.1:33418/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const MCP: &str = "https://mcp.example.com/mcp";
const ORG: &str = "org_mcp";
const TOKEN: &str = "iat-0123456789abcdef-registration";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ))
}

fn with_users(builder: IssuerBuilder) -> IssuerBuilder {
    builder
        .consent(Arc::new(DevConsent::new("dev_user", "dev_org")))
        .scopes_supported(["invoices:read", "invoices:write", "admin:all"])
}

fn policy() -> RegistrationPolicy {
    RegistrationPolicy::new(ORG)
        .scopes(["invoices:read", "invoices:write"])
        .audiences([MCP])
}

async fn server_with(policy: RegistrationPolicy) -> TestServer {
    TestServer::start_with(|b| with_users(b).dynamic_registration(policy)).await
}

async fn post_raw(
    server: &TestServer,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server
        .http
        .post(server.url("/oauth/register"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("register")
}

async fn register(server: &TestServer, metadata: &Value) -> reqwest::Response {
    post_raw(server, metadata.to_string(), &[]).await
}

async fn register_ok(server: &TestServer, metadata: &Value) -> Value {
    let response = register(server, metadata).await;
    assert_eq!(response.status(), 201, "registration");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("JSON")
}

async fn stored_clients(server: &TestServer) -> usize {
    server
        .store
        .list_clients(&ClientFilter::default(), None, 200)
        .await
        .expect("list")
        .items
        .len()
}

async fn audit_of_kind(server: &TestServer, kind: &str) -> Vec<Value> {
    server.issuer.flush_audit().await;
    let filter = AuditFilter {
        kind: Some(kind.to_owned()),
        ..AuditFilter::default()
    };
    let page = server
        .store
        .list_audit(&filter, None, 200)
        .await
        .expect("audit");
    page.items
        .into_iter()
        .map(|r| json!({"client_id": r.client_id.map(|c| c.to_string()), "detail": r.detail}))
        .collect()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Runs `/oauth/authorize` for `client_id` (DevConsent grants) and returns the code.
async fn code_for(server: &TestServer, client_id: &str, scope: &str) -> String {
    let challenge = challenge();
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "st-1"),
        ("scope", scope),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .expect("query");
    let response = no_redirects()
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 302, "authorize redirects");
    let location = response.headers()["location"].to_str().expect("Location");
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, CALLBACK);
    let params: HashMap<String, String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .expect("query")
            .into_iter()
            .collect();
    params
        .get("code")
        .unwrap_or_else(|| panic!("a code, got {params:?}"))
        .clone()
}

fn exchange_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ]
}

#[tokio::test]
async fn off_by_default_not_served_and_not_advertised() {
    let server = TestServer::start_with(with_users).await;
    let response = register(
        &server,
        &json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(response.status(), 404);
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "{metadata}"
    );
    assert_eq!(stored_clients(&server).await, 0);
}

#[tokio::test]
async fn registration_needs_a_consent_handler_and_some_scope() {
    let error = TestServer::start_on(Arc::new(m2m_issuer::store::MemoryStore::new()), |b| {
        b.dynamic_registration(policy())
    })
    .await
    .err()
    .expect("no consent handler: refused");
    assert!(error.to_string().contains("consent"), "{error}");
    let error = TestServer::start_on(Arc::new(m2m_issuer::store::MemoryStore::new()), |b| {
        b.consent(Arc::new(DevConsent::new("u", "o")))
            .dynamic_registration(RegistrationPolicy::new(ORG))
    })
    .await
    .err()
    .expect("no scopes anywhere: refused");
    assert!(error.to_string().contains("scope"), "{error}");
}

#[tokio::test]
async fn a_public_client_registers_then_authorizes_with_pkce() {
    let mut server = server_with(policy()).await;
    // The bootstrap admin first: it is made only in an empty store.
    server.admin_credentials().await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        metadata["registration_endpoint"],
        server.url("/oauth/register")
    );

    let registered = register_ok(
        &server,
        &json!({
            "redirect_uris": [CALLBACK],
            "client_name": "Example MCP client",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "invoices:read",
            "logo_uri": "https://client.example/logo.png",
            "software_id": "ignored",
        }),
    )
    .await;
    let client_id = registered["client_id"].as_str().expect("client_id");
    assert!(client_id.starts_with("m2m_"), "{registered}");
    assert!(registered.get("client_secret").is_none(), "{registered}");
    assert_eq!(registered["client_id_issued_at"], server.now());
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(registered["redirect_uris"], json!([CALLBACK]));
    assert_eq!(registered["client_name"], "Example MCP client");
    assert_eq!(registered["scope"], "invoices:read");
    assert_eq!(
        registered["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(registered["response_types"], json!(["code"]));

    let code = code_for(&server, client_id, "invoices:read").await;
    let mut form = exchange_form(&code);
    form.push(("client_id", client_id));
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("JSON");
    let claims = claims_of(tokens["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["oid"], ORG, "the policy's organization");
    assert_eq!(claims["uid"], "dev_user");
    assert!(tokens["refresh_token"].is_string());

    // Operators find it through the admin API, marked, and can delete it.
    let (status, shown) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{client_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["kind"], "user");
    assert_eq!(shown["org_id"], ORG);
    assert_eq!(shown["metadata"]["registration"], "dynamic");
    assert_eq!(shown["audiences"], json!([MCP]));

    let events = audit_of_kind(&server, "client.registered").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["client_id"], client_id);
    assert_eq!(events[0]["detail"]["source"], "127.0.0.1");
    assert_eq!(events[0]["detail"]["scopes"], "invoices:read");
    assert_eq!(events[0]["detail"]["public"], true);

    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{client_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_confidential_client_gets_a_secret_stored_only_as_a_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display());
    let store: Arc<dyn Store> = Arc::new(
        m2m_store_sql::SqlStore::connect(&url)
            .await
            .expect("sqlite"),
    );
    let server = TestServer::start_on(store, |b| with_users(b).dynamic_registration(policy()))
        .await
        .expect("issuer");
    let registered = register_ok(&server, &json!({"redirect_uris": [CALLBACK]})).await;
    assert_eq!(
        registered["token_endpoint_auth_method"], "client_secret_basic",
        "the RFC 7591 default"
    );
    assert_eq!(
        registered["scope"], "invoices:read invoices:write",
        "the policy's"
    );
    assert_eq!(registered["client_secret_expires_at"], 0);
    let client_id = registered["client_id"].as_str().expect("client_id");
    let secret = registered["client_secret"].as_str().expect("client_secret");

    let code = code_for(&server, client_id, "invoices:write").await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&exchange_form(&code))
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("JSON");
    let claims = claims_of(tokens["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["scope"], "invoices:write");

    let code = code_for(&server, client_id, "invoices:read").await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(client_id, Some("m2ms_not-the-secret"))
        .form(&exchange_form(&code))
        .send()
        .await
        .expect("token");
    expect_oauth_error(response, 401, "invalid_client").await;

    // The database holds a hash, never the secret: not in any of its files.
    server.issuer.flush_audit().await;
    let secrets = server
        .store
        .list_secrets(&m2m_core::ClientId::new(client_id))
        .await
        .expect("secrets");
    assert_eq!(secrets.len(), 1);
    assert_ne!(&secrets[0].hash.as_bytes()[..], secret.as_bytes());
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
}

#[tokio::test]
async fn scopes_outside_the_policy_and_other_grants_are_refused_and_nothing_is_stored() {
    let server = server_with(policy().rate_per_minute(1000)).await;
    for (metadata, what) in [
        (
            json!({"redirect_uris": [CALLBACK], "scope": "invoices:read admin:all"}),
            "a scope outside the policy (though in scopes_supported)",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "scope": "m2m:admin"}),
            "the admin scope",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "scope": ""}),
            "an empty scope",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "scope": "bad\u{0}scope"}),
            "a NUL in a scope",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["client_credentials"]}),
            "client_credentials",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "client_credentials"]}),
            "client_credentials among others",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["refresh_token"]}),
            "no authorization_code",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "response_types": ["token"]}),
            "the implicit flow",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "an unsupported auth method",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "client_name": "evil\u{0}name"}),
            "a NUL in the name",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "client_name": "x".repeat(201)}),
            "a long name",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "scope": ["invoices:read"]}),
            "scope of the wrong type",
        ),
    ] {
        let response = register(&server, &metadata).await;
        expect_oauth_error(response, 400, "invalid_client_metadata").await;
        assert_eq!(stored_clients(&server).await, 0, "{what}: nothing stored");
    }
    assert!(audit_of_kind(&server, "client.registered").await.is_empty());
}

#[tokio::test]
async fn bad_redirect_uris_are_refused_and_nothing_is_stored() {
    let server = server_with(policy().rate_per_minute(1000)).await;
    let many: Vec<String> = (0..21)
        .map(|i| format!("https://app.example.com/cb/{i}"))
        .collect();
    let hundreds: Vec<String> = (0..500).map(|i| format!("https://a.b/{i}")).collect();
    let long = format!("https://app.example.com/{}", "a".repeat(2100));
    for (uris, what) in [
        (json!(["http://app.example.com/cb"]), "http, not loopback"),
        (
            json!(["http://127.0.0.1.evil.example/cb"]),
            "a loopback lookalike",
        ),
        (json!(["https://app.example.com/cb#frag"]), "a fragment"),
        (json!(["javascript:alert(1)"]), "javascript:"),
        (json!(["data:text/html,hi"]), "data:"),
        (json!(["app.example.com/cb"]), "relative"),
        (
            json!(["https://good.example@evil.example/cb"]),
            "user information",
        ),
        (json!(["https://app.example.com/c b"]), "a space"),
        (json!(["https://app.example.com/\u{0}"]), "a NUL byte"),
        (
            json!([CALLBACK, "http://evil.example/cb"]),
            "one bad among good",
        ),
        (json!(many), "more than 20"),
        (json!(hundreds), "a huge array (500)"),
        (json!([long]), "longer than 2,048 bytes"),
        (json!([]), "none"),
        (Value::Null, "missing"),
    ] {
        let response = register(&server, &json!({"redirect_uris": uris})).await;
        expect_oauth_error(response, 400, "invalid_redirect_uri").await;
        assert_eq!(stored_clients(&server).await, 0, "{what}: nothing stored");
    }
}

#[tokio::test]
async fn an_initial_access_token_is_required_when_configured() {
    let server = server_with(policy().initial_access_token(TOKEN)).await;
    let metadata = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    let body = metadata.to_string();

    let response = post_raw(&server, body.clone(), &[]).await;
    let (headers, _) = expect_oauth_error(response, 401, "invalid_token").await;
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"m2m-registration\""
    );

    let wrong = format!("Bearer {TOKEN}x");
    let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for authorization in [wrong.as_str(), prefix.as_str(), basic.as_str(), "Bearer"] {
        let response = post_raw(&server, body.clone(), &[("authorization", authorization)]).await;
        let (headers, _) = expect_oauth_error(response, 401, "invalid_token").await;
        assert_eq!(
            headers["www-authenticate"],
            "Bearer realm=\"m2m-registration\", error=\"invalid_token\"",
            "{authorization}"
        );
    }
    assert_eq!(stored_clients(&server).await, 0);

    let right = format!("Bearer {TOKEN}");
    let response = post_raw(&server, body, &[("authorization", right.as_str())]).await;
    assert_eq!(response.status(), 201);
    assert_eq!(stored_clients(&server).await, 1);
}

#[tokio::test]
async fn the_rate_limit_is_per_source_address() {
    let server = TestServer::start_with(|b| {
        with_users(b)
            .trusted_proxies(["127.0.0.0/8".parse().expect("cidr")])
            .dynamic_registration(policy().rate_per_minute(3))
    })
    .await;
    let good =
        json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}).to_string();
    let from = |address: &'static str| [("x-forwarded-for", address)];
    // Every request counts, refused ones too.
    let response = post_raw(&server, "{", &from("203.0.113.5")).await;
    expect_oauth_error(response, 400, "invalid_client_metadata").await;
    for _ in 0..2 {
        let response = post_raw(&server, good.clone(), &from("203.0.113.5")).await;
        assert_eq!(response.status(), 201);
    }
    for _ in 0..5 {
        let response = post_raw(&server, good.clone(), &from("203.0.113.5")).await;
        let (headers, _) = expect_oauth_error(response, 429, "slow_down").await;
        assert_eq!(headers["retry-after"], "60");
    }
    assert_eq!(
        stored_clients(&server).await,
        2,
        "refused requests store nothing"
    );

    // Another source is unaffected.
    let response = post_raw(&server, good.clone(), &from("203.0.113.6")).await;
    assert_eq!(response.status(), 201);

    // One audit event for the five refusals.
    let refused = audit_of_kind(&server, "registration.rate_limited").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["detail"]["source"], "203.0.113.5");

    server.advance(60);
    let response = post_raw(&server, good, &from("203.0.113.5")).await;
    assert_eq!(response.status(), 201, "a new window");
}

#[tokio::test]
async fn hostile_bodies_are_4xx_json_and_store_nothing() {
    let server = server_with(policy().rate_per_minute(1000)).await;
    let padding = "x".repeat(17 * 1024);
    let oversized = json!({"redirect_uris": [CALLBACK], "pad": padding}).to_string();
    let response = post_raw(&server, oversized, &[]).await;
    expect_oauth_error(response, 413, "invalid_request").await;

    let deep = format!("{{\"x\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    let bad_utf8: Vec<u8> = b"{\"redirect_uris\":[\"https://a.b/\xff\"]}".to_vec();
    for (body, what) in [
        ("{".to_owned().into_bytes(), "truncated JSON"),
        (b"[]".to_vec(), "an array"),
        (b"null".to_vec(), "null"),
        (b"\"text\"".to_vec(), "a string"),
        (Vec::new(), "empty"),
        (deep.into_bytes(), "deep nesting"),
        (bad_utf8, "invalid UTF-8"),
        (
            br#"{"redirect_uris":"https://app.example.com/cb"}"#.to_vec(),
            "redirect_uris a string",
        ),
        (
            br#"{"redirect_uris":["http://127.0.0.1:33418/callback"],"client_name":"a","client_name":"b"}"#
                .to_vec(),
            "a duplicate member",
        ),
    ] {
        let response = post_raw(&server, body, &[]).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{what}: {status}");
        let body: Value = response.json().await.expect("JSON error");
        assert!(body["error"].is_string(), "{what}: {body}");
        assert_eq!(stored_clients(&server).await, 0, "{what}: nothing stored");
    }

    // Unknown members are ignored, within the bound.
    let noisy = json!({
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "contacts": vec!["a@b.example"; 500],
        "jwks": {"keys": [{"kty": "oct", "k": "\u{0}"}]},
    });
    let registered = register_ok(&server, &noisy).await;
    assert!(registered.get("contacts").is_none());

    // The content type must be JSON.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = server
            .http
            .post(server.url("/oauth/register"))
            .header("content-type", content_type)
            .body(json!({"redirect_uris": [CALLBACK]}).to_string())
            .send()
            .await
            .expect("register");
        expect_oauth_error(response, 400, "invalid_request").await;
    }
    let response = server
        .http
        .get(server.url("/oauth/register"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 405);
    assert_eq!(stored_clients(&server).await, 1);
}

#[tokio::test]
async fn a_public_only_policy_registers_public_clients_only() {
    let server = server_with(policy().public_only(true)).await;
    let registered = register_ok(&server, &json!({"redirect_uris": [CALLBACK]})).await;
    assert_eq!(
        registered["token_endpoint_auth_method"], "none",
        "an omitted method is replaced by none"
    );
    assert!(registered.get("client_secret").is_none());
    for method in ["client_secret_basic", "client_secret_post"] {
        let response = register(
            &server,
            &json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": method}),
        )
        .await;
        expect_oauth_error(response, 400, "invalid_client_metadata").await;
    }
    assert_eq!(stored_clients(&server).await, 1);
}

/// Grants every request, and remembers whether each client had registered itself.
#[derive(Debug, Default)]
struct RecordingConsent(std::sync::Mutex<Vec<(String, bool)>>);

#[async_trait::async_trait]
impl m2m_issuer::consent::ConsentHandler for RecordingConsent {
    async fn decide(
        &self,
        request: &m2m_issuer::consent::ConsentRequest,
    ) -> m2m_issuer::consent::ConsentDecision {
        self.0
            .lock()
            .expect("lock")
            .push((request.client_id.to_string(), request.self_registered));
        m2m_issuer::consent::ConsentDecision::Granted {
            user_id: m2m_core::UserId::new("alice"),
            org_id: m2m_core::OrgId::new(ORG),
            scopes: request.scopes.clone(),
        }
    }
}

#[tokio::test]
async fn the_consent_handler_is_told_a_client_registered_itself() {
    let consent = Arc::new(RecordingConsent::default());
    let handler = Arc::clone(&consent);
    let mut server = TestServer::start_with(move |b| {
        b.consent(handler)
            .scopes_supported(["invoices:read"])
            .dynamic_registration(RegistrationPolicy::new(ORG))
    })
    .await;
    let (admin_made, _, _) = server
        .create_client(json!({
            "name": "operator's client", "kind": "user", "org_id": ORG,
            "scopes": ["invoices:read"], "redirect_uris": [CALLBACK],
        }))
        .await;
    let registered = register_ok(
        &server,
        &json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let self_made = registered["client_id"].as_str().expect("client_id");
    code_for(&server, &admin_made, "invoices:read").await;
    code_for(&server, self_made, "invoices:read").await;
    let seen = consent.0.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![(admin_made.clone(), false), (self_made.to_owned(), true)]
    );
}
