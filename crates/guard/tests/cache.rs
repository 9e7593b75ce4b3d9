//! The verified-token cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;
use m2m_core::now_unix;
use m2m_guard::{Guard, InProcessKeys};

use crate::common::*;

#[tokio::test]
async fn a_token_seen_before_is_a_cache_hit_until_its_exp() {
    let key = key();
    let keys = InProcessKeys::new();
    keys.set_jwk_set(&jwk_set(&[&key])).unwrap();
    // One instant for the token and the guard's clock: with no leeway, a
    // token stamped a second after the clock was read is issued in the future.
    let t0 = now_unix();
    let now = Arc::new(AtomicU64::new(t0));
    let clock = Arc::clone(&now);
    let guard = Guard::builder(ISS, AUD)
        .in_process(&keys)
        .leeway(0)
        .clock(Arc::new(move || clock.load(Ordering::SeqCst)))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let t = token_with(&key, |c| {
        c.iat = t0;
        c.nbf = Some(t0);
        c.exp = t0 + 600;
    });

    assert_eq!(call(&app, "/invoices", &t).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 1);
    assert_eq!(call(&app, "/invoices", &t).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 1, "the second use is a lookup");

    // The cache keys on the whole token: a prefix or a changed signature misses.
    let truncated = &t[..t.len() - 2];
    assert_eq!(
        call(&app, "/invoices", truncated).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Up to exp the entry serves; at exp it is refused and removed.
    now.store(t0 + 599, Ordering::SeqCst);
    assert_eq!(call(&app, "/invoices", &t).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 1);
    now.store(t0 + 600, Ordering::SeqCst);
    let answer = call(&app, "/invoices", &t).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.challenge().contains("expired"),
        "{}",
        answer.challenge()
    );
    assert_eq!(guard.cached_tokens(), 0);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves() {
    let old = key();
    let new = key();
    let keys = InProcessKeys::new();
    keys.set_jwk_set(&jwk_set(&[&old, &new])).unwrap();
    let guard = Guard::builder(ISS, AUD)
        .in_process(&keys)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let t = token(&old, "invoices:read");
    assert_eq!(call(&app, "/invoices", &t).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 1);

    keys.set_jwk_set(&jwk_set(&[&new])).unwrap();
    assert_eq!(
        call(&app, "/invoices", &t).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(guard.cached_tokens(), 0);
    let fresh = token(&new, "invoices:read");
    assert_eq!(call(&app, "/invoices", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let key = key();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .cache_capacity(16)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    for _ in 0..50 {
        assert_eq!(
            call(&app, "/invoices", &token(&key, "invoices:read"))
                .await
                .status,
            StatusCode::OK
        );
        assert!(guard.cached_tokens() <= 16, "{}", guard.cached_tokens());
    }
}

#[tokio::test]
async fn accepted_algorithms_restrict_the_keys() {
    let es = key();
    let ed = m2m_core::SigningKey::generate(m2m_core::Algorithm::EdDSA).unwrap();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&es, &ed]))
        .algorithms([m2m_core::Algorithm::EdDSA])
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    assert_eq!(
        call(&app, "/invoices", &token(&ed, "invoices:read"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/invoices", &token(&es, "invoices:read"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
