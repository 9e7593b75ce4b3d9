//! What each admin change revokes, and how fast every kind of verifier
//! learns of it: the admin API, introspection, in-process guards
//! (`Issuer::guard`), another replica, a restarted process, the feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_guard::Rejection;
use m2m_issuer::consent::DevConsent;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, claims_of, in_process_verdict, kid_of};

/// The default client-cache window (2 s) plus a second: a token minted
/// after this much time since a client revocation is not covered by it.
const PAST_WINDOW: u64 = 3;

async fn introspect(server: &mut TestServer, token: &str) -> Value {
    let (id, secret) = server.admin_credentials().await;
    server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json")
}

/// A second admin client (kind service, audience the issuer URL).
async fn second_admin(server: &mut TestServer, scopes: &[&str]) -> (String, String) {
    let audience = server.issuer.issuer_url().to_owned();
    let (id, secret, _) = server
        .create_client(json!({
            "name": "second admin", "kind": "service",
            "audiences": [audience], "scopes": scopes,
        }))
        .await;
    (id, secret)
}

/// `GET /admin/clients` with `token`: the status.
async fn list_clients_with(server: &TestServer, token: &str) -> u16 {
    server
        .http
        .get(server.url("/admin/clients"))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin call")
        .status()
        .as_u16()
}

/// `POST /admin/clients` with `token`: the status.
async fn create_admin_with(server: &TestServer, token: &str) -> u16 {
    let audience = server.issuer.issuer_url().to_owned();
    server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(token)
        .json(
            &json!({"name": "escalated", "kind": "service", "audiences": [audience],
                      "scopes": ["m2m:admin"]}),
        )
        .send()
        .await
        .expect("admin call")
        .status()
        .as_u16()
}

async fn patch(server: &mut TestServer, id: &str, body: Value) -> Value {
    let (status, client) = server
        .admin(Method::PATCH, &format!("/admin/clients/{id}"), Some(body))
        .await;
    assert_eq!(status, 200, "patch: {client}");
    client
}

async fn feed(server: &TestServer, since: Option<&str>) -> reqwest::Response {
    let mut url = server.url("/oauth/revocations");
    if let Some(since) = since {
        url = format!("{url}?since={since}");
    }
    server.http.get(url).send().await.expect("feed")
}

