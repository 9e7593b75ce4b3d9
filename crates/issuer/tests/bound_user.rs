//! A user-level client bound to a user (created with `user_id`) gets tokens
//! for that user only (issue 12): the consent handler is told the bound
//! user, a consent for anyone else is `access_denied` with no code, and the
//! code exchange and refresh refuse a code or grant for another user. Ids
//! match exactly: lookalikes are other users.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{ClientId, OrgId, ScopeSet, UserId};
use m2m_issuer::consent::{ConsentDecision, ConsentHandler, ConsentRequest, DevConsent};
use m2m_issuer::store::{AuthCodeRecord, GrantRecord, RefreshTokenRecord};
use serde_json::{Value, json};

use crate::common::{TestServer, claims_of, expect_oauth_error};

const CALLBACK: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Grants the user named by the request's `test_user` parameter, and
/// remembers the bound user each request showed it.
#[derive(Debug, Default)]
struct GrantsNamedUser {
    seen_bound: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl ConsentHandler for GrantsNamedUser {
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        self.seen_bound.lock().expect("lock").push(
            request
                .client_user_id
                .as_ref()
                .map(|u| u.as_str().to_owned()),
        );
        ConsentDecision::Granted {
            user_id: UserId::new(request.query_param("test_user").unwrap_or("alice")),
            org_id: OrgId::new("org_1"),
            scopes: request.scopes.clone(),
        }
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(sha256(VERIFIER.as_bytes()))
}

/// A user-level client bound to `alice`: (id, secret).
async fn alices_client(server: &mut TestServer) -> (String, String) {
    let (id, secret, created) = server
        .create_client(json!({
            "name": "alice's agent",
            "kind": "user",
            "org_id": "org_1",
            "user_id": "alice",
            "scopes": ["invoices:read"],
            "redirect_uris": [CALLBACK],
        }))
        .await;
    assert_eq!(created["user_id"], "alice");
    (id, secret)
}

/// `GET /oauth/authorize` for `client_id` with `extra` parameters; the
/// redirect's target and parameters.
async fn authorize(
    server: &TestServer,
    client_id: &str,
    extra: &[(&str, &str)],
) -> (String, HashMap<String, String>) {
    let challenge = challenge();
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let query = serde_urlencoded::to_string(&query).expect("query");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .expect("authorize");
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

async fn token(
    server: &TestServer,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token")
}

async fn exchange(server: &TestServer, id: &str, secret: &str, code: &str) -> reqwest::Response {
    token(
        server,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn grants_of(server: &mut TestServer, id: &str) -> Vec<Value> {
    let (status, list) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{id}/grants"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_bound_client_gets_no_code_for_another_user_or_a_lookalike() {
    let handler = Arc::new(GrantsNamedUser::default());
    let consent = Arc::clone(&handler);
    let mut server = TestServer::start_with(|b| b.consent(consent)).await;
    let (id, secret) = alices_client(&mut server).await;

    for other in [
        "bob",
        "Alice",
        "ALICE",
        "alice ",
        " alice",
        "alice\t",
        "alic",
        "alice2",
        "\u{0430}lice",  // Cyrillic а
        "alice\u{200b}", // zero-width space
        "ａｌｉｃｅ",    // fullwidth
    ] {
        let (base, got) = authorize(&server, &id, &[("test_user", other)]).await;
        assert_eq!(base, CALLBACK, "a redirected error for {other:?}");
        assert_eq!(got["error"], "access_denied", "{other:?}: {got:?}");
        assert_eq!(got["state"], "st-1");
        assert_eq!(got["iss"], server.base);
        assert!(!got.contains_key("code"), "no code for {other:?}");
    }
    assert!(
        grants_of(&mut server, &id).await.is_empty(),
        "no grant for anyone but alice"
    );
    assert!(
        handler
            .seen_bound
            .lock()
            .expect("lock")
            .iter()
            .all(|seen| seen.as_deref() == Some("alice")),
        "the handler is told the bound user"
    );

    // Alice herself gets her tokens.
    let (_, got) = authorize(&server, &id, &[("test_user", "alice")]).await;
    let response = exchange(&server, &id, &secret, &got["code"]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let claims = claims_of(body["access_token"].as_str().expect("access_token"));
    assert_eq!(
        (&claims["sub"], &claims["uid"]),
        (&json!("alice"), &json!("alice"))
    );
    let grants = grants_of(&mut server, &id).await;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["user_id"], "alice");

    // An unbound client still gets whoever its handler grants.
    let (unbound, _, _) = server
        .create_client(json!({
            "name": "any user's agent",
            "kind": "user",
            "org_id": "org_1",
            "scopes": ["invoices:read"],
            "redirect_uris": [CALLBACK],
        }))
        .await;
    let (_, got) = authorize(&server, &unbound, &[("test_user", "bob")]).await;
    assert!(got.contains_key("code"), "{got:?}");
    assert_eq!(
        handler.seen_bound.lock().expect("lock").last(),
        Some(&None),
        "an unbound client shows no bound user"
    );
}

#[tokio::test]
async fn dev_consent_grants_the_bound_user_and_refuses_a_login_hint_for_another() {
    let mut server =
        TestServer::start_with(|b| b.consent(Arc::new(DevConsent::new("dev_user", "dev_org"))))
            .await;
    let (id, secret) = alices_client(&mut server).await;
    for hint in ["bob", "Alice", "alice "] {
        let (_, got) = authorize(&server, &id, &[("login_hint", hint)]).await;
        assert_eq!(got["error"], "access_denied", "{hint:?}: {got:?}");
        assert!(!got.contains_key("code"));
    }
    for extra in [&[][..], &[("login_hint", "alice")][..]] {
        let (_, got) = authorize(&server, &id, extra).await;
        let response = exchange(&server, &id, &secret, &got["code"]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        let claims = claims_of(body["access_token"].as_str().expect("access_token"));
        assert_eq!(claims["uid"], "alice", "not the dev user: {extra:?}");
    }
}

/// A code or a grant for another user can only come from the store (an
/// older issuer, a restore, a bug elsewhere): the token endpoint still
/// refuses to turn it into a token for anyone but the bound user.
#[tokio::test]
async fn the_code_exchange_and_refresh_refuse_another_users_code_or_grant() {
    let handler = Arc::new(GrantsNamedUser::default());
    let mut server = TestServer::start_with(|b| b.consent(handler)).await;
    let (id, secret) = alices_client(&mut server).await;
    let now = server.now();
    let scopes = ScopeSet::parse("invoices:read").expect("scope");

    let code = "m2mc_planted_code_for_bob";
    server
        .store
        .create_auth_code(&AuthCodeRecord {
            code_hash: sha256(code.as_bytes()),
            client_id: ClientId::new(id.as_str()),
            grant_id: "m2mg_planted_code".into(),
            redirect_uri: CALLBACK.into(),
            code_challenge: challenge(),
            user_id: UserId::new("bob"),
            org_id: OrgId::new("org_1"),
            scopes: scopes.clone(),
            resources: vec![],
            created_at: now,
            expires_at: now + 60,
        })
        .await
        .expect("code stored");
    expect_oauth_error(
        exchange(&server, &id, &secret, code).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(
        grants_of(&mut server, &id).await.is_empty(),
        "no grant made"
    );

    let refresh_token = "m2mr_planted_refresh_token_for_bob";
    server
        .store
        .create_grant(
            &GrantRecord {
                grant_id: "m2mg_planted_grant".into(),
                client_id: ClientId::new(id.as_str()),
                user_id: UserId::new("Alice"),
                org_id: OrgId::new("org_1"),
                scopes: scopes.clone(),
                resources: vec![],
                created_at: now,
                revoked_at: None,
            },
            &RefreshTokenRecord {
                token_hash: sha256(refresh_token.as_bytes()),
                grant_id: "m2mg_planted_grant".into(),
                client_id: ClientId::new(id.as_str()),
                scopes,
                access_jti: "planted-jti".into(),
                access_exp: now + 3600,
                created_at: now,
                expires_at: now + 3600,
                used_at: None,
                dpop_jkt: None,
            },
        )
        .await
        .expect("grant stored");
    let response = token(
        &server,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}
