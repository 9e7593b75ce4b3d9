//! JWKS, metadata, key rotation, the master key and bootstrap.

use std::sync::Arc;

use m2m_core::{Algorithm, RotationPolicy};
use m2m_issuer::store::{MemoryStore, Store};
use m2m_issuer::{Issuer, IssuerError};
use serde_json::Value;

use crate::common::{TestServer, kid_of};

#[tokio::test]
async fn jwks_and_metadata() {
    let server = TestServer::start_with(|b| b.jwks_max_age(120)).await;
    let response = server
        .http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=120");
    let jwks: Value = response.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["alg"], "ES256", "ES256 by default");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    let meta: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], server.base);
    assert_eq!(meta["token_endpoint"], server.url("/oauth/token"));
    assert_eq!(meta["jwks_uri"], server.url("/.well-known/jwks.json"));
    assert_eq!(
        meta["introspection_endpoint"],
        server.url("/oauth/introspect")
    );
    assert_eq!(meta["revocation_endpoint"], server.url("/oauth/revoke"));
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert!(meta["response_types_supported"].is_array());

    // RFC 8414 §3: the well-known segment goes before the issuer's path.
    let rooted: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server/auth",
            server.root
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rooted, meta);
}

#[tokio::test]
async fn eddsa_and_rs256_are_selectable() {
    for alg in [Algorithm::EdDSA, Algorithm::RS256] {
        let mut server = TestServer::start_with(|b| b.algorithm(alg)).await;
        let (id, secret) = server.org_client(&["a:b"]).await;
        let token = server.token(&id, &secret, &[]).await;
        assert!(server.verify(&token, &server.base).await.is_ok(), "{alg}");
        assert_eq!(
            server.jwks().await.keys[0].alg.as_deref(),
            Some(alg.as_str())
        );
    }
}

#[tokio::test]
async fn rotation_publishes_first_signs_later_and_retires_after_the_longest_ttl() {
    let policy = RotationPolicy::default();
    let mut server = TestServer::start_with(|b| b.rotation_policy(policy)).await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let mut jwks_updates = server.issuer.subscribe_jwks();
    let old_kid = server.jwks().await.keys[0].kid.clone().unwrap();

    let admin = server.admin_token().await;
    let response = server
        .http
        .post(server.url("/admin/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        rotated["signs_from_unix"],
        server.now() + policy.prepublish_secs
    );
    assert!(rotated["signs_from"].as_str().unwrap().ends_with('Z'));

    // The new key is published at once; tokens still carry the old kid.
    let kids: Vec<String> = server
        .jwks()
        .await
        .keys
        .iter()
        .map(|k| k.kid.clone().unwrap())
        .collect();
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid));
    assert!(
        jwks_updates.has_changed().unwrap(),
        "in-process subscribers hear of it"
    );
    assert_eq!(jwks_updates.borrow_and_update().keys.len(), 2);
    let before = server.token(&id, &secret, &[]).await;
    assert_eq!(kid_of(&before), old_kid);

    // After the prepublication time the new key signs; old tokens still verify.
    server.advance(policy.prepublish_secs);
    let after = server.token(&id, &secret, &[]).await;
    assert_eq!(kid_of(&after), new_kid);
    assert!(server.verify(&before, &server.base).await.is_ok());
    assert!(server.verify(&after, &server.base).await.is_ok());

    // The old key stays published until retain_secs after it stopped signing.
    server.advance(policy.retain_secs - 1);
    server.issuer.tick().await.unwrap();
    assert_eq!(server.jwks().await.keys.len(), 2);
    server.advance(1);
    server.issuer.tick().await.unwrap();
    let kids: Vec<String> = server
        .jwks()
        .await
        .keys
        .iter()
        .map(|k| k.kid.clone().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.clone()]);
    assert_eq!(
        server.store.list_keys().await.unwrap().len(),
        1,
        "pruned from the store too"
    );

    // Automatic rotation when the signing key is old enough.
    assert!(server.issuer.tick().await.unwrap().is_none());
    server.advance(policy.rotate_every_secs);
    let auto = server.issuer.tick().await.unwrap().expect("rotation due");
    assert_eq!(server.jwks().await.keys.len(), 2);
    assert_eq!(kid_of(&server.token(&id, &secret, &[]).await), new_kid);
    server.advance(policy.prepublish_secs);
    assert_eq!(kid_of(&server.token(&id, &secret, &[]).await), auto.kid);
}

