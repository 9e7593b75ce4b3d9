//! Workload identity federation through `m2m serve`: GitHub-Actions-shaped
//! and Kubernetes-shaped tokens from a local test OIDC issuer, traded with
//! the JWT-bearer grant (RFC 7523 §2.1) or sent as a client assertion, and
//! every refusal answered with the right error and no token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::*;
use crate::oidc_issuer::OidcIssuer;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const K8S: &str = "https://kubernetes.default.svc.cluster.local";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn post_token(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let body = serde_urlencoded::to_string(form).expect("form");
    let (status, _, body) = http(
        "POST",
        &format!("{}/oauth/token", server.endpoint),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    )
    .expect("token request");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The JWT-bearer grant with `assertion`, naming `client_id` if given.
fn bearer(server: &Server, assertion: &str, client_id: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    post_token(server, &form)
}

/// Refused with `error` (status 400, or 401 for invalid_client), and no token.
#[track_caller]
fn refused(answer: (u16, Value), error: &str, what: &str) {
    let (status, body) = answer;
    let expected = if error == "invalid_client" { 401 } else { 400 };
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(body.get("access_token").is_none(), "{what}: {body}");
}

#[track_caller]
fn issued(answer: (u16, Value), what: &str) -> Value {
    let (status, body) = answer;
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["token_type"], "Bearer");
    body
}

/// An unsigned JWT (`alg: none`) and an HS256 one keyed with the issuer's
/// public JWK text (the classic key-confusion attack).
fn forged(claims: &Value, jwks: &Value) -> (String, String) {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        enc(&json!({"alg": "none", "typ": "JWT"})),
        enc(claims)
    );
    let signing_input = format!(
        "{}.{}",
        enc(&json!({"alg": "HS256", "typ": "JWT", "kid": jwks["keys"][0]["kid"]})),
        enc(claims)
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        jwks["keys"][0].to_string().as_bytes(),
    );
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    let hs256 = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    (none, hs256)
}

fn service_client(server: &Server, name: &str) -> String {
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        name,
        "--kind",
        "service",
        "--scope",
        "deploy",
        "--audience",
        "https://api.example.com",
        "--json",
    ]);
    created["client_id"].as_str().expect("client_id").to_owned()
}

/// A client trusting the test issuer's `acme/app` branches.
fn gh_client(server: &Server, oidc: &OidcIssuer) -> String {
    let id = service_client(server, "ci");
    server.cli_json(&[
        "client",
        "federation",
        "add",
        &id,
        "--issuer",
        &oidc.issuer,
        "--subject",
        "repo:acme/app:ref:refs/heads/*",
        "--claim",
        "repository=acme/app",
        "--json",
    ]);
    id
}

