//! Client assertions: single-use assertion ids, and `private_key_jwt`
//! clients' keys kept with the client.

use std::sync::Arc;

use m2m_core::{ClientKind, JwkSet, PublicJwk};
use m2m_issuer::store::{ClientKeys, Store, TokenEndpointAuthMethod};
use tokio::sync::Barrier;

use crate::check::{joined, ok};
use crate::fixtures::{T0, client};

/// An assertion id is claimed once while live, per issuer; after its `exp`
/// it may be claimed again; purge drops exactly the expired claims.
pub async fn assertion_ids_single_use<S: Store>(store: Arc<S>) {
    let exp = T0 + 300;
    assert!(
        ok(
            store.claim_assertion_id("m2m_a", "jti-1", exp, T0).await,
            "claim_assertion_id"
        ),
        "claim_assertion_id of a new (issuer, jti) must return true"
    );
    for now in [T0, T0 + 1, exp - 1] {
        assert!(
            !ok(
                store
                    .claim_assertion_id("m2m_a", "jti-1", exp + 100, now)
                    .await,
                "claim_assertion_id"
            ),
            "claim_assertion_id of a live (issuer, jti) must return false (now {now})"
        );
    }
    assert!(
        ok(
            store.claim_assertion_id("m2m_b", "jti-1", exp, T0).await,
            "claim_assertion_id"
        ),
        "the same jti of another issuer is another assertion"
    );
    assert!(
        ok(
            store.claim_assertion_id("m2m_a", "jti-2", exp, T0).await,
            "claim_assertion_id"
        ),
        "another jti of the same issuer is another assertion"
    );
    // A refused claim must not have extended the stored exp.
    assert!(
        ok(
            store
                .claim_assertion_id("m2m_a", "jti-1", exp + 600, exp)
                .await,
            "claim_assertion_id"
        ),
        "a claim whose exp has passed (stored exp <= now) may be claimed again"
    );
    assert!(
        !ok(
            store
                .claim_assertion_id("m2m_a", "jti-1", exp + 600, exp + 1)
                .await,
            "claim_assertion_id"
        ),
        "the new claim must be live until its own exp"
    );
    let long = "j".repeat(256);
    let issuer = format!("https://{}.example.com/issuer", "x".repeat(200));
    assert!(
        ok(
            store.claim_assertion_id(&issuer, &long, exp, T0).await,
            "claim_assertion_id of a 256-byte jti"
        ),
        "claim_assertion_id must take long issuers and jtis"
    );
    assert!(
        !ok(
            store.claim_assertion_id(&issuer, &long, exp, T0).await,
            "claim_assertion_id"
        ),
        "and refuse them the second time"
    );

    // Live at `exp + 1`: m2m_a/jti-1 (exp + 600); expired: m2m_b, jti-2, the long one.
    let purged = ok(
        store.purge_assertion_ids(exp + 1).await,
        "purge_assertion_ids",
    );
    assert_eq!(
        purged, 3,
        "purge_assertion_ids must drop exactly the claims with exp < before"
    );
    assert!(
        !ok(
            store
                .claim_assertion_id("m2m_a", "jti-1", exp + 600, exp + 2)
                .await,
            "claim_assertion_id"
        ),
        "purge_assertion_ids must keep live claims"
    );
    assert!(
        ok(
            store
                .claim_assertion_id("m2m_b", "jti-1", exp + 600, exp + 2)
                .await,
            "claim_assertion_id"
        ),
        "a purged claim is claimable again"
    );
}

/// Of 32 concurrent claims of one assertion id, exactly one wins.
pub async fn assertion_ids_single_use_under_concurrency<S: Store>(store: Arc<S>) {
    const TASKS: usize = 32;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .claim_assertion_id("m2m_race", "jti-race", T0 + 300, T0)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        if ok(
            joined(task.await, "claim_assertion_id"),
            "claim_assertion_id",
        ) {
            won += 1;
        }
    }
    assert_eq!(
        won, 1,
        "exactly one of {TASKS} concurrent claim_assertion_id of one jti must return true"
    );
}

fn ed25519(kid: &str, x: &str) -> PublicJwk {
    PublicJwk {
        kty: "OKP".to_owned(),
        key_use: Some("sig".to_owned()),
        alg: Some("EdDSA".to_owned()),
        kid: Some(kid.to_owned()),
        crv: Some("Ed25519".to_owned()),
        x: Some(x.to_owned()),
        y: None,
        n: None,
        e: None,
    }
}

/// A `private_key_jwt` client's inline `jwks` or its `jwks_uri` is kept
/// exactly, and an update can switch one for the other or drop them.
pub async fn client_keys_round_trip<S: Store>(store: Arc<S>) {
    let mut inline = client("m2m_k1", ClientKind::Service, None);
    inline.audiences = vec!["https://api.example.com".to_owned()];
    inline.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    inline.client_keys = Some(ClientKeys::Jwks(JwkSet {
        keys: vec![
            ed25519("k1", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            ed25519("k2", "Ct6-9CL5zIOk6qPWaCEEoaZzdUDY8ot8hkn8K_iOc1E"),
        ],
    }));
    ok(
        store.create_client(&inline, None).await,
        "create_client of a private_key_jwt client without a secret",
    );
    assert_eq!(
        ok(store.get_client(&inline.client_id).await, "get_client"),
        Some(inline.clone()),
        "get_client must return jwks and private_key_jwt exactly as created"
    );

    let mut by_uri = client("m2m_k2", ClientKind::Org, Some("org_1"));
    by_uri.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    by_uri.client_keys = Some(ClientKeys::JwksUri(
        "https://keys.example.com/jwks.json?tenant=a&x=\"1\"".to_owned(),
    ));
    ok(store.create_client(&by_uri, None).await, "create_client");
    assert_eq!(
        ok(store.get_client(&by_uri.client_id).await, "get_client"),
        Some(by_uri.clone()),
        "get_client must return jwks_uri exactly as created"
    );

    let mut switched = inline.clone();
    switched.client_keys = Some(ClientKeys::JwksUri("https://k.example/j".to_owned()));
    assert!(
        ok(store.update_client(&switched, None).await, "update_client"),
        "update_client of an existing client"
    );
    assert_eq!(
        ok(store.get_client(&inline.client_id).await, "get_client"),
        Some(switched.clone()),
        "update_client from jwks to jwks_uri must keep only jwks_uri"
    );
    let mut dropped = switched.clone();
    dropped.client_keys = None;
    dropped.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    ok(store.update_client(&dropped, None).await, "update_client");
    assert_eq!(
        ok(store.get_client(&inline.client_id).await, "get_client"),
        Some(dropped),
        "update_client must drop the keys"
    );
    let listed = ok(
        store.list_clients(&Default::default(), None, 10).await,
        "list_clients",
    );
    assert!(
        listed.items.contains(&by_uri),
        "list_clients must carry the client keys too"
    );
}