async fn feed_json(server: &TestServer) -> Value {
    let response = feed(server, None).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_disabled_client_stays_revoked_everywhere_and_reenabling_revives_nothing() {
    let mut server = TestServer::start().await;
    let (id, secret) = second_admin(&mut server, &["m2m:admin"]).await;
    let token = server.token(&id, &secret, &[]).await;
    let aud = server.issuer.issuer_url().to_owned();
    assert_eq!(list_clients_with(&server, &token).await, 200);
    assert!(
        in_process_verdict(&server.issuer, &aud, &token)
            .await
            .is_ok()
    );

    patch(&mut server, &id, json!({"enabled": false})).await;
    assert_eq!(list_clients_with(&server, &token).await, 401, "admin API");
    assert_eq!(introspect(&mut server, &token).await["active"], false);
    assert_eq!(
        in_process_verdict(&server.issuer, &aud, &token).await,
        Err(Rejection::Revoked),
        "Issuer::guard"
    );

    patch(&mut server, &id, json!({"enabled": true})).await;
    assert_eq!(list_clients_with(&server, &token).await, 401, "not revived");
    assert_eq!(create_admin_with(&server, &token).await, 401);
    assert_eq!(introspect(&mut server, &token).await["active"], false);
    assert_eq!(
        in_process_verdict(&server.issuer, &aud, &token).await,
        Err(Rejection::Revoked)
    );

    // A token issued once the revocation's window has passed works.
    server.advance(PAST_WINDOW);
    let fresh = server.token(&id, &secret, &[]).await;
    assert_eq!(list_clients_with(&server, &fresh).await, 200);
    assert!(
        in_process_verdict(&server.issuer, &aud, &fresh)
            .await
            .is_ok()
    );

    let page = feed_json(&server).await;
    let entries = page["revoked_clients"].as_array().expect("clients");
    assert!(
        entries.iter().any(|e| e["client_id"] == id.as_str()
            && e["revoked_at"].as_u64() >= Some(server.now() - PAST_WINDOW + 2)),
        "the feed's revoked_at covers the cache window: {page}"
    );
}

#[tokio::test]
async fn a_demoted_admin_loses_the_admin_api_at_once() {
    let mut server = TestServer::start().await;
    let (id, secret) = second_admin(&mut server, &["m2m:admin", "reports:read"]).await;
    let token = server.token(&id, &secret, &[]).await;
    assert_eq!(create_admin_with(&server, &token).await, 201);

    patch(&mut server, &id, json!({"scopes": ["reports:read"]})).await;
    assert_eq!(create_admin_with(&server, &token).await, 401);
    assert_eq!(list_clients_with(&server, &token).await, 401);
    assert_eq!(introspect(&mut server, &token).await["active"], false);

    server.advance(PAST_WINDOW);
    let fresh = server.token(&id, &secret, &[]).await;
    assert_eq!(
        list_clients_with(&server, &fresh).await,
        403,
        "no m2m:admin"
    );
}

#[tokio::test]
async fn narrowing_audiences_revokes_and_widening_revokes_nothing() {
    let mut server = TestServer::start().await;
    let (id, secret, _) = server
        .create_client(json!({"name": "svc", "kind": "service",
            "audiences": ["https://a.example", "https://b.example"], "scopes": ["x:read"]}))
        .await;
    let token = server.token(&id, &secret, &[]).await;
    let verdict = |s: &TestServer, t: String| {
        let issuer = s.issuer.clone();
        async move { in_process_verdict(&issuer, "https://a.example", &t).await }
    };

    patch(
        &mut server,
        &id,
        json!({"scopes": ["x:read", "x:write"], "audiences": ["https://a.example", "https://b.example", "https://c.example"], "name": "renamed", "token_ttl_seconds": 600}),
    )
    .await;
    assert!(verdict(&server, token.clone()).await.is_ok(), "widening");
    assert_eq!(introspect(&mut server, &token).await["active"], true);

    patch(
        &mut server,
        &id,
        json!({"audiences": ["https://a.example"]}),
    )
    .await;
    assert_eq!(
        verdict(&server, token.clone()).await,
        Err(Rejection::Revoked)
    );
    assert_eq!(introspect(&mut server, &token).await["active"], false);
}

#[tokio::test]
async fn deleting_a_client_revokes_its_tokens() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let token = server.token(&id, &secret, &[]).await;
    let aud = server.issuer.issuer_url().to_owned();
    let (status, _) = server
        .admin(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        in_process_verdict(&server.issuer, &aud, &token).await,
        Err(Rejection::Revoked)
    );
    assert_eq!(introspect(&mut server, &token).await["active"], false);
}

#[tokio::test]
async fn a_restarted_issuer_loads_every_revocation_before_serving() {
    let mut server = TestServer::start().await;
    let (id, secret) = second_admin(&mut server, &["m2m:admin"]).await;
    let (other, other_secret) = server.org_client(&["a:b"]).await;
    let admin_token = server.token(&id, &secret, &[]).await;
    let revoked = server.token(&other, &other_secret, &[]).await;
    patch(&mut server, &id, json!({"enabled": false})).await;
    patch(&mut server, &id, json!({"enabled": true})).await;
    let (status, _) = {
        let response = server
            .http
            .post(server.url("/oauth/revoke"))
            .basic_auth(&other, Some(&other_secret))
            .form(&[("token", revoked.as_str())])
            .send()
            .await
            .expect("revoke");
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 200);

    // A new process on the same store: nothing pushed to it, nothing polled yet.
    let restarted = server
        .replica(|b| b.revocation_poll_interval(Duration::from_secs(3600)))
        .await;
    let aud = restarted.issuer.issuer_url().to_owned();
    assert_eq!(
        in_process_verdict(&restarted.issuer, &aud, &admin_token).await,
        Err(Rejection::Revoked),
        "the re-enabled admin's old token"
    );
    assert_eq!(
        in_process_verdict(&restarted.issuer, &aud, &revoked).await,
        Err(Rejection::Revoked),
        "an RFC 7009 revocation"
    );
    assert_eq!(list_clients_with(&restarted, &admin_token).await, 401);
}

