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
    // Far longer than the test: nothing here depends on how fast it runs.
    let guard = builder(&issuer)
        .unknown_kid_cooldown(Duration::from_secs(3600))
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
}

#[tokio::test]
async fn after_the_cooldown_an_unknown_kid_is_refetched_again() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a]).await;
    let cooldown = Duration::from_millis(300);
    let guard = builder(&issuer)
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    issuer.set_keys(&[&a, &b]);
    assert_eq!(
        call(&app, "/invoices", &token(&b, "invoices:read"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(issuer.fetches(), 2);
    // The re-fetch started before its answer came back, so once a full
    // cooldown has passed since then, it has surely passed for the guard.
    tokio::time::sleep(cooldown).await;
    let forged = token(&key(), "invoices:read");
    assert_eq!(
        call(&app, "/invoices", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.fetches(), 3, "one more re-fetch after the cooldown");
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

    // Back up: refreshes succeed again, and what they bring is used.
    let c = key();
    issuer.set_keys(&[&a, &c]);
    let served = issuer.jwks_served();
    issuer.set_down(false);
    issuer
        .wait_for("a successful refresh", |i| i.jwks_served() > served)
        .await;
    wait_until("the refreshed keys", || guard.key_count() == 2).await;
    let answer = call(&app, "/invoices", &token(&c, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK);
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

/// Without the `rustls` feature (`cargo test -p m2m-guard`), an https URL is
/// refused at build, never fetched over plain http.
#[cfg(not(feature = "rustls"))]
#[tokio::test]
async fn https_without_the_tls_feature_is_a_build_error() {
    for url in [
        "https://auth.example.com/.well-known/jwks.json",
        "HTTPS://auth.example.com/jwks",
    ] {
        let err = Guard::builder(ISS, AUD)
            .jwks_url(url)
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::TlsUnavailable(_)), "{url}: {err}");
    }
    let issuer = Issuer::start(&[&key()]).await;
    let err = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key()]))
        .revocation_feed(issuer.feed_url().replace("http://", "https://"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::TlsUnavailable(_)), "feed: {err}");
}

/// With the `rustls` feature (`--all-features`), the same URLs are accepted
/// and spoken to over TLS: a plain-http server on the other end fails the
/// TLS handshake, which only a TLS client can report.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn https_with_the_tls_feature_goes_through_tls() {
    let issuer = Issuer::start(&[&key()]).await;
    let url = issuer.jwks_url().replace("http://", "https://");
    let err = Guard::builder(ISS, AUD)
        .jwks_url(url)
        .fetch_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    // rustls reading an HTTP answer where a TLS record should be.
    assert!(
        matches!(&err, BuildError::FirstFetch(why) if why.contains("InvalidContentType")),
        "{err:?}"
    );
    assert_eq!(issuer.fetches(), 0, "no HTTP request reached the server");
}

#[tokio::test]
async fn background_tasks_stop_when_the_guard_is_dropped() {
    let issuer = Issuer::start(&[&key()]).await;
    issuer.set_max_age(Some(0));
    let interval = Duration::from_millis(30);
    let guard = builder(&issuer)
        .refresh_bounds(interval, Duration::from_secs(1))
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(interval)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    issuer
        .wait_for("refreshes", |i| i.fetches() >= 3 && i.polls() >= 3)
        .await;
    drop(app);
    drop(guard);
    let (fetches, polls) = (issuer.fetches(), issuer.polls());
    // Twenty intervals: a task still running would have come back many times.
    // Each may have had one request on its way when it was stopped.
    tokio::time::sleep(interval * 20).await;
    assert!(
        issuer.fetches() <= fetches + 1 && issuer.polls() <= polls + 1,
        "requests after the drop: {} JWKS, {} feed",
        issuer.fetches() - fetches,
        issuer.polls() - polls
    );
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

const P384: &str = r#"{"kty":"EC","crv":"P-384","kid":"p384-key","use":"sig",
    "x":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7",
    "y":"mD2-Yx3Qf3UdyKxl8Oc3ATC_8HnL0bSi4VuAGiEJvUQ2ZhCPE8vGKuQ1tR3yTnS8"}"#;

fn jwks_with(extra: &[&str], keys: &[&m2m_core::SigningKey]) -> serde_json::Value {
    let mut entries: Vec<serde_json::Value> = extra
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    entries.extend(
        keys.iter()
            .map(|k| serde_json::to_value(k.public_jwk()).unwrap()),
    );
    serde_json::json!({ "keys": entries })
}

