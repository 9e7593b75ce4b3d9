//! Token exchange (RFC 8693; issue 15): an agent acting for a user-level
//! grant or an org, chains of agents with nested `act`, every refusal with
//! its error and no token, and revocation that follows the chain. Every
//! test runs over a real TCP listener.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{OrgId, UserId};
use m2m_issuer::consent::{ConsentDecision, ConsentHandler, ConsentRequest};
use serde_json::{Value, json};

use m2m_issuer::{QuotaConfig, QuotaLimits};

use crate::common::{T0, TestServer, claims_of, expect_oauth_error};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const CALLBACK: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Grants every request as `user_42` of `org_1`.
#[derive(Debug)]
struct Grant;

#[async_trait]
impl ConsentHandler for Grant {
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        ConsentDecision::Granted {
            user_id: UserId::new("user_42"),
            org_id: OrgId::new("org_1"),
            scopes: request.scopes.clone(),
        }
    }
}

async fn server() -> TestServer {
    TestServer::start_with(|b| b.consent(Arc::new(Grant))).await
}

struct Client {
    id: String,
    secret: String,
}

/// A service client (an agent) with this token-exchange policy (none if null).
async fn agent(server: &mut TestServer, scopes: &[&str], policy: Value) -> Client {
    let mut body = json!({
        "name": "agent",
        "kind": "service",
        "scopes": scopes,
        "audiences": ["https://api.example.com"],
    });
    if !policy.is_null() {
        body["token_exchange"] = policy.clone();
    }
    let (id, secret, created) = server.create_client(body).await;
    if !policy.is_null() {
        assert_eq!(created["token_exchange"], policy, "{created}");
    }
    Client { id, secret }
}

async fn org_client(server: &mut TestServer, scopes: &[&str]) -> Client {
    let (id, secret) = server.org_client(scopes).await;
    Client { id, secret }
}

/// A user-level client and the tokens of one grant (user_42, org_1).
async fn user_grant(server: &mut TestServer, scopes: &str) -> (Client, Value) {
    let (id, secret, _) = server
        .create_client(json!({
            "name": "app",
            "kind": "user",
            "org_id": "org_1",
            "scopes": ["invoices:read", "invoices:write"],
            "redirect_uris": [CALLBACK],
        }))
        .await;
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", CALLBACK),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", scopes),
    ])
    .expect("query");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("location");
    let (_, query) = location.split_once('?').expect("query");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("params");
    let code = params
        .into_iter()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    (Client { id, secret }, response.json().await.expect("json"))
}

/// A token-exchange request by `actor` for `subject_token`, with `extra`.
async fn exchange(
    server: &TestServer,
    actor: &Client,
    subject_token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    form.extend_from_slice(extra);
    server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&actor.id, Some(&actor.secret))
        .form(&form)
        .send()
        .await
        .expect("token exchange")
}

/// An exchange that must succeed; returns the response body.
async fn exchanged(
    server: &TestServer,
    actor: &Client,
    subject_token: &str,
    extra: &[(&str, &str)],
) -> Value {
    let response = exchange(server, actor, subject_token, extra).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token: {body}"
    );
    body
}

/// A refusal with `error`, and no token in the body.
async fn refused(response: reqwest::Response, status: u16, error: &str) -> Value {
    let (_, body) = expect_oauth_error(response, status, error).await;
    assert!(body.get("access_token").is_none(), "{body}");
    body
}

fn at(body: &Value) -> &str {
    body["access_token"].as_str().expect("access_token")
}

async fn active(server: &TestServer, client: &Client, token: &str) -> bool {
    server.introspect(&client.id, &client.secret, token).await["active"] == true
}

