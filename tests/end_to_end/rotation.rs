//! Key rotation under steady traffic loses no request.

use std::time::{Duration, Instant};

use m2m_core::RotationPolicy;

use crate::world::*;

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("header");
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("b64"),
    )
    .expect("json");
    json["kid"].as_str().expect("kid").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_steady_traffic_loses_no_request() {
    // Short timings so the switch happens inside the test: the new key is
    // published at once and signs one second later.
    let world = World::start(Settings {
        policy: RotationPolicy {
            prepublish_secs: 1,
            ..RotationPolicy::default()
        },
        jwks_max_age: 1,
        ..Settings::default()
    })
    .await;
    let (id, secret) = world.create_client(&["reports:read"]).await;
    let tokens = world.token_source(&id, &secret);

    let first = tokens.token().await.expect("token");
    let old_kid = kid_of(first.secret());
    let rotation = world.issuer.rotate_keys().await.expect("rotate");
    let _ = rotation;

    // Steady traffic: a fresh token and a call every few milliseconds, old
    // tokens replayed too, until the new key has signed for a while.
    let mut kids = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let mut calls = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        tokens.invalidate();
        let token = tokens.token().await.expect("token");
        kids.insert(kid_of(token.secret()));
        for t in [token.secret(), first.secret()] {
            calls += 1;
            let status = world.call_api(t).await;
            if status != 200 {
                failures.push(status);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        kids.len(),
        2,
        "tokens were signed by the old key and then the new one: {kids:?}"
    );
    assert!(kids.contains(&old_kid));
    assert!(calls > 100, "too little traffic to mean anything: {calls}");
    assert_eq!(
        world.guard.key_count(),
        2,
        "the guard holds the old and the new key"
    );
}