#[tokio::test]
async fn a_jwks_with_a_p384_key_beside_a_good_one_works() {
    let good = key();
    let issuer = Issuer::start(&[]).await;
    issuer.set_jwks_json(jwks_with(&[P384, r#"{"kid":"no-kty"}"#], &[&good]));
    let guard = builder(&issuer).build().await.unwrap();
    assert_eq!(guard.key_count(), 1);
    let answer = call(&app(&guard), "/invoices", &token(&good, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn a_p384_key_added_by_an_operator_does_not_freeze_the_keys() {
    // The issue: one unusable key failed the whole fetch, so the guard kept
    // its stale keys forever and refused tokens under the new one.
    let old = key();
    let new = key();
    let issuer = Issuer::start(&[&old]).await;
    issuer.set_max_age(Some(0));
    let guard = builder(&issuer)
        .refresh_bounds(Duration::from_millis(30), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    issuer.set_jwks_json(jwks_with(&[P384], &[&new]));
    // On an unknown kid, at once...
    let answer = call(&app, "/invoices", &token(&new, "invoices:read")).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // ...and the old key, gone from the JWKS, is gone from the guard.
    assert_eq!(guard.key_count(), 1);
    assert_eq!(
        call(&app, "/invoices", &token(&old, "invoices:read"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "current_thread")]
async fn each_skipped_key_is_logged_once_while_the_jwks_is_unchanged() {
    // The runtime has one thread, so the refresh task logs here too.
    let captured = crate::common::LogCapture::start();

    let good = key();
    let issuer = Issuer::start(&[]).await;
    issuer.set_max_age(Some(0));
    issuer.set_jwks_json(jwks_with(&[P384], &[&good]));
    let guard = builder(&issuer)
        .refresh_bounds(Duration::from_millis(20), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    issuer
        .wait_for("several refreshes", |i| i.jwks_served() >= 5)
        .await;
    let logs = captured.text();
    assert_eq!(logs.matches("skipped a key").count(), 1, "{logs}");
    assert!(logs.contains("kid=\"p384-key\""), "{logs}");
    assert!(logs.contains("EC/P-384"), "{logs}");

    // A new unusable key is logged, once; the known one is not repeated.
    issuer.set_jwks_json(jwks_with(&[P384, r#"{"kid":"no-kty"}"#], &[&good]));
    let served = issuer.jwks_served();
    issuer
        .wait_for("more refreshes", |i| i.jwks_served() >= served + 5)
        .await;
    let logs = captured.text();
    assert_eq!(logs.matches("skipped a key").count(), 2, "{logs}");
    assert_eq!(logs.matches("kid=\"no-kty\"").count(), 1, "{logs}");
    assert_eq!(guard.key_count(), 1);
}

#[tokio::test]
async fn in_process_keys_skip_what_they_cannot_use() {
    let good = key();
    let p384: m2m_core::PublicJwk = serde_json::from_str(P384).unwrap();
    let keys = m2m_guard::InProcessKeys::new();
    keys.set_jwk_set(&m2m_core::JwkSet {
        keys: vec![p384, good.public_jwk().clone()],
    })
    .unwrap();
    assert_eq!(keys.len(), 1);

    // Two different keys under one kid: refused, and the keys stay.
    let mut twin = key().public_jwk().clone();
    twin.kid = Some(good.kid().to_owned());
    let err = keys
        .set_jwk_set(&m2m_core::JwkSet {
            keys: vec![twin, good.public_jwk().clone()],
        })
        .unwrap_err();
    assert!(matches!(err, m2m_core::KeyError::DuplicateKid(_)), "{err}");
    let guard = Guard::builder(ISS, AUD)
        .in_process(&keys)
        .build()
        .await
        .unwrap();
    assert!(guard.check_token(&token(&good, "")).is_ok());
}

#[tokio::test]
async fn a_static_set_with_no_usable_key_is_a_build_error() {
    let p384: m2m_core::PublicJwk = serde_json::from_str(P384).unwrap();
    let err = Guard::builder(ISS, AUD)
        .jwk_set(m2m_core::JwkSet { keys: vec![p384] })
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidKeys(m2m_core::KeyError::UnsupportedKeyType(_))
        ),
        "{err}"
    );
    // One usable key beside it is enough.
    let good = key();
    let p384: m2m_core::PublicJwk = serde_json::from_str(P384).unwrap();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(m2m_core::JwkSet {
            keys: vec![p384, good.public_jwk().clone()],
        })
        .build()
        .await
        .unwrap();
    assert_eq!(guard.key_count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn plain_http_from_a_remote_host_is_warned_about_at_build_time() {
    let captured = crate::common::LogCapture::start();

    // Loopback over http (this test issuer, and `localhost`): no warning.
    let issuer = Issuer::start(&[]).await;
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .build()
        .await
        .unwrap();
    drop(guard);
    let local = issuer.jwks_url().replace("127.0.0.1", "localhost");
    let guard = Guard::builder(ISS, AUD)
        .jwks_url(local)
        .build()
        .await
        .unwrap();
    drop(guard);
    let logs = captured.text();
    assert!(!logs.contains("plain http"), "{logs}");

    // Other hosts (documentation addresses, never routed): one warning each,
    // given before anything is fetched, whatever the fetch gives then.
    let built = Guard::builder(ISS, AUD)
        .jwks_url("http://192.0.2.1/.well-known/jwks.json")
        .revocation_feed("http://[2001:db8::1]/oauth/revocations")
        .fetch_timeout(Duration::from_millis(200))
        .build()
        .await;
    let logs = captured.text();
    assert_eq!(
        logs.matches("plain http").count(),
        2,
        "{logs} {:?}",
        built.err()
    );
    assert!(logs.contains("JWKS"), "{logs}");
    assert!(logs.contains("192.0.2.1"), "{logs}");
    assert!(logs.contains("revocation feed"), "{logs}");
    assert!(logs.contains("2001:db8::1"), "{logs}");
}