async fn feed_jtis(server: &TestServer) -> Vec<String> {
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

fn jti(token: &str) -> String {
    claims_of(token)["jti"].as_str().expect("jti").to_owned()
}

#[tokio::test]
async fn an_agent_acts_for_a_users_grant() {
    let mut server = server().await;
    let (app, grant) = user_grant(&mut server, "invoices:read invoices:write").await;
    let agent = agent(
        &mut server,
        &["invoices:read", "invoices:write"],
        json!({"subjects": [app.id]}),
    )
    .await;
    let subject = at(&grant).to_owned();
    let body = exchanged(&server, &agent, &subject, &[("scope", "invoices:read")]).await;
    let claims = claims_of(at(&body));
    let subject_claims = claims_of(&subject);
    assert_eq!(claims["sub"], "user_42");
    assert_eq!(claims["uid"], "user_42");
    assert_eq!(claims["oid"], "org_1");
    assert_eq!(claims["client_id"], agent.id.as_str());
    assert_eq!(
        claims["act"],
        json!({"sub": agent.id, "client_id": agent.id})
    );
    assert_eq!(claims["scope"], "invoices:read");
    assert!(claims["exp"].as_u64() <= subject_claims["exp"].as_u64());
    assert_ne!(claims["jti"], subject_claims["jti"]);
    assert_eq!(
        body["expires_in"].as_u64().expect("expires_in"),
        claims["exp"].as_u64().expect("exp") - server.now()
    );
    // The issuer's own judgement agrees, and shows the chain.
    let seen = server.introspect(&agent.id, &agent.secret, at(&body)).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], "user_42");
    // Audited with subject, actor and chain.
    let (_, events) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/audit?client_id={}", agent.id),
            None,
        )
        .await;
    let event = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["kind"] == "token.exchanged")
        .unwrap_or_else(|| panic!("no token.exchanged in {events}"))
        .clone();
    let detail = &event["detail"];
    assert_eq!(detail["sub"], "user_42", "{event}");
    assert_eq!(detail["subject_jti"], subject_claims["jti"]);
    assert_eq!(detail["subject_client_id"], app.id.as_str());
    assert_eq!(detail["act_chain"], json!([agent.id]));
}

