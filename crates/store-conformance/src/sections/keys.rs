//! The signing-key ring.

use std::sync::Arc;

use m2m_core::{Revocation, RevokedKey};
use m2m_issuer::store::Store;

use crate::check::{joined, ok, whole_log};
use crate::fixtures::{T0, claims, key, kids, sorted_keys};

/// `save_key_ring` is compare-and-swap on the set of stored kids: it
/// inserts, updates and deletes keys when the expected kids match (in any
/// order) and changes nothing when they do not.
pub async fn key_ring_compare_and_swap<S: Store>(store: Arc<S>) {
    assert!(
        ok(store.list_keys().await, "list_keys").is_empty(),
        "a fresh store has no keys"
    );
    let k1 = key("kid-1", T0);
    assert!(
        !ok(
            store
                .save_key_ring(std::slice::from_ref(&k1), &["kid-x".to_owned()], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring must refuse when the stored kids differ from expected_kids"
    );
    assert!(
        ok(store.list_keys().await, "list_keys").is_empty(),
        "a refused save_key_ring must change nothing"
    );
    assert!(
        ok(
            store
                .save_key_ring(std::slice::from_ref(&k1), &[], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring on an empty ring with expected_kids [] must succeed"
    );
    assert_eq!(
        ok(store.list_keys().await, "list_keys"),
        std::slice::from_ref(&k1),
        "list_keys must return the saved key exactly (encrypted bytes, jwk, schedule)"
    );
    assert!(
        !ok(
            store
                .save_key_ring(std::slice::from_ref(&k1), &[], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring must refuse a stale expected_kids (compare-and-swap)"
    );

    let mut k1_retiring = k1.clone();
    k1_retiring.schedule.signs_until = Some(T0 + 3600);
    k1_retiring.schedule.published_until = Some(T0 + 90_000);
    let k2 = key("kid-2", T0 + 3600);
    assert!(
        ok(
            store
                .save_key_ring(
                    &[k2.clone(), k1_retiring.clone()],
                    &["kid-1".to_owned()],
                    None
                )
                .await,
            "save_key_ring"
        ),
        "save_key_ring with the right expected_kids must succeed"
    );
    assert_eq!(
        sorted_keys(ok(store.list_keys().await, "list_keys")),
        [k1_retiring.clone(), k2.clone()],
        "save_key_ring must insert new kids and update schedules"
    );

    assert!(
        !ok(
            store
                .save_key_ring(std::slice::from_ref(&k2), &["kid-1".to_owned()], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring must refuse an expected_kids that is a strict subset"
    );
    assert!(
        !ok(
            store
                .save_key_ring(
                    std::slice::from_ref(&k2),
                    &["kid-1".to_owned(), "kid-2".to_owned(), "kid-9".to_owned()],
                    None
                )
                .await,
            "save_key_ring"
        ),
        "save_key_ring must refuse an expected_kids that is a strict superset"
    );
    let k3 = key("kid-3", T0 + 7200);
    assert!(
        ok(
            store
                .save_key_ring(
                    &[k2.clone(), k3.clone()],
                    &["kid-2".to_owned(), "kid-1".to_owned()],
                    None
                )
                .await,
            "save_key_ring"
        ),
        "save_key_ring must accept expected_kids in any order"
    );
    assert_eq!(
        kids(&ok(store.list_keys().await, "list_keys")),
        ["kid-2", "kid-3"],
        "save_key_ring must delete kids not in `keys`"
    );
    assert!(
        ok(
            store
                .save_key_ring(&[], &["kid-3".to_owned(), "kid-2".to_owned()], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring must be able to empty the ring"
    );
    assert!(
        ok(store.list_keys().await, "list_keys").is_empty(),
        "save_key_ring with no keys must delete them all"
    );
    let log = whole_log(&*store).await;
    assert!(
        log.entries.is_empty() && log.head == 0,
        "save_key_ring without a revoked key must log nothing, got {log:?}"
    );
}

/// A key revoked through `save_key_ring` is logged in the same step as the
/// ring change, and only when the compare-and-swap wins; its tokens are then
/// revoked whatever their time.
pub async fn key_ring_logs_a_revoked_key_only_when_it_wins<S: Store>(store: Arc<S>) {
    let k1 = key("kid-1", T0);
    let k2 = key("kid-2", T0 + 10);
    assert!(
        ok(
            store
                .save_key_ring(&[k1.clone(), k2.clone()], &[], None)
                .await,
            "save_key_ring"
        ),
        "save_key_ring on an empty ring must succeed"
    );
    let killed = RevokedKey::new("kid-1", T0 + 20);
    assert!(
        !ok(
            store
                .save_key_ring(
                    std::slice::from_ref(&k2),
                    &["kid-2".to_owned()],
                    Some(&killed)
                )
                .await,
            "save_key_ring with a revoked key and a stale expected_kids"
        ),
        "save_key_ring must refuse a stale expected_kids"
    );
    let log = whole_log(&*store).await;
    assert!(
        log.entries.is_empty() && log.head == 0,
        "a refused save_key_ring must not log its revoked key, got {log:?}"
    );
    assert!(
        !ok(
            store
                .is_revoked(&claims("j", "m2m_a", T0), Some("kid-1"))
                .await,
            "is_revoked"
        ),
        "a refused save_key_ring must not revoke the key's tokens"
    );

    assert!(
        ok(
            store
                .save_key_ring(
                    std::slice::from_ref(&k2),
                    &["kid-1".to_owned(), "kid-2".to_owned()],
                    Some(&killed)
                )
                .await,
            "save_key_ring with a revoked key"
        ),
        "save_key_ring with the right expected_kids must succeed"
    );
    assert_eq!(
        ok(store.list_keys().await, "list_keys"),
        [k2],
        "save_key_ring must drop the killed key from the ring"
    );
    let log = whole_log(&*store).await;
    let logged: Vec<&Revocation> = log.entries.iter().map(|e| &e.revocation).collect();
    assert_eq!(
        logged,
        [&Revocation::Key(killed.clone())],
        "save_key_ring must log the revoked key (kid, revoked_at and exp exactly)"
    );
    assert_eq!(
        log.head, log.entries[0].seq,
        "the head must be the sequence number of the only entry"
    );
    for iat in [T0, T0 + 20, T0 + 10_000] {
        assert!(
            ok(
                store
                    .is_revoked(&claims("j", "m2m_a", iat), Some("kid-1"))
                    .await,
                "is_revoked"
            ),
            "a revoked key must cover every token it signed (iat {iat})"
        );
    }
    assert!(
        !ok(
            store
                .is_revoked(&claims("j", "m2m_a", T0), Some("kid-2"))
                .await,
            "is_revoked"
        ),
        "a revoked key must not cover another key's tokens"
    );
    assert!(
        !ok(
            store.is_revoked(&claims("j", "m2m_a", T0), None).await,
            "is_revoked"
        ),
        "a revoked key must not cover a token verified without a kid"
    );
}

/// Of concurrent `save_key_ring` calls from the same ring, exactly one
/// wins: the ring holds only its key and the log only its revoked key.
pub async fn key_ring_under_concurrency<S: Store>(store: Arc<S>) {
    assert!(
        ok(
            store.save_key_ring(&[key("old", T0)], &[], None).await,
            "save_key_ring"
        ),
        "save_key_ring on an empty ring must succeed"
    );
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let revoked = RevokedKey::new(format!("dead-{i}"), T0 + i);
                let won = store
                    .save_key_ring(
                        &[key(&format!("kid-{i}"), T0)],
                        &["old".to_owned()],
                        Some(&revoked),
                    )
                    .await;
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = joined(task.await, "save_key_ring");
        if ok(won, "concurrent save_key_ring") {
            winners.push(i);
        }
    }
    let [winner] = winners[..] else {
        panic!(
            "of concurrent save_key_ring calls with the same expected_kids, exactly one must win; won: {winners:?}"
        );
    };
    assert_eq!(
        kids(&ok(store.list_keys().await, "list_keys")),
        [format!("kid-{winner}")],
        "the ring must hold only the winner's key"
    );
    let logged: Vec<Revocation> = whole_log(&*store)
        .await
        .entries
        .into_iter()
        .map(|e| e.revocation)
        .collect();
    assert_eq!(
        logged,
        [Revocation::Key(RevokedKey::new(
            format!("dead-{winner}"),
            T0 + winner
        ))],
        "only the winning save_key_ring may log its revoked key"
    );
}
