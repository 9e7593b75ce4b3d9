//! The revocation feed under abuse, with a real guard polling it over HTTP:
//! an attacker minting and revoking its own tokens at full speed must not
//! hold back another client's revocation by more than one poll interval plus
//! a bounded catch-up, and a new guard must catch up on a long feed in
//! bounded time. Both report what they measure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use m2m_core::{ClientId, RevokedToken};
use m2m_guard::{Guard, Rejection};

use crate::common::TestServer;

async fn remote_guard(server: &TestServer, poll: Duration) -> Guard {
    let clock = server.issuer.clone();
    Guard::builder(server.issuer.issuer_url(), server.issuer.issuer_url())
        .jwks_url(server.url("/.well-known/jwks.json"))
        .revocation_feed(server.url("/oauth/revocations"))
        .revocation_poll_interval(poll)
        .clock(Arc::new(move || clock.now()))
        .build()
        .await
        .expect("guard")
}

async fn revoke(server: &TestServer, id: &str, secret: &str, token: &str) {
    let response = server
        .http
        .post(server.url("/oauth/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_revoking_at_full_speed_delays_others_by_at_most_a_bounded_catch_up() {
    let mut server = TestServer::start().await;
    let (attacker, attacker_secret) = server.org_client(&["a:b"]).await;
    let (victim, victim_secret) = server.org_client(&["a:b"]).await;
    let poll = Duration::from_millis(500);
    let guard = remote_guard(&server, poll).await;
    let victim_token = server.token(&victim, &victim_secret, &[]).await;
    assert!(guard.check_token(&victim_token).is_ok());

    // The attacker: four loops minting and self-revoking as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let revoked = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (http, url) = (server.http.clone(), server.base.clone());
        let (id, secret) = (attacker.clone(), attacker_secret.clone());
        let (stop, revoked) = (Arc::clone(&stop), Arc::clone(&revoked));
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let body: serde_json::Value = http
                    .post(format!("{url}/oauth/token"))
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .expect("token")
                    .json()
                    .await
                    .expect("json");
                let token = body["access_token"].as_str().expect("token").to_owned();
                http.post(format!("{url}/oauth/revoke"))
                    .basic_auth(&id, Some(&secret))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .expect("revoke");
                revoked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Let a backlog build, then revoke the victim's token in the middle of it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    revoke(&server, &victim, &victim_secret, &victim_token).await;
    let revoked_at = Instant::now();
    let bound = poll * 2 + Duration::from_secs(5);
    let delay = loop {
        if guard.check_token(&victim_token) == Err(Rejection::Revoked) {
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < bound,
            "the victim's revocation was held back more than {bound:?} behind {} attacker entries",
            revoked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.expect("attacker");
    }
    let attack = revoked.load(Ordering::Relaxed);
    println!(
        "feed under abuse: {attack} attacker revocations; the victim's reached the guard in {delay:?} \
         (poll interval {poll:?})"
    );
    assert!(attack > 0, "the attack ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_guard_catches_up_on_100_000_revocations_before_it_serves() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let client = ClientId::new(id.as_str());
    let exp = server.now() + 3600;
    let seeded = Instant::now();
    for i in 0..100_000 {
        let token = RevokedToken {
            jti: format!("seeded-{i}"),
            exp,
        };
        server
            .store
            .revoke_token(&token, &client, server.now())
            .await
            .expect("seed");
    }
    let seeding = seeded.elapsed();
    // The last one revoked is a real token.
    let token = server.token(&id, &secret, &[]).await;
    revoke(&server, &id, &secret, &token).await;

    let started = Instant::now();
    let guard = remote_guard(&server, Duration::from_secs(3600)).await;
    let catch_up = started.elapsed();
    println!(
        "catch-up: a new guard read 100,001 revocations (1,000 a page) in {catch_up:?} \
         (seeding the store took {seeding:?})"
    );
    assert_eq!(
        guard.check_token(&token),
        Err(Rejection::Revoked),
        "the newest revocation holds before the first request"
    );
    assert!(
        catch_up < Duration::from_secs(60),
        "catching up took {catch_up:?}"
    );
}