#[tokio::test]
async fn another_replicas_revocations_reach_in_process_guards_within_the_poll_interval() {
    let mut a = TestServer::start().await;
    let interval = Duration::from_millis(200);
    let b = a.replica(|b| b.revocation_poll_interval(interval)).await;
    let (id, secret) = a.org_client(&["a:b"]).await;
    let token = b.token(&id, &secret, &[]).await;
    let aud = a.issuer.issuer_url().to_owned();
    assert!(in_process_verdict(&b.issuer, &aud, &token).await.is_ok());

    patch(&mut a, &id, json!({"enabled": false})).await;
    // Generous: many intervals, for a busy machine; the point is that it
    // arrives without a push and without a restart.
    let deadline = Instant::now() + interval * 25;
    loop {
        if in_process_verdict(&b.issuer, &aud, &token).await == Err(Rejection::Revoked) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica B never learned of A's revocation within {:?}",
            interval * 25
        );
        tokio::time::sleep(interval / 4).await;
    }
    // B's admin API and introspection see it at once anyway (store check).
    assert_eq!(b.issuer.follow_revocations().await.expect("follow"), 0);
}

#[tokio::test]
async fn tokens_a_replica_mints_from_its_cache_after_a_disable_are_covered() {
    let mut a = TestServer::start().await;
    // B never hears of the change by itself: only its 2 s cache stands
    // between the store and its token endpoint.
    let b = a
        .replica(|b| b.revocation_poll_interval(Duration::from_secs(3600)))
        .await;
    let (id, secret) = a.org_client(&["a:b"]).await;
    b.token(&id, &secret, &[]).await; // B caches the client
    let disabled_at = a.now();
    patch(&mut a, &id, json!({"enabled": false})).await;

    // Within B's cache window B may still mint (the store says disabled, B
    // does not know yet); whatever it mints is already revoked.
    let mut minted = Vec::new();
    for _ in 0..2 {
        let response = b.token_basic(&id, &secret, &[]).await;
        if response.status() == 200 {
            let body: Value = response.json().await.expect("json");
            minted.push(body["access_token"].as_str().expect("token").to_owned());
        }
        a.advance(1);
    }
    let page = feed_json(&a).await;
    let revoked_at = page["revoked_clients"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["client_id"] == id.as_str()))
        .and_then(|e| e["revoked_at"].as_u64())
        .expect("client entry");
    assert!(revoked_at >= disabled_at + 2, "covers the 2 s window");
    let aud = a.issuer.issuer_url().to_owned();
    for token in &minted {
        let iat = claims_of(token)["iat"].as_u64().expect("iat");
        assert!(
            iat <= revoked_at,
            "a cached mint at {iat} outlives {revoked_at}"
        );
        assert_eq!(
            in_process_verdict(&a.issuer, &aud, token).await,
            Err(Rejection::Revoked)
        );
    }
    // Past the window B reads the store again and mints nothing.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.token_basic(&id, &secret, &[]).await.status(), 401);
}

async fn user_server() -> TestServer {
    TestServer::start_with(|b| b.consent(Arc::new(DevConsent::new("user_1", "org_1")))).await
}

const CALLBACK: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct UserClient {
    id: String,
    secret: String,
}

async fn user_client(server: &mut TestServer) -> UserClient {
    let (id, secret, _) = server
        .create_client(json!({"name": "agent", "kind": "user", "org_id": "org_1",
            "scopes": ["notes:read"], "redirect_uris": [CALLBACK]}))
        .await;
    UserClient { id, secret }
}

async fn code(server: &TestServer, client: &UserClient) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
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
    let query = location.split_once('?').expect("query").1;
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("params");
    params
        .into_iter()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
}

async fn grant_request(
    server: &TestServer,
    client: &UserClient,
    form: &[(&str, &str)],
) -> reqwest::Response {
    server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .expect("token")
}

