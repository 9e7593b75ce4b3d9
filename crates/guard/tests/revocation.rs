//! Revocation: the polled feed (drain, first read at build, cursor reset,
//! pruning) and in-process pushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use m2m_core::{Revocation, RevocationFeed, RevokedClient, RevokedKey, RevokedToken, now_unix};
use m2m_guard::{BuildError, Guard};

use crate::common::*;

/// Waits until `token` is refused as revoked, at most `deadline`; returns
/// how long it took.
async fn refused_within(
    app: &axum::Router,
    token: &str,
    deadline: Duration,
    what: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        let answer = call(app, "/invoices", token).await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert!(
                answer.challenge().contains("revoked"),
                "{what}: refused, but not as revoked: {}",
                answer.challenge()
            );
            return start.elapsed();
        }
        assert_eq!(answer.status, StatusCode::OK, "{what}: {answer:?}");
        assert!(
            start.elapsed() < deadline,
            "{what}: still accepted {:?} after the revocation (deadline {deadline:?})",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_revoked_jti_is_refused_within_the_poll_interval_and_read_once() {
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
    // One interval plus one poll is the promise; a busy machine gets ten.
    refused_within(&app, &revoked, interval * 10, "the revoked jti").await;
    assert_eq!(call(&app, "/invoices", &other).await.status, StatusCode::OK);

    // The feed is read from its cursor: after more polls the one entry was
    // still served once, and every request after the first carried a cursor.
    let polls = issuer.polls();
    issuer
        .wait_for("three more polls", |i| i.polls() >= polls + 3)
        .await;
    assert_eq!(issuer.served(), 1, "{:?}", issuer.feed_log());
    let log = issuer.feed_log();
    assert_eq!(log[0].since, None, "the first read starts at the beginning");
    assert!(
        log[1..].iter().all(|r| r.since.is_some()),
        "later reads pass the cursor back: {log:?}"
    );
    assert_eq!(guard.revocations().len(), 1);
}

#[tokio::test]
async fn the_feed_is_read_at_build_before_any_request() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let claims = claims("invoices:read");
    let revoked = m2m_core::sign(&key, &claims).unwrap();
    issuer.revoke(&claims.jti, claims.exp);
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        // No poll during the test: only the read at build can refuse it.
        .revocation_poll_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    assert_eq!(guard.revocations().len(), 1);
    let answer = call(&app(&guard), "/invoices", &revoked).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert!(answer.challenge().contains("revoked"));
}

#[tokio::test]
async fn a_failed_first_feed_read_fails_the_build_unless_lazy() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let claims = claims("invoices:read");
    let revoked = m2m_core::sign(&key, &claims).unwrap();
    issuer.revoke(&claims.jti, claims.exp);
    issuer.set_feed_down(true);
    let err = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::FirstFeedPoll(ref why) if why.contains("503")),
        "{err}"
    );

    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_millis(50))
        .lazy_start(true)
        .build()
        .await
        .unwrap();
    assert!(guard.revocations().is_empty());
    issuer.set_feed_down(false);
    refused_within(&app(&guard), &revoked, PATIENCE, "after the feed came back").await;
}

#[tokio::test]
async fn a_new_guard_catches_up_on_100k_revocations_at_build() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let exp = now_unix() + 3600;
    issuer.revoke_all((0..100_000).map(|i| RevokedToken {
        jti: format!("jti-{i:06}"),
        exp,
    }));
    let last = token_with(&key, |c| c.jti = "jti-099999".into());

    let start = Instant::now();
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let took = start.elapsed();
    println!("caught up on 100,000 revocations (100 pages of 1,000) in {took:?}");

    assert_eq!(guard.revocations().len(), 100_000);
    let log = issuer.feed_log();
    assert_eq!(log.len(), 101, "100 full pages, then an empty one");
    assert!(log[..100].iter().all(|r| r.entries == 1000));
    assert_eq!(log[100].entries, 0);
    assert_eq!(
        guard.check_token(&last).unwrap_err(),
        m2m_guard::Rejection::Revoked
    );
    // Bounded: a debug build on a busy 2-core machine, with room to spare.
    assert!(took < Duration::from_secs(60), "catching up took {took:?}");
}

