//! Token exchange (RFC 8693) as the client sends it, recorded by a real
//! HTTP server on 127.0.0.1: the form, the client authentication, where the
//! subject token comes from, the answers refused, and the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use m2m_client::{ACCESS_TOKEN_TYPE, Error, SubjectToken, TOKEN_EXCHANGE_GRANT, TokenSource};

use crate::endpoint::{Answer, Endpoint};

/// An RFC 8693 §2.2.1 answer: an access token living `expires_in`.
fn exchanged(access_token: &str, expires_in: u64) -> Answer {
    Answer::json(serde_json::json!({
        "access_token": access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": "invoices:read",
    }))
}

#[tokio::test]
async fn the_request_is_an_rfc_8693_exchange_and_its_token_is_cached() {
    let endpoint = Endpoint::start(|n| exchanged(&format!("xtok-{n}"), 600)).await;
    let tokens = TokenSource::token_exchange(&endpoint.url, "m2m_agent", "s3cret", "user-token")
        .scope("invoices:read")
        .resource("https://api.test")
        .audience("invoices")
        .audience("reports")
        .build()
        .unwrap();

    let token = tokens.token().await.unwrap();
    assert_eq!(token.secret(), "xtok-0");
    assert_eq!(token.scope(), Some("invoices:read"));
    for _ in 0..5 {
        assert_eq!(tokens.token().await.unwrap().secret(), "xtok-0");
    }
    assert_eq!(endpoint.requests(), 1, "cached until near its exp");

    let [request] = endpoint.recorded().try_into().unwrap();
    assert_eq!(request.one("grant_type"), TOKEN_EXCHANGE_GRANT);
    assert_eq!(
        TOKEN_EXCHANGE_GRANT,
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(request.one("subject_token"), "user-token");
    assert_eq!(request.one("subject_token_type"), ACCESS_TOKEN_TYPE);
    assert_eq!(
        ACCESS_TOKEN_TYPE,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(request.one("requested_token_type"), ACCESS_TOKEN_TYPE);
    assert_eq!(request.one("scope"), "invoices:read");
    assert_eq!(request.one("resource"), "https://api.test");
    assert_eq!(request.all("audience"), ["invoices", "reports"]);
    assert!(request.all("actor_token").is_empty(), "{request:?}");
    assert!(request.all("actor_token_type").is_empty(), "{request:?}");
    // The actor authenticates as itself, with HTTP Basic by default.
    assert!(request.all("client_secret").is_empty(), "{request:?}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("m2m_agent:s3cret");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn an_actor_token_and_client_secret_post() {
    let endpoint = Endpoint::start(|_| exchanged("xtok", 600)).await;
    let tokens = TokenSource::builder(&endpoint.url, "m2m_agent", "s3cret")
        .client_secret_post()
        .subject_token(SubjectToken::from_static("user-token"))
        .actor_token("agent-token")
        .build()
        .unwrap();
    tokens.token().await.unwrap();

    let [request] = endpoint.recorded().try_into().unwrap();
    assert_eq!(request.one("grant_type"), TOKEN_EXCHANGE_GRANT);
    assert_eq!(request.one("subject_token"), "user-token");
    assert_eq!(request.one("actor_token"), "agent-token");
    assert_eq!(request.one("actor_token_type"), ACCESS_TOKEN_TYPE);
    assert_eq!(request.one("client_id"), "m2m_agent");
    assert_eq!(request.one("client_secret"), "s3cret");
    assert_eq!(request.authorization, None);
    assert!(request.all("scope").is_empty(), "{request:?}");
    assert!(request.all("audience").is_empty(), "{request:?}");
}

#[tokio::test]
async fn a_private_key_jwt_actor_sends_a_fresh_assertion() {
    let endpoint = Endpoint::start(|_| exchanged("xtok", 2)).await;
    let key = m2m_core::SigningKey::generate(m2m_core::Algorithm::ES256).unwrap();
    let tokens = TokenSource::private_key_jwt(&endpoint.url, "m2m_agent", key)
        .subject_token("user-token")
        .build()
        .unwrap();
    tokens.token().await.unwrap();
    // A 2 s token is refreshed after 1 s (the margin is held to half its life).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    tokens.token().await.unwrap();

    let recorded = endpoint.recorded();
    assert_eq!(recorded.len(), 2);
    for request in &recorded {
        assert_eq!(request.one("grant_type"), TOKEN_EXCHANGE_GRANT);
        assert_eq!(request.one("subject_token"), "user-token");
        assert_eq!(request.one("client_id"), "m2m_agent");
        assert_eq!(
            request.one("client_assertion_type"),
            m2m_core::CLIENT_ASSERTION_TYPE_JWT
        );
        assert_eq!(request.authorization, None);
    }
    assert_ne!(
        recorded[0].one("client_assertion"),
        recorded[1].one("client_assertion"),
        "one assertion per request"
    );
}

#[tokio::test]
async fn the_subject_token_of_another_source_is_renewed_after_a_refusal() {
    // The organization's own client-credentials endpoint.
    let org = Endpoint::start(|n| Answer::token(&format!("org-tok-{n}"), "600")).await;
    let org_tokens = TokenSource::builder(&org.url, "m2m_org", "org-secret")
        .build()
        .unwrap();
    // The exchange: the first refused as RFC 8693 §2.2.2 refuses a revoked
    // subject token, the second as some issuers do; then a scope refusal,
    // which says nothing of the subject token.
    let endpoint = Endpoint::start(|n| match n {
        0 => Answer::error(StatusCode::BAD_REQUEST, "invalid_request"),
        1 => Answer::error(StatusCode::BAD_REQUEST, "invalid_grant"),
        2 => Answer::error(StatusCode::BAD_REQUEST, "invalid_scope"),
        n => exchanged(&format!("xtok-{n}"), 600),
    })
    .await;
    let tokens = TokenSource::token_exchange(&endpoint.url, "m2m_agent", "s", org_tokens.clone())
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();

    for expected in ["invalid_request", "invalid_grant", "invalid_scope"] {
        match tokens.token().await {
            Err(Error::Refused { status, error, .. }) => {
                assert_eq!((status, error.as_str()), (400, expected));
            }
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
    assert_eq!(tokens.token().await.unwrap().secret(), "xtok-3");
    let subjects: Vec<String> = endpoint
        .recorded()
        .iter()
        .map(|r| r.one("subject_token").to_owned())
        .collect();
    assert_eq!(
        subjects,
        ["org-tok-0", "org-tok-1", "org-tok-2", "org-tok-2"],
        "a new subject token after each refusal of it, not after invalid_scope"
    );
    assert_eq!(org.requests(), 3);
    // The subject source's cache serves the next exchange's subject.
    tokens.invalidate();
    tokens.token().await.unwrap();
    assert_eq!(org.requests(), 3);
    assert_eq!(endpoint.recorded()[4].one("subject_token"), "org-tok-2");
}

#[tokio::test]
async fn a_closure_gives_the_subject_and_its_failure_sends_nothing() {
    let endpoint = Endpoint::start(|_| exchanged("xtok", 600)).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let tokens = TokenSource::token_exchange(
        &endpoint.url,
        "m2m_agent",
        "s",
        SubjectToken::from_fn(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(Error::Config("no user session".into())),
                    1 => Ok(String::new()),
                    _ => Ok(format!("session-{n}")),
                }
            }
        }),
    )
    .retry_backoff(Duration::ZERO, Duration::ZERO)
    .build()
    .unwrap();

    match tokens.token().await {
        Err(Error::Subject(inner)) => assert!(matches!(*inner, Error::Config(_)), "{inner:?}"),
        other => panic!("expected the subject's error, got {other:?}"),
    }
    match tokens.token().await {
        Err(Error::Subject(inner)) => {
            assert!(matches!(*inner, Error::InvalidResponse(_)), "{inner:?}")
        }
        other => panic!("an empty subject token is refused, got {other:?}"),
    }
    assert_eq!(
        endpoint.requests(),
        0,
        "nothing sent without a subject token"
    );
    assert_eq!(tokens.token().await.unwrap().secret(), "xtok");
    assert_eq!(endpoint.recorded()[0].one("subject_token"), "session-2");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_answer_that_is_not_an_access_token_is_refused() {
    let answers = [
        // issued_token_type is required (RFC 8693 §2.2.1).
        serde_json::json!({"access_token": "x", "token_type": "Bearer", "expires_in": 60}),
        serde_json::json!({
            "access_token": "x", "token_type": "N_A", "expires_in": 60,
            "issued_token_type": "urn:ietf:params:oauth:token-type:id_token",
        }),
        serde_json::json!({
            "access_token": "x", "token_type": "Bearer", "expires_in": 60,
            "issued_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
        }),
        serde_json::json!({
            "access_token": "x", "token_type": "N_A", "expires_in": 60,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }),
    ];
    for answer in answers {
        let body = answer.clone();
        let endpoint = Endpoint::start(move |_| Answer::json(body.clone())).await;
        let tokens = TokenSource::token_exchange(&endpoint.url, "m2m_agent", "s", "user-token")
            .build()
            .unwrap();
        match tokens.token().await {
            Err(Error::InvalidResponse(_)) => {}
            other => panic!("{answer}: expected InvalidResponse, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_dpop_source_exchanges_for_a_bound_token() {
    let endpoint = Endpoint::start(|_| {
        Answer::json(serde_json::json!({
            "access_token": "xtok", "token_type": "DPoP", "expires_in": 600,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }))
    })
    .await;
    let tokens = TokenSource::token_exchange(&endpoint.url, "m2m_agent", "s", "user-token")
        .dpop(m2m_client::DpopKey::generate(m2m_core::Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    let token = tokens.token().await.unwrap();
    assert!(token.is_dpop());
    assert_eq!(token.authorization(), "DPoP xtok");
    let [request] = endpoint.recorded().try_into().unwrap();
    assert_eq!(request.one("grant_type"), TOKEN_EXCHANGE_GRANT);
    assert!(request.dpop.is_some(), "a proof for the token request");
}

#[tokio::test]
async fn client_credentials_sources_are_unchanged() {
    let endpoint = Endpoint::start(|_| Answer::token("tok", "600")).await;
    let tokens = TokenSource::builder(&endpoint.url, "m2m_client", "s")
        .build()
        .unwrap();
    tokens.token().await.unwrap();
    let [request] = endpoint.recorded().try_into().unwrap();
    assert_eq!(
        request.form,
        [("grant_type".to_owned(), "client_credentials".to_owned())]
    );
}

#[test]
fn exchange_settings_without_a_subject_are_a_build_error() {
    let url = "http://127.0.0.1:9/oauth/token";
    for builder in [
        TokenSource::builder(url, "m2m_agent", "s").actor_token("agent-token"),
        TokenSource::builder(url, "m2m_agent", "s").audience("invoices"),
    ] {
        assert!(matches!(builder.build(), Err(Error::Config(_))));
    }
    // Debug never prints a token.
    let builder = TokenSource::token_exchange(url, "m2m_agent", "s", "user-token-secret")
        .actor_token("agent-token-secret");
    let debug = format!("{builder:?}");
    assert!(!debug.contains("token-secret"), "{debug}");
}
