//! The admin API: contract section 7 and its protection (section 9).

use std::sync::Arc;

use m2m_issuer::LAST_USED_GRANULARITY_SECS;
use m2m_issuer::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{T0, TestServer, expect_oauth_error, in_process_verdict};
use crate::slow_store::SlowStore;

#[tokio::test]
async fn create_returns_the_client_fields_and_a_secret_shown_once() {
    let mut server = TestServer::start().await;
    let (id, secret, created) = server
        .create_client(json!({
            "name": "Zapier", "kind": "org", "org_id": "org_42",
            "scopes": ["invoices:read"], "token_ttl_seconds": 900,
            "metadata": {"team": "growth"}
        }))
        .await;
    assert!(id.starts_with("m2m_"));
    assert!(secret.starts_with("m2ms_"));
    for field in [
        "name",
        "kind",
        "org_id",
        "user_id",
        "scopes",
        "audiences",
        "token_ttl_seconds",
        "metadata",
        "enabled",
        "created_at",
        "secret_id",
    ] {
        assert!(
            created.get(field).is_some(),
            "create response lacks {field}: {created}"
        );
    }
    assert_eq!(created["kind"], "org");
    assert_eq!(created["scopes"], json!(["invoices:read"]));
    assert_eq!(created["token_ttl_seconds"], 900);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["metadata"], json!({"team": "growth"}));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, shown) = server
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(shown["client_id"], id);
    assert!(
        shown.get("client_secret").is_none(),
        "a secret is shown once"
    );
    assert!(!shown.to_string().contains(&secret));
    assert_eq!(shown["secrets"][0]["secret_id"], created["secret_id"]);
    assert!(shown["secrets"][0].get("hash").is_none());

    let body: Value = server
        .token_basic(&id, &secret, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_in"], 900, "the client's TTL");
}

