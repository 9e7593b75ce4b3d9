//! Revocation: the polled feed and in-process pushes.

use std::time::{Duration, Instant};

use http::StatusCode;
use m2m_core::{RevocationFeed, RevokedClient, RevokedKey, RevokedToken, now_unix};

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
    assert_eq!(guard.revocations().len(), 1);
}

#[tokio::test]
async fn an_in_process_issuer_pushes_client_revocations() {
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
    let other_client = token_with(&key, |c| {
        c.iat = now - 10;
        c.client_id = "m2m_client2".into();
    });
    for t in [&old, &newer, &other_client] {
        assert_eq!(call(&app, "/invoices", t).await.status, StatusCode::OK);
    }
    assert_eq!(guard.cached_tokens(), 3);

    guard
        .revocations()
        .revoke(RevokedClient::new("m2m_client1".into(), now));
    assert_eq!(
        guard.cached_tokens(),
        3,
        "revoking does not scan the verified-token cache"
    );
    let answer = call(&app, "/invoices", &old).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.challenge().contains("revoked"),
        "{}",
        answer.challenge()
    );
    assert_eq!(
        guard.cached_tokens(),
        2,
        "the hit that refused it removed it"
    );
    assert_eq!(call(&app, "/invoices", &newer).await.status, StatusCode::OK);
    assert_eq!(
        call(&app, "/invoices", &other_client).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn apply_refuses_every_kind_of_a_feed_page() {
    let revoked_key = key();
    let other_key = key();
    let guard = m2m_guard::Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&revoked_key, &other_key]))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let now = now_unix();
    // Three tokens, each covered by exactly one entry of the page: by jti,
    // by client, by key. Nothing else was revoked before.
    let by_jti = claims("invoices:read");
    let by_jti_token = m2m_core::sign(&other_key, &by_jti).unwrap();
    let by_client = token_with(&other_key, |c| {
        c.client_id = "m2m_gone".into();
        c.iat = now - 5;
    });
    let by_key = token(&revoked_key, "invoices:read");
    let untouched = token(&other_key, "invoices:read");
    for t in [&by_jti_token, &by_client, &by_key, &untouched] {
        assert_eq!(call(&app, "/invoices", t).await.status, StatusCode::OK);
    }

    let mut page = RevocationFeed::default();
    page.push(
        RevokedToken {
            jti: by_jti.jti.clone(),
            exp: by_jti.exp,
        }
        .into(),
    );
    page.push(RevokedClient::new("m2m_gone".into(), now).into());
    page.push(RevokedKey::new(revoked_key.kid(), now).into());
    guard.revocations().apply(&page);
    assert_eq!(guard.revocations().len(), 3);

    for (name, t) in [
        ("jti", &by_jti_token),
        ("client", &by_client),
        ("key", &by_key),
    ] {
        let answer = call(&app, "/invoices", t).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "by {name}");
        assert!(answer.challenge().contains("revoked"), "by {name}");
    }
    assert_eq!(
        call(&app, "/invoices", &untouched).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_while_the_keys_still_list_it() {
    let revoked = key();
    let keys = m2m_guard::InProcessKeys::new();
    keys.set_jwk_set(&jwk_set(&[&revoked])).unwrap();
    let guard = m2m_guard::Guard::builder(ISS, AUD)
        .in_process(&keys)
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let cached = token(&revoked, "invoices:read");
    assert_eq!(
        call(&app, "/invoices", &cached).await.status,
        StatusCode::OK
    );

    guard
        .revocations()
        .revoke(RevokedKey::new(revoked.kid(), now_unix()));
    assert_eq!(guard.key_count(), 1, "the key set still lists it");
    for t in [cached, token(&revoked, "invoices:read")] {
        let answer = call(&app, "/invoices", &t).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(
            answer.challenge().contains("revoked"),
            "{}",
            answer.challenge()
        );
    }
    // check_token judges the same way.
    assert_eq!(
        guard.check_token(&token(&revoked, "")).unwrap_err(),
        m2m_guard::Rejection::Revoked
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_for_tokens_without_a_kid() {
    // A one-key set accepts tokens with no kid; revoking the key by its kid
    // must refuse them too.
    let revoked = key();
    let guard = m2m_guard::Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&revoked]))
        .build()
        .await
        .unwrap();
    let no_kid = sign_without_kid(&revoked, &claims(""));
    assert!(guard.check_token(&no_kid).is_ok());
    guard
        .revocations()
        .revoke(RevokedKey::new(revoked.kid(), now_unix()));
    assert_eq!(
        guard.check_token(&no_kid).unwrap_err(),
        m2m_guard::Rejection::Revoked
    );
}
