//! Key sources: the remote JWKS (refetch, cooldown, refresh, outage), build errors.

use std::time::Duration;

use http::StatusCode;
use m2m_guard::{BuildError, Guard};
use tokio::task::JoinSet;

use crate::common::*;

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_then_the_cooldown_holds() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a]).await;
    let cooldown = Duration::from_millis(400);
    let guard = builder(&issuer)
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    assert_eq!(issuer.fetches(), 1, "fetched at build");

    // The issuer publishes b; a token under b is accepted after one re-fetch.
    issuer.set_keys(&[&a, &b]);
    let answer = call(&app, "/invoices", &token(&b, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(issuer.fetches(), 2);

    // Within the cooldown, forged kids cause no fetch.
    for _ in 0..20 {
        let forged = token(&key(), "invoices:read");
        assert_eq!(
            call(&app, "/invoices", &forged).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(issuer.fetches(), 2, "the cooldown held");

    // After it, one more.
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let forged = token(&key(), "invoices:read");
    assert_eq!(
        call(&app, "/invoices", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/invoices", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.fetches(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_one_unknown_kid_cause_one_fetch() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a]).await;
    let guard = builder(&issuer).build().await.unwrap();
    let app = app(&guard);
    assert_eq!(issuer.fetches(), 1);

    issuer.set_keys(&[&a, &b]);
    // A slow issuer, so the requests pile up behind the one fetch.
    issuer.set_delay(Duration::from_millis(200));
    let t = token(&b, "invoices:read");
    let mut requests = JoinSet::new();
    for _ in 0..1000 {
        let app = app.clone();
        let t = t.clone();
        requests.spawn(async move { call(&app, "/invoices", &t).await.status });
    }
    let mut ok = 0;
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
        ok += 1;
    }
    assert_eq!(ok, 1000);
    assert_eq!(issuer.fetches(), 2, "exactly one re-fetch");
}

#[tokio::test]
async fn with_the_issuer_down_tokens_under_cached_keys_still_pass() {
    let a = key();
    let issuer = Issuer::start(&[&a]).await;
    issuer.set_max_age(Some(0));
    let guard = builder(&issuer)
        .refresh_bounds(Duration::from_millis(50), Duration::from_secs(1))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let app = app(&guard);

    issuer.set_down(true);
    let before = issuer.fetches();
    issuer
        .wait_for("failed refreshes", |i| i.fetches() >= before + 3)
        .await;
    assert_eq!(guard.key_count(), 1, "the keys are kept");
    // A token never seen before: verified with the kept key.
    let answer = call(&app, "/invoices", &token(&a, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK);
    // An unknown kid while the issuer is down is a clean 401.
    let answer = call(&app, "/invoices", &token(&key(), "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // Back up: refreshes succeed again.
    issuer.set_down(false);
    let now = issuer.fetches();
    issuer
        .wait_for("a refresh", |i| i.fetches() >= now + 2)
        .await;
    assert_eq!(guard.key_count(), 1);
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_is_refused_after_the_refresh() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a, &b]).await;
    issuer.set_max_age(Some(0));
    let guard = builder(&issuer)
        .refresh_bounds(Duration::from_millis(50), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let under_a = token(&a, "invoices:read");
    assert_eq!(
        call(&app, "/invoices", &under_a).await.status,
        StatusCode::OK
    );
    assert_eq!(guard.cached_tokens(), 1);

    issuer.set_keys(&[&b]);
    let now = issuer.fetches();
    issuer
        .wait_for("a refresh", |i| i.fetches() >= now + 2)
        .await;
    assert_eq!(guard.key_count(), 1);
    assert_eq!(
        guard.cached_tokens(),
        0,
        "the refresh dropped a's cached tokens"
    );
    assert_eq!(
        call(&app, "/invoices", &under_a).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/invoices", &token(&b, "invoices:read"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_failed_first_fetch_fails_the_build_unless_lazy() {
    let a = key();
    let issuer = Issuer::start(&[&a]).await;
    issuer.set_down(true);
    let err = builder(&issuer).build().await.unwrap_err();
    assert!(matches!(err, BuildError::FirstFetch(_)), "{err}");

    let guard = builder(&issuer)
        .lazy_start(true)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert_eq!(guard.key_count(), 0);
    issuer.set_down(false);
    issuer.wait_for("a retry", |_| guard.key_count() == 1).await;
    let app = app(&guard);
    assert_eq!(
        call(&app, "/invoices", &token(&a, "invoices:read"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_jwks_response_is_bounded() {
    let issuer = Issuer::start(&[&key(), &key()]).await;
    let err = builder(&issuer)
        .max_response_bytes(64)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::FirstFetch(ref why) if why.contains("larger")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_urls_and_missing_sources_are_build_errors() {
    let err = Guard::builder(ISS, AUD).build().await.unwrap_err();
    assert_eq!(err, BuildError::NoKeySource);
    let err = Guard::builder(ISS, AUD)
        .jwks_url("ftp://x/jwks")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidUrl(_)), "{err}");
    let err = Guard::builder(ISS, AUD)
        .jwks_url("not a url")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidUrl(_)), "{err}");
}

#[cfg(not(feature = "rustls"))]
#[tokio::test]
async fn https_without_the_tls_feature_is_a_build_error() {
    let err = Guard::builder(ISS, AUD)
        .jwks_url("https://auth.example.com/.well-known/jwks.json")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::TlsUnavailable(_)), "{err}");
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn https_goes_through_tls() {
    // A plain-http server spoken to over https: the TLS handshake fails, which
    // shows the request went through rustls (and no provider was needed globally).
    let issuer = Issuer::start(&[&key()]).await;
    let url = issuer.jwks_url().replace("http://", "https://");
    let err = Guard::builder(ISS, AUD)
        .jwks_url(url)
        .fetch_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::FirstFetch(_)), "{err}");
}

#[tokio::test]
async fn background_tasks_stop_when_the_guard_is_dropped() {
    let issuer = Issuer::start(&[&key()]).await;
    issuer.set_max_age(Some(0));
    let guard = builder(&issuer)
        .refresh_bounds(Duration::from_millis(30), Duration::from_secs(1))
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_millis(30))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    issuer
        .wait_for("refreshes", |i| i.fetches() >= 3 && i.polls() >= 2)
        .await;
    drop(app);
    drop(guard);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (fetches, polls) = (issuer.fetches(), issuer.polls());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((issuer.fetches(), issuer.polls()), (fetches, polls));
}

#[tokio::test]
async fn check_token_never_refetches_and_names_the_unknown_kid() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a]).await;
    let guard = builder(&issuer).build().await.unwrap();
    issuer.set_keys(&[&a, &b]);
    let err = guard.check_token(&token(&b, "")).unwrap_err();
    assert_eq!(
        err,
        m2m_guard::Rejection::InvalidToken(m2m_core::VerifyError::UnknownKid(b.kid().to_owned()))
    );
    assert_eq!(issuer.fetches(), 1, "check_token did not fetch");
    let auth = guard.check_token(&token(&a, "invoices:read")).unwrap();
    assert!(auth.has_scope("invoices:read"));
}
