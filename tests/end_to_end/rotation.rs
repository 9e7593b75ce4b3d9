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

/// Traffic goes on this long after the new key starts signing: three JWKS
/// max-ages, so the guard has refreshed its keys since the switch and the old
/// tokens are checked against the JWKS as it is after the switch.
const AFTER_SWITCH: Duration = Duration::from_secs(3);
/// The new key signs about a second after the rotation; if it has not within
/// this long, the test fails.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(30);

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
    assert_eq!(world.call_api(first.secret()).await, 200);
    world.issuer.rotate_keys().await.expect("rotate");
    let rotated_at = Instant::now();

    // Steady traffic: a fresh token and a call with it, and a call with the
    // token from before the rotation, until the new key has signed for
    // AFTER_SWITCH. How many calls that makes depends on the machine; what is
    // checked does not.
    let mut kids = vec![old_kid.clone()];
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut switched_at = None;
    loop {
        tokens.invalidate();
        let token = tokens.token().await.expect("token");
        let kid = kid_of(token.secret());
        if kids.last() != Some(&kid) {
            kids.push(kid.clone());
        }
        for (which, t) in [("fresh", token.secret()), ("pre-rotation", first.secret())] {
            calls += 1;
            let status = world.call_api(t).await;
            if status != 200 {
                failures.push(format!(
                    "{which} token at {:?} after the rotation: {status}",
                    rotated_at.elapsed()
                ));
            }
        }
        if kid != old_kid && switched_at.is_none() {
            switched_at = Some(Instant::now());
        }
        match switched_at {
            Some(at) if at.elapsed() >= AFTER_SWITCH => break,
            Some(_) => {}
            None => assert!(
                rotated_at.elapsed() < SWITCH_TIMEOUT,
                "the new key did not sign within {SWITCH_TIMEOUT:?} of the rotation"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(
        kids.len(),
        2,
        "tokens were signed by the old key and then by the new one, for good: {kids:?}"
    );
    assert_eq!(
        world.guard.key_count(),
        2,
        "the guard holds the old and the new key"
    );
}
