//! DPoP (RFC 9449) at the token endpoint: bound tokens for every grant,
//! every refusal an attacker would try (each with its error and no token),
//! `dpop_bound_access_tokens`, public clients' bound refresh tokens, server
//! nonces, metadata and introspection, and replay across replicas on
//! PostgreSQL. Every test runs over a real TCP listener.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{Algorithm, SigningKey, sign_proof};
use m2m_issuer::ThrottleConfig;
use m2m_issuer::consent::DevConsent;
use serde_json::{Value, json};

use crate::common::{TestServer, claims_of};

const CALLBACK: &str = "https://agent.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const NONCE_SECRET: [u8; 32] = [42; 32];

fn key() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).expect("key")
}

fn jkt(key: &SigningKey) -> String {
    key.public_jwk().thumbprint().expect("thumbprint")
}

/// A proof for `POST` to the server's token endpoint, made now.
fn proof(server: &TestServer, key: &SigningKey, jti: &str) -> String {
    proof_at(server, key, jti, server.now(), None)
}

fn proof_at(
    server: &TestServer,
    key: &SigningKey,
    jti: &str,
    iat: u64,
    nonce: Option<&str>,
) -> String {
    sign_proof(
        key,
        "POST",
        &server.url("/oauth/token"),
        iat,
        jti,
        None,
        nonce,
    )
    .expect("proof")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A proof with arbitrary header, claims and signature bytes.
fn crafted(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header),
        b64(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn public_jwk(key: &SigningKey) -> Value {
    let mut jwk = serde_json::to_value(key.public_jwk()).expect("jwk");
    let jwk_object = jwk.as_object_mut().expect("object");
    for member in ["kid", "use", "alg"] {
        jwk_object.remove(member);
    }
    jwk
}

/// A token request: `form`, HTTP Basic if given, and one `DPoP` header per proof.
async fn post_token(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> reqwest::Response {
    let mut request = server.http.post(server.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.expect("token request")
}

async fn client_credentials(
    server: &TestServer,
    id: &str,
    secret: &str,
    proofs: &[&str],
) -> reqwest::Response {
    post_token(
        server,
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
        proofs,
    )
    .await
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts `invalid_dpop_proof` (or `error`) with no token in the body.
async fn refused(response: reqwest::Response, error: &str, why: &str) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 400, "{why}: {body}");
    assert_eq!(body["error"], error, "{why}: {body}");
    assert!(body["error_description"].is_string(), "{why}: {body}");
    assert!(
        body.get("access_token").is_none(),
        "{why}: no token: {body}"
    );
    body
}

async fn refused_status(response: reqwest::Response, status: u16, error: &str) {
    let got = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
}

/// A server whose failure throttle is out of reach: the refusals below are failures.
async fn relaxed_server(
    configure: impl FnOnce(m2m_issuer::IssuerBuilder) -> m2m_issuer::IssuerBuilder,
) -> TestServer {
    TestServer::start_with(|b| configure(relaxed(b))).await
}

fn relaxed(builder: m2m_issuer::IssuerBuilder) -> m2m_issuer::IssuerBuilder {
    builder.throttle(ThrottleConfig {
        max_failures_per_client: 1000,
        max_failures_per_address: 1000,
        ..ThrottleConfig::default()
    })
}

#[tokio::test]
async fn client_credentials_with_a_proof_gets_a_token_bound_to_its_key() {
    let mut server = relaxed_server(|b| b).await;
    let (id, secret) = server.org_client(&["invoices:read"]).await;
    let key = key();

    let body =
        ok_json(client_credentials(&server, &id, &secret, &[&proof(&server, &key, "p1")]).await)
            .await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().expect("token");
    let claims = claims_of(token);
    assert_eq!(claims["cnf"], json!({"jkt": jkt(&key)}), "{claims}");
    assert_eq!(jkt(&key), key.kid(), "the thumbprint is RFC 7638's");

    // RFC 9449 §6.2: introspection shows the binding.
    let shown = server.introspect(&id, &secret, token).await;
    assert_eq!(shown["active"], true);
    assert_eq!(shown["token_type"], "DPoP");
    assert_eq!(shown["cnf"], json!({"jkt": jkt(&key)}));

    // Without a proof: a Bearer token, as before.
    let body = ok_json(client_credentials(&server, &id, &secret, &[]).await).await;
    assert_eq!(body["token_type"], "Bearer");
    let bearer = body["access_token"].as_str().expect("token");
    assert!(claims_of(bearer).get("cnf").is_none());
    let shown = server.introspect(&id, &secret, bearer).await;
    assert_eq!(shown["token_type"], "Bearer");
    assert!(shown.get("cnf").is_none(), "{shown}");

    // EdDSA and RS256 keys bind too; the htu is normalised (§4.3).
    for alg in [Algorithm::EdDSA, Algorithm::RS256] {
        let other = SigningKey::generate(alg).expect("key");
        let url = server.url("/oauth/token").replace("http://", "HTTP://");
        let p = sign_proof(
            &other,
            "POST",
            &format!("{url}?ignored=1"),
            server.now(),
            "alg",
            None,
            None,
        )
        .expect("proof");
        let body = ok_json(client_credentials(&server, &id, &secret, &[&p]).await).await;
        assert_eq!(
            claims_of(body["access_token"].as_str().expect("token"))["cnf"]["jkt"],
            jkt(&other)
        );
    }
}

#[tokio::test]
async fn every_bad_proof_is_invalid_dpop_proof_and_no_token() {
    let mut server = relaxed_server(|b| b).await;
    let (id, secret) = server.org_client(&["invoices:read"]).await;
    let key = key();
    let now = server.now();
    let url = server.url("/oauth/token");
    let send = |proofs: Vec<String>| {
        let server = &server;
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            client_credentials(server, &id, &secret, &proofs).await
        }
    };

    // Replay: the same proof twice.
    let once = proof(&server, &key, "replayed");
    ok_json(send(vec![once.clone()]).await).await;
    let body = refused(send(vec![once]).await, "invalid_dpop_proof", "replayed").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    // The same jti under another key is another proof.
    ok_json(send(vec![proof(&server, &other_key(), "replayed")]).await).await;

    let sign = |htm: &str, htu: &str, iat: u64, jti: &str| {
        sign_proof(&key, htm, htu, iat, jti, None, None).expect("proof")
    };
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key)});
    let claims = json!({"jti": "c1", "htm": "POST", "htu": url, "iat": now});
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let another = other_key();
    let bad_signature = crafted(
        &header,
        &claims,
        &another.sign(signing_input.as_bytes()).expect("sign"),
    );
    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let mut hs_header = header.clone();
    hs_header["alg"] = json!("HS256");
    hs_header["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"});
    let mut private_header = header.clone();
    private_header["jwk"]["d"] = json!("AAAA");
    let mut typ_header = header.clone();
    typ_header["typ"] = json!("JWT");
    let mut kid_header = header.clone();
    kid_header["kid"] = json!("k1");
    let forged = |h: &Value| {
        let input = format!("{}.{}", b64(h), b64(&claims));
        let sig = key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    };

    let cases: Vec<(&str, Vec<String>)> = vec![
        ("wrong htm", vec![sign("GET", &url, now, "m")]),
        (
            "wrong htu",
            vec![sign("POST", &server.url("/oauth/introspect"), now, "u")],
        ),
        (
            "htu of another host",
            vec![sign(
                "POST",
                "https://evil.example/auth/oauth/token",
                now,
                "h",
            )],
        ),
        ("stale iat", vec![sign("POST", &url, now - 61, "s")]),
        ("future iat", vec![sign("POST", &url, now + 6, "f")]),
        ("bad signature", vec![bad_signature]),
        ("alg none", vec![crafted(&none_header, &claims, b"")]),
        ("alg HS256", vec![crafted(&hs_header, &claims, b"mac")]),
        ("private jwk", vec![forged(&private_header)]),
        ("typ not dpop+jwt", vec![forged(&typ_header)]),
        ("kid in the header", vec![forged(&kid_header)]),
        (
            "two DPoP headers",
            vec![sign("POST", &url, now, "t1"), sign("POST", &url, now, "t2")],
        ),
        ("oversized", vec![format!("{}.x.y", "a".repeat(7 * 1024))]),
        ("not a JWS", vec!["not-a-proof".to_owned()]),
        ("garbage base64", vec!["e30.e30.!!".to_owned()]),
    ];
    for (why, proofs) in cases {
        refused(send(proofs).await, "invalid_dpop_proof", why).await;
    }

    // A header value that is not visible ASCII (obs-text bytes).
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .header(
            "DPoP",
            reqwest::header::HeaderValue::from_bytes(b"e30.\xff\xfe.e30").expect("obs-text"),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    refused(response, "invalid_dpop_proof", "non-ASCII header").await;

    // A refused proof burned nothing: its jti still works once valid.
    ok_json(send(vec![sign("POST", &url, now, "t1")]).await).await;
}

