//! DPoP at the guard (RFC 9449 §7), from the attacker's side: every way a
//! stolen or replayed bound token, or a forged proof, could get through.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use m2m_core::{
    Algorithm, Confirmation, SigningKey, access_token_hash, now_unix, random_id, sign_proof,
};
use m2m_guard::{Auth, DpopConfig, Guard};
use tower::ServiceExt;

use crate::common::*;

const BASE: &str = "https://api.test";

async fn whoami(auth: Auth) -> String {
    auth.dpop_jkt().unwrap_or("unbound").to_owned()
}

async fn guard_with(config: Option<DpopConfig>, key: &SigningKey) -> Guard {
    let mut builder = Guard::builder(ISS, AUD).jwk_set(jwk_set(&[key]));
    if let Some(config) = config {
        builder = builder.dpop(config);
    }
    builder.build().await.unwrap()
}

fn app_of(guard: &Guard) -> Router {
    Router::new()
        .route("/invoices", get(whoami).post(whoami))
        .route("/other", post(whoami))
        .route_layer(guard.require(["invoices:read"]))
}

/// A token bound to `holder`'s key.
fn bound_token(issuer_key: &SigningKey, holder: &SigningKey) -> String {
    token_with(issuer_key, |c| {
        c.cnf = Some(Confirmation::jkt(holder.public_jwk().thumbprint().unwrap()));
    })
}

fn proof(holder: &SigningKey, method: &str, url: &str, token: &str) -> String {
    proof_at(
        holder,
        method,
        url,
        token,
        now_unix(),
        &random_id("").unwrap(),
        None,
    )
}

