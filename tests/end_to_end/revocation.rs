//! Deleting a client stops its tokens at a guard that polls the revocation
//! feed, within a few poll intervals, even for tokens the guard cached.
//!
//! The guard learns of the delete at its next poll, one interval at most on
//! an idle machine; the bound below is several intervals, so a machine busy
//! with other tests does not fail a good commit, while a guard that does not
//! poll (or polls far less often than configured) still fails.

use std::time::{Duration, Instant};

use crate::world::*;

/// The guard's revocation poll interval.
const POLL: Duration = Duration::from_millis(500);
/// How many poll intervals the delete may take to reach the guard.
const INTERVALS: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_client_stops_its_tokens_within_a_few_poll_intervals() {
    let world = World::start(Settings {
        revocation_poll: Some(POLL),
        ..Settings::default()
    })
    .await;
    let (id, secret) = world.create_client(&["reports:read"]).await;
    let (keep, keep_secret) = world.create_client(&["reports:read"]).await;
    let token = world
        .token_source(&id, &secret)
        .token()
        .await
        .expect("token");
    let kept = world
        .token_source(&keep, &keep_secret)
        .token()
        .await
        .expect("token");
    // Verified once, so the guard has both in its cache.
    assert_eq!(world.call_api(token.secret()).await, 200);
    assert_eq!(world.call_api(kept.secret()).await, 200);

    world.admin_delete_client(&id).await;
    let deleted_at = Instant::now();
    let bound = POLL * INTERVALS;
    let mut calls = 0;
    let took = loop {
        let status = world.call_api(token.secret()).await;
        calls += 1;
        if status == 401 {
            break deleted_at.elapsed();
        }
        assert_eq!(
            status, 200,
            "the deleted client's token: neither accepted nor refused"
        );
        assert!(
            deleted_at.elapsed() < bound,
            "the deleted client's token still worked after {:?} ({calls} calls): more than \
             {INTERVALS} revocation polls of {POLL:?}",
            deleted_at.elapsed()
        );
        tokio::time::sleep(POLL / 20).await;
    };
    eprintln!("refused {took:?} after the delete, with a {POLL:?} poll");
    // Other clients are untouched, and the refusal stays.
    assert_eq!(world.call_api(kept.secret()).await, 200);
    assert_eq!(world.call_api(token.secret()).await, 401);
}
