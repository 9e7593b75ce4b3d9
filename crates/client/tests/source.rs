//! What a token source does with what an issuer answers: odd lifetimes,
//! failures under concurrency, `Retry-After`.

use std::time::{Duration, Instant};

use m2m_client::TokenSource;

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
