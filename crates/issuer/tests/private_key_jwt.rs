//! `private_key_jwt` client authentication (RFC 7523 §2.2): clients
//! registered with inline `jwks` or a `jwks_uri`, assertions accepted once,
//! and every refusal answered `invalid_client` with no token. Over a real
//! TCP listener.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{Algorithm, SigningKey, sign_assertion};
use m2m_issuer::ThrottleConfig;
use serde_json::{Value, json};

use crate::common::{TestServer, expect_oauth_error};

pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A `private_key_jwt` org client with `key`'s public JWK inline.
pub(crate) async fn key_client(server: &mut TestServer, key: &SigningKey) -> String {
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "name": "key agent",
                "kind": "org",
                "org_id": "org_1",
                "scopes": ["invoices:read"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.public_jwk()]},
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created.get("client_secret").is_none(),
        "a private_key_jwt client gets no secret: {created}"
    );
    created["client_id"].as_str().expect("client_id").to_owned()
}

/// The claims of a good assertion of `id` for `server`.
pub(crate) fn claims(server: &TestServer, id: &str) -> Value {
    let now = server.now();
    json!({
        "iss": id, "sub": id, "aud": server.base,
        "iat": now, "exp": now + 60,
        "jti": m2m_core::random_id("a").expect("random"),
    })
}

/// POSTs a client_credentials request with `assertion`.
pub(crate) async fn token_with(
    server: &TestServer,
    assertion: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    server
        .http
        .post(server.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .expect("request")
}

async fn assert_token(server: &TestServer, assertion: &str) -> Value {
    let response = token_with(server, assertion, &[]).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body
}

async fn assert_refused(server: &TestServer, assertion: &str, why: &str) {
    let response = token_with(server, assertion, &[]).await;
    let (_, body) = expect_oauth_error(response, 401, "invalid_client").await;
    assert!(body.get("access_token").is_none(), "{why}: {body}");
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// A JWS with `header` and `claims` signed by HMAC-SHA-256 under `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test]
async fn es256_and_eddsa_clients_get_tokens_without_a_secret() {
    let mut server = TestServer::start().await;
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg).expect("key");
        let id = key_client(&mut server, &key).await;
        let assertion = sign_assertion(&key, &claims(&server, &id)).expect("sign");
        let body = assert_token(&server, &assertion).await;
        let token = body["access_token"].as_str().expect("token");
        let verified = server
            .verify(token, &server.base)
            .await
            .expect("valid token");
        assert_eq!(verified.client_id.as_str(), id, "{alg}");

        // aud may be the token endpoint URL, or a list naming the issuer.
        for aud in [
            json!(server.url("/oauth/token")),
            json!(["https://other.example", server.base]),
        ] {
            let mut c = claims(&server, &id);
            c["aud"] = aud;
            assert_token(&server, &sign_assertion(&key, &c).expect("sign")).await;
        }
        // client_id in the form too, equal to the assertion's.
        let assertion = sign_assertion(&key, &claims(&server, &id)).expect("sign");
        let response = token_with(&server, &assertion, &[("client_id", &id)]).await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn rs256_clients_get_tokens() {
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::RS256).expect("key");
    let id = key_client(&mut server, &key).await;
    let assertion = sign_assertion(&key, &claims(&server, &id)).expect("sign");
    assert_token(&server, &assertion).await;
}

#[tokio::test]
async fn an_rsa_key_declared_ps256_refuses_rs256_assertions() {
    // One key, one algorithm (RFC 8725 §3.1): the client registered its RSA
    // key for PS256, so a PKCS#1 v1.5 signature by that very key is refused.
    // (PS256 assertions themselves are minted by PyJWT in tests/interop.)
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::RS256).expect("key");
    let mut jwk = serde_json::to_value(key.public_jwk()).expect("jwk");
    jwk["alg"] = json!("PS256");
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "name": "pss", "kind": "org", "org_id": "org_1", "scopes": ["invoices:read"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [jwk]},
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["jwks"]["keys"][0]["alg"], "PS256");
    let id = created["client_id"].as_str().expect("id").to_owned();
    let assertion = sign_assertion(&key, &claims(&server, &id)).expect("sign");
    assert_refused(&server, &assertion, "RS256 by a PS256 key").await;
}