#[test]
fn github_actions_and_kubernetes_tokens_through_m2m_serve() {
    let dir = TempDir::new("federation");
    let oidc = OidcIssuer::start(dir.path());
    let server = Server::start(
        dir.path(),
        Options {
            args: vec![
                "--federation-allow-network".into(),
                "127.0.0.0/8".into(),
                "--federation-ca-file".into(),
                oidc.ca_file.display().to_string(),
            ],
            ..Options::default()
        },
    );
    let (_, metadata) = ureq_get(&format!(
        "{}/.well-known/oauth-authorization-server",
        server.endpoint
    ))
    .expect("metadata");
    let metadata: Value = serde_json::from_str(&metadata).expect("metadata JSON");
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .expect("grant types")
            .contains(&json!(JWT_BEARER)),
        "{metadata}"
    );

    let deployer = service_client(&server, "deployer");
    server.cli_json(&[
        "client",
        "federation",
        "add",
        &deployer,
        "--issuer",
        &oidc.issuer,
        "--subject",
        "repo:acme/app:ref:refs/heads/*",
        "--claim",
        "repository=acme/app",
        "--json",
    ]);
    let aud = server.endpoint.clone();
    let t = now();

    // GitHub Actions: the JWT-bearer grant, with and without client_id.
    let main = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    let body = issued(bearer(&server, &oidc.sign(main), Some(&deployer)), "grant");
    assert_eq!(body["scope"], "deploy");
    let claims = server.cli_json(&[
        "verify",
        body["access_token"].as_str().expect("token"),
        "--audience",
        "https://api.example.com",
    ]);
    assert_eq!(claims["client_id"], deployer.as_str());
    let branch = oidc.github_claims(&aud, "acme/app", "refs/heads/feature/x", t);
    issued(
        bearer(&server, &oidc.sign(branch), None),
        "grant without client_id",
    );
    // As a client assertion on the client_credentials grant.
    let as_assertion = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", deployer.as_str()),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", as_assertion.as_str()),
    ];
    issued(post_token(&server, &form), "client assertion");
    // ... and never twice.
    refused(
        post_token(&server, &form),
        "invalid_client",
        "replayed client assertion",
    );
    // The grant's invalid_scope and unauthorized_client.
    let good = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    let (status, body) = post_token(
        &server,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", good.as_str()),
            ("client_id", deployer.as_str()),
            ("scope", "admin"),
        ],
    );
    refused((status, body), "invalid_scope", "scope beyond the client's");
    let plain = service_client(&server, "no federation");
    let other = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    refused(
        bearer(&server, &other, Some(&plain)),
        "unauthorized_client",
        "client without federation",
    );

    // Each refusal: invalid_grant, no token (each against a client of its
    // own: failures are throttled per client like bad secrets).
    let replayed = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    let replay_target = gh_client(&server, &oidc);
    issued(
        bearer(&server, &replayed, Some(&replay_target)),
        "first use",
    );
    refused(
        bearer(&server, &replayed, Some(&replay_target)),
        "invalid_grant",
        "replayed jti",
    );
    // Now several clients trust these tokens: without client_id, which one
    // is not guessed.
    let fresh = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    refused(
        bearer(&server, &fresh, None),
        "invalid_request",
        "several clients match, no client_id",
    );
    let wrong_aud = oidc.github_claims(
        "https://someone-else.example",
        "acme/app",
        "refs/heads/main",
        t,
    );
    refused(
        bearer(
            &server,
            &oidc.sign(wrong_aud),
            Some(&gh_client(&server, &oidc)),
        ),
        "invalid_grant",
        "wrong audience",
    );
    let tag = oidc.github_claims(&aud, "acme/app", "refs/tags/v1", t);
    refused(
        bearer(&server, &oidc.sign(tag), Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "wrong subject",
    );
    let mut fork = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    fork["repository"] = json!("evil/app");
    refused(
        bearer(&server, &oidc.sign(fork), Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "claim condition",
    );
    let mut no_exp = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    no_exp.as_object_mut().expect("object").remove("exp");
    refused(
        bearer(
            &server,
            &oidc.sign(no_exp),
            Some(&gh_client(&server, &oidc)),
        ),
        "invalid_grant",
        "no exp",
    );
    let mut long = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    long["exp"] = json!(t + 2 * 3600);
    refused(
        bearer(&server, &oidc.sign(long), Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "too long-lived",
    );
    let mut expired = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t - 600);
    expired["exp"] = json!(t - 300);
    refused(
        bearer(
            &server,
            &oidc.sign(expired),
            Some(&gh_client(&server, &oidc)),
        ),
        "invalid_grant",
        "expired",
    );
    let claims = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    let (none, hs256) = forged(&claims, &oidc.jwks());
    refused(
        bearer(&server, &none, Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "alg none",
    );
    refused(
        bearer(&server, &hs256, Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "HS256",
    );
    let mut untrusted = oidc.github_claims(&aud, "acme/app", "refs/heads/main", t);
    untrusted["iss"] = json!("https://token.actions.example.net");
    refused(
        bearer(
            &server,
            &oidc.sign(untrusted.clone()),
            Some(&gh_client(&server, &oidc)),
        ),
        "invalid_grant",
        "untrusted issuer",
    );
    refused(
        bearer(&server, &oidc.sign(untrusted), None),
        "invalid_grant",
        "untrusted issuer, no client_id",
    );
    let stranger = m2m_core::SigningKey::generate(m2m_core::Algorithm::ES256).expect("key");
    let foreign = m2m_core::sign_assertion(
        &stranger,
        &oidc.github_claims(&aud, "acme/app", "refs/heads/main", t),
    )
    .expect("sign");
    refused(
        bearer(&server, &foreign, Some(&gh_client(&server, &oidc))),
        "invalid_grant",
        "unknown signing key",
    );
    assert!(
        oidc.jwks_hits() <= 2,
        "keys are cached: {} fetches",
        oidc.jwks_hits()
    );

    // Kubernetes, whose issuer is not reachable: the cluster's JWKS inline.
    let jwks_file = dir.path().join("cluster.jwks");
    std::fs::write(&jwks_file, oidc.jwks().to_string()).expect("jwks file");
    let worker = service_client(&server, "cluster worker");
    server.cli_json(&[
        "client",
        "federation",
        "add",
        &worker,
        "--issuer",
        K8S,
        "--subject",
        "system:serviceaccount:ci:*",
        "--audience",
        "m2m-auth",
        "--claim",
        "/kubernetes.io/namespace=ci",
        "--jwks-file",
        jwks_file.to_str().expect("path"),
        "--json",
    ]);
    let mut pod = oidc.kubernetes_claims("m2m-auth", "ci", "deployer", t);
    pod["iss"] = json!(K8S);
    let body = issued(
        bearer(&server, &oidc.sign(pod), Some(&worker)),
        "kubernetes grant",
    );
    let claims = server.cli_json(&[
        "verify",
        body["access_token"].as_str().expect("token"),
        "--audience",
        "https://api.example.com",
    ]);
    assert_eq!(claims["client_id"], worker.as_str());
    let mut other_ns = oidc.kubernetes_claims("m2m-auth", "ci", "deployer", t);
    other_ns["iss"] = json!(K8S);
    other_ns["kubernetes.io"]["namespace"] = json!("prod");
    refused(
        bearer(&server, &oidc.sign(other_ns), Some(&worker)),
        "invalid_grant",
        "namespace condition",
    );
    let mut prod = oidc.kubernetes_claims("m2m-auth", "prod", "deployer", t);
    prod["iss"] = json!(K8S);
    refused(
        bearer(&server, &oidc.sign(prod), Some(&worker)),
        "invalid_grant",
        "other namespace",
    );
    // A GitHub token is not this client's: its issuer is not trusted for it.
    let gh = oidc.sign(oidc.github_claims(&aud, "acme/app", "refs/heads/main", t));
    refused(
        bearer(&server, &gh, Some(&worker)),
        "invalid_grant",
        "other client's issuer",
    );
}

/// A federated token's `jti` used on one replica is refused on another
/// sharing the PostgreSQL database, as client assertion and as grant.
#[test]
fn a_federated_jti_is_refused_on_a_second_replica() {
    let Some((url, schema)) = crate::replicas::fresh_schema() else {
        return;
    };
    let dir = TempDir::new("federation-replicas");
    let oidc = OidcIssuer::start(dir.path());
    let key = ("M2M_KEY_ENCRYPTION_KEY".to_owned(), "6b".repeat(32));
    let args = vec![
        "--issuer".to_owned(),
        "http://m2m.test".to_owned(),
        "--federation-allow-network".to_owned(),
        "127.0.0.1/32".to_owned(),
        "--federation-ca-file".to_owned(),
        oidc.ca_file.display().to_string(),
    ];
    let a = Server::start(
        dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key.clone()],
            args: args.clone(),
            log_name: Some("a.log".into()),
        },
    );
    let b_dir = TempDir::new("federation-replicas-b");
    let b = Server::start(
        b_dir.path(),
        Options {
            database: Some(url),
            env: vec![key],
            args,
            log_name: Some("b.log".into()),
        },
    );
    let client = gh_client(&a, &oidc);
    let t = now();
    let claims = || oidc.github_claims("http://m2m.test", "acme/app", "refs/heads/main", t);

    let grant = oidc.sign(claims());
    issued(bearer(&a, &grant, Some(&client)), "grant on A");
    refused(
        bearer(&b, &grant, Some(&client)),
        "invalid_grant",
        "the same token on B",
    );

    let assertion = oidc.sign(claims());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    issued(post_token(&b, &form), "client assertion on B");
    refused(
        post_token(&a, &form),
        "invalid_client",
        "the same assertion on A",
    );
    drop(a);
    drop(b);
    crate::replicas::drop_schema(&schema);
}
