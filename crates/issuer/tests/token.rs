//! POST /oauth/token: contract section 6 and every RFC 6749 §5.2 error.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::{TestServer, expect_oauth_error};

#[tokio::test]
async fn basic_and_post_both_issue_tokens_with_the_contract_claims() {
    let mut server = TestServer::start().await;
    let (id, secret) = server
        .org_client(&["invoices:read", "invoices:write"])
        .await;

    for response in [
        server.token_basic(&id, &secret, &[]).await,
        server.token_post(&id, &secret, &[]).await,
    ] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "invoices:read invoices:write");
        let token = body["access_token"].as_str().unwrap();
        let claims = server
            .verify(token, &server.base)
            .await
            .expect("verifies with the JWKS");
        assert_eq!(claims.iss, server.base);
        assert_eq!(claims.sub, id);
        assert_eq!(claims.client_id, id.as_str());
        assert_eq!(claims.oid.as_ref().map(|o| o.as_str()), Some("org_1"));
        assert_eq!(claims.uid, None);
        assert_eq!(claims.iat, server.now());
        assert_eq!(claims.nbf, Some(server.now()));
        assert_eq!(claims.exp, server.now() + 3600);
        assert!(claims.has_scope("invoices:write"));
        assert_eq!(claims.jti.len(), 26);
    }
}

#[tokio::test]
async fn scope_selection_and_invalid_scope() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:read", "a:write"]).await;
    let response = server
        .token_basic(&id, &secret, &[("scope", "a:read")])
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "a:read");
    let claims = server
        .verify(body["access_token"].as_str().unwrap(), &server.base)
        .await
        .unwrap();
    assert!(claims.has_scope("a:read") && !claims.has_scope("a:write"));

    let response = server
        .token_basic(&id, &secret, &[("scope", "a:read a:admin")])
        .await;
    expect_oauth_error(response, 400, "invalid_scope").await;
    let response = server
        .token_basic(&id, &secret, &[("scope", "bad\"scope")])
        .await;
    expect_oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]
async fn service_clients_get_their_audiences_and_invalid_target_otherwise() {
    let mut server = TestServer::start().await;
    let (id, secret, created) = server
        .create_client(json!({
            "name": "billing", "kind": "service", "scopes": ["x:y"],
            "audiences": ["https://a.example.com", "https://b.example.com"]
        }))
        .await;
    assert_eq!(created["org_id"], Value::Null);

    let all = server.token(&id, &secret, &[]).await;
    let claims = server.verify(&all, "https://a.example.com").await.unwrap();
    assert!(
        claims.aud.contains("https://a.example.com")
            && claims.aud.contains("https://b.example.com")
    );
    assert_eq!(
        claims.oid, None,
        "a service client without org_id carries no oid"
    );

    let one = server
        .token(&id, &secret, &[("resource", "https://b.example.com")])
        .await;
    let claims = server.verify(&one, "https://b.example.com").await.unwrap();
    assert!(!claims.aud.contains("https://a.example.com"));
    assert!(server.verify(&one, "https://a.example.com").await.is_err());

    let by_audience = server
        .token(&id, &secret, &[("audience", "https://a.example.com")])
        .await;
    assert!(
        server
            .verify(&by_audience, "https://a.example.com")
            .await
            .is_ok()
    );

    let both = server
        .token(
            &id,
            &secret,
            &[
                ("resource", "https://a.example.com"),
                ("resource", "https://b.example.com"),
            ],
        )
        .await;
    let claims = server.verify(&both, "https://b.example.com").await.unwrap();
    assert_eq!(
        claims.aud.iter().count(),
        2,
        "resource may be repeated (RFC 8707)"
    );

    let response = server
        .token_basic(&id, &secret, &[("resource", "https://evil.example.com")])
        .await;
    expect_oauth_error(response, 400, "invalid_target").await;
    let response = server
        .token_basic(&id, &secret, &[("audience", "https://evil.example.com")])
        .await;
    expect_oauth_error(response, 400, "invalid_target").await;

    // An org client has no audiences: it gets the issuer's default, and only that.
    let (org, org_secret) = server.org_client(&["x:y"]).await;
    let token = server.token(&org, &org_secret, &[]).await;
    assert!(server.verify(&token, &server.base).await.is_ok());
    let response = server
        .token_basic(&org, &org_secret, &[("resource", "https://a.example.com")])
        .await;
    expect_oauth_error(response, 400, "invalid_target").await;
}