fn proof_at(
    holder: &SigningKey,
    method: &str,
    url: &str,
    token: &str,
    iat: u64,
    jti: &str,
    nonce: Option<&str>,
) -> String {
    sign_proof(
        holder,
        method,
        url,
        iat,
        jti,
        Some(&access_token_hash(token)),
        nonce,
    )
    .unwrap()
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    auth: Option<String>,
    proofs: &[&str],
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    for p in proofs {
        request = request.header("dpop", *p);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn challenges(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn assert_dpop_error(answer: &Answer, error: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(answer.json()["error"], error, "{answer:?}");
    let all = challenges(answer);
    assert!(
        all[0].starts_with(&format!("DPoP error=\"{error}\"")),
        "{all:?}"
    );
    assert!(all[0].contains("algs=\"ES256 EdDSA RS256\""), "{all:?}");
    assert!(
        all.iter().any(|c| c.starts_with("Bearer realm=")),
        "{all:?}"
    );
}

struct Setup {
    issuer_key: SigningKey,
    holder: SigningKey,
    token: String,
    app: Router,
    guard: Guard,
}

async fn setup(config: DpopConfig) -> Setup {
    let issuer_key = key();
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let token = bound_token(&issuer_key, &holder);
    let guard = guard_with(Some(config), &issuer_key).await;
    Setup {
        app: app_of(&guard),
        issuer_key,
        holder,
        token,
        guard,
    }
}

#[tokio::test]
async fn a_bound_token_with_a_valid_proof_passes_and_exposes_its_jkt() {
    let s = setup(DpopConfig::new(BASE)).await;
    let url = format!("{BASE}/invoices");
    for _ in 0..3 {
        let p = proof(&s.holder, "GET", &url, &s.token);
        let ok = send(
            &s.app,
            "GET",
            "/invoices?page=2",
            Some(format!("DPoP {}", s.token)),
            &[&p],
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
        assert_eq!(ok.body, s.holder.public_jwk().thumbprint().unwrap());
    }
    assert_eq!(
        s.guard.cached_tokens(),
        1,
        "the token's check is cached, the proofs are not"
    );
}

#[tokio::test]
async fn a_replayed_proof_is_refused_even_when_the_token_is_cached() {
    let s = setup(DpopConfig::new(BASE)).await;
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &s.token);
    let auth = || Some(format!("DPoP {}", s.token));
    assert_eq!(
        send(&s.app, "GET", "/invoices", auth(), &[&p]).await.status,
        StatusCode::OK
    );
    let replay = send(&s.app, "GET", "/invoices", auth(), &[&p]).await;
    assert_dpop_error(&replay, "invalid_dpop_proof");
}

#[tokio::test]
async fn concurrent_replays_let_exactly_one_through() {
    let s = setup(DpopConfig::new(BASE)).await;
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &s.token);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (app, token, p) = (s.app.clone(), s.token.clone(), p.clone());
            tokio::spawn(async move {
                send(
                    &app,
                    "GET",
                    "/invoices",
                    Some(format!("DPoP {token}")),
                    &[&p],
                )
                .await
                .status
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn a_second_replica_has_its_own_replay_cache_unless_nonces_bound_it() {
    // Documented behaviour: each replica remembers its own proofs.
    let s = setup(DpopConfig::new(BASE)).await;
    let other = app_of(&guard_with(Some(DpopConfig::new(BASE)), &s.issuer_key).await);
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &s.token);
    let auth = || Some(format!("DPoP {}", s.token));
    assert_eq!(
        send(&s.app, "GET", "/invoices", auth(), &[&p]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&other, "GET", "/invoices", auth(), &[&p]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&other, "GET", "/invoices", auth(), &[&p]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_method_url_time_hash_or_key_are_refused() {
    let s = setup(DpopConfig::new(BASE)).await;
    let url = format!("{BASE}/invoices");
    let now = now_unix();
    let jti = || random_id("").unwrap();
    let other_holder = SigningKey::generate(Algorithm::ES256).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("wrong htm", proof(&s.holder, "POST", &url, &s.token)),
        (
            "wrong htu path",
            proof(&s.holder, "GET", &format!("{BASE}/other"), &s.token),
        ),
        (
            "wrong htu host",
            proof(&s.holder, "GET", "https://evil.test/invoices", &s.token),
        ),
        (
            "wrong htu scheme",
            proof(&s.holder, "GET", "http://api.test/invoices", &s.token),
        ),
        (
            "stale iat",
            proof_at(&s.holder, "GET", &url, &s.token, now - 120, &jti(), None),
        ),
        (
            "future iat",
            proof_at(&s.holder, "GET", &url, &s.token, now + 60, &jti(), None),
        ),
        (
            "wrong ath",
            sign_proof(
                &s.holder,
                "GET",
                &url,
                now,
                &jti(),
                Some(&access_token_hash("other")),
                None,
            )
            .unwrap(),
        ),
        (
            "no ath",
            sign_proof(&s.holder, "GET", &url, now, &jti(), None, None).unwrap(),
        ),
        (
            "key not matching cnf.jkt",
            proof(&other_holder, "GET", &url, &s.token),
        ),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (what, p) in cases {
        let answer = send(
            &s.app,
            "GET",
            "/invoices",
            Some(format!("DPoP {}", s.token)),
            &[&p],
        )
        .await;
        assert_dpop_error(&answer, "invalid_dpop_proof");
        assert!(!answer.body.contains(&s.token), "{what}");
    }
}

#[tokio::test]
async fn htu_is_compared_normalised() {
    let s = setup(DpopConfig::new("HTTPS://API.test:443/")).await;
    let p = proof(
        &s.holder,
        "GET",
        "https://api.TEST/invoices?x=1#frag",
        &s.token,
    );
    let ok = send(
        &s.app,
        "GET",
        "/invoices?y=2",
        Some(format!("DPoP {}", s.token)),
        &[&p],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
}

#[tokio::test]
async fn hostile_proof_headers_are_refused() {
    let s = setup(DpopConfig::new(BASE)).await;
    let url = format!("{BASE}/invoices");
    let claims = serde_json::json!({
        "jti": random_id("").unwrap(), "htm": "GET", "htu": url, "iat": now_unix(),
        "ath": access_token_hash(&s.token),
    });
    let mut jwk = serde_json::to_value(s.holder.public_jwk()).unwrap();
    let unsigned = |header: serde_json::Value, sig: &[u8]| {
        format!(
            "{}.{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string()),
            B64.encode(sig)
        )
    };
    let none = unsigned(
        serde_json::json!({"typ":"dpop+jwt","alg":"none","jwk":jwk}),
        b"",
    );
    let hs256 = unsigned(
        serde_json::json!({"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}),
        b"sig",
    );
    jwk["d"] = "bm90LWEta2V5".into();
    let private = unsigned(
        serde_json::json!({"typ":"dpop+jwt","alg":"EdDSA","jwk":jwk}),
        b"sig",
    );
    let auth = || Some(format!("DPoP {}", s.token));
    for p in [none, hs256, private] {
        assert_dpop_error(
            &send(&s.app, "GET", "/invoices", auth(), &[&p]).await,
            "invalid_dpop_proof",
        );
    }
    // Two DPoP headers, even both valid.
    let a = proof(&s.holder, "GET", &url, &s.token);
    let b = proof(&s.holder, "GET", &url, &s.token);
    assert_dpop_error(
        &send(&s.app, "GET", "/invoices", auth(), &[&a, &b]).await,
        "invalid_dpop_proof",
    );
    // No proof at all.
    assert_dpop_error(
        &send(&s.app, "GET", "/invoices", auth(), &[]).await,
        "invalid_dpop_proof",
    );
}

#[tokio::test]
async fn a_bound_token_presented_as_bearer_is_refused() {
    let s = setup(DpopConfig::new(BASE)).await;
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &s.token);
    for proofs in [vec![], vec![p.as_str()]] {
        let answer = send(
            &s.app,
            "GET",
            "/invoices",
            Some(format!("Bearer {}", s.token)),
            &proofs,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json()["error"], "invalid_token");
        let all = challenges(&answer);
        assert!(
            all[0].starts_with("Bearer realm=\"api\", error=\"invalid_token\""),
            "{all:?}"
        );
        assert_eq!(all[1], "DPoP algs=\"ES256 EdDSA RS256\"");
    }
}

#[tokio::test]
async fn a_guard_without_dpop_refuses_bound_tokens_either_way() {
    let issuer_key = key();
    let holder = key();
    let token = bound_token(&issuer_key, &holder);
    let app = app_of(&guard_with(None, &issuer_key).await);
    let p = proof(&holder, "GET", &format!("{BASE}/invoices"), &token);
    for auth in [format!("Bearer {token}"), format!("DPoP {token}")] {
        let answer = send(&app, "GET", "/invoices", Some(auth), &[&p]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json()["error"], "invalid_token");
    }
}

#[tokio::test]
async fn an_unbound_token_presented_as_dpop_is_refused_and_as_bearer_passes() {
    let s = setup(DpopConfig::new(BASE)).await;
    let plain = token(&s.issuer_key, "invoices:read");
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &plain);
    let answer = send(
        &s.app,
        "GET",
        "/invoices",
        Some(format!("DPoP {plain}")),
        &[&p],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(challenges(&answer)[0].starts_with("DPoP error=\"invalid_token\""));
    let ok = send(
        &s.app,
        "GET",
        "/invoices",
        Some(format!("Bearer {plain}")),
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, "unbound");
}

#[tokio::test]
async fn a_missing_token_is_challenged_with_both_schemes() {
    let s = setup(DpopConfig::new(BASE)).await;
    let answer = send(&s.app, "GET", "/invoices", None, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&answer),
        vec![
            "Bearer realm=\"api\"".to_owned(),
            "DPoP algs=\"ES256 EdDSA RS256\"".to_owned()
        ]
    );
}

#[tokio::test]
async fn insufficient_scope_with_dpop_is_a_403_in_the_dpop_challenge() {
    let s = setup(DpopConfig::new(BASE)).await;
    let token = token_with(&s.issuer_key, |c| {
        c.scope = "reports:read".parse().unwrap();
        c.cnf = Some(Confirmation::jkt(s.holder.kid()));
    });
    let p = proof(&s.holder, "GET", &format!("{BASE}/invoices"), &token);
    let answer = send(
        &s.app,
        "GET",
        "/invoices",
        Some(format!("DPoP {token}")),
        &[&p],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(challenges(&answer)[0].starts_with("DPoP error=\"insufficient_scope\""));
}

#[tokio::test]
async fn nonces_required_missing_wrong_and_right() {
    let secret = [9u8; 32];
    let s = setup(DpopConfig::new(BASE).nonces(&secret, 60)).await;
    let url = format!("{BASE}/invoices");
    let now = now_unix();
    let auth = || Some(format!("DPoP {}", s.token));
    let missing = send(
        &s.app,
        "GET",
        "/invoices",
        auth(),
        &[&proof(&s.holder, "GET", &url, &s.token)],
    )
    .await;
    assert_dpop_error(&missing, "use_dpop_nonce");
    let nonce = missing.headers["dpop-nonce"].to_str().unwrap().to_owned();
    let wrong = proof_at(
        &s.holder,
        "GET",
        &url,
        &s.token,
        now,
        &random_id("").unwrap(),
        Some("not-the-nonce"),
    );
    let answer = send(&s.app, "GET", "/invoices", auth(), &[&wrong]).await;
    assert_dpop_error(&answer, "use_dpop_nonce");
    assert_eq!(answer.headers["dpop-nonce"], nonce.as_str());
    let right = proof_at(
        &s.holder,
        "GET",
        &url,
        &s.token,
        now,
        &random_id("").unwrap(),
        Some(&nonce),
    );
    assert_eq!(
        send(&s.app, "GET", "/invoices", auth(), &[&right])
            .await
            .status,
        StatusCode::OK
    );
    // A replica sharing the secret accepts the same nonce (stateless).
    let other = app_of(
        &guard_with(
            Some(DpopConfig::new(BASE).nonces(&secret, 60)),
            &s.issuer_key,
        )
        .await,
    );
    let again = proof_at(
        &s.holder,
        "GET",
        &url,
        &s.token,
        now,
        &random_id("").unwrap(),
        Some(&nonce),
    );
    assert_eq!(
        send(&other, "GET", "/invoices", auth(), &[&again])
            .await
            .status,
        StatusCode::OK
    );
    // One with another secret does not.
    let foreign = app_of(
        &guard_with(
            Some(DpopConfig::new(BASE).nonces(&[1u8; 32], 60)),
            &s.issuer_key,
        )
        .await,
    );
    let third = proof_at(
        &s.holder,
        "GET",
        &url,
        &s.token,
        now,
        &random_id("").unwrap(),
        Some(&nonce),
    );
    assert_dpop_error(
        &send(&foreign, "GET", "/invoices", auth(), &[&third]).await,
        "use_dpop_nonce",
    );
}

#[tokio::test]
async fn the_url_can_come_from_the_host_header() {
    let s = setup(DpopConfig::from_host("https")).await;
    let p = proof(&s.holder, "POST", "https://tenant.api.test/other", &s.token);
    let mut request = Request::post("/other")
        .header(header::HOST, "tenant.api.test")
        .header(header::AUTHORIZATION, format!("DPoP {}", s.token))
        .header("dpop", &p)
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let p = proof(&s.holder, "POST", "https://tenant.api.test/other", &s.token);
    request = Request::post("/other")
        .header(header::HOST, "evil.test")
        .header(header::AUTHORIZATION, format!("DPoP {}", s.token))
        .header("dpop", &p)
        .body(Body::empty())
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
