//! DPoP end to end: a real `m2m serve` issues a DPoP-bound token to a
//! client created with `m2m client create --dpop-bound`, and a real guard
//! (`GuardBuilder::dpop`) in front of an API on 127.0.0.1 accepts it with a
//! proof and refuses it as Bearer; `--dpop-nonce` makes the token endpoint
//! demand its nonce.

use m2m_core::{Algorithm, SigningKey, access_token_hash, random_id, sign_proof};
use serde_json::Value;

use crate::harness::*;

/// A proof for `method url`, made now, with `ath` for `token` if given.
fn proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    let ath = token.map(access_token_hash);
    sign_proof(
        key,
        method,
        url,
        m2m_core::now_unix(),
        &random_id("").expect("jti"),
        ath.as_deref(),
        nonce,
    )
    .expect("proof")
}

/// `POST /oauth/token` for client credentials with these extra headers;
/// returns (status, response head, body JSON).
fn token_request(
    endpoint: &str,
    id: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ])
    .expect("form");
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    let (status, head, body) =
        http("POST", &format!("{endpoint}/oauth/token"), &all, &form).expect("token request");
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// A response header's value, from the raw head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn create_bound_client(server: &Server) -> (String, String) {
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "bound",
        "--kind",
        "org",
        "--org-id",
        "org_1",
        "--scope",
        "invoices:read",
        "--audience",
        "https://api.test",
        "--dpop-bound",
        "--json",
    ]);
    assert_eq!(created["dpop_bound_access_tokens"], true, "{created}");
    (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

#[test]
fn a_dpop_bound_token_from_m2m_serve_passes_the_guard_only_with_a_proof() {
    let dir = TempDir::new("dpop");
    let server = Server::start(dir.path(), Options::default());
    let endpoint = server.endpoint.clone();
    let (id, secret) = create_bound_client(&server);
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let token_url = format!("{endpoint}/oauth/token");

    // Without a proof the bound client gets nothing.
    let (status, _, body) = token_request(&endpoint, &id, &secret, &[]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(body.get("access_token").is_none());

    let p = proof(&key, "POST", &token_url, None, None);
    let (status, _, body) = token_request(&endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().expect("token").to_owned();
    // The same proof again: a replay.
    let (status, _, body) = token_request(&endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );

    let shown = server.cli_json(&["verify", &token, "--audience", "https://api.test"]);
    assert_eq!(
        shown["cnf"]["jkt"],
        key.public_jwk().thumbprint().expect("thumbprint"),
        "{shown}"
    );

    // A guarded API on a port of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let issuer = shown["iss"].as_str().expect("iss").to_owned();
    let guard = runtime
        .block_on(
            m2m_guard::Guard::builder(issuer.as_str(), "https://api.test")
                .jwks_url(format!("{endpoint}/.well-known/jwks.json"))
                .dpop(m2m_guard::DpopConfig::new(api.as_str()))
                .build(),
        )
        .expect("guard");
    let app = axum::Router::new()
        .route("/invoices", axum::routing::get(|| async { "paid" }))
        .route_layer(guard.require(["invoices:read"]));
    runtime.spawn(async move { axum::serve(listener, app).await });
    let invoices = format!("{api}/invoices");

    let with_proof = proof(&key, "GET", &invoices, Some(&token), None);
    let authorization = format!("DPoP {token}");
    let (status, _, body) = http(
        "GET",
        &invoices,
        &[("Authorization", &authorization), ("DPoP", &with_proof)],
        "",
    )
    .expect("api");
    assert_eq!((status, body.as_str()), (200, "paid"));

    let bearer = format!("Bearer {token}");
    let (status, head, _) = http("GET", &invoices, &[("Authorization", &bearer)], "").expect("api");
    assert_eq!(status, 401, "a bound token as Bearer is refused: {head}");

    let thief = SigningKey::generate(Algorithm::ES256).expect("key");
    let stolen = proof(&thief, "GET", &invoices, Some(&token), None);
    let (status, _, _) = http(
        "GET",
        &invoices,
        &[("Authorization", &authorization), ("DPoP", &stolen)],
        "",
    )
    .expect("api");
    assert_eq!(status, 401, "a proof by another key is refused");

    // `client update --no-dpop-bound` lifts the requirement, `--dpop-bound` puts it back.
    let updated = server.cli_json(&["client", "update", &id, "--no-dpop-bound", "--json"]);
    assert_eq!(updated["dpop_bound_access_tokens"], false, "{updated}");
    let updated = server.cli_json(&["client", "update", &id, "--dpop-bound", "--json"]);
    assert_eq!(updated["dpop_bound_access_tokens"], true, "{updated}");
    let both = server.cli(&["client", "update", &id, "--dpop-bound", "--no-dpop-bound"]);
    assert!(!both.status.success(), "the two flags conflict");
}

#[test]
fn serve_dpop_nonce_makes_the_token_endpoint_demand_its_nonce() {
    let dir = TempDir::new("dpop-nonce");
    let server = Server::start(
        dir.path(),
        Options {
            env: vec![("M2M_DPOP_NONCE".into(), "true".into())],
            ..Options::default()
        },
    );
    let endpoint = server.endpoint.clone();
    let (id, secret) = create_bound_client(&server);
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let token_url = format!("{endpoint}/oauth/token");

    let p = proof(&key, "POST", &token_url, None, None);
    let (status, head, body) = token_request(&endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    assert!(body.get("access_token").is_none());
    let nonce = header(&head, "dpop-nonce").expect("a DPoP-Nonce header");

    let p = proof(&key, "POST", &token_url, None, Some(&nonce));
    let (status, head, body) = token_request(&endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(
        header(&head, "dpop-nonce").is_some(),
        "the success carries a nonce too"
    );

    let metadata: Value = serde_json::from_str(
        &ureq_get(&format!(
            "{endpoint}/.well-known/oauth-authorization-server"
        ))
        .expect("metadata")
        .1,
    )
    .expect("json");
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA", "RS256"])
    );
}

/// Two `m2m serve --dpop-nonce` processes on one PostgreSQL database with
/// the same master key: a nonce from one is good at the other, and a proof
/// accepted by one is refused by the other. Skipped without
/// `M2M_TEST_POSTGRES_URL`.
#[test]
fn two_replicas_share_dpop_nonces_and_refuse_each_others_replays() {
    let Some((url, schema)) = crate::replicas::fresh_schema() else {
        return;
    };
    let key = ("M2M_KEY_ENCRYPTION_KEY".to_owned(), "6b".repeat(32));
    let args = vec![
        "--issuer".to_owned(),
        "http://m2m.test".to_owned(),
        "--dpop-nonce".to_owned(),
    ];
    let a_dir = TempDir::new("dpop-a");
    let a = Server::start(
        a_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key.clone()],
            args: args.clone(),
            log_name: Some("a.log".into()),
        },
    );
    let b_dir = TempDir::new("dpop-b");
    let b = Server::start(
        b_dir.path(),
        Options {
            database: Some(url),
            env: vec![key],
            args,
            log_name: Some("b.log".into()),
        },
    );
    let (id, secret) = create_bound_client(&a);
    let holder = SigningKey::generate(Algorithm::ES256).expect("key");
    // The proof names the public URL, whichever replica it reaches.
    let public = "http://m2m.test/oauth/token";

    let p = proof(&holder, "POST", public, None, None);
    let (status, head, _) = token_request(&a.endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(status, 400);
    let nonce = header(&head, "dpop-nonce").expect("nonce from A");

    let p = proof(&holder, "POST", public, None, Some(&nonce));
    let (status, _, body) = token_request(&b.endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(status, 200, "B accepts A's nonce: {body}");
    assert_eq!(body["token_type"], "DPoP");
    let (status, _, body) = token_request(&a.endpoint, &id, &secret, &[("DPoP", &p)]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "A refuses B's proof again: {body}"
    );
    drop((a, b));
    crate::replicas::drop_schema(&schema);
}