async fn exchange(server: &TestServer, client: &UserClient, code: &str) -> reqwest::Response {
    grant_request(
        server,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(server: &TestServer, client: &UserClient, token: &str) -> reqwest::Response {
    grant_request(
        server,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn tokens(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    (
        body["access_token"].as_str().expect("at").to_owned(),
        body["refresh_token"].as_str().expect("rt").to_owned(),
    )
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant() {
    let mut server = user_server().await;
    let client = user_client(&mut server).await;
    let (access, refresh_token) =
        tokens(exchange(&server, &client, &code(&server, &client).await).await).await;
    let aud = claims_of(&access)["aud"].as_str().expect("aud").to_owned();

    for hint in [Some("access_token"), None] {
        // The hint is only a hint: a wrong one changes nothing.
        let mut form = vec![("token", refresh_token.as_str())];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        let response = server
            .http
            .post(server.url("/oauth/revoke"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&form)
            .send()
            .await
            .expect("revoke");
        assert_eq!(response.status(), 200);
    }
    let response = refresh(&server, &client, &refresh_token).await;
    assert_eq!(response.status(), 400, "the family is dead");
    assert_eq!(
        in_process_verdict(&server.issuer, &aud, &access).await,
        Err(Rejection::Revoked),
        "and so is the grant's access token"
    );
    assert_eq!(introspect(&mut server, &access).await["active"], false);
    let jti = claims_of(&access)["jti"].clone();
    let page = feed_json(&server).await;
    assert!(
        page["revoked_jtis"]
            .as_array()
            .expect("jtis")
            .iter()
            .any(|e| e["jti"] == jti),
        "{page}"
    );

    // Another client's attempt at a refresh token changes nothing.
    let mut server = user_server().await;
    let owner = user_client(&mut server).await;
    let stranger = user_client(&mut server).await;
    let (_, rt) = tokens(exchange(&server, &owner, &code(&server, &owner).await).await).await;
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&stranger.id, Some(&stranger.secret))
        .form(&[("token", rt.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    assert_eq!(refresh(&server, &owner, &rt).await.status(), 200);
}

#[tokio::test]
async fn grant_revocation_covers_tokens_until_exp_plus_leeway() {
    let mut server = user_server().await;
    let client = user_client(&mut server).await;
    let (access, _) = tokens(exchange(&server, &client, &code(&server, &client).await).await).await;
    let exp = claims_of(&access)["exp"].as_u64().expect("exp");
    // Expired, but within the 60 s leeway: a guard still accepts it.
    server.advance(exp - server.now() + 30);
    let (status, grants) = server
        .admin(
            Method::GET,
            &format!("/admin/clients/{}/grants", client.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let grant_id = grants["items"][0]["grant_id"]
        .as_str()
        .expect("grant")
        .to_owned();
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/clients/{}/grants/{grant_id}", client.id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let jti = claims_of(&access)["jti"].clone();
    let page = feed_json(&server).await;
    assert!(
        page["revoked_jtis"]
            .as_array()
            .expect("jtis")
            .iter()
            .any(|e| e["jti"] == jti),
        "a token a guard still accepts (exp + leeway) is revoked: {page}"
    );
    let aud = claims_of(&access)["aud"].as_str().expect("aud").to_owned();
    assert_eq!(
        in_process_verdict(&server.issuer, &aud, &access).await,
        Err(Rejection::Revoked)
    );
}

#[tokio::test]
async fn a_grant_with_many_live_tokens_is_revoked_whole_in_process() {
    let mut server = user_server().await;
    let client = user_client(&mut server).await;
    let (first, mut rt) =
        tokens(exchange(&server, &client, &code(&server, &client).await).await).await;
    let mut accesses = vec![first];
    // More live tokens than the 1,024-entry broadcast of earlier versions held.
    for _ in 0..1100 {
        let (access, next) = tokens(refresh(&server, &client, &rt).await).await;
        accesses.push(access);
        rt = next;
    }
    let (_, grants) = server
        .admin(
            Method::GET,
            &format!("/admin/clients/{}/grants", client.id),
            None,
        )
        .await;
    let grant_id = grants["items"][0]["grant_id"]
        .as_str()
        .expect("grant")
        .to_owned();
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/clients/{}/grants/{grant_id}", client.id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let aud = claims_of(&accesses[0])["aud"]
        .as_str()
        .expect("aud")
        .to_owned();
    let clock = server.issuer.clone();
    let guard = server
        .issuer
        .guard(
            m2m_guard::Guard::builder(server.issuer.issuer_url(), aud)
                .clock(Arc::new(move || clock.now())),
        )
        .await
        .expect("guard");
    let still_good = accesses
        .iter()
        .filter(|t| guard.check_token(t).is_ok())
        .count();
    assert_eq!(still_good, 0, "every access token of the grant is refused");
}

#[tokio::test]
async fn a_reused_code_revokes_the_grant_however_the_two_exchanges_interleave() {
    let mut server = user_server().await;
    let client = user_client(&mut server).await;
    let aud = server.issuer.issuer_url().to_owned();
    for round in 0..40 {
        let code = code(&server, &client).await;
        let (one, two) = tokio::join!(
            exchange(&server, &client, &code),
            exchange(&server, &client, &code)
        );
        let mut issued = Vec::new();
        for response in [one, two] {
            if response.status() == 200 {
                issued.push(tokens(response).await);
            } else {
                assert_eq!(response.status(), 400, "round {round}");
            }
        }
        assert!(issued.len() <= 1, "round {round}: a code exchanged twice");
        // Whatever the order, nothing the code gave out still works.
        for (access, refresh_token) in &issued {
            assert_eq!(
                in_process_verdict(&server.issuer, &aud, access).await,
                Err(Rejection::Revoked),
                "round {round}: the first exchange's access token"
            );
            assert_eq!(
                refresh(&server, &client, refresh_token).await.status(),
                400,
                "round {round}: its refresh token"
            );
        }
    }
    let (_, grants) = server
        .admin(
            Method::GET,
            &format!("/admin/clients/{}/grants", client.id),
            None,
        )
        .await;
    let items = grants["items"].as_array().expect("items");
    assert_eq!(items.len(), 40, "one grant per code, revoked or tombstoned");
    assert!(
        items.iter().all(|g| g["revoked_at"].is_string()),
        "{grants}"
    );
}

#[tokio::test]
async fn a_reuse_that_arrives_before_the_first_exchange_stored_its_grant_still_wins() {
    // The first exchange consumes the code, then waits in create_grant; the
    // reuse arrives in between and finds no grant to revoke yet.
    let store = Arc::new(crate::slow_store::SlowStore {
        create_grant_delay: Duration::from_millis(400),
        ..Default::default()
    });
    let mut server = TestServer::start_on(store, |b| {
        b.consent(Arc::new(DevConsent::new("user_1", "org_1")))
    })
    .await
    .expect("server");
    let client = user_client(&mut server).await;
    let code = code(&server, &client).await;
    let first = exchange(&server, &client, &code);
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        exchange(&server, &client, &code).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(second.status(), 400, "the reuse is refused");
    assert_eq!(
        first.status(),
        400,
        "and the first exchange, whose grant the reuse revoked, gives out nothing"
    );
    let (_, grants) = server
        .admin(
            Method::GET,
            &format!("/admin/clients/{}/grants", client.id),
            None,
        )
        .await;
    assert_eq!(
        grants["items"].as_array().map(Vec::len),
        Some(1),
        "{grants}"
    );
    assert!(grants["items"][0]["revoked_at"].is_string(), "{grants}");
}

#[tokio::test]
async fn feed_cursors_the_issuer_never_issued_are_refused() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for _ in 0..3 {
        let token = server.token(&id, &secret, &[]).await;
        let response = server
            .http
            .post(server.url("/oauth/revoke"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("revoke");
        assert_eq!(response.status(), 200);
    }
    let page = feed_json(&server).await;
    assert_eq!(page["revoked_jtis"].as_array().map(Vec::len), Some(3));
    let cursor = page["cursor"].as_str().expect("cursor").to_owned();
    let again = feed(&server, Some(&cursor)).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["cursor"], cursor, "an empty page keeps the cursor");

    let forge = |seq: u64, fingerprint: [u8; 8]| {
        let mut bytes = seq.to_be_bytes().to_vec();
        bytes.extend_from_slice(&fingerprint);
        URL_SAFE_NO_PAD.encode(bytes)
    };
    let real = URL_SAFE_NO_PAD.decode(&cursor).expect("base64");
    let real_fp: [u8; 8] = real[8..].try_into().expect("fingerprint");
    for (what, bad) in [
        ("beyond the head", forge(4, real_fp)),
        ("far beyond the head", forge(u64::MAX, [0; 8])),
        ("a lookalike entry", forge(3, [1; 8])),
        ("not base64url", "!!!!!!!!!!!!!!!!!!!!!!".to_owned()),
        (
            "an 8-byte cursor of earlier versions",
            URL_SAFE_NO_PAD.encode(3u64.to_be_bytes()),
        ),
    ] {
        let response = feed(&server, Some(&bad)).await;
        assert_eq!(response.status(), 400, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_request", "{what}");
    }

    // A database restored from an older backup: the same issuer, a store
    // whose log is shorter, then grows past the cursor with other entries.
    let mut restored = TestServer::start().await;
    assert_eq!(
        feed(&restored, Some(&cursor)).await.status(),
        400,
        "beyond a restored head"
    );
    let (other, other_secret) = restored.org_client(&["a:b"]).await;
    for _ in 0..4 {
        let token = restored.token(&other, &other_secret, &[]).await;
        restored
            .http
            .post(restored.url("/oauth/revoke"))
            .basic_auth(&other, Some(&other_secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("revoke");
    }
    assert_eq!(
        feed(&restored, Some(&cursor)).await.status(),
        400,
        "the entry at the cursor is not the one it was made from"
    );

    // Entries whose tokens all expired are purged; their cursor stays good.
    server.advance(3600 + 61);
    server.issuer.tick().await.expect("tick");
    let purged = feed_json(&server).await;
    assert_eq!(purged["revoked_jtis"], json!([]), "{purged}");
    assert_eq!(feed(&server, Some(&cursor)).await.status(), 200);
}

#[tokio::test]
async fn in_process_revocations_are_forgotten_once_their_tokens_expire() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let token = server.token(&id, &secret, &[]).await;
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
    let (status, _) = server
        .admin(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.issuer.revocations().len(),
        2,
        "the token and the client"
    );

    // Still within exp + leeway of the token: both kept.
    server.advance(3600 + 30);
    server.issuer.tick().await.expect("tick");
    assert_eq!(server.issuer.revocations().len(), 2);
    // The token's entry goes after exp + leeway; the client's after a day.
    server.advance(31);
    server.issuer.tick().await.expect("tick");
    assert_eq!(server.issuer.revocations().len(), 1);
    server.advance(86_400);
    server.issuer.tick().await.expect("tick");
    assert_eq!(server.issuer.revocations().len(), 0);
    assert!(server.issuer.revocations().is_empty());
    let page = feed_json(&server).await;
    assert_eq!(
        page["revoked_jtis"],
        json!([]),
        "purged from the store too: {page}"
    );
    assert_eq!(page["revoked_clients"], json!([]), "{page}");
}

#[tokio::test]
async fn registration_refuses_a_client_whose_largest_token_would_be_too_large() {
    let mut server = TestServer::start().await;
    let long_scopes: Vec<String> = (0..35)
        .map(|i| format!("s{i:02}:{}", "x".repeat(124)))
        .collect();
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"name": "big", "kind": "org", "org_id": "o", "scopes": long_scopes})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("8192"),
        "{body}"
    );

    // Up to the limit is fine, and every token it can get is introspectable.
    let fits: Vec<String> = long_scopes[..20].to_vec();
    let (id, secret, _) = server
        .create_client(json!({"name": "fits", "kind": "org", "org_id": "o", "scopes": fits}))
        .await;
    let token = server.token(&id, &secret, &[]).await;
    assert!(token.len() <= 8192);
    assert_eq!(introspect(&mut server, &token).await["active"], true);
    let (status, body) = server
        .admin(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"scopes": long_scopes})),
        )
        .await;
    assert_eq!(status, 422, "PATCH too: {body}");
    let (_, unchanged) = server
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(unchanged["scopes"].as_array().map(Vec::len), Some(20));
}

#[tokio::test]
async fn a_revoked_key_stops_signing_leaves_the_jwks_and_its_tokens_are_refused() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let old = server.token(&id, &secret, &[]).await;
    let kid = kid_of(&old);
    let aud = server.issuer.issuer_url().to_owned();

    let (status, body) = server
        .admin(Method::POST, &format!("/admin/keys/{kid}/revoke"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kid"], kid.as_str());
    let replacement = body["replacement"].as_str().expect("a new key").to_owned();
    assert_ne!(replacement, kid);

    let jwks = server.jwks().await;
    assert!(jwks.find(&kid).is_none(), "out of the JWKS at once");
    assert!(jwks.find(&replacement).is_some());
    let fresh = server.token(&id, &secret, &[]).await;
    assert_eq!(kid_of(&fresh), replacement, "the new key signs at once");
    assert!(
        in_process_verdict(&server.issuer, &aud, &fresh)
            .await
            .is_ok()
    );
    assert!(
        in_process_verdict(&server.issuer, &aud, &old)
            .await
            .is_err(),
        "in-process guards refuse the old key's tokens at once"
    );
    assert_eq!(introspect(&mut server, &old).await["active"], false);
    let page = feed_json(&server).await;
    assert_eq!(page["revoked_keys"][0]["kid"], kid.as_str(), "{page}");

    let (status, _) = server
        .admin(Method::POST, &format!("/admin/keys/{kid}/revoke"), None)
        .await;
    assert_eq!(status, 404, "already gone");
    let (status, _) = server
        .admin(Method::POST, "/admin/keys/no-such-kid/revoke", None)
        .await;
    assert_eq!(status, 404);

    // Revoking a key that does not sign needs no replacement.
    let (_, rotation) = server.admin(Method::POST, "/admin/keys/rotate", None).await;
    let waiting = rotation["kid"].as_str().expect("kid").to_owned();
    let (status, body) = server
        .admin(Method::POST, &format!("/admin/keys/{waiting}/revoke"), None)
        .await;
    assert_eq!((status, body["replacement"].clone()), (200, Value::Null));
    assert_eq!(kid_of(&server.token(&id, &secret, &[]).await), replacement);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_guards_refuse_a_revoked_keys_tokens_within_their_bounds() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let old = server.token(&id, &secret, &[]).await;
    let kid = kid_of(&old);
    let aud = server.issuer.issuer_url().to_owned();
    let clock = server.issuer.clone();
    let base = || {
        let clock = clock.clone();
        m2m_guard::Guard::builder(server.issuer.issuer_url(), aud.clone())
            .jwks_url(server.url("/.well-known/jwks.json"))
            .clock(Arc::new(move || clock.now()))
    };
    // Only the JWKS: it learns when it refreshes (here every second).
    let jwks_only = base()
        .refresh_bounds(Duration::from_secs(1), Duration::from_secs(1))
        .default_refresh(Duration::from_secs(1))
        .build()
        .await
        .expect("guard");
    // The feed too: it learns within its poll interval, whatever the JWKS says.
    let poll = Duration::from_millis(200);
    let feed_polling = base()
        .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600))
        .revocation_feed(server.url("/oauth/revocations"))
        .revocation_poll_interval(poll)
        .build()
        .await
        .expect("guard");
    assert!(jwks_only.check_token(&old).is_ok());
    assert!(feed_polling.check_token(&old).is_ok());

    let (status, body) = server
        .admin(Method::POST, &format!("/admin/keys/{kid}/revoke"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut jwks_refused, mut feed_refused) = (None, None);
    let started = Instant::now();
    while jwks_refused.is_none() || feed_refused.is_none() {
        if jwks_refused.is_none() && jwks_only.check_token(&old).is_err() {
            jwks_refused = Some(started.elapsed());
        }
        if feed_refused.is_none() && feed_polling.check_token(&old) == Err(Rejection::Revoked) {
            feed_refused = Some(started.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "a remote guard still accepts the revoked key's token (JWKS only: {jwks_refused:?}, feed: {feed_refused:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "revoked key refused: JWKS-only guard after {jwks_refused:?}, feed-polling guard after {feed_refused:?}"
    );
    // The replacement key's tokens work at the JWKS-only guard once it knows the key.
    let fresh = server.token(&id, &secret, &[]).await;
    assert_ne!(kid_of(&fresh), kid);
    assert!(
        in_process_verdict(&server.issuer, &aud, &fresh)
            .await
            .is_ok()
    );
}