#[tokio::test]
async fn invalid_client_is_the_same_for_every_reason() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let (disabled, disabled_secret) = server.org_client(&["a:b"]).await;
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{disabled}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    // A client whose only working secret has expired.
    let (expiring, _) = server.org_client(&["a:b"]).await;
    let expires_at = m2m_issuer_rfc3339(server.now() + 60);
    let (status, added) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{expiring}/secrets"),
            Some(json!({"expires_at": expires_at})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let expiring_secret = added["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .token_basic(&expiring, &expiring_secret, &[])
            .await
            .status(),
        200
    );
    server.advance(61);

    let mut bodies = Vec::new();
    for (who, client, secret) in [
        ("unknown client", "m2m_doesnotexist", secret.as_str()),
        ("wrong secret", id.as_str(), "m2ms_wrong"),
        (
            "disabled client",
            disabled.as_str(),
            disabled_secret.as_str(),
        ),
        (
            "expired secret",
            expiring.as_str(),
            expiring_secret.as_str(),
        ),
    ] {
        let response = server.token_basic(client, secret, &[]).await;
        let (headers, body) = expect_oauth_error(response, 401, "invalid_client").await;
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm="),
            "{who}: a Basic challenge after Basic"
        );
        bodies.push(body);
        let response = server.token_post(client, secret, &[]).await;
        let (headers, body) = expect_oauth_error(response, 401, "invalid_client").await;
        assert!(
            !headers.contains_key("www-authenticate"),
            "{who}: no Basic challenge after post"
        );
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "no oracle: {bodies:?}"
    );
}

fn m2m_issuer_rfc3339(seconds: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let url = server.url("/oauth/token");
    let http = &server.http;

    // No content type, then JSON.
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let (headers, _) = expect_oauth_error(response, 400, "invalid_request").await;
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    // A repeated parameter.
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=a:b&scope=a:b")
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    // Both authentication methods at once.
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    // No grant_type.
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .form(&[("scope", "a:b")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    // Bad form encoding: bytes that are not UTF-8, raw or percent-encoded,
    // and a broken escape. Refused as such, before the credentials are
    // looked at (none, or good ones), never decoded into something else.
    let bad_bodies: [&[u8]; 4] = [
        &[0xff, b'=', 0xfe],
        b"grant_type=client_credentials&scope=a:b%FF",
        b"grant_type=client_credentials&scope%C3=a:b",
        b"grant_type=client_credentials&scope=a:b%zz",
    ];
    for body in bad_bodies {
        for credentials in [None, Some((&id, &secret))] {
            let mut request = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_vec());
            if let Some((id, secret)) = credentials {
                request = request.basic_auth(id, Some(secret));
            }
            let response = request.send().await.unwrap();
            let (_, error) = expect_oauth_error(response, 400, "invalid_request").await;
            assert_eq!(
                error["error_description"],
                "the body is not valid form encoding",
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // An oversized body.
    let response = http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(20_000)
        ))
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 413, "invalid_request").await;

    // No client authentication at all.
    let response = http
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (headers, _) = expect_oauth_error(response, 401, "invalid_client").await;
    assert!(headers.contains_key("www-authenticate"));
    // Garbage in Basic.
    let response = http
        .post(&url)
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn grant_type_errors() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for grant in ["authorization_code", "refresh_token", "password", "urn:x"] {
        let response = server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", grant), ("code", "c"), ("refresh_token", "r")])
            .send()
            .await
            .unwrap();
        expect_oauth_error(response, 400, "unsupported_grant_type").await;
    }
    // A user-level client may not use client credentials.
    let (user, user_secret, _) = server
        .create_client(
            json!({"name": "u", "kind": "user", "org_id": "o", "user_id": "u1", "scopes": ["a:b"]}),
        )
        .await;
    let response = server.token_basic(&user, &user_secret, &[]).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_inside_basic() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64.
    let encoded_id = format!("%{:02X}{}", id.as_bytes()[0], &id[1..]);
    let raw = format!("{encoded_id}:{secret}");
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .header("authorization", header)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn failed_authentication_is_throttled_per_client_and_per_address() {
    let mut server = TestServer::start_with(|b| {
        b.throttle(m2m_issuer::ThrottleConfig {
            max_failures_per_client: 3,
            max_failures_per_address: 6,
            window_secs: 60,
            ..Default::default()
        })
    })
    .await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for _ in 0..3 {
        let response = server.token_basic(&id, "m2ms_wrong", &[]).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    // Failures wait now; the right secret does not (contract section 6).
    let response = server.token_basic(&id, "m2ms_wrong", &[]).await;
    let (headers, _) = expect_oauth_error(response, 429, "slow_down").await;
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 200);

    // Other clients' failures from this address count until the address limit.
    let (other, other_secret) = server.org_client(&["a:b"]).await;
    for i in 0..3 {
        let response = server
            .token_basic(&format!("m2m_unknown{i}"), "m2ms_x", &[])
            .await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    let response = server.token_basic(&other, "m2ms_wrong", &[]).await;
    expect_oauth_error(response, 429, "slow_down").await;
    assert_eq!(
        server
            .token_basic(&other, &other_secret, &[])
            .await
            .status(),
        200
    );

    server.advance(61);
    let response = server.token_basic(&id, "m2ms_wrong", &[]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let mut server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
    let token = server.admin_token().await;
    let response = server
        .http
        .put(server.url("/admin/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
}