#[tokio::test]
async fn validation_errors_are_422_and_bad_json_400_and_wrong_type_415() {
    let mut server = TestServer::start().await;
    let base = json!({"name": "n", "kind": "org", "org_id": "o", "scopes": ["a:b"]});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (why, body) in [
        ("ttl below 300", with("token_ttl_seconds", json!(299))),
        ("ttl above 86400", with("token_ttl_seconds", json!(86_401))),
        ("unknown field", with("colour", json!("red"))),
        ("bad scope", with("scopes", json!(["has space"]))),
        ("unknown kind", with("kind", json!("robot"))),
        (
            "org without org_id",
            json!({"name": "n", "kind": "org", "scopes": []}),
        ),
        (
            "service without audience",
            json!({"name": "n", "kind": "service", "scopes": []}),
        ),
        ("org with user_id", with("user_id", json!("u"))),
        ("empty name", with("name", json!(""))),
        ("long name", with("name", json!("x".repeat(201)))),
        (
            "too many scopes",
            with(
                "scopes",
                json!((0..101).map(|i| format!("s:{i}")).collect::<Vec<_>>()),
            ),
        ),
        ("metadata not an object", with("metadata", json!([1]))),
        (
            "metadata too big",
            with("metadata", json!({"k": "x".repeat(9000)})),
        ),
        ("bad org id", with("org_id", json!("has space"))),
        ("wrong type", with("scopes", json!("a:b"))),
        (
            "missing name",
            json!({"kind": "org", "org_id": "o", "scopes": []}),
        ),
    ] {
        let (status, error) = server
            .admin(Method::POST, "/admin/clients", Some(body))
            .await;
        assert_eq!(status, 422, "{why}: {error}");
        assert!(
            error["error"].is_string() && error["error_description"].is_string(),
            "{why}"
        );
    }
    for ttl in [300, 86_400] {
        let (status, _) = server
            .admin(
                Method::POST,
                "/admin/clients",
                Some(with("token_ttl_seconds", json!(ttl))),
            )
            .await;
        assert_eq!(status, 201, "ttl {ttl} is within bounds");
    }

    let token = server.admin_token().await;
    let response = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    let response = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    let response = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"name\":\"{}\"}}", "x".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Nothing above created a client (2 TTL-bound ones + the admin).
    let (_, list) = server.admin(Method::GET, "/admin/clients", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn unknown_clients_are_404_and_unknown_paths_stay_404() {
    let mut server = TestServer::start().await;
    for (method, path) in [
        (Method::GET, "/admin/clients/m2m_nope"),
        (Method::PATCH, "/admin/clients/m2m_nope"),
        (Method::DELETE, "/admin/clients/m2m_nope"),
        (Method::POST, "/admin/clients/m2m_nope/secrets"),
        (Method::DELETE, "/admin/clients/m2m_nope/secrets/sec_x"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
        let (status, error) = server.admin(method.clone(), path, body).await;
        assert_eq!(status, 404, "{method} {path}: {error}");
        assert_eq!(error["error"], "not_found");
    }
    // Without any token, an unknown path is 404, not 401.
    let response = server
        .http
        .get(server.url("/admin/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn five_secrets_work_a_sixth_is_409_and_deleting_one_fails_exactly_it() {
    let mut server = TestServer::start().await;
    let (id, first) = server.org_client(&["a:b"]).await;
    let mut secrets = vec![(String::new(), first)];
    let (_, shown) = server
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    secrets[0].0 = shown["secrets"][0]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        let (status, added) = server
            .admin(Method::POST, &format!("/admin/clients/{id}/secrets"), None)
            .await;
        assert_eq!(status, 201, "{added}");
        assert!(added["created_at"].is_string());
        assert!(added.get("expires_at").is_none());
        secrets.push((
            added["secret_id"].as_str().unwrap().to_owned(),
            added["client_secret"].as_str().unwrap().to_owned(),
        ));
    }
    for (_, secret) in &secrets {
        assert_eq!(server.token_basic(&id, secret, &[]).await.status(), 200);
    }
    let (status, error) = server
        .admin(
            Method::POST,
            &format!("/admin/clients/{id}/secrets"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409, "{error}");

    let (gone_id, gone_secret) = secrets.remove(2);
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/clients/{id}/secrets/{gone_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let response = server.token_basic(&id, &gone_secret, &[]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    for (_, secret) in &secrets {
        assert_eq!(
            server.token_basic(&id, secret, &[]).await.status(),
            200,
            "the others still work"
        );
    }
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/clients/{id}/secrets/{gone_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A past expiry is refused; a future one is shown.
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/admin/clients/{id}/secrets"),
            Some(json!({"expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, added) = server
        .admin(
            Method::POST,
            &format!("/admin/clients/{id}/secrets"),
            Some(json!({"expires_at": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(added["expires_at"], "2099-01-01T00:00:00Z");
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/admin/clients/{id}/secrets"),
            Some(json!({"expires_at": "soon"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_a_minute_per_secret() {
    let store = Arc::new(SlowStore::default());
    let mut server = TestServer::start_on(Arc::clone(&store) as Arc<dyn Store>, |b| b)
        .await
        .expect("server");
    let (id, secret, created) = server
        .create_client(json!({"name": "c", "kind": "org", "org_id": "o", "scopes": ["a:b"]}))
        .await;
    let secret_id = created["secret_id"].as_str().expect("secret_id").to_owned();
    assert_eq!(
        server.last_used_at(&id, &secret_id).await,
        None,
        "never used"
    );

    server.token(&id, &secret, &[]).await;
    server.wait_last_used(&id, &secret_id, T0).await;

    // Within the minute: used, not written.
    server.advance(LAST_USED_GRANULARITY_SECS - 1);
    server.token(&id, &secret, &[]).await;
    // Another secret of the same client has its own minute.
    let (status, added) = server
        .admin(Method::POST, &format!("/admin/clients/{id}/secrets"), None)
        .await;
    assert_eq!(status, 201, "{added}");
    let other_id = added["secret_id"].as_str().expect("secret_id").to_owned();
    let other = added["client_secret"].as_str().expect("secret").to_owned();
    server.token(&id, &other, &[]).await;
    let other_used = T0 + LAST_USED_GRANULARITY_SECS - 1;
    server.wait_last_used(&id, &other_id, other_used).await;

    // A minute after the last write: written again.
    server.advance(1);
    server.token(&id, &secret, &[]).await;
    let minute_later = T0 + LAST_USED_GRANULARITY_SECS;
    server.wait_last_used(&id, &secret_id, minute_later).await;
    assert_eq!(
        store.touches_of(&secret_id),
        [T0, minute_later],
        "three uses of the secret, one write per minute"
    );
    assert_eq!(store.touches_of(&other_id), [other_used]);
}

#[tokio::test]
async fn patch_changes_fields_and_disabling_revokes() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b", "c:d"]).await;
    let old_token = server.token(&id, &secret, &[]).await;
    let (status, patched) = server
        .admin(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"name": "renamed", "scopes": ["a:b"], "token_ttl_seconds": 600})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["scopes"], json!(["a:b"]));
    // Narrowing the scopes is a client-level revocation: the token issued
    // before it is refused at once, though its signature is still good.
    assert!(
        in_process_verdict(&server.issuer, &server.base, &old_token)
            .await
            .is_err(),
        "an in-process guard still accepts a token issued before the narrowing"
    );
    let introspected = server.introspect(&id, &secret, &old_token).await;
    assert_eq!(
        introspected,
        json!({"active": false}),
        "introspection after the narrowing"
    );
    assert!(server.verify(&old_token, &server.base).await.is_ok());

    // The revocation covers the client-cache window after the change (a
    // token minted from another replica's cache); past it, new tokens
    // carry the new fields and are good.
    server.advance(3);
    let body: Value = server
        .token_basic(&id, &secret, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "a:b", "the change applies at once");
    assert_eq!(body["expires_in"], 600);
    let fresh = body["access_token"].as_str().expect("token");
    assert_eq!(
        in_process_verdict(&server.issuer, &server.base, fresh).await,
        Ok(()),
        "a token issued after the window"
    );
    assert_eq!(server.introspect(&id, &secret, fresh).await["active"], true);

    for (why, body) in [
        ("kind is not patchable", json!({"kind": "service"})),
        ("ttl out of range", json!({"token_ttl_seconds": 10})),
        ("unknown field", json!({"nope": 1})),
    ] {
        let (status, _) = server
            .admin(Method::PATCH, &format!("/admin/clients/{id}"), Some(body))
            .await;
        assert_eq!(status, 422, "{why}");
    }

    let (status, _) = server
        .admin(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    expect_oauth_error(
        server.token_basic(&id, &secret, &[]).await,
        401,
        "invalid_client",
    )
    .await;
    let feed: Value = server
        .http
        .get(server.url("/oauth/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        feed["revoked_clients"][0]["client_id"], id,
        "disabling revokes its live tokens"
    );
    assert!(
        server.verify(&old_token, &server.base).await.is_ok(),
        "the signature is still fine"
    );
}

#[tokio::test]
async fn delete_removes_the_client_and_lists_it_in_the_feed() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let (status, body) = server
        .admin(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null);
    expect_oauth_error(
        server.token_basic(&id, &secret, &[]).await,
        401,
        "invalid_client",
    )
    .await;
    let (status, _) = server
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let feed: Value = server
        .http
        .get(server.url("/oauth/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(feed["revoked_clients"][0]["client_id"], id);
}

#[tokio::test]
async fn listing_filters_and_pages_with_opaque_cursors() {
    let mut server = TestServer::start().await;
    for i in 0..5 {
        server
            .create_client(json!({"name": format!("c{i}"), "kind": "org", "org_id": if i % 2 == 0 { "even" } else { "odd" }, "scopes": []}))
            .await;
    }
    server
        .create_client(
            json!({"name": "svc", "kind": "service", "audiences": ["https://x"], "scopes": []}),
        )
        .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/clients?limit=2&cursor={c}"),
            None => "/admin/clients?limit=2".to_owned(),
        };
        let (status, page) = server.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("client_secret").is_none());
            seen.push(item["client_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "5 + 1 + the admin, each once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);

    let (_, even) = server
        .admin(Method::GET, "/admin/clients?org_id=even", None)
        .await;
    assert_eq!(even["items"].as_array().unwrap().len(), 3);
    let (_, services) = server
        .admin(Method::GET, "/admin/clients?kind=service", None)
        .await;
    assert_eq!(
        services["items"].as_array().unwrap().len(),
        2,
        "svc and the admin"
    );
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=%%%",
        "cursor=!!",
        "kind=robot",
    ] {
        let (status, error) = server
            .admin(Method::GET, &format!("/admin/clients?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {error}");
    }
}

#[tokio::test]
async fn admin_api_answers_rfc6750_challenges() {
    let mut server = TestServer::start().await;
    let url = server.url("/admin/clients");

    let response = server.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"m2m-admin\""
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unauthorized"
    );

    for bad in ["not.a.token", "eyJhbGciOiJub25lIn0.e30.", ""] {
        let response = server
            .http
            .get(&url)
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{bad:?}");
        let www = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_token"
        );
    }

    // A valid token without m2m:admin, for the issuer audience.
    let (id, secret, _) = server
        .create_client(json!({"name": "svc", "kind": "service", "audiences": [server.base.clone()], "scopes": ["a:b"]}))
        .await;
    let weak = server.token(&id, &secret, &[]).await;
    let response = server
        .http
        .get(&url)
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let www = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"m2m:admin\""),
        "{www}"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );

    // An admin token that expired.
    let admin = server.admin_token().await;
    assert_eq!(
        server
            .http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.advance(3600 + 61);
    let response = server
        .http
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn audit_records_tokens_failures_and_admin_changes_with_the_actor() {
    let mut server = TestServer::start().await;
    let (admin_id, _) = server.admin_credentials().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    server.token(&id, &secret, &[]).await;
    expect_oauth_error(
        server.token_basic(&id, "m2ms_wrong", &[]).await,
        401,
        "invalid_client",
    )
    .await;
    let (status, page) = server
        .admin(Method::GET, &format!("/admin/audit?client_id={id}"), None)
        .await;
    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // Token issuance is one aggregate per client and minute, written when
    // the minute ends or, as here, when a read flushes it: after the failure.
    assert_eq!(
        kinds,
        ["tokens.issued", "auth.failed", "client.created"],
        "newest first"
    );
    assert_eq!(
        items[2]["actor"],
        admin_id.as_str(),
        "admin changes name the acting admin"
    );
    assert_eq!(items[1]["detail"]["reason"], "bad_secret");
    assert_eq!(items[0]["detail"]["count"], 1);
    assert_eq!(items[0]["detail"]["scopes"], serde_json::json!(["a:b"]));
    assert_eq!(
        items[0]["detail"]["first_jti"], items[0]["detail"]["last_jti"],
        "one token: its jti is both first and last"
    );
    let (status, failed) = server
        .admin(
            Method::GET,
            &format!("/admin/audit?client_id={id}&kind=auth.failed&since=2000-01-01T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed}");
    for bad in [
        "kind=Bad%20Kind",
        "since=yesterday",
        "until=2020-13-01T00:00:00Z",
    ] {
        let (status, body) = server
            .admin(Method::GET, &format!("/admin/audit?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    assert!(
        !page.to_string().contains(&secret),
        "no secret in the audit log"
    );
    assert!(!page.to_string().contains("m2ms_wrong"));
    for field in ["id", "at", "kind", "client_id", "actor", "detail"] {
        assert!(items[0].get(field).is_some(), "{field}");
    }

    let (_, first) = server
        .admin(Method::GET, "/admin/audit?limit=1", None)
        .await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let (_, second) = server
        .admin(
            Method::GET,
            &format!("/admin/audit?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    let (status, _) = server
        .admin(Method::GET, "/admin/audit?cursor=nope!", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_revoked_admin_token_is_refused_at_once_though_the_guard_cached_it() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.admin_credentials().await;
    let token = server.admin_token().await;
    let fresh = server.admin_token().await;
    let (http, url) = (server.http.clone(), server.url("/admin/clients"));
    let list = |token: String| {
        let request = http.get(&url).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    // Verified once: the admin guard now has it in its cache.
    assert_eq!(list(token.clone()).await.status(), 200);
    let revoked = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let response = list(token).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"m2m-admin\""),
        "{challenge}"
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    // Another admin token of the same client still works.
    assert_eq!(list(fresh).await.status(), 200);
}
