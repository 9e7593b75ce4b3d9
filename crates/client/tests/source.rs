//! What a token source does with what an issuer answers: odd lifetimes,
//! failures under concurrency, `Retry-After`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use m2m_client::{Error, TokenSource};

use crate::endpoint::{Answer, Endpoint};

fn source(endpoint: &Endpoint) -> m2m_client::TokenSourceBuilder {
    TokenSource::builder(&endpoint.url, "m2m_test", "secret").timeout(Duration::from_secs(10))
}

/// An `expires_in` far beyond any `Instant` is taken as a day: no overflow
/// panic, and the token is cached like any other.
#[tokio::test]
async fn a_huge_expires_in_is_a_day() {
    let endpoint = Endpoint::start(|_| Answer::token("tok-huge", &u64::MAX.to_string())).await;
    let tokens = source(&endpoint).build().unwrap();

    let before = Instant::now();
    let token = tokens.token().await.unwrap();
    assert_eq!(token.secret(), "tok-huge");
    let day = Duration::from_secs(24 * 60 * 60);
    assert!(token.expires_at() <= Instant::now() + day, "{token:?}");
    assert!(token.expires_at() >= before + day, "{token:?}");
    for _ in 0..10 {
        assert_eq!(tokens.token().await.unwrap().secret(), "tok-huge");
    }
    assert_eq!(endpoint.requests(), 1);
}

/// A refresh margin as long as the token's life would make every call a
/// fetch; it is held to half the life, so the token is reused.
#[tokio::test]
async fn a_margin_longer_than_the_life_still_caches() {
    let endpoint = Endpoint::start(|n| Answer::token(&format!("tok-{n}"), "60")).await;
    let tokens = source(&endpoint)
        .refresh_before(Duration::from_secs(120))
        .build()
        .unwrap();

    for _ in 0..20 {
        assert_eq!(tokens.token().await.unwrap().secret(), "tok-0");
    }
    assert_eq!(endpoint.requests(), 1);
}

/// Twenty callers during a failing, slow endpoint share one attempt: one
/// request, and all twenty get its error, instead of each trying in turn.
/// No backoff here, so only the sharing keeps the count down; a second wave
/// makes exactly one more request.
#[tokio::test]
async fn concurrent_callers_share_a_failed_attempt() {
    let endpoint = Endpoint::start(|_| {
        Answer::error(StatusCode::BAD_REQUEST, "invalid_scope").after(Duration::from_millis(300))
    })
    .await;
    let tokens = source(&endpoint)
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();

    for wave in 1..=2 {
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.token().await })
            })
            .collect();
        for caller in callers {
            match caller.await.unwrap() {
                Err(Error::Refused { status, error, .. }) => {
                    assert_eq!((status, error.as_str()), (400, "invalid_scope"));
                }
                other => panic!("expected the shared refusal, got {other:?}"),
            }
        }
        assert_eq!(endpoint.requests(), wave, "one request per wave of callers");
    }
}

/// After failures in a row, the pause before the next request doubles (here
/// 300 ms, then 600 ms, the cap), and calls meanwhile get the last error
/// without a request.
#[tokio::test]
async fn failures_back_off_exponentially() {
    let endpoint =
        Endpoint::start(|_| Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")).await;
    let tokens = source(&endpoint)
        .retry_backoff(Duration::from_millis(300), Duration::from_millis(600))
        .build()
        .unwrap();

    for (n, pause) in [(1, 300), (2, 600), (3, 600)] {
        // The next request may go out `pause` after this one ended, which is
        // between `sent` and `answered`.
        let sent = Instant::now();
        assert!(tokens.token().await.is_err());
        let answered = Instant::now();
        assert_eq!(endpoint.requests(), n);
        let pause = Duration::from_millis(pause);
        while sent.elapsed() < pause.mul_f64(0.8) {
            assert!(tokens.token().await.is_err());
            assert_eq!(endpoint.requests(), n, "a request within the backoff");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep_until((answered + pause + Duration::from_millis(20)).into()).await;
    }
}

/// A refresh that fails while the cached token is still valid returns that
/// token; once it has expired, the error shows.
#[tokio::test]
async fn a_failed_refresh_keeps_the_valid_token() {
    let endpoint = Endpoint::start(|n| {
        if n == 0 {
            Answer::token("tok-0", "2")
        } else {
            Answer::error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
    })
    .await;
    // A 2 s token: the margin is held to 1 s, so it is refreshed after 1 s.
    let tokens = source(&endpoint).build().unwrap();

    let sent = Instant::now();
    assert_eq!(tokens.token().await.unwrap().secret(), "tok-0");
    let answered = Instant::now();
    tokio::time::sleep_until((answered + Duration::from_millis(1100)).into()).await;
    let during = tokens.token().await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "too slow to see the token still valid"
    );
    assert_eq!(during.unwrap().secret(), "tok-0");
    assert_eq!(endpoint.requests(), 2, "the refresh was tried");

    tokio::time::sleep_until((answered + Duration::from_millis(2100)).into()).await;
    let after = tokens.token().await;
    assert!(
        matches!(&after, Err(Error::Refused { status: 503, .. })),
        "{after:?}"
    );
}

/// `503` with `Retry-After: 2`: no request goes out for two seconds after
/// the failed one (calls meanwhile get its error), and one does after.
#[tokio::test]
async fn retry_after_holds_the_next_request() {
    let endpoint = Endpoint::start(|n| {
        if n == 0 {
            Answer::error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
                .header("retry-after", "2")
        } else {
            Answer::token("tok-later", "3600")
        }
    })
    .await;
    let tokens = source(&endpoint).build().unwrap();

    // The next attempt may start two seconds after the failed one ended,
    // which is between `sent` and `answered`.
    let sent = Instant::now();
    let first = tokens.token().await;
    let answered = Instant::now();
    assert!(
        matches!(&first, Err(Error::Refused { status: 503, .. })),
        "{first:?}"
    );
    while sent.elapsed() < Duration::from_millis(1900) {
        let again = tokens.token().await;
        assert!(
            matches!(&again, Err(Error::Refused { status: 503, .. })),
            "{again:?}"
        );
        assert_eq!(endpoint.requests(), 1, "a request within Retry-After");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep_until((answered + Duration::from_millis(2050)).into()).await;
    assert_eq!(tokens.token().await.unwrap().secret(), "tok-later");
    assert_eq!(endpoint.requests(), 2);
}
