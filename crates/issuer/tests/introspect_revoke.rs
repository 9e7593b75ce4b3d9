//! RFC 7662 introspection, RFC 7009 revocation and the revocation feed.

use serde_json::{Value, json};

use crate::common::{TestServer, expect_oauth_error, in_process_verdict};

async fn introspect(server: &TestServer, id: &str, secret: &str, token: &str) -> Value {
    let response = server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(server: &TestServer, id: &str, secret: &str, token: &str) -> u16 {
    server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn feed(server: &TestServer, since: Option<&str>) -> Value {
    let url = match since {
        Some(cursor) => server.url(&format!("/oauth/revocations?since={cursor}")),
        None => server.url("/oauth/revocations"),
    };
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn introspection_shows_own_tokens_admins_see_all_others_see_nothing() {
    let mut server = TestServer::start().await;
    let (a, a_secret) = server.org_client(&["x:read"]).await;
    let (b, b_secret) = server.org_client(&["x:read"]).await;
    let (admin, admin_secret) = server.admin_credentials().await;
    let token = server.token(&a, &a_secret, &[]).await;

    let own = introspect(&server, &a, &a_secret, &token).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], a);
    assert_eq!(own["sub"], a);
    assert_eq!(own["scope"], "x:read");
    assert_eq!(own["iss"], server.base);
    assert_eq!(own["aud"], server.base);
    assert_eq!(own["oid"], "org_1");
    assert_eq!(own["token_type"], "Bearer");
    assert_eq!(own["exp"], server.now() + 3600);
    for claim in ["iat", "nbf", "jti"] {
        assert!(own.get(claim).is_some(), "{claim}");
    }

    assert_eq!(
        introspect(&server, &b, &b_secret, &token).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&server, &admin, &admin_secret, &token).await["active"],
        true
    );
    assert_eq!(
        introspect(&server, &a, &a_secret, "garbage").await,
        json!({"active": false})
    );

    // The caller must authenticate.
    let response = server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(&a, Some("m2ms_wrong"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 401, "invalid_client").await;
    let response = server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(&a, Some(&a_secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(response, 400, "invalid_request").await;

    server.advance(3600 + 61);
    assert_eq!(
        introspect(&server, &a, &a_secret, &token).await,
        json!({"active": false}),
        "expired"
    );
}

#[tokio::test]
async fn revocation_and_the_feed() {
    let mut server = TestServer::start().await;
    let (a, a_secret) = server.org_client(&["x:read"]).await;
    let (b, b_secret) = server.org_client(&["x:read"]).await;
    let token = server.token(&a, &a_secret, &[]).await;
    let jti = server.verify(&token, &server.base).await.unwrap().jti;

    let start = feed(&server, None).await;
    assert_eq!(start["revoked_jtis"], json!([]));
    let cursor = start["cursor"].as_str().unwrap().to_owned();

    // Another client's attempt, and garbage, change nothing.
    assert_eq!(revoke(&server, &b, &b_secret, &token).await, 200);
    assert_eq!(revoke(&server, &a, &a_secret, "not-a-token").await, 200);
    assert_eq!(
        introspect(&server, &a, &a_secret, &token).await["active"],
        true
    );
    assert_eq!(
        feed(&server, Some(&cursor)).await["revoked_jtis"],
        json!([])
    );

    assert!(
        in_process_verdict(&server.issuer, &server.base, &token)
            .await
            .is_ok()
    );
    assert_eq!(revoke(&server, &a, &a_secret, &token).await, 200);
    assert_eq!(
        introspect(&server, &a, &a_secret, &token).await,
        json!({"active": false})
    );
    assert_eq!(
        revoke(&server, &a, &a_secret, &token).await,
        200,
        "idempotent"
    );
    assert_eq!(
        in_process_verdict(&server.issuer, &server.base, &token).await,
        Err(m2m_guard::Rejection::Revoked),
        "in-process guards refuse it at once"
    );

    let page = feed(&server, Some(&cursor)).await;
    let exp = server.now() + 3600;
    assert_eq!(page["revoked_jtis"], json!([{"jti": jti, "exp": exp}]));
    let typed: m2m_core::RevocationFeed =
        serde_json::from_value(page.clone()).expect("the guard's type");
    assert_eq!(typed.revoked_jtis.len(), 1);
    let next = page["cursor"].as_str().unwrap().to_owned();
    let again = feed(&server, Some(&next)).await;
    assert_eq!(
        again["revoked_jtis"],
        json!([]),
        "only entries after the cursor"
    );
    assert_eq!(again["cursor"], next.as_str());

    for bad in ["%%%", "bm90IGEgY3Vyc29y", "AAAA"] {
        let response = server
            .http
            .get(server.url(&format!("/oauth/revocations?since={bad}")))
            .send()
            .await
            .unwrap();
        expect_oauth_error(response, 400, "invalid_request").await;
    }

    // A revoked token no longer opens the admin API either.
    let admin_token = server.admin_token().await;
    let (admin, admin_secret) = server.admin_credentials().await;
    assert_eq!(
        revoke(&server, &admin, &admin_secret, &admin_token).await,
        200
    );
    let response = server
        .http
        .get(server.url("/admin/clients"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
