//! Revocation: the polled feed and in-process pushes.

use std::time::{Duration, Instant};

use http::StatusCode;
use m2m_core::{RevocationFeed, RevokedToken, now_unix};

use crate::common::*;

#[tokio::test]
async fn a_revoked_jti_is_refused_within_one_poll_interval() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let interval = Duration::from_millis(200);
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(interval)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let claims = claims("invoices:read");
    let revoked = m2m_core::sign(&key, &claims).unwrap();
    let other = token(&key, "invoices:read");
    assert_eq!(
        call(&app, "/invoices", &revoked).await.status,
        StatusCode::OK
    );
    assert_eq!(guard.cached_tokens(), 1);

    issuer.revoke(&claims.jti, claims.exp);
    let start = Instant::now();
    loop {
        let answer = call(&app, "/invoices", &revoked).await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert!(
                answer.challenge().contains("revoked"),
                "{}",
                answer.challenge()
            );
            break;
        }
        assert!(
            start.elapsed() < interval * 3,
            "still accepted after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One interval, plus the time of one poll on a loaded machine.
    assert!(
        start.elapsed() < interval + Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(call(&app, "/invoices", &other).await.status, StatusCode::OK);
    // The feed is read from its cursor.
    let polls = issuer.polls();
    issuer.wait_for("another poll", |i| i.polls() > polls).await;
    assert_eq!(guard.revocations().len().0, 1);
}

#[tokio::test]
async fn an_in_process_issuer_pushes_revocations() {
    let key = key();
    let guard = m2m_guard::Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let now = now_unix();
    let old = token_with(&key, |c| c.iat = now - 10);
    let newer = token_with(&key, |c| {
        c.iat = now + 5;
        c.nbf = Some(now);
    });
    assert_eq!(call(&app, "/invoices", &old).await.status, StatusCode::OK);
    guard.revocations().revoke_client("m2m_client1", now);
    assert_eq!(
        guard.cached_tokens(),
        0,
        "the revoked client's entries left the cache"
    );
    assert_eq!(
        call(&app, "/invoices", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&app, "/invoices", &newer).await.status, StatusCode::OK);

    let claims = claims("invoices:read");
    let t = m2m_core::sign(&key, &claims).unwrap();
    let mut feed = RevocationFeed::default();
    feed.revoked_jtis.push(RevokedToken {
        jti: claims.jti.clone(),
        exp: claims.exp,
    });
    guard.revocations().apply(&feed);
    assert_eq!(
        call(&app, "/invoices", &t).await.status,
        StatusCode::UNAUTHORIZED
    );
}