#[tokio::test]
async fn each_poll_reads_pages_back_to_back_up_to_its_limit() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    issuer.set_page_size(10);
    let interval = Duration::from_millis(500);
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(interval)
        .revocation_pages_per_poll(2)
        .build()
        .await
        .unwrap();
    // A backlog of four pages, added at once.
    let exp = now_unix() + 3600;
    issuer.revoke_all((0..40).map(|i| RevokedToken {
        jti: format!("j{i}"),
        exp,
    }));
    wait_until("the whole backlog", || guard.revocations().len() == 40).await;

    let pages: Vec<FeedRequest> = issuer
        .feed_log()
        .into_iter()
        .filter(|r| r.entries > 0)
        .collect();
    assert_eq!(pages.len(), 4, "{pages:?}");
    // Within a poll, pages follow each other with no wait...
    for (a, b) in [(0, 1), (2, 3)] {
        let gap = pages[b].at - pages[a].at;
        assert!(gap < interval, "pages {a} and {b} {gap:?} apart: {pages:?}");
    }
    // ...and after two pages the poll stops until the next interval.
    let gap = pages[2].at - pages[1].at;
    assert!(
        gap >= interval,
        "the third page came {gap:?} after the second"
    );
}

#[tokio::test]
async fn a_refused_cursor_makes_the_guard_reread_from_the_start() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let before: Vec<Revocable> = (0..2).map(|_| Revocable::new(&key)).collect();
    issuer.revoke_all(before.iter().map(|t| t.revocation()));
    let interval = Duration::from_millis(500);
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(interval)
        .build()
        .await
        .unwrap();
    assert_eq!(guard.revocations().len(), 2);

    // The issuer's database is restored from a backup that holds one other
    // entry: the guard's cursor (2) is beyond its head.
    let after = Revocable::new(&key);
    issuer.restore_feed([after.revocation()]);
    wait_until("the entry of the restored feed", || {
        guard.revocations().len() == 3
    })
    .await;

    let log = issuer.feed_log();
    let refused = log
        .iter()
        .position(|r| r.status == StatusCode::BAD_REQUEST)
        .expect("the old cursor was refused");
    assert_eq!(log[refused].since.as_deref(), Some("2"));
    assert_eq!(
        log[refused + 1].since,
        None,
        "re-read from the start at once: {log:?}"
    );
    assert!(
        log[refused + 1].at - log[refused].at < interval,
        "not at the next poll: {log:?}"
    );
    // Fail closed: what was revoked before the restore stays revoked.
    for t in before.iter().chain([&after]) {
        assert_eq!(
            guard.check_token(&t.token).unwrap_err(),
            m2m_guard::Rejection::Revoked
        );
    }
}

#[tokio::test]
async fn other_feed_errors_keep_the_cursor_and_the_revocations() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let first = Revocable::new(&key);
    issuer.revoke_all([first.revocation()]);
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap();

    issuer.set_feed_down(true);
    let polls = issuer.polls();
    issuer
        .wait_for("failed polls", |i| i.polls() >= polls + 3)
        .await;
    assert_eq!(
        guard.check_token(&first.token).unwrap_err(),
        m2m_guard::Rejection::Revoked,
        "kept through the outage"
    );
    let second = Revocable::new(&key);
    issuer.revoke_all([second.revocation()]);
    issuer.set_feed_down(false);
    wait_until("the next entry", || guard.revocations().len() == 2).await;
    assert_eq!(
        issuer.served(),
        2,
        "nothing read twice: {:?}",
        issuer.feed_log()
    );
    assert!(
        issuer.feed_log()[1..].iter().all(|r| r.since.is_some()),
        "{:?}",
        issuer.feed_log()
    );
}