fn other_key() -> SigningKey {
    key()
}

#[tokio::test]
async fn a_dpop_bound_client_must_send_a_proof() {
    let mut server = relaxed_server(|b| b).await;
    let (id, secret, created) = server
        .create_client(json!({
            "name": "bound", "kind": "org", "org_id": "org_1", "scopes": ["invoices:read"],
            "dpop_bound_access_tokens": true,
        }))
        .await;
    assert_eq!(created["dpop_bound_access_tokens"], true, "{created}");
    let body = refused(
        client_credentials(&server, &id, &secret, &[]).await,
        "invalid_dpop_proof",
        "bound client without a proof",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("proof is required"),
        "{body}"
    );
    let key = key();
    let body =
        ok_json(client_credentials(&server, &id, &secret, &[&proof(&server, &key, "b1")]).await)
            .await;
    assert_eq!(body["token_type"], "DPoP");

    // PATCH turns it off (and the read shows it); the default is off.
    let (status, patched) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"dpop_bound_access_tokens": false})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (_, shown) = server
        .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(shown["dpop_bound_access_tokens"], false, "{shown}");
    server.advance(3); // past the client cache
    ok_json(client_credentials(&server, &id, &secret, &[]).await).await;
    let (plain, _) = server.org_client(&["invoices:read"]).await;
    let (_, shown) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{plain}"),
            None,
        )
        .await;
    assert_eq!(shown["dpop_bound_access_tokens"], false, "{shown}");
    let (status, refused) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"dpop_bound_access_tokens": "yes"})),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {refused}");

    // Turning the requirement on revokes the Bearer tokens the client holds.
    let bearer = ok_json(client_credentials(&server, &id, &secret, &[]).await).await;
    let bearer = bearer["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        server.introspect(&id, &secret, &bearer).await["active"],
        true
    );
    let (status, patched) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"dpop_bound_access_tokens": true})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        server.introspect(&id, &secret, &bearer).await["active"],
        false,
        "a Bearer token does not outlive the DPoP requirement"
    );
    server.advance(3);
    let body =
        ok_json(client_credentials(&server, &id, &secret, &[&proof(&server, &key, "b2")]).await)
            .await;
    assert_eq!(body["token_type"], "DPoP");
}