#[tokio::test]
async fn every_bad_assertion_is_invalid_client_with_no_token() {
    let mut server = TestServer::start_with(|b| {
        b.throttle(ThrottleConfig {
            max_failures_per_client: 1000,
            max_failures_per_address: 1000,
            ..ThrottleConfig::default()
        })
    })
    .await;
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let id = key_client(&mut server, &key).await;
    let good = |server: &TestServer| claims(server, &id);
    let now = server.now();

    // Replayed: the same assertion twice.
    let once = sign_assertion(&key, &good(&server)).expect("sign");
    assert_token(&server, &once).await;
    assert_refused(&server, &once, "replayed jti").await;

    let cases: Vec<(&str, Value)> = vec![
        ("wrong aud", json!({"aud": "https://other.example.com"})),
        (
            "aud of another issuer's token endpoint",
            json!({"aud": "https://evil.example/auth/oauth/token"}),
        ),
        ("expired", json!({"exp": now - 120, "iat": now - 180})),
        ("too long-lived", json!({"exp": now + 3600})),
        ("no exp", json!({"exp": null})),
        ("no jti", json!({"jti": null})),
        ("empty jti", json!({"jti": ""})),
        (
            "iss is not sub",
            json!({"iss": "m2m_someoneelse1234567890"}),
        ),
        (
            "sub is not the client",
            json!({"sub": "m2m_someoneelse1234567890"}),
        ),
        ("not yet valid", json!({"nbf": now + 600})),
        ("issued in the future", json!({"iat": now + 600})),
        ("jti too long", json!({"jti": "j".repeat(300)})),
    ];
    for (why, changes) in cases {
        let mut c = good(&server);
        for (name, value) in changes.as_object().expect("object") {
            if value.is_null() {
                c.as_object_mut().expect("object").remove(name);
            } else {
                c[name] = value.clone();
            }
        }
        let assertion = sign_assertion(&key, &c).expect("sign");
        assert_refused(&server, &assertion, why).await;
    }

    // Signed by a key the client did not register: under its own kid
    // (unknown kid), and under the registered key's kid (bad signature).
    let stranger = SigningKey::generate(Algorithm::ES256).expect("key");
    assert_refused(
        &server,
        &sign_assertion(&stranger, &good(&server)).expect("sign"),
        "unregistered key",
    )
    .await;
    let forged = {
        let real = sign_assertion(&key, &good(&server)).expect("sign");
        let other = sign_assertion(&stranger, &good(&server)).expect("sign");
        let (input, _) = real.rsplit_once('.').expect("jws");
        let (_, signature) = other.rsplit_once('.').expect("jws");
        format!("{input}.{signature}")
    };
    assert_refused(&server, &forged, "signature of another key").await;

    // HS256 with the public key as the HMAC secret (key confusion), and alg none.
    let jwk = serde_json::to_vec(key.public_jwk()).expect("jwk");
    for secret in [
        jwk.as_slice(),
        key.public_jwk().x.as_deref().unwrap_or("").as_bytes(),
    ] {
        let header = json!({"alg": "HS256", "kid": key.kid(), "typ": "JWT"});
        assert_refused(&server, &hs256(&header, &good(&server), secret), "HS256").await;
    }
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": key.kid()})),
        b64(&good(&server))
    );
    assert_refused(&server, &none, "alg none").await;
    // An access token is not an assertion (typ at+jwt refused), nor is garbage.
    let typed = {
        let c = good(&server);
        let header = json!({"alg": "ES256", "kid": key.kid(), "typ": "at+jwt"});
        let input = format!("{}.{}", b64(&header), b64(&c));
        let signature = key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    assert_refused(&server, &typed, "typ at+jwt").await;
    assert_refused(&server, "not.a.jwt", "garbage").await;
    assert_refused(&server, "e30", "one part").await;

    // The failures were audited with their real reasons.
    server.issuer.flush_audit().await;
    let (status, audit) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/audit?client_id={id}&limit=100"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let reasons: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "auth.failed")
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    for reason in [
        "replayed_jti",
        "wrong_audience",
        "expired",
        "too_long_lived",
        "missing_exp",
        "missing_jti",
        "no_federated_credential",
        "unknown_kid",
        "bad_signature",
        "alg_symmetric",
        "alg_none",
        "wrong_typ",
    ] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
}

