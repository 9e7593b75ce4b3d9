//! Public clients (`token_endpoint_auth_method: none`), RFC 8707 `resource`
//! at the authorization endpoint, and the metadata MCP clients read. Every
//! test runs over a real TCP listener.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_issuer::consent::DevConsent;
use serde_json::{Value, json};

use crate::common::{TestServer, claims_of, expect_oauth_error, in_process_verdict};

const CALLBACK: &str = "https://agent.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const MCP: &str = "https://mcp.example.com/mcp";
const OTHER: &str = "https://other.example.com/api";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ))
}

async fn server() -> TestServer {
    TestServer::start_with(|b| {
        b.consent(Arc::new(DevConsent::new("dev_user", "org_1")))
            .scopes_supported(["invoices:read", "invoices:write"])
    })
    .await
}

/// A public user-level client allowed two resources; returns its id and the
/// 201 body.
async fn public_client(server: &mut TestServer) -> (String, Value) {
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "name": "mcp agent",
                "kind": "user",
                "org_id": "org_1",
                "scopes": ["invoices:read", "invoices:write"],
                "audiences": [MCP, OTHER],
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().expect("client_id").to_owned();
    (id, created)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn authorize(server: &TestServer, params: &[(&str, &str)]) -> reqwest::Response {
    let query = serde_urlencoded::to_string(params).expect("query");
    no_redirects()
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .expect("authorize")
}

fn request<'a>(client_id: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "st-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The parameters of a 302 back to [`CALLBACK`].
fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302, "expected a redirect");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location");
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, CALLBACK);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    params.into_iter().collect()
}

async fn code_for(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge();
    let mut params = request(client_id, &challenge);
    params.extend_from_slice(extra);
    let redirect = redirect_params(&authorize(server, &params).await);
    assert_eq!(redirect["state"], "st-1");
    assert_eq!(redirect["iss"], server.base);
    redirect
        .get("code")
        .unwrap_or_else(|| panic!("a code, got {redirect:?}"))
        .clone()
}