#[tokio::test]
async fn every_kind_in_the_feed_is_refused_and_the_jwks_may_still_list_the_key() {
    let revoked_key = key();
    let other_key = key();
    let issuer = Issuer::start(&[&revoked_key, &other_key]).await;
    let guard = builder(&issuer)
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let app = app(&guard);
    let now = now_unix();
    let by_jti = Revocable::new(&other_key);
    let by_client = token_with(&other_key, |c| {
        c.client_id = "m2m_gone".into();
        c.iat = now - 5;
    });
    let by_key = token(&revoked_key, "invoices:read");
    let untouched = token(&other_key, "invoices:read");
    for t in [&by_jti.token, &by_client, &by_key, &untouched] {
        assert_eq!(call(&app, "/invoices", t).await.status, StatusCode::OK);
    }

    issuer.revoke_all([
        by_jti.revocation(),
        RevokedClient::new("m2m_gone".into(), now).into(),
        RevokedKey::new(revoked_key.kid(), now).into(),
    ]);
    for (what, t) in [
        ("jti", &by_jti.token),
        ("client", &by_client),
        ("key", &by_key),
    ] {
        refused_within(&app, t, PATIENCE, what).await;
    }
    assert_eq!(guard.key_count(), 2, "the JWKS still lists the revoked key");
    assert_eq!(
        call(&app, "/invoices", &untouched).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_poller_prunes_every_kind_as_it_expires() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let t0 = now_unix();
    let now = Arc::new(AtomicU64::new(t0));
    let clock = Arc::clone(&now);
    let expired = t0 - 1000;
    let live = t0 + 1000;
    issuer.revoke_all([
        Revocation::from(RevokedToken {
            jti: "old".into(),
            exp: expired,
        }),
        RevokedClient {
            client_id: "m2m_old".into(),
            revoked_at: expired - 10,
            exp: expired,
        }
        .into(),
        RevokedKey {
            kid: "old".into(),
            revoked_at: expired - 10,
            exp: expired,
        }
        .into(),
        RevokedToken {
            jti: "live".into(),
            exp: live,
        }
        .into(),
        RevokedClient {
            client_id: "m2m_live".into(),
            revoked_at: t0,
            exp: live,
        }
        .into(),
        RevokedKey {
            kid: "live".into(),
            revoked_at: t0,
            exp: live,
        }
        .into(),
    ]);
    let guard = builder(&issuer)
        .leeway(60)
        .clock(Arc::new(move || clock.load(Ordering::SeqCst)))
        .revocation_feed(issuer.feed_url())
        .revocation_poll_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert_eq!(guard.revocations().len(), 3, "pruned at build");

    // Past the live entries' exp, but within the leeway: still kept.
    now.store(live + 59, Ordering::SeqCst);
    let polls = issuer.polls();
    issuer
        .wait_for("two more polls", |i| i.polls() >= polls + 2)
        .await;
    assert_eq!(guard.revocations().len(), 3, "kept within the leeway");
    // Past exp plus the leeway: every kind goes.
    now.store(live + 61, Ordering::SeqCst);
    wait_until("pruning after a poll", || guard.revocations().is_empty()).await;
}

/// A token and the revocation of its jti.
struct Revocable {
    jti: String,
    exp: u64,
    token: String,
}

impl Revocable {
    fn new(key: &m2m_core::SigningKey) -> Self {
        let claims = claims("invoices:read");
        Revocable {
            token: m2m_core::sign(key, &claims).unwrap(),
            jti: claims.jti,
            exp: claims.exp,
        }
    }

    fn revocation(&self) -> Revocation {
        RevokedToken {
            jti: self.jti.clone(),
            exp: self.exp,
        }
        .into()
    }
}

#[tokio::test]
async fn an_in_process_issuer_pushes_client_revocations() {
    let key = key();
    let guard = Guard::builder(ISS, AUD)
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
    let guard = Guard::builder(ISS, AUD)
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
    let guard = Guard::builder(ISS, AUD)
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
    let guard = Guard::builder(ISS, AUD)
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