#[tokio::test]
async fn an_agent_acts_for_an_org_and_omitted_scope_is_the_subjects() {
    let mut server = server().await;
    let org = org_client(&mut server, &["invoices:read"]).await;
    let agent = agent(
        &mut server,
        &["invoices:read", "invoices:write"],
        json!({"subjects": ["org:org_1"], "audiences": ["https://agents.example.com"]}),
    )
    .await;
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let body = exchanged(&server, &agent, &subject, &[]).await;
    let claims = claims_of(at(&body));
    assert_eq!(claims["sub"], org.id.as_str());
    assert_eq!(claims["oid"], "org_1");
    assert!(claims.get("uid").is_none());
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(claims["aud"], "https://agents.example.com");
    // resource as RFC 8707 asks: one of the policy's audiences.
    let body = exchanged(
        &server,
        &agent,
        &subject,
        &[("resource", "https://agents.example.com")],
    )
    .await;
    assert_eq!(claims_of(at(&body))["aud"], "https://agents.example.com");
    assert!(
        server
            .verify(at(&body), "https://agents.example.com")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_chain_of_two_agents_nests_act_and_depth_is_capped() {
    let mut server = server().await;
    let org = org_client(&mut server, &["invoices:read"]).await;
    let planner = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"]}),
    )
    .await;
    let worker = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": [planner.id], "max_depth": 2}),
    )
    .await;
    let shallow = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": [planner.id]}),
    )
    .await;
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let first = exchanged(&server, &planner, &subject, &[]).await;
    let second = exchanged(&server, &worker, at(&first), &[]).await;
    let claims = claims_of(at(&second));
    assert_eq!(claims["sub"], org.id.as_str());
    assert_eq!(claims["client_id"], worker.id.as_str());
    assert_eq!(
        claims["act"],
        json!({"sub": worker.id, "client_id": worker.id,
               "act": {"sub": planner.id, "client_id": planner.id}})
    );
    // The default max_depth is 1: no chain.
    let body = refused(
        exchange(&server, &shallow, at(&first), &[]).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("depth"),
        "{body}"
    );
    // The planner may not re-delegate its own exchanged token (depth 2 > 1)
    // even though the org matches.
    refused(
        exchange(&server, &planner, at(&first), &[]).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn every_refusal_has_its_error_and_no_token() {
    let mut server = server().await;
    let org = org_client(&mut server, &["invoices:read", "invoices:write"]).await;
    let other_org = {
        let (id, secret, _) = server
            .create_client(json!({"name": "o2", "kind": "org", "org_id": "org_2", "scopes": ["invoices:read"]}))
            .await;
        Client { id, secret }
    };
    let no_policy = agent(&mut server, &["invoices:read"], Value::Null).await;
    let agent = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"], "audiences": ["https://agents.example.com"]}),
    )
    .await;
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let narrow = server
        .token(&org.id, &org.secret, &[("scope", "invoices:read")])
        .await;

    // No policy.
    refused(
        exchange(&server, &no_policy, &narrow, &[]).await,
        400,
        "unauthorized_client",
    )
    .await;
    // Subject not allowed (another org).
    let foreign = server.token(&other_org.id, &other_org.secret, &[]).await;
    refused(
        exchange(&server, &agent, &foreign, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    // Audience not in the policy.
    refused(
        exchange(
            &server,
            &agent,
            &narrow,
            &[("audience", "https://elsewhere.example.com")],
        )
        .await,
        400,
        "invalid_target",
    )
    .await;
    // Scope escalation: beyond the subject's, beyond the actor's, and an
    // omitted scope that would be beyond the actor's.
    refused(
        exchange(
            &server,
            &agent,
            &narrow,
            &[("scope", "invoices:read invoices:write")],
        )
        .await,
        400,
        "invalid_scope",
    )
    .await;
    refused(
        exchange(&server, &agent, &subject, &[("scope", "invoices:write")]).await,
        400,
        "invalid_scope",
    )
    .await;
    refused(
        exchange(&server, &agent, &subject, &[]).await,
        400,
        "invalid_scope",
    )
    .await;
    // Wrong token types.
    refused(
        exchange(
            &server,
            &agent,
            &narrow,
            &[("subject_token_type", "urn:ietf:params:oauth:token-type:jwt")],
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    refused(
        exchange(
            &server,
            &agent,
            &narrow,
            &[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    // Missing subject_token.
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&agent.id, Some(&agent.secret))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token_type", ACCESS_TOKEN),
        ])
        .send()
        .await
        .expect("request");
    refused(response, 400, "invalid_request").await;
    // An actor_token that is not the caller's, one without its type.
    let not_mine = server.token(&no_policy.id, &no_policy.secret, &[]).await;
    refused(
        exchange(
            &server,
            &agent,
            &narrow,
            &[
                ("actor_token", &not_mine),
                ("actor_token_type", ACCESS_TOKEN),
            ],
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    let mine = server.token(&agent.id, &agent.secret, &[]).await;
    refused(
        exchange(&server, &agent, &narrow, &[("actor_token", &mine)]).await,
        400,
        "invalid_request",
    )
    .await;
    // The caller's own actor_token is accepted.
    exchanged(
        &server,
        &agent,
        &narrow,
        &[("actor_token", &mine), ("actor_token_type", ACCESS_TOKEN)],
    )
    .await;
    // Garbage, alg none, and a token signed by another key.
    refused(
        exchange(&server, &agent, "not-a-jwt", &[]).await,
        400,
        "invalid_request",
    )
    .await;
    let payload = narrow.split('.').nth(1).expect("payload");
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
    );
    refused(
        exchange(&server, &agent, &none, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    let forged = forge(&narrow);
    refused(
        exchange(&server, &agent, &forged, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    // Revoked subject (RFC 7009 by its client).
    let revoked = server
        .token(&org.id, &org.secret, &[("scope", "invoices:read")])
        .await;
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&org.id, Some(&org.secret))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    refused(
        exchange(&server, &agent, &revoked, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    // Expired subject.
    server.advance(3600 + 120);
    refused(
        exchange(&server, &agent, &narrow, &[]).await,
        400,
        "invalid_request",
    )
    .await;
}

/// `token` with its header kept and its signature made by another key of
/// the same algorithm.
fn forge(token: &str) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let payload = parts.next().expect("payload");
    let header_json: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    let alg: m2m_core::Algorithm = serde_json::from_value(header_json["alg"].clone()).expect("alg");
    let key = m2m_core::SigningKey::generate(alg).expect("key");
    let message = format!("{header}.{payload}");
    let signature = key.sign(message.as_bytes()).expect("sign");
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn revoking_the_subjects_grant_revokes_the_chain() {
    let mut server = server().await;
    let (app, grant) = user_grant(&mut server, "invoices:read").await;
    let planner = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": [app.id]}),
    )
    .await;
    let worker = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": [planner.id], "max_depth": 2}),
    )
    .await;
    let first = exchanged(&server, &planner, at(&grant), &[]).await;
    let second = exchanged(&server, &worker, at(&first), &[]).await;
    assert!(active(&server, &worker, at(&second)).await);

    let (status, list) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}/grants", app.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let grant_id = list["items"][0]["grant_id"]
        .as_str()
        .expect("grant_id")
        .to_owned();
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{}/grants/{grant_id}", app.id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(!active(&server, &planner, at(&first)).await);
    assert!(!active(&server, &worker, at(&second)).await);
    let feed = feed_jtis(&server).await;
    assert!(feed.contains(&jti(at(&first))), "{feed:?}");
    assert!(feed.contains(&jti(at(&second))), "{feed:?}");
    // Audited: how many went with the grant, and which.
    let (_, events) = server
        .admin(
            reqwest::Method::GET,
            "/admin/audit?kind=token.exchanged_revoked",
            None,
        )
        .await;
    let detail = &events["items"][0]["detail"];
    assert_eq!(detail["count"], 2, "{events}");
    assert!(
        detail["jtis"]
            .as_array()
            .expect("jtis")
            .contains(&json!(jti(at(&second))))
    );
    // Nothing more can be exchanged from the chain.
    refused(
        exchange(&server, &worker, at(&first), &[]).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn revoking_the_subject_token_or_its_client_revokes_what_was_exchanged() {
    let mut server = server().await;
    let org = org_client(&mut server, &["invoices:read"]).await;
    let planner = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"]}),
    )
    .await;
    let worker = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": [planner.id], "max_depth": 2}),
    )
    .await;

    // RFC 7009 on the subject token: its children and grandchildren go.
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let first = exchanged(&server, &planner, &subject, &[]).await;
    let second = exchanged(&server, &worker, at(&first), &[]).await;
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&org.id, Some(&org.secret))
        .form(&[("token", subject.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    assert!(!active(&server, &planner, at(&first)).await);
    assert!(!active(&server, &worker, at(&second)).await);
    let feed = feed_jtis(&server).await;
    assert!(feed.contains(&jti(at(&first))) && feed.contains(&jti(at(&second))));

    // Revoking an intermediate actor (disabling it) revokes what was
    // exchanged from its tokens, not the subject's other tokens.
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let first = exchanged(&server, &planner, &subject, &[]).await;
    let second = exchanged(&server, &worker, at(&first), &[]).await;
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{}", planner.id),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!active(&server, &worker, at(&second)).await);
    assert!(feed_jtis(&server).await.contains(&jti(at(&second))));
    assert!(active(&server, &org, &subject).await);

    // Deleting the subject's client revokes the chain too.
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{}", planner.id),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    // Past the disabled client's revocation window (it covers the cache window).
    server.advance(120);
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let first = exchanged(&server, &planner, &subject, &[]).await;
    let second = exchanged(&server, &worker, at(&first), &[]).await;
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{}", org.id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(!active(&server, &planner, at(&first)).await);
    assert!(!active(&server, &worker, at(&second)).await);
}

#[tokio::test]
async fn the_policy_is_validated_set_and_removed_through_the_admin_api() {
    let mut server = server().await;
    for (policy, why) in [
        (json!({"subjects": []}), "no subjects"),
        (json!({"subjects": ["org:"]}), "empty org"),
        (json!({"subjects": ["a b"]}), "bad client id"),
        (json!({"subjects": ["org:o"], "max_depth": 0}), "depth 0"),
        (json!({"subjects": ["org:o"], "max_depth": 9}), "depth 9"),
        (
            json!({"subjects": ["org:o"], "audiences": []}),
            "empty audiences",
        ),
        (json!({"subjects": ["org:o"], "bogus": 1}), "unknown member"),
    ] {
        let (status, body) = server
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({
                    "name": "a",
                    "kind": "service",
                    "scopes": ["x"],
                    "audiences": ["https://api.example.com"],
                    "token_exchange": policy,
                })),
            )
            .await;
        assert!(status == 422 || status == 400, "{why}: {status} {body}");
        assert_ne!(status, 201, "{why}");
    }
    let agent = agent(&mut server, &["x"], Value::Null).await;
    let path = format!("/admin/clients/{}", agent.id);
    let policy = json!({"subjects": ["org:org_1"], "max_depth": 3});
    let (status, body) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"token_exchange": policy})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = server.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(shown["token_exchange"], policy);
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"token_exchange": {"subjects": ["org:o"], "max_depth": 99}})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"token_exchange": null})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = server.admin(reqwest::Method::GET, &path, None).await;
    assert!(shown.get("token_exchange").is_none(), "{shown}");
}

#[tokio::test]
async fn metadata_lists_the_grant() {
    let server = server().await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .expect("grant types")
            .contains(&json!(EXCHANGE)),
        "{metadata}"
    );
}