/// A token request with `client_id` in the form and no secret.
async fn token_public(server: &TestServer, form: &[(&str, &str)]) -> reqwest::Response {
    server
        .http
        .post(server.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("token")
}

async fn exchange(
    server: &TestServer,
    client_id: &str,
    code: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    token_public(server, &form).await
}

async fn refresh(
    server: &TestServer,
    client_id: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", token),
    ];
    form.extend_from_slice(extra);
    token_public(server, &form).await
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn metadata(server: &TestServer) -> Value {
    server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_public_client_authorizes_with_pkce_and_refreshes_by_rotation_with_reuse_detection() {
    let mut server = server().await;
    let (id, created) = public_client(&mut server).await;
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert!(created.get("secret_id").is_none(), "{created}");
    let (_, shown) = server
        .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(shown["token_endpoint_auth_method"], "none");
    assert_eq!(shown["secrets"], json!([]));

    // Authorize for the MCP server only; exchange with the client_id alone.
    let code = code_for(&server, &id, &[("resource", MCP)]).await;
    let first = ok_json(exchange(&server, &id, &code, &[]).await).await;
    let access = first["access_token"].as_str().expect("access_token");
    assert_eq!(
        claims_of(access)["aud"],
        MCP,
        "the token is for the resource"
    );
    assert_eq!(claims_of(access)["uid"], "dev_user");
    let rt1 = first["refresh_token"].as_str().expect("refresh_token");

    // Each refresh rotates and keeps the resource.
    let second = ok_json(refresh(&server, &id, rt1, &[]).await).await;
    let rt2 = second["refresh_token"].as_str().expect("refresh_token");
    assert_ne!(rt1, rt2, "the refresh token rotates");
    let access2 = second["access_token"].as_str().expect("access_token");
    assert_eq!(claims_of(access2)["aud"], MCP);

    // The old one again: refused, and the whole grant goes.
    expect_oauth_error(refresh(&server, &id, rt1, &[]).await, 400, "invalid_grant").await;
    expect_oauth_error(refresh(&server, &id, rt2, &[]).await, 400, "invalid_grant").await;
    for token in [access, access2] {
        assert!(
            in_process_verdict(&server.issuer, MCP, token)
                .await
                .is_err(),
            "the grant's access tokens are revoked"
        );
    }
}

#[tokio::test]
async fn resource_is_bound_into_the_grant_and_refresh_may_only_narrow_to_it() {
    let mut server = server().await;
    let (id, _) = public_client(&mut server).await;

    // Several resources (RFC 8707): the token is for both.
    let code = code_for(&server, &id, &[("resource", OTHER), ("resource", MCP)]).await;
    let body = ok_json(exchange(&server, &id, &code, &[]).await).await;
    let aud = &claims_of(body["access_token"].as_str().expect("at"))["aud"];
    assert_eq!(aud, &json!([MCP, OTHER]));
    let rt = body["refresh_token"].as_str().expect("rt");
    // A refresh may pick one of them.
    let narrowed = ok_json(refresh(&server, &id, rt, &[("resource", MCP)]).await).await;
    assert_eq!(
        claims_of(narrowed["access_token"].as_str().expect("at"))["aud"],
        MCP
    );

    // Bound to one: another the client is allowed is still refused.
    let code = code_for(&server, &id, &[("resource", MCP)]).await;
    let (_, error) = expect_oauth_error(
        exchange(&server, &id, &code, &[("resource", OTHER)]).await,
        400,
        "invalid_target",
    )
    .await;
    assert!(error["error_description"].as_str().is_some());
    let code = code_for(&server, &id, &[("resource", MCP)]).await;
    let body = ok_json(exchange(&server, &id, &code, &[("resource", MCP)]).await).await;
    let rt = body["refresh_token"].as_str().expect("rt");
    expect_oauth_error(
        refresh(&server, &id, rt, &[("resource", OTHER)]).await,
        400,
        "invalid_target",
    )
    .await;
    // The refused refresh did not use the token up.
    let kept = ok_json(refresh(&server, &id, rt, &[]).await).await;
    assert_eq!(
        claims_of(kept["access_token"].as_str().expect("at"))["aud"],
        MCP
    );

    // No resource at authorize: the token is for all the client's audiences.
    let code = code_for(&server, &id, &[]).await;
    let body = ok_json(exchange(&server, &id, &code, &[]).await).await;
    assert_eq!(
        claims_of(body["access_token"].as_str().expect("at"))["aud"],
        json!([MCP, OTHER])
    );
}

#[tokio::test]
async fn a_resource_the_client_may_not_have_is_an_invalid_target_redirect() {
    let mut server = server().await;
    let (id, _) = public_client(&mut server).await;
    let challenge = challenge();
    let mut params = request(&id, &challenge);
    params.push(("resource", MCP));
    params.push(("resource", "https://evil.example.com/"));
    let redirect = redirect_params(&authorize(&server, &params).await);
    assert_eq!(redirect["error"], "invalid_target");
    assert_eq!(redirect["state"], "st-1");
    assert_eq!(redirect["iss"], server.base);
    assert!(!redirect.contains_key("code"));

    // With an unregistered redirect_uri nothing is sent anywhere.
    params[2] = ("redirect_uri", "https://evil.example.com/cb");
    let response = authorize(&server, &params).await;
    assert!(response.headers().get("location").is_none());
    expect_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_public_client_must_use_pkce_s256() {
    let mut server = server().await;
    let (id, _) = public_client(&mut server).await;
    let challenge = challenge();
    let without: Vec<(&str, &str)> = request(&id, &challenge)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("code_challenge"))
        .collect();
    let redirect = redirect_params(&authorize(&server, &without).await);
    assert_eq!(redirect["error"], "invalid_request");
    assert!(redirect["error_description"].contains("PKCE"));
    assert!(!redirect.contains_key("code"));

    let mut plain = request(&id, &challenge);
    plain[5] = ("code_challenge_method", "plain");
    let redirect = redirect_params(&authorize(&server, &plain).await);
    assert_eq!(redirect["error"], "invalid_request");

    // A code exchanged with the wrong verifier fails.
    let code = code_for(&server, &id, &[]).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let wrong = "x".repeat(43);
    form.push(("code_verifier", wrong.as_str()));
    expect_oauth_error(token_public(&server, &form).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn public_clients_authenticate_only_with_their_client_id_and_only_where_allowed() {
    let mut server = server().await;
    let (id, _) = public_client(&mut server).await;

    // Attack: client credentials with a public client's id, which proves nothing.
    let response = token_public(
        &server,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    expect_oauth_error(response, 400, "unauthorized_client").await;

    // A secret is not this client's method: invalid_client, in Basic or the body.
    let code = code_for(&server, &id, &[]).await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&id, Some("m2ms_guessed"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    let (headers, _) = expect_oauth_error(response, 401, "invalid_client").await;
    assert!(headers.get("www-authenticate").is_some());
    let response = exchange(&server, &id, &code, &[("client_secret", "m2ms_guessed")]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    // The code was not consumed by the refused requests.
    let body = ok_json(exchange(&server, &id, &code, &[]).await).await;
    let access = body["access_token"].as_str().expect("at").to_owned();
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();

    // Introspection needs a confidential client.
    let response = server
        .http
        .post(server.url("/oauth/introspect"))
        .form(&[("client_id", id.as_str()), ("token", access.as_str())])
        .send()
        .await
        .expect("introspect");
    expect_oauth_error(response, 401, "invalid_client").await;

    // Revocation (RFC 7009 §2.1) works with the client_id alone: the grant goes.
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("client_id", id.as_str()), ("token", rt.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    expect_oauth_error(refresh(&server, &id, &rt, &[]).await, 400, "invalid_grant").await;
    assert!(
        in_process_verdict(&server.issuer, MCP, &access)
            .await
            .is_err()
    );

    // A confidential client that sends no secret is invalid_client, as before.
    let (org_id, _) = server.org_client(&["invoices:read"]).await;
    let response = token_public(
        &server,
        &[("grant_type", "client_credentials"), ("client_id", &org_id)],
    )
    .await;
    let (headers, _) = expect_oauth_error(response, 401, "invalid_client").await;
    assert!(
        headers.get("www-authenticate").is_none(),
        "no Basic was used"
    );

    // A disabled public client gets nothing.
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let response = exchange(&server, &id, "m2mc_whatever", &[]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn token_endpoint_auth_method_rules_at_registration() {
    let mut server = server().await;
    let create = |body: Value| {
        let mut base = json!({"name": "c", "scopes": ["a:b"]});
        for (k, v) in body.as_object().expect("object") {
            base[k] = v.clone();
        }
        base
    };
    for (body, needle) in [
        (
            json!({"kind": "service", "audiences": ["https://api"], "token_endpoint_auth_method": "none"}),
            "kind user",
        ),
        (
            json!({"kind": "org", "org_id": "o", "token_endpoint_auth_method": "none"}),
            "kind user",
        ),
        (
            json!({"kind": "user", "org_id": "o", "token_endpoint_auth_method": "private_key_jwt"}),
            "needs jwks or jwks_uri",
        ),
        (
            json!({"kind": "user", "org_id": "o", "token_endpoint_auth_method": "client_secret_jwt"}),
            "must be",
        ),
    ] {
        let (status, error) = server
            .admin(reqwest::Method::POST, "/admin/clients", Some(create(body)))
            .await;
        assert_eq!(status, 422, "{error}");
        assert!(
            error["error_description"]
                .as_str()
                .is_some_and(|d| d.contains(needle)),
            "{error}"
        );
    }

    // The default, and client_secret_post, work with either way of sending the secret.
    let (id, secret, created) = server
        .create_client(create(json!({"kind": "org", "org_id": "o", "token_endpoint_auth_method": "client_secret_post"})))
        .await;
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_post");
    server.token(&id, &secret, &[]).await;
    let response = server.token_post(&id, &secret, &[]).await;
    assert_eq!(response.status(), 200);
    let (_, _, plain) = server
        .create_client(create(json!({"kind": "org", "org_id": "o"})))
        .await;
    assert_eq!(plain["token_endpoint_auth_method"], "client_secret_basic");

    // A public client has no secrets to add.
    let (public_id, _) = public_client(&mut server).await;
    let secrets = format!("/admin/clients/{public_id}/secrets");
    let (status, error) = server.admin(reqwest::Method::POST, &secrets, None).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("public"))
    );

    // A confidential user client becomes public only once its secrets are gone.
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(
                json!({"name": "u", "kind": "user", "org_id": "org_1", "scopes": ["a:b"],
                        "redirect_uris": [CALLBACK]}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let user_id = created["client_id"].as_str().expect("id");
    let secret_id = created["secret_id"].as_str().expect("secret_id");
    let path = format!("/admin/clients/{user_id}");
    let to_public = json!({"token_endpoint_auth_method": "none"});
    let (status, error) = server
        .admin(reqwest::Method::PATCH, &path, Some(to_public.clone()))
        .await;
    assert_eq!(status, 422, "{error}");
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("{path}/secrets/{secret_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, changed) = server
        .admin(reqwest::Method::PATCH, &path, Some(to_public))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["token_endpoint_auth_method"], "none");
    // And back: confidential again, with a new secret.
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .admin(reqwest::Method::POST, &format!("{path}/secrets"), None)
        .await;
    assert_eq!(status, 201);
    // A service client cannot be made public.
    let (svc_id, _, _) = server
        .create_client(create(
            json!({"kind": "service", "audiences": ["https://api"]}),
        ))
        .await;
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{svc_id}"),
            Some(json!({"token_endpoint_auth_method": "none"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn metadata_with_a_consent_handler_offers_public_clients_and_the_configured_scopes() {
    let server = server().await;
    let metadata = metadata(&server).await;
    assert_eq!(
        metadata["authorization_endpoint"],
        server.url("/oauth/authorize")
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        metadata["revocation_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        metadata["introspection_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        metadata["scopes_supported"],
        json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
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
}

#[tokio::test]
async fn an_invalid_scopes_supported_is_a_configuration_error() {
    let result = m2m_issuer::Issuer::builder(
        "https://example.com/auth",
        m2m_issuer::store::MemoryStore::new(),
    )
    .scopes_supported(["fine", "not fine"])
    .build()
    .await;
    assert!(matches!(result, Err(m2m_issuer::IssuerError::Config(_))));
}
