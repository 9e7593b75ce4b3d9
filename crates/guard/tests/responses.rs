//! What the guard answers (contract section 9, RFC 6750 §3).

use std::sync::{Arc, Mutex};

use http::StatusCode;
use m2m_guard::{Challenge, Guard, Rejection};

use crate::common::*;

async fn setup() -> (Issuer, m2m_core::SigningKey, Guard, axum::Router) {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let guard = builder(&issuer).build().await.unwrap();
    let app = app(&guard);
    (issuer, key, guard, app)
}

fn assert_json_error(answer: &Answer, error: &str) {
    assert_eq!(
        answer.headers[http::header::CONTENT_TYPE],
        "application/json",
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["error"], error, "{answer:?}");
    assert!(body["error_description"].is_string(), "{answer:?}");
}

#[tokio::test]
async fn valid_token_passes_with_claims() {
    let (_issuer, key, _guard, app) = setup().await;
    let answer = call(&app, "/invoices", &token(&key, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body, "m2m_client1");
}

#[tokio::test]
async fn no_header_is_401_with_a_bare_challenge() {
    let (_issuer, _key, _guard, app) = setup().await;
    let answer = call_raw(&app, "/invoices", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge(), r#"Bearer realm="api""#);
    assert_json_error(&answer, "unauthorized");
}

#[tokio::test]
async fn wrong_scheme_is_treated_as_no_token() {
    let (_issuer, key, _guard, app) = setup().await;
    let t = token(&key, "invoices:read");
    for value in [format!("Basic {t}"), format!("Token {t}"), t.clone()] {
        let answer = call_raw(&app, "/invoices", Some(&value)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(answer.challenge(), r#"Bearer realm="api""#);
        assert_json_error(&answer, "unauthorized");
    }
    // The scheme is case-insensitive (RFC 6750 §2.1 via RFC 7235).
    let answer = call_raw(&app, "/invoices", Some(&format!("bEaReR {t}"))).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_tokens_are_invalid_token_never_500() {
    let (_issuer, _key, _guard, app) = setup().await;
    let long = "a".repeat(10_000);
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        &format!("Bearer {long}"),
    ] {
        let answer = call_raw(&app, "/invoices", Some(value)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{value}");
        assert!(
            answer
                .challenge()
                .starts_with(r#"Bearer realm="api", error="invalid_token""#),
            "{value}: {}",
            answer.challenge()
        );
        assert_json_error(&answer, "invalid_token");
    }
}

#[tokio::test]
async fn expired_wrong_audience_and_wrong_issuer_are_refused() {
    let (_issuer, key, _guard, app) = setup().await;
    let expired = token_with(&key, |c| {
        c.exp = m2m_core::now_unix() - 3600;
        c.iat = c.exp - 600;
        c.nbf = Some(c.iat);
    });
    let answer = call(&app, "/invoices", &expired).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#
    );
    assert_json_error(&answer, "invalid_token");

    let wrong_aud = token_with(&key, |c| c.aud = "https://other.test".into());
    let answer = call(&app, "/invoices", &wrong_aud).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_json_error(&answer, "invalid_token");

    let wrong_iss = token_with(&key, |c| c.iss = "https://evil.test".into());
    let answer = call(&app, "/invoices", &wrong_iss).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_json_error(&answer, "invalid_token");

    // A token signed by a key nobody published.
    let forged = token(&crate::common::key(), "invoices:read");
    let answer = call(&app, "/invoices", &forged).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_scope_is_403_with_the_scope_parameter() {
    let (_issuer, key, _guard, app) = setup().await;
    let answer = call(&app, "/invoices", &token(&key, "reports:read")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="api", error="insufficient_scope", error_description="the access token needs all of the scopes", scope="invoices:read""#
    );
    assert_json_error(&answer, "insufficient_scope");
}

#[tokio::test]
async fn all_of_against_any_of() {
    let (_issuer, key, _guard, app) = setup().await;
    let read = token(&key, "invoices:read");
    let both = token(&key, "invoices:read invoices:export");
    let admin = token(&key, "admin");

    // all-of: one of the two is not enough.
    let answer = call(&app, "/invoices/export", &read).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .challenge()
            .ends_with(r#"scope="invoices:export invoices:read""#),
        "{}",
        answer.challenge()
    );
    assert_eq!(
        call(&app, "/invoices/export", &both).await.status,
        StatusCode::OK
    );

    // any-of: one of them is enough, none is not.
    assert_eq!(call(&app, "/reports", &admin).await.status, StatusCode::OK);
    let answer = call(&app, "/reports", &read).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .challenge()
            .ends_with(r#"scope="admin reports:read""#)
    );

    // authenticate(): any valid token.
    assert_eq!(call(&app, "/me", &admin).await.status, StatusCode::OK);
    assert_eq!(
        call_raw(&app, "/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_path_stays_404() {
    let (_issuer, key, _guard, app) = setup().await;
    assert_eq!(
        call_raw(&app, "/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = call_raw(&app, "/nope", Some("Bearer garbage")).await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    let good = call(&app, "/nope", &token(&key, "invoices:read")).await;
    assert_eq!(good.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn optional_route_serves_anonymous_and_authenticated_callers() {
    let (_issuer, key, _guard, app) = setup().await;
    let anon = call_raw(&app, "/hello", None).await;
    assert_eq!(
        (anon.status, anon.body.as_str()),
        (StatusCode::OK, "anonymous")
    );
    let authed = call(&app, "/hello", &token(&key, "")).await;
    assert_eq!(
        (authed.status, authed.body.as_str()),
        (StatusCode::OK, "m2m_client1")
    );
    // A token that is present must be valid.
    let bad = call_raw(&app, "/hello", Some("Bearer x.y.z")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn realm_verbose_errors_and_rejection_hook() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let guard = builder(&issuer)
        .realm("invoices")
        .verbose_errors(true)
        .on_rejection(move |rejection: &Rejection, challenge: Challenge| {
            seen2.lock().unwrap().push(rejection.reason());
            challenge.response_with_body("<h1>no</h1>", http::HeaderValue::from_static("text/html"))
        })
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let answer = call_raw(&app, "/invoices", Some("Bearer a.b")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body, "<h1>no</h1>");
    assert_eq!(answer.headers[http::header::CONTENT_TYPE], "text/html");
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="invoices", error="invalid_token", error_description="token is not a JWS compact serialization""#
    );
    let answer = call(&app, "/invoices", &token(&key, "other")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(*seen.lock().unwrap(), ["malformed", "insufficient_scope"]);
}

#[tokio::test(flavor = "current_thread")]
async fn one_event_per_rejection_with_its_reason_never_the_token() {
    let (_issuer, key, _guard, app) = setup().await;
    let captured = crate::common::LogCapture::start();

    let expired = token_with(&key, |c| {
        c.exp = m2m_core::now_unix() - 3600;
        c.iat = c.exp - 600;
        c.nbf = None;
    });
    assert_eq!(
        call(&app, "/invoices", &expired).await.status,
        StatusCode::UNAUTHORIZED
    );
    let logs = captured.text();
    assert_eq!(logs.matches("request refused").count(), 1, "{logs}");
    assert!(logs.contains("reason=\"expired\""), "{logs}");
    assert!(logs.contains("status=401"), "{logs}");
    let signature = expired.rsplit('.').next().unwrap();
    assert!(
        !logs.contains(signature) && !logs.contains(&expired[..20]),
        "{logs}"
    );
}

#[tokio::test]
async fn any_audience_is_for_an_issuer_judging_its_own_tokens() {
    let key = key();
    let for_other_api = token_with(&key, |c| c.aud = "https://other.test".into());
    let resource_server = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    assert_eq!(
        resource_server.check_token(&for_other_api).unwrap_err(),
        m2m_guard::Rejection::InvalidToken(m2m_core::VerifyError::WrongAudience)
    );

    let own_tokens = Guard::builder(ISS, ISS)
        .any_audience()
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    assert!(own_tokens.check_token(&for_other_api).is_ok());
    // Everything else is still checked.
    let other_issuer = token_with(&key, |c| c.iss = "https://evil.test".into());
    assert_eq!(
        own_tokens.check_token(&other_issuer).unwrap_err(),
        m2m_guard::Rejection::InvalidToken(m2m_core::VerifyError::WrongIssuer)
    );
    let forged = token_with(&crate::common::key(), |c| {
        c.aud = "https://other.test".into()
    });
    assert!(own_tokens.check_token(&forged).is_err());
}