#[tokio::test]
async fn a_second_rotation_names_the_pending_key_it_supersedes() {
    let policy = RotationPolicy::default();
    let mut server = TestServer::start_with(|b| b.rotation_policy(policy)).await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    let current = server.jwks().await.keys[0].kid.clone().unwrap();

    // Nothing waits to sign yet: the first rotation supersedes nothing.
    let (status, first) = server
        .admin(reqwest::Method::POST, "/admin/keys/rotate", None)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["superseded"], Value::Null, "{first}");
    let pending = first["kid"].as_str().unwrap().to_owned();

    // Before the pending key signs, a second rotation replaces it, and says so.
    server.advance(policy.prepublish_secs / 2);
    let (status, second) = server
        .admin(reqwest::Method::POST, "/admin/keys/rotate", None)
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["superseded"], pending.as_str(), "{second}");
    let newest = second["kid"].as_str().unwrap().to_owned();
    assert!(newest != pending && newest != current);

    // The library API says the same: a third rotation supersedes the second's key.
    let third = server.issuer.rotate_keys().await.unwrap();
    assert_eq!(third.superseded.as_deref(), Some(newest.as_str()));

    // The superseded keys never sign: the current key signs until the third's starts.
    assert_eq!(kid_of(&server.token(&id, &secret, &[]).await), current);
    server.advance(policy.prepublish_secs);
    assert_eq!(kid_of(&server.token(&id, &secret, &[]).await), third.kid);

    // Once the newest key signs, a rotation supersedes nothing.
    let fourth = server.issuer.rotate_keys().await.unwrap();
    assert_eq!(fourth.superseded, None);
}

#[tokio::test]
async fn keys_are_sealed_at_rest_and_a_wrong_master_key_fails_at_start() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = Issuer::builder_with_shared_store("https://auth.example.com", Arc::clone(&store))
        .master_key([1; 32])
        .algorithm(Algorithm::EdDSA)
        .build()
        .await
        .unwrap();
    let stored = store.list_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].kid, first.jwks().keys[0].kid.clone().unwrap());
    assert!(
        m2m_core::SigningKey::from_pkcs8_der(&stored[0].encrypted_private_key).is_err(),
        "the store holds a sealed blob, not a PKCS#8 key"
    );

    // Same master key: the same key ring loads.
    let again = Issuer::builder_with_shared_store("https://auth.example.com", Arc::clone(&store))
        .master_key([1; 32])
        .build()
        .await
        .unwrap();
    assert_eq!(again.jwks(), first.jwks());

    let builder = Issuer::builder_with_shared_store("https://auth.example.com", Arc::clone(&store))
        .master_key([2; 32]);
    let debug = format!("{builder:?}");
    assert!(
        debug.contains("<redacted>") && !debug.contains("[2, 2"),
        "{debug}"
    );
    let wrong = builder.build().await;
    match wrong {
        Err(IssuerError::KeyDecryption { kid }) => assert_eq!(kid, stored[0].kid),
        other => panic!("expected KeyDecryption, got {other:?}"),
    }
}

#[tokio::test]
async fn builder_refuses_bad_configuration() {
    let short_prepublish = RotationPolicy {
        prepublish_secs: 60,
        ..RotationPolicy::default()
    };
    for (why, builder) in [
        (
            "not a URL",
            Issuer::builder("example.com", MemoryStore::new()),
        ),
        (
            "query",
            Issuer::builder("https://example.com/?a=b", MemoryStore::new()),
        ),
        (
            "prepublish below max-age",
            Issuer::builder("https://example.com", MemoryStore::new())
                .rotation_policy(short_prepublish),
        ),
    ] {
        assert!(
            matches!(builder.build().await, Err(IssuerError::Config(_))),
            "{why}"
        );
    }
}

#[tokio::test]
async fn bootstrap_admin_only_on_an_empty_store() {
    let mut server = TestServer::start().await;
    let (id, _) = server.admin_credentials().await;
    assert!(server.issuer.bootstrap_admin().await.unwrap().is_none());
    let (status, admin) = server
        .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(admin["kind"], "service");
    assert_eq!(admin["audiences"], serde_json::json!([server.base.clone()]));
    assert_eq!(admin["scopes"], serde_json::json!(["m2m:admin"]));
    let debug = format!("{:?}", server.issuer);
    assert!(!debug.contains("m2ms_"));
}