/// A user-level server with a consent handler, and a client of kind user
/// (`public`: `token_endpoint_auth_method: none`; else a secret).
async fn user_client(server: &mut TestServer, public: bool) -> (String, Option<String>) {
    let mut body = json!({
        "name": "agent", "kind": "user", "org_id": "org_1",
        "scopes": ["invoices:read"], "redirect_uris": [CALLBACK],
    });
    if public {
        body["token_endpoint_auth_method"] = json!("none");
    }
    let (status, created) = server
        .admin(reqwest::Method::POST, "/admin/clients", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"].as_str().map(str::to_owned),
    )
}

async fn code_for(server: &TestServer, client_id: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
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
    let (_, query) = location.split_once('?').expect("query");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("params");
    params
        .into_iter()
        .find(|(n, _)| n == "code")
        .map(|(_, v)| v)
        .expect("a code")
}

async fn user_server() -> TestServer {
    relaxed_server(|b| b.consent(Arc::new(DevConsent::new("dev_user", "org_1")))).await
}

async fn exchange(
    server: &TestServer,
    id: &str,
    secret: Option<&str>,
    code: &str,
    proofs: &[&str],
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", id),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    post_token(server, secret.map(|s| (id, s)), &form, proofs).await
}

async fn refresh(
    server: &TestServer,
    id: &str,
    secret: Option<&str>,
    token: &str,
    proofs: &[&str],
) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", id),
        ("refresh_token", token),
    ];
    post_token(server, secret.map(|s| (id, s)), &form, proofs).await
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_the_key_that_got_it() {
    let mut server = user_server().await;
    let (id, _) = user_client(&mut server, true).await;
    let key = key();

    let code = code_for(&server, &id).await;
    let first =
        ok_json(exchange(&server, &id, None, &code, &[&proof(&server, &key, "x1")]).await).await;
    assert_eq!(first["token_type"], "DPoP", "{first}");
    assert_eq!(
        claims_of(first["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt(&key)
    );
    let rt = first["refresh_token"].as_str().expect("refresh token");

    // Without a proof, or with another key's: invalid_grant, and nothing consumed.
    refused(
        refresh(&server, &id, None, rt, &[]).await,
        "invalid_grant",
        "no proof",
    )
    .await;
    let thief = other_key();
    refused(
        refresh(&server, &id, None, rt, &[&proof(&server, &thief, "x2")]).await,
        "invalid_grant",
        "another key",
    )
    .await;

    // With the key: a new bound pair; the rotated one stays bound.
    let second =
        ok_json(refresh(&server, &id, None, rt, &[&proof(&server, &key, "x3")]).await).await;
    assert_eq!(second["token_type"], "DPoP");
    assert_eq!(
        claims_of(second["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt(&key)
    );
    let rt2 = second["refresh_token"].as_str().expect("rotated");
    refused(
        refresh(&server, &id, None, rt2, &[]).await,
        "invalid_grant",
        "rotated, no proof",
    )
    .await;
    ok_json(refresh(&server, &id, None, rt2, &[&proof(&server, &key, "x4")]).await).await;
}

#[tokio::test]
async fn a_public_client_without_a_proof_gets_unbound_tokens_and_may_bind_later() {
    let mut server = user_server().await;
    let (id, _) = user_client(&mut server, true).await;
    let code = code_for(&server, &id).await;
    let first = ok_json(exchange(&server, &id, None, &code, &[]).await).await;
    assert_eq!(first["token_type"], "Bearer");
    let rt = first["refresh_token"].as_str().expect("rt");
    let key = key();
    let second =
        ok_json(refresh(&server, &id, None, rt, &[&proof(&server, &key, "l1")]).await).await;
    assert_eq!(second["token_type"], "DPoP");
    // From here on the refresh token is bound.
    let rt2 = second["refresh_token"].as_str().expect("rt2");
    refused(
        refresh(&server, &id, None, rt2, &[]).await,
        "invalid_grant",
        "now bound",
    )
    .await;
}

#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_bound_but_each_access_token_is() {
    let mut server = user_server().await;
    let (id, secret) = user_client(&mut server, false).await;
    let secret = secret.expect("a secret");
    let key = key();
    let code = code_for(&server, &id).await;
    let first = ok_json(
        exchange(
            &server,
            &id,
            Some(&secret),
            &code,
            &[&proof(&server, &key, "c1")],
        )
        .await,
    )
    .await;
    assert_eq!(first["token_type"], "DPoP");
    let rt = first["refresh_token"].as_str().expect("rt");
    // No proof: allowed (the client authenticates), and the token is Bearer.
    let second = ok_json(refresh(&server, &id, Some(&secret), rt, &[]).await).await;
    assert_eq!(second["token_type"], "Bearer");
    assert!(
        claims_of(second["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
    // Another key's proof: the new token is bound to that key.
    let rt2 = second["refresh_token"].as_str().expect("rt2");
    let other = other_key();
    let third = ok_json(
        refresh(
            &server,
            &id,
            Some(&secret),
            rt2,
            &[&proof(&server, &other, "c2")],
        )
        .await,
    )
    .await;
    assert_eq!(
        claims_of(third["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt(&other)
    );
}

#[tokio::test]
async fn with_nonces_a_proof_needs_the_current_one_and_every_response_carries_it() {
    let mut server = relaxed_server(|b| b.dpop_nonce(NONCE_SECRET, 60)).await;
    let (id, secret) = server.org_client(&["invoices:read"]).await;
    let key = key();

    // No nonce: use_dpop_nonce, with one to use.
    let response = client_credentials(&server, &id, &secret, &[&proof(&server, &key, "n1")]).await;
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .expect("a DPoP-Nonce header")
        .to_owned();
    refused(response, "use_dpop_nonce", "missing nonce").await;

    // A wrong one: the same.
    let wrong = proof_at(&server, &key, "n2", server.now(), Some("bm9wZQ"));
    refused(
        client_credentials(&server, &id, &secret, &[&wrong]).await,
        "use_dpop_nonce",
        "wrong nonce",
    )
    .await;

    // The one handed out: a token, and the next nonce with it.
    let good = proof_at(&server, &key, "n3", server.now(), Some(&nonce));
    let response = client_credentials(&server, &id, &secret, &[&good]).await;
    assert!(
        response.headers().get("dpop-nonce").is_some(),
        "every response carries a nonce"
    );
    let body = ok_json(response).await;
    assert_eq!(body["token_type"], "DPoP");

    // A second replica with the same secret accepts it too.
    let replica = server
        .replica(|b| relaxed(b).dpop_nonce(NONCE_SECRET, 60))
        .await;
    // (Its public URL is the first's: the proof names that.)
    let there = proof_at(&server, &key, "n4", replica.now(), Some(&nonce));
    ok_json(client_credentials(&replica, &id, &secret, &[&there]).await).await;

    // Two slots later it is stale.
    server.advance(121);
    let stale = proof_at(&server, &key, "n5", server.now(), Some(&nonce));
    refused(
        client_credentials(&server, &id, &secret, &[&stale]).await,
        "use_dpop_nonce",
        "stale nonce",
    )
    .await;

    // A request refused before its proof is looked at carries one too.
    let response = post_token(&server, None, &[("grant_type", "client_credentials")], &[]).await;
    assert!(response.headers().get("dpop-nonce").is_some());
    refused_status(response, 401, "invalid_client").await;

    // A too-short secret is a configuration error.
    let error = TestServer::start_on(Arc::new(m2m_issuer::store::MemoryStore::new()), |b| {
        b.dpop_nonce([1u8; 16], 60)
    })
    .await
    .err()
    .expect("refused");
    assert!(error.to_string().contains("32 bytes"), "{error}");
}

#[tokio::test]
async fn metadata_lists_the_proof_algorithms() {
    let server = TestServer::start().await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256"]),
        "{metadata}"
    );
}

#[tokio::test]
async fn dynamic_registration_reads_dpop_bound_access_tokens() {
    let server = relaxed_server(|b| {
        b.consent(Arc::new(DevConsent::new("dev_user", "org_1")))
            .dynamic_registration(
                m2m_issuer::RegistrationPolicy::new("org_1").scopes(["invoices:read"]),
            )
    })
    .await;
    let response = server
        .http
        .post(server.url("/oauth/register"))
        .json(&json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
            "dpop_bound_access_tokens": true,
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["dpop_bound_access_tokens"], true, "{body}");
    let id = body["client_id"].as_str().expect("id");
    let code = code_for(&server, id).await;
    let body = refused(
        exchange(&server, id, None, &code, &[]).await,
        "invalid_dpop_proof",
        "bound",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("proof is required")
    );
}

/// Two issuers (replicas) over one PostgreSQL database: a proof accepted by
/// one is refused by the other, and of one proof sent to both at once
/// exactly one request gets a token. Skipped when `M2M_TEST_POSTGRES_URL`
/// is unset.
#[tokio::test]
async fn a_replayed_proof_is_refused_by_a_second_replica_on_postgres() {
    use std::sync::atomic::{AtomicU64, Ordering};

    let Some(url) = std::env::var("M2M_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Named like m2m-store-sql's conformance schemas, which its runs drop.
    let schema = format!(
        "m2m_conformance_{now}_dpop{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let store = m2m_store_sql::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}"));
    let configure = |b: m2m_issuer::IssuerBuilder| {
        relaxed(b).consent(Arc::new(DevConsent::new("dev_user", "org_1")))
    };
    let mut first = TestServer::start_on(Arc::new(store), configure)
        .await
        .expect("issuer");
    let (id, secret) = first.org_client(&["invoices:read"]).await;
    let second = first.replica(configure).await;
    let key = key();

    let once = proof(&first, &key, "pg-1");
    ok_json(client_credentials(&first, &id, &secret, &[&once]).await).await;
    refused(
        client_credentials(&second, &id, &secret, &[&once]).await,
        "invalid_dpop_proof",
        "replayed on the second replica",
    )
    .await;

    for round in 0..3 {
        let racing = proof(&first, &key, &format!("pg-race-{round}"));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let server = if i % 2 == 0 { &first } else { &second };
                let request = server
                    .http
                    .post(server.url("/oauth/token"))
                    .basic_auth(&id, Some(&secret))
                    .header("DPoP", racing.as_str())
                    .form(&[("grant_type", "client_credentials")]);
                tokio::spawn(request.send())
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(
                task.await
                    .expect("task")
                    .expect("response")
                    .status()
                    .as_u16(),
            );
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: exactly one of the racing requests gets a token: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
    }

    // A public client's refresh token bound on one replica (the SQL store
    // keeps the key) needs that key on the other.
    let (public, _) = user_client(&mut first, true).await;
    let code = code_for(&first, &public).await;
    let got = ok_json(
        exchange(
            &first,
            &public,
            None,
            &code,
            &[&proof(&first, &key, "pg-code")],
        )
        .await,
    )
    .await;
    let rt = got["refresh_token"].as_str().expect("rt");
    refused(
        refresh(&second, &public, None, rt, &[]).await,
        "invalid_grant",
        "bound refresh without a proof on the second replica",
    )
    .await;
    let there = proof(&first, &key, "pg-refresh");
    let again = ok_json(refresh(&second, &public, None, rt, &[&there]).await).await;
    assert_eq!(again["token_type"], "DPoP");
}

#[tokio::test]
async fn the_jwt_bearer_grant_and_private_key_jwt_bind_too() {
    const CLUSTER: &str = "https://k8s.example.internal";
    let mut server = relaxed_server(|b| b).await;
    let (id, _) = server.org_client(&["invoices:read"]).await;
    let workload = key();
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/federated-credentials"),
            Some(json!({
                "issuer": CLUSTER,
                "subject": "system:serviceaccount:ci:deployer",
                "jwks": {"keys": [workload.public_jwk()]},
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let now = server.now();
    let external = m2m_core::sign_assertion(
        &workload,
        &json!({
            "iss": CLUSTER, "sub": "system:serviceaccount:ci:deployer",
            "aud": server.issuer.issuer_url(), "iat": now, "exp": now + 300, "jti": "ext-1",
        }),
    )
    .expect("sign");
    let holder = key();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", external.as_str()),
        ("client_id", id.as_str()),
    ];
    let body =
        ok_json(post_token(&server, None, &form, &[&proof(&server, &holder, "jb1")]).await).await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt(&holder)
    );

    // private_key_jwt: the client's assertion key and the DPoP key are separate.
    let client_key = key();
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "name": "keyed", "kind": "org", "org_id": "org_1", "scopes": ["invoices:read"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [client_key.public_jwk()]},
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let keyed = created["client_id"].as_str().expect("id").to_owned();
    let assertion = m2m_core::sign_assertion(
        &client_key,
        &json!({
            "iss": keyed, "sub": keyed, "aud": server.issuer.issuer_url(),
            "iat": now, "exp": now + 60, "jti": "pk-1",
        }),
    )
    .expect("sign");
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let body =
        ok_json(post_token(&server, None, &form, &[&proof(&server, &holder, "pk1")]).await).await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
}
