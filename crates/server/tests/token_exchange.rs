//! Token exchange (RFC 8693) through `m2m serve`: an agent set up with the
//! CLI's `--exchange-subject` acts for a user's grant, and a guard polling
//! the revocation feed refuses the exchanged token within its poll interval
//! once the grant is revoked.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::harness::*;

const API: &str = "https://api.test";

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form")
}

fn post_token(endpoint: &str, body: &str) -> (u16, Value) {
    let (status, _, reply) = http(
        "POST",
        &format!("{endpoint}/oauth/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
    .expect("token request");
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

/// An access token of alice's grant to the user client `id`.
fn user_token(endpoint: &str, id: &str, secret: &str, redirect: &str) -> String {
    let verifier = B64.encode(m2m_core::random_bytes::<32>().expect("random"));
    let challenge = B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let query = form(&[
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", redirect),
        ("scope", "notes:read"),
        ("state", "s"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", "alice"),
    ]);
    let (status, head, _) = http(
        "GET",
        &format!("{endpoint}/oauth/authorize?{query}"),
        &[],
        "",
    )
    .expect("authorize");
    assert_eq!(status, 302, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .expect("Location header")
        .trim()
        .to_owned();
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').expect("query").1).expect("params");
    let code = params
        .into_iter()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1;
    let (status, tokens) = post_token(
        endpoint,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
            ("client_id", id),
            ("client_secret", secret),
        ]),
    );
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().expect("access").to_owned()
}

#[test]
fn a_feed_polling_guard_refuses_an_exchanged_token_once_the_grant_is_revoked() {
    let dir = TempDir::new("token-exchange");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--dev-consent".into()],
            ..Options::default()
        },
    );
    let endpoint = server.endpoint.clone();
    let redirect = "http://127.0.0.1:1/callback";
    let app = server.cli_json(&[
        "client",
        "create",
        "--name",
        "notes app",
        "--kind",
        "user",
        "--org-id",
        "org_7",
        "--scope",
        "notes:read",
        "--redirect-uri",
        redirect,
        "--json",
    ]);
    let app_id = app["client_id"].as_str().expect("id").to_owned();
    let app_secret = app["client_secret"].as_str().expect("secret").to_owned();
    let agent = server.cli_json(&[
        "client",
        "create",
        "--name",
        "notes agent",
        "--kind",
        "service",
        "--scope",
        "notes:read",
        "--audience",
        API,
        "--exchange-subject",
        &app_id,
        "--exchange-max-depth",
        "2",
        "--json",
    ]);
    assert_eq!(
        agent["token_exchange"],
        serde_json::json!({"subjects": [app_id], "max_depth": 2}),
        "{agent}"
    );
    let agent_id = agent["client_id"].as_str().expect("id").to_owned();
    let agent_secret = agent["client_secret"].as_str().expect("secret").to_owned();

    // The policy can be replaced and removed from the CLI too.
    let updated = server.cli_json(&[
        "client",
        "update",
        &agent_id,
        "--exchange-subject",
        &app_id,
        "--exchange-subject",
        "org:org_7",
        // Keeping max_depth: a lower one narrows the policy, which revokes
        // the agent's tokens.
        "--exchange-max-depth",
        "2",
        "--json",
    ]);
    assert_eq!(
        updated["token_exchange"]["subjects"],
        serde_json::json!([app_id, "org:org_7"]),
        "{updated}"
    );

    let subject = user_token(&endpoint, &app_id, &app_secret, redirect);
    let (status, body) = post_token(
        &endpoint,
        &form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("client_id", &agent_id),
            ("client_secret", &agent_secret),
        ]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let exchanged = body["access_token"].as_str().expect("token").to_owned();
    let shown = server.cli_json(&["verify", &exchanged, "--audience", API]);
    assert_eq!(shown["sub"], "alice");
    assert_eq!(shown["client_id"], agent_id.as_str());
    assert_eq!(shown["act"]["sub"], agent_id.as_str(), "{shown}");
    let issuer = shown["iss"].as_str().expect("iss").to_owned();

    // A guard of the API, polling the feed.
    let interval = Duration::from_millis(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let guard = runtime
        .block_on(
            m2m_guard::Guard::builder(issuer.as_str(), API)
                .jwks_url(format!("{endpoint}/.well-known/jwks.json"))
                .revocation_feed(format!("{endpoint}/oauth/revocations"))
                .revocation_poll_interval(interval)
                .build(),
        )
        .expect("guard");
    let auth = guard
        .check_token(&exchanged)
        .expect("the exchanged token passes");
    assert_eq!(auth.claims().delegation_depth(), 1);
    assert_eq!(
        auth.claims().actor().map(|a| a.sub.as_str()),
        Some(agent_id.as_str())
    );

    let grants = server.cli_json(&["grant", "list", &app_id, "--user-id", "alice", "--json"]);
    let grant_id = grants["items"][0]["grant_id"]
        .as_str()
        .expect("grant id")
        .to_owned();
    let revoked_at = Instant::now();
    let output = server.cli(&["grant", "revoke", &app_id, &grant_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One interval plus one poll is the promise; a busy machine gets ten.
    let deadline = revoked_at + interval * 10;
    loop {
        match guard.check_token(&exchanged) {
            Err(m2m_guard::Rejection::Revoked) => break,
            Ok(_) => assert!(
                Instant::now() < deadline,
                "the exchanged token was still accepted {:?} after its grant was revoked",
                revoked_at.elapsed()
            ),
            Err(other) => panic!("refused for another reason: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "the feed-polling guard refused the exchanged token {:?} after the grant's revocation \
         (poll interval {interval:?})",
        revoked_at.elapsed()
    );
    // And the issuer's introspection agrees.
    let form_body = form(&[
        ("token", exchanged.as_str()),
        ("client_id", agent_id.as_str()),
        ("client_secret", agent_secret.as_str()),
    ]);
    let (status, _, reply) = http(
        "POST",
        &format!("{endpoint}/oauth/introspect"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form_body,
    )
    .expect("introspect");
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(reply["active"], false, "{reply}");

    // Removing the policy: the agent can no longer exchange.
    server.cli_json(&["client", "update", &agent_id, "--no-exchange", "--json"]);
    let subject = user_token(&endpoint, &app_id, &app_secret, redirect);
    let (status, body) = post_token(
        &endpoint,
        &form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("client_id", &agent_id),
            ("client_secret", &agent_secret),
        ]),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
}

fn introspect_active(endpoint: &str, id: &str, secret: &str, token: &str) -> bool {
    let body = form(&[
        ("token", token),
        ("client_id", id),
        ("client_secret", secret),
    ]);
    let (status, _, reply) = http(
        "POST",
        &format!("{endpoint}/oauth/introspect"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    )
    .expect("introspect");
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).expect("json");
    reply["active"] == true
}

#[test]
fn on_postgres_a_revocation_on_one_replica_reaches_what_another_exchanged() {
    let Some((url, schema)) = crate::replicas::fresh_schema() else {
        return;
    };
    let key = ("M2M_KEY_ENCRYPTION_KEY".to_owned(), "7c".repeat(32));
    let issuer = vec!["--issuer".to_owned(), "http://m2m.test".to_owned()];
    let a_dir = TempDir::new("exchange-a");
    let a = Server::start(
        a_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key.clone()],
            args: issuer.clone(),
            log_name: Some("a.log".into()),
        },
    );
    let b_dir = TempDir::new("exchange-b");
    let b = Server::start(
        b_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key],
            args: issuer,
            log_name: Some("b.log".into()),
        },
    );
    let org = a.cli_json(&[
        "client", "create", "--name", "org", "--kind", "org", "--org-id", "org_9", "--scope",
        "s:r", "--json",
    ]);
    let org_id = org["client_id"].as_str().expect("id").to_owned();
    let org_secret = org["client_secret"].as_str().expect("secret").to_owned();
    let agent = a.cli_json(&[
        "client",
        "create",
        "--name",
        "agent",
        "--kind",
        "service",
        "--scope",
        "s:r",
        "--audience",
        API,
        "--exchange-subject",
        "org:org_9",
        "--json",
    ]);
    let agent_id = agent["client_id"].as_str().expect("id").to_owned();
    let agent_secret = agent["client_secret"].as_str().expect("secret").to_owned();

    let (status, body) = token(&a.endpoint, &org_id, &org_secret);
    assert_eq!(status, 200, "{body}");
    let subject = body["access_token"].as_str().expect("token").to_owned();
    let (status, body) = post_token(
        &a.endpoint,
        &form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("client_id", &agent_id),
            ("client_secret", &agent_secret),
        ]),
    );
    assert_eq!(status, 200, "{body}");
    let exchanged = body["access_token"].as_str().expect("token").to_owned();
    assert!(introspect_active(
        &a.endpoint,
        &agent_id,
        &agent_secret,
        &exchanged
    ));

    // RFC 7009 on B, by the subject token's client.
    let (status, _, reply) = http(
        "POST",
        &format!("{}/oauth/revoke", b.endpoint),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form(&[
            ("token", subject.as_str()),
            ("client_id", org_id.as_str()),
            ("client_secret", org_secret.as_str()),
        ]),
    )
    .expect("revoke");
    assert_eq!(status, 200, "{reply}");
    // A reads the store: inactive at once, before its follower runs.
    assert!(
        !introspect_active(&a.endpoint, &agent_id, &agent_secret, &exchanged),
        "replica A still says the exchanged token is active after B revoked its subject"
    );
    let (_, feed) = ureq_get(&format!("{}/oauth/revocations", a.endpoint)).expect("feed");
    let jti = {
        use base64::Engine as _;
        let payload = exchanged.split('.').nth(1).expect("payload");
        let claims: Value =
            serde_json::from_slice(&B64.decode(payload).expect("b64")).expect("json");
        claims["jti"].as_str().expect("jti").to_owned()
    };
    assert!(
        feed.contains(&jti),
        "A's feed lists the exchanged token: {feed}"
    );
    drop((a, b));
    crate::replicas::drop_schema(&schema);
}