#[tokio::test]
async fn an_assertion_with_a_secret_or_basic_is_invalid_request() {
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let id = key_client(&mut server, &key).await;
    let assertion = sign_assertion(&key, &claims(&server, &id)).expect("sign");
    let response = token_with(&server, &assertion, &[("client_secret", "m2ms_x")]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&id, Some("m2ms_x"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 400, "invalid_request").await;
    // Half of the pair, and an unknown type.
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 400, "invalid_request").await;
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 401, "invalid_client").await;
    // A client_id in the form that is not the assertion's.
    let (other, _) = server.org_client(&["invoices:read"]).await;
    let response = token_with(&server, &assertion, &[("client_id", &other)]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
    // The assertion was never accepted, so it still works.
    assert_token(&server, &assertion).await;
    // A private_key_jwt client cannot use a secret (it has none) nor nothing.
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", &id)])
        .send()
        .await
        .expect("request");
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn registration_refuses_private_symmetric_and_malformed_keys() {
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let public = serde_json::to_value(key.public_jwk()).expect("jwk");
    let mut private = public.clone();
    private["d"] = json!("c2VjcmV0");
    let base = |extra: Value| {
        let mut body = json!({
            "name": "k", "kind": "org", "org_id": "org_1", "scopes": ["invoices:read"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let mut rsa_small =
        json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5; 128]), "e": "AQAB"});
    rsa_small["kid"] = json!("small");
    let too_many: Vec<Value> = (0..11)
        .map(|i| {
            let k = SigningKey::generate(Algorithm::EdDSA).expect("key");
            let mut jwk = serde_json::to_value(k.public_jwk()).expect("jwk");
            jwk["kid"] = json!(format!("k{i}"));
            jwk
        })
        .collect();
    let refused = [
        ("no keys", base(json!({}))),
        ("private key", base(json!({"jwks": {"keys": [private]}}))),
        (
            "symmetric",
            base(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
        ),
        (
            "oct without k",
            base(json!({"jwks": {"keys": [{"kty": "oct"}]}})),
        ),
        ("small RSA", base(json!({"jwks": {"keys": [rsa_small]}}))),
        (
            "P-384",
            base(json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}})),
        ),
        (
            "alg HS256 on an EC key",
            base(json!({"jwks": {"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "HS256",
            "x": public["x"], "y": public["y"]}]}})),
        ),
        (
            "alg PS256 on an EC key",
            base(json!({"jwks": {"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "PS256",
            "x": public["x"], "y": public["y"]}]}})),
        ),
        (
            "alg PS256 on an Ed25519 key",
            base(json!({"jwks": {"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "PS256", "x": public["x"]}]}})),
        ),
        (
            "use enc",
            base(json!({"jwks": {"keys": [{
            "kty": "EC", "crv": "P-256", "use": "enc",
            "x": public["x"], "y": public["y"]}]}})),
        ),
        ("empty set", base(json!({"jwks": {"keys": []}}))),
        ("not a set", base(json!({"jwks": [public]}))),
        ("eleven keys", base(json!({"jwks": {"keys": too_many}}))),
        (
            "duplicate kid",
            base(json!({"jwks": {"keys": [public, public]}})),
        ),
        (
            "http jwks_uri",
            base(json!({"jwks_uri": "http://keys.example.com/jwks"})),
        ),
        (
            "jwks_uri with user info",
            base(json!({"jwks_uri": "https://u:p@keys.example.com/jwks"})),
        ),
        (
            "both",
            base(json!({"jwks": {"keys": [public]}, "jwks_uri": "https://keys.example.com/j"})),
        ),
        (
            "jwks on a secret client",
            json!({
                "name": "k", "kind": "org", "org_id": "org_1", "scopes": ["invoices:read"],
                "jwks": {"keys": [public]},
            }),
        ),
    ];
    for (why, body) in refused {
        let (status, answer) = server
            .admin(reqwest::Method::POST, "/admin/clients", Some(body))
            .await;
        assert_eq!(status, 422, "{why}: {answer}");
        assert_eq!(answer["error"], "validation_failed", "{why}: {answer}");
    }
    let listed = server
        .admin(reqwest::Method::GET, "/admin/clients", None)
        .await;
    assert_eq!(
        listed.1["items"].as_array().map(Vec::len),
        Some(1),
        "only the admin"
    );

    // A kid is filled in with the thumbprint when absent; GET shows the keys.
    let mut no_kid = public.clone();
    no_kid.as_object_mut().expect("object").remove("kid");
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(base(json!({"jwks": {"keys": [no_kid]}}))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["jwks"]["keys"][0]["kid"], key.kid());
    assert!(created["jwks"]["keys"][0].get("d").is_none());
    let id = created["client_id"].as_str().expect("id").to_owned();
    let (_, shown) = server
        .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(shown["jwks"], created["jwks"]);
    // A private_key_jwt client gets no secret.
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/secrets"),
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn metadata_lists_private_key_jwt_and_its_algorithms() {
    let server = TestServer::start().await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = &metadata[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .expect("methods")
                .contains(&json!("private_key_jwt")),
            "{endpoint}: {methods}"
        );
        let algs = &metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")];
        assert_eq!(
            algs,
            &json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]),
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn introspection_and_revocation_accept_private_key_jwt() {
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let id = key_client(&mut server, &key).await;
    let body = assert_token(
        &server,
        &sign_assertion(&key, &claims(&server, &id)).expect("sign"),
    )
    .await;
    let token = body["access_token"].as_str().expect("token");
    for (path, aud) in [
        ("/oauth/introspect", server.url("/oauth/introspect")),
        ("/oauth/introspect", server.base.clone()),
    ] {
        let mut c = claims(&server, &id);
        c["aud"] = json!(aud);
        let assertion = sign_assertion(&key, &c).expect("sign");
        let answer: Value = server
            .http
            .post(server.url(path))
            .form(&[
                ("token", token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(answer["active"], true, "{answer}");
    }
    let mut c = claims(&server, &id);
    c["aud"] = json!(server.url("/oauth/revoke"));
    let assertion = sign_assertion(&key, &c).expect("sign");
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[
            ("token", token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let introspect = |aud: String| {
        let mut c = claims(&server, &id);
        c["aud"] = json!(aud);
        let assertion = sign_assertion(&key, &c).expect("sign");
        server
            .http
            .post(server.url("/oauth/introspect"))
            .form(&[
                ("token", token.to_owned()),
                ("client_assertion_type", JWT_BEARER.to_owned()),
                ("client_assertion", assertion),
            ])
            .send()
    };
    let answer: Value = introspect(server.base.clone())
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["active"], false, "revoked: {answer}");
    // The revocation endpoint's URL is not an audience at introspection.
    let response = introspect(server.url("/oauth/revoke"))
        .await
        .expect("request");
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn failed_assertions_are_throttled_like_bad_secrets_and_good_ones_never() {
    let mut server = TestServer::start().await;
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let id = key_client(&mut server, &key).await;
    let stranger = SigningKey::generate(Algorithm::ES256).expect("key");
    for _ in 0..10 {
        let bad = sign_assertion(&stranger, &claims(&server, &id)).expect("sign");
        assert_refused(&server, &bad, "stranger").await;
    }
    let bad = sign_assertion(&stranger, &claims(&server, &id)).expect("sign");
    let (headers, _) =
        expect_oauth_error(token_with(&server, &bad, &[]).await, 429, "slow_down").await;
    assert!(headers.contains_key("retry-after"));
    // A valid assertion is answered normally whatever others sent.
    let good = sign_assertion(&key, &claims(&server, &id)).expect("sign");
    assert_token(&server, &good).await;
}

#[tokio::test]
async fn keys_are_added_and_removed_through_the_admin_api() {
    let mut server = TestServer::start().await;
    let old = SigningKey::generate(Algorithm::ES256).expect("key");
    let new = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let id = key_client(&mut server, &old).await;

    let (status, added) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/jwks"),
            Some(serde_json::to_value(new.public_jwk()).expect("jwk")),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["kid"], new.kid());
    let (_, shown) = server
        .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    let kids: Vec<&str> = shown["jwks"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, [old.kid(), new.kid()]);

    // Both keys work during the rotation.
    for key in [&old, &new] {
        assert_token(
            &server,
            &sign_assertion(key, &claims(&server, &id)).expect("sign"),
        )
        .await;
    }
    // The same kid twice, a private key, and an unknown kid to remove.
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/jwks"),
            Some(serde_json::to_value(new.public_jwk()).expect("jwk")),
        )
        .await;
    assert_eq!(status, 422);
    let mut private = serde_json::to_value(
        SigningKey::generate(Algorithm::ES256)
            .expect("key")
            .public_jwk(),
    )
    .expect("jwk");
    private["d"] = json!("AAAA");
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/jwks"),
            Some(private),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{id}/jwks/nope"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The old key leaves: an assertion signed by it is refused at once.
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{id}/jwks/{}", old.kid()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_refused(
        &server,
        &sign_assertion(&old, &claims(&server, &id)).expect("sign"),
        "removed key",
    )
    .await;
    assert_token(
        &server,
        &sign_assertion(&new, &claims(&server, &id)).expect("sign"),
    )
    .await;
    // The last key stays.
    let (status, body) = server
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{id}/jwks/{}", new.kid()),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // At most ten keys: the eleventh is 409.
    for _ in 0..9 {
        let k = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let (status, body) = server
            .admin(
                reqwest::Method::POST,
                &format!("/admin/clients/{id}/jwks"),
                Some(serde_json::to_value(k.public_jwk()).expect("jwk")),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let k = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let (status, body) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{id}/jwks"),
            Some(serde_json::to_value(k.public_jwk()).expect("jwk")),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    // A secret client has no keys to add to.
    let (other, _) = server.org_client(&["invoices:read"]).await;
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/clients/{other}/jwks"),
            Some(serde_json::to_value(k.public_jwk()).expect("jwk")),
        )
        .await;
    assert_eq!(status, 422);
    // The changes were audited.
    server.issuer.flush_audit().await;
    let (_, audit) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/audit?client_id={id}&kind=client.updated"),
            None,
        )
        .await;
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 11),
        "{audit}"
    );
}

mod jwks_uri {
    use std::time::Duration;

    use m2m_core::{Algorithm, JwkSet, SigningKey, sign_assertion};
    use m2m_issuer::ClientJwksPolicy;
    use serde_json::json;

    use super::{assert_refused, assert_token, claims};
    use crate::client_metadata::{DocumentServer, Reply};
    use crate::common::TestServer;

    fn jwks(keys: &[&SigningKey]) -> Reply {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
        };
        Reply::with_headers(
            "application/json",
            "Cache-Control: max-age=600\n",
            serde_json::to_string(&set).expect("json").as_bytes(),
        )
    }

    async fn issuer(keys: &DocumentServer, allow_loopback: bool) -> TestServer {
        let mut policy = ClientJwksPolicy::new()
            .extra_root_pem(keys.ca_pem.clone())
            .timeout(Duration::from_millis(800));
        if allow_loopback {
            policy = policy.allow_network("127.0.0.0/8".parse().expect("cidr"));
        }
        TestServer::start_with(|b| b.client_jwks(policy)).await
    }

    async fn uri_client(server: &mut TestServer, uri: &str) -> String {
        let (status, created) = server
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({
                    "name": "uri agent", "kind": "org", "org_id": "org_1",
                    "scopes": ["invoices:read"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": uri,
                })),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["jwks_uri"], uri);
        created["client_id"].as_str().expect("id").to_owned()
    }

    #[tokio::test]
    async fn keys_come_from_the_uri_and_a_rotation_is_followed_by_kid() {
        let keys = DocumentServer::start().await;
        let a = SigningKey::generate(Algorithm::ES256).expect("key");
        let b = SigningKey::generate(Algorithm::EdDSA).expect("key");
        keys.serve("/jwks.json", jwks(&[&a]));
        let mut server = issuer(&keys, true).await;
        let id = uri_client(&mut server, &keys.url("/jwks.json")).await;

        assert_token(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
        )
        .await;
        assert_token(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
        )
        .await;
        assert_eq!(keys.hits("/jwks.json"), 1, "cached by max-age");

        // The client rotates to b: its unknown kid re-fetches once.
        keys.serve("/jwks.json", jwks(&[&b]));
        assert_token(
            &server,
            &sign_assertion(&b, &claims(&server, &id)).expect("sign"),
        )
        .await;
        assert_eq!(keys.hits("/jwks.json"), 2);
        assert_refused(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
            "a left the set",
        )
        .await;
        // Made-up kids within the cooldown fetch nothing more.
        for _ in 0..5 {
            let stranger = SigningKey::generate(Algorithm::ES256).expect("key");
            assert_refused(
                &server,
                &sign_assertion(&stranger, &claims(&server, &id)).expect("sign"),
                "unknown kid",
            )
            .await;
        }
        assert_eq!(keys.hits("/jwks.json"), 2, "cooldown holds re-fetches back");
    }

    #[tokio::test]
    async fn a_loopback_jwks_uri_is_refused_by_default_and_failures_are_invalid_client() {
        let keys = DocumentServer::start().await;
        let a = SigningKey::generate(Algorithm::ES256).expect("key");
        keys.serve("/jwks.json", jwks(&[&a]));
        let mut server = issuer(&keys, false).await;
        let id = uri_client(&mut server, &keys.url("/jwks.json")).await;
        assert_refused(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
            "SSRF: loopback",
        )
        .await;
        assert_eq!(keys.hits("/jwks.json"), 0, "never connected");

        // Allowed, but the set is not JSON, or the server is gone: still invalid_client.
        let mut server = issuer(&keys, true).await;
        let id = uri_client(&mut server, &keys.url("/broken.json")).await;
        keys.serve(
            "/broken.json",
            Reply::with_headers("application/json", "", b"{not json"),
        );
        assert_refused(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
            "broken JWKS",
        )
        .await;
        let id = uri_client(&mut server, "https://127.0.0.1:1/jwks.json").await;
        assert_refused(
            &server,
            &sign_assertion(&a, &claims(&server, &id)).expect("sign"),
            "nobody listening",
        )
        .await;
    }
}

/// m2m-client's `private_key_jwt` source: tokens with no secret, a fresh
/// assertion (so no replay refusal) for every fetch, and a key the client
/// is not registered with refused as `invalid_client`.
#[tokio::test]
async fn the_rust_client_gets_tokens_with_a_key_and_no_secret() {
    let mut server = TestServer::start().await;
    // The client signs with the wall clock: move the issuer's fake one to it.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    server.advance(wall.saturating_sub(server.now()));
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let id = key_client(&mut server, &key).await;
    let endpoint = server.url("/oauth/token");
    let tokens = m2m_client::TokenSource::private_key_jwt(&endpoint, &id, key)
        .scope("invoices:read")
        .build()
        .expect("source");
    for _ in 0..2 {
        let token = tokens.token().await.expect("a token");
        let verified = server
            .verify(token.secret(), &server.base)
            .await
            .expect("valid token");
        assert_eq!(verified.client_id.as_str(), id);
        tokens.invalidate();
    }

    let stranger = SigningKey::generate(Algorithm::ES256).expect("key");
    let refused = m2m_client::TokenSource::private_key_jwt(&endpoint, &id, stranger)
        .build()
        .expect("source")
        .token()
        .await
        .expect_err("an unregistered key gets no token");
    assert!(
        matches!(&refused, m2m_client::Error::Refused { status: 401, error, .. } if error == "invalid_client"),
        "{refused:?}"
    );
}

/// Two issuers (replicas) over one PostgreSQL database: an assertion
/// accepted by one is refused by the other, and of the same assertion sent
/// to both at once exactly one request gets a token. Skipped when
/// `M2M_TEST_POSTGRES_URL` is unset.
#[tokio::test]
async fn a_replayed_assertion_is_refused_by_a_second_replica_on_postgres() {
    use std::sync::Arc;
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
        "m2m_conformance_{now}_pkjwt{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let store = m2m_store_sql::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}"));
    // The replays are failures: limits out of reach, so each is answered.
    let relaxed = |b: m2m_issuer::IssuerBuilder| {
        b.throttle(ThrottleConfig {
            max_failures_per_client: 1000,
            max_failures_per_address: 1000,
            ..ThrottleConfig::default()
        })
    };
    let mut first = TestServer::start_on(Arc::new(store), relaxed)
        .await
        .expect("issuer");
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let id = key_client(&mut first, &key).await;
    let second = first.replica(relaxed).await;

    let assertion = sign_assertion(&key, &claims(&first, &id)).expect("sign");
    assert_token(&first, &assertion).await;
    assert_refused(&second, &assertion, "replayed on the second replica").await;

    for round in 0..3 {
        let assertion = sign_assertion(&key, &claims(&first, &id)).expect("sign");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let server = if i % 2 == 0 { &first } else { &second };
                let request = server.http.post(server.url("/oauth/token")).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.as_str()),
                ]);
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
        let won = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(
            won, 1,
            "round {round}: exactly one of 16 racing requests wins: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 401),
            "{statuses:?}"
        );
    }
}
