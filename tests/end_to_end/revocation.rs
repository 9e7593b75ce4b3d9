//! Deleting a client stops its tokens at a guard that polls the revocation
//! feed, within one poll interval, even for tokens the guard cached.

use std::time::{Duration, Instant};

use crate::world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_client_stops_its_tokens_within_one_poll_interval() {
    let poll = Duration::from_millis(500);
    let world = World::start(Settings {
        revocation_poll: Some(poll),
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
    loop {
        let status = world.call_api(token.secret()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            deleted_at.elapsed() < poll * 2 + Duration::from_millis(500),
            "the deleted client's token still worked {:?} after the delete",
            deleted_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let took = deleted_at.elapsed();
    assert!(
        took <= poll + Duration::from_millis(500),
        "took {took:?} for a {poll:?} poll"
    );
    // Other clients are untouched.
    assert_eq!(world.call_api(kept.secret()).await, 200);
}