#[tokio::test]
async fn cnf_only_when_this_request_carries_a_dpop_proof() {
    use m2m_core::{Algorithm, SigningKey, sign_proof};
    let mut server = server().await;
    let org = org_client(&mut server, &["invoices:read"]).await;
    let agent = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"]}),
    )
    .await;
    // A DPoP-bound subject token: the exchanged one is not bound to its key.
    let subject_key = SigningKey::generate(Algorithm::ES256).expect("key");
    let proof = sign_proof(
        &subject_key,
        "POST",
        &server.url("/oauth/token"),
        server.now(),
        "subject-proof",
        None,
        None,
    )
    .expect("proof");
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&org.id, Some(&org.secret))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let subject = at(&body).to_owned();
    let plain = exchanged(&server, &agent, &subject, &[]).await;
    assert!(claims_of(at(&plain)).get("cnf").is_none());

    // With the actor's own proof: bound to the actor's key.
    let actor_key = SigningKey::generate(Algorithm::ES256).expect("key");
    let proof = sign_proof(
        &actor_key,
        "POST",
        &server.url("/oauth/token"),
        server.now(),
        "actor-proof",
        None,
        None,
    )
    .expect("proof");
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&agent.id, Some(&agent.secret))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
        ])
        .send()
        .await
        .expect("token");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(
        claims_of(at(&body))["cnf"]["jkt"],
        actor_key.public_jwk().thumbprint().expect("thumbprint")
    );
}

#[tokio::test]
async fn revoking_the_subjects_signing_key_revokes_exchanged_tokens_signed_by_another() {
    let policy = m2m_core::RotationPolicy {
        prepublish_secs: 600,
        ..m2m_core::RotationPolicy::default()
    };
    let mut server =
        TestServer::start_with(|b| b.consent(Arc::new(Grant)).rotation_policy(policy)).await;
    let org = org_client(&mut server, &["invoices:read"]).await;
    let agent = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"]}),
    )
    .await;
    let subject = server.token(&org.id, &org.secret, &[]).await;
    let old_kid = crate::common::kid_of(&subject);
    server.issuer.rotate_keys().await.expect("rotate");
    server.advance(policy.prepublish_secs + 1);
    let body = exchanged(&server, &agent, &subject, &[]).await;
    assert_ne!(
        crate::common::kid_of(at(&body)),
        old_kid,
        "the exchanged token is signed by the new key"
    );
    assert!(active(&server, &agent, at(&body)).await);
    let (status, revoked) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{old_kid}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(!active(&server, &agent, at(&body)).await);
    assert!(feed_jtis(&server).await.contains(&jti(at(&body))));
}

#[tokio::test]
async fn an_exchanged_token_counts_against_the_actors_quota() {
    let quotas = QuotaConfig {
        client: QuotaLimits {
            per_minute: Some(3),
            ..QuotaLimits::default()
        },
        ..QuotaConfig::default()
    };
    let mut server = TestServer::start_with(move |b| b.quotas(quotas)).await;
    // Start at a minute boundary so the window is the whole test.
    server.advance(60 - T0 % 60);
    let org = org_client(&mut server, &["invoices:read"]).await;
    let agent = agent(
        &mut server,
        &["invoices:read"],
        json!({"subjects": ["org:org_1"]}),
    )
    .await;
    let subject = server.token(&org.id, &org.secret, &[]).await;
    for _ in 0..3 {
        exchanged(&server, &agent, &subject, &[]).await;
    }
    let response = exchange(&server, &agent, &subject, &[]).await;
    assert!(response.headers().get("retry-after").is_some());
    refused(response, 429, "slow_down").await;
    // The next window admits the agent again.
    server.advance(60);
    exchanged(&server, &agent, &subject, &[]).await;
}
