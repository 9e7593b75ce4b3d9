//! The revocation log: order, pages, head, purge, `is_revoked`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use m2m_core::{ClientId, ClientKind, Revocation, RevokedClient, RevokedKey, RevokedToken};
use m2m_issuer::store::{LoggedRevocation, Store};

use crate::check::{joined, ok, whole_log};
use crate::fixtures::{T0, claims, client, secret};

fn token(jti: &str, exp: u64) -> RevokedToken {
    RevokedToken {
        jti: jti.to_owned(),
        exp,
    }
}

/// Logs a client revocation the only way the trait allows: with an update
/// of the client (created first if needed).
async fn log_client(store: &impl Store, revocation: &RevokedClient) {
    let id = revocation.client_id.as_str();
    let record = client(id, ClientKind::Org, Some("org_1"));
    if ok(store.get_client(&record.client_id).await, "get_client").is_none() {
        ok(
            store
                .create_client(&record, Some(&secret(id, "s", 1, T0)))
                .await,
            "create_client",
        );
    }
    assert!(
        ok(
            store.update_client(&record, Some(revocation)).await,
            "update_client with a revocation"
        ),
        "update_client of an existing client must return true"
    );
}

/// Logs a key revocation the only way the trait allows: with a save of the
/// key ring (unchanged here).
async fn log_key(store: &impl Store, revoked: &RevokedKey) {
    let keys = ok(store.list_keys().await, "list_keys");
    let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
    assert!(
        ok(
            store.save_key_ring(&keys, &kids, Some(revoked)).await,
            "save_key_ring with a revoked key"
        ),
        "save_key_ring with the stored kids must succeed"
    );
}

fn revocations(entries: &[LoggedRevocation]) -> Vec<Revocation> {
    entries.iter().map(|e| e.revocation.clone()).collect()
}

/// Entries come back in the order they were appended, with positive,
/// increasing sequence numbers; pages start after `after` and honour
/// `limit`; the head is the last sequence number; `revocation_at` finds each
/// entry; revoking a token twice logs it once and says so.
pub async fn revocation_log_order_and_paging<S: Store>(store: Arc<S>) {
    let empty = ok(store.revocations_since(0, 100).await, "revocations_since");
    assert!(
        empty.entries.is_empty() && empty.head == 0,
        "a fresh store has an empty log with head 0, got {empty:?}"
    );
    assert_eq!(
        ok(store.revocation_at(1).await, "revocation_at"),
        None,
        "revocation_at on an empty log must be None"
    );

    let a = ClientId::new("m2m_a");
    let t1 = token("jti-1", T0 + 100);
    assert!(
        ok(store.revoke_token(&t1, &a, T0).await, "revoke_token"),
        "the first revoke_token of a jti must return true"
    );
    assert!(
        !ok(store.revoke_token(&t1, &a, T0 + 1).await, "revoke_token"),
        "revoking a token again must return false"
    );
    let once = whole_log(&*store).await;
    assert_eq!(
        revocations(&once.entries),
        [Revocation::Token(t1.clone())],
        "a token revoked twice must be logged once"
    );
    assert_eq!(
        once.head, once.entries[0].seq,
        "revoking a token again must not move the head"
    );

    let c2 = RevokedClient::new(ClientId::new("m2m_b"), T0 + 2);
    log_client(&*store, &c2).await;
    let t3 = token("jti-3", T0 + 10_000);
    assert!(
        ok(store.revoke_token(&t3, &a, T0 + 3).await, "revoke_token"),
        "the first revoke_token of a jti must return true"
    );
    let k4 = RevokedKey::new("kid-4", T0 + 4);
    log_key(&*store, &k4).await;
    let forever = RevokedClient {
        client_id: ClientId::new("m2m_c"),
        revoked_at: T0 + 5,
        exp: u64::MAX,
    };
    log_client(&*store, &forever).await;

    let expected = vec![
        Revocation::Token(t1),
        Revocation::Client(c2),
        Revocation::Token(t3),
        Revocation::Key(k4),
        Revocation::Client(forever),
    ];
    let all = ok(store.revocations_since(0, 100).await, "revocations_since");
    assert_eq!(
        revocations(&all.entries),
        expected,
        "revocations_since(0) must list every entry in append order, exactly as given \
         (an exp of u64::MAX included)"
    );
    assert!(
        all.entries.first().is_some_and(|e| e.seq > 0),
        "sequence numbers must be positive"
    );
    assert!(
        all.entries.windows(2).all(|w| w[0].seq < w[1].seq),
        "sequence numbers must increase: {:?}",
        all.entries.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    let last = all.entries.last().map_or(0, |e| e.seq);
    assert_eq!(all.head, last, "the head must be the last sequence number");

    let page1 = ok(store.revocations_since(0, 2).await, "revocations_since");
    assert_eq!(
        page1.entries,
        all.entries[..2],
        "revocations_since must honour limit"
    );
    assert_eq!(page1.head, last, "every page must report the head");
    let page2 = ok(
        store.revocations_since(page1.entries[1].seq, 2).await,
        "revocations_since",
    );
    assert_eq!(
        page2.entries,
        all.entries[2..4],
        "revocations_since(after) must return only entries after `after`"
    );
    let page3 = ok(
        store.revocations_since(page2.entries[1].seq, 2).await,
        "revocations_since",
    );
    assert_eq!(
        page3.entries,
        all.entries[4..],
        "revocations_since: the last page"
    );
    let none = ok(store.revocations_since(last, 10).await, "revocations_since");
    assert!(
        none.entries.is_empty(),
        "nothing follows the last entry, got {none:?}"
    );
    assert_eq!(none.head, last, "an empty page must still report the head");
    let zero = ok(store.revocations_since(0, 0).await, "revocations_since");
    assert!(
        zero.entries.is_empty() && zero.head == last,
        "revocations_since with limit 0 returns no entry and the head, got {zero:?}"
    );
    let between = ok(
        store.revocations_since(all.entries[2].seq - 1, 1).await,
        "revocations_since",
    );
    assert_eq!(
        between.entries,
        all.entries[2..3],
        "revocations_since(seq - 1) must start at seq"
    );

    for entry in &all.entries {
        assert_eq!(
            ok(store.revocation_at(entry.seq).await, "revocation_at"),
            Some(entry.revocation.clone()),
            "revocation_at({}) must return that entry",
            entry.seq
        );
    }
    assert_eq!(
        ok(store.revocation_at(0).await, "revocation_at"),
        None,
        "revocation_at(0) must be None: 0 is no sequence number"
    );
    assert_eq!(
        ok(store.revocation_at(last + 1).await, "revocation_at"),
        None,
        "revocation_at beyond the head must be None"
    );

    let later = token("jti-6", T0 + 100);
    assert!(
        ok(store.revoke_token(&later, &a, T0 + 6).await, "revoke_token"),
        "the first revoke_token of a jti must return true"
    );
    let newer = ok(store.revocations_since(last, 10).await, "revocations_since");
    assert_eq!(
        revocations(&newer.entries),
        [Revocation::Token(later)],
        "an entry appended later must follow the old head"
    );
    assert!(
        newer.head > last,
        "the head must move past the new entry: {} <= {last}",
        newer.head
    );
}

/// Purging the newest entries keeps the head: a new entry gets a higher
/// sequence number than any before it, and purged ones are gone for good.
pub async fn revocation_log_head_survives_purge<S: Store>(store: Arc<S>) {
    let a = ClientId::new("m2m_a");
    for (jti, exp) in [("jti-1", T0 + 10), ("jti-2", T0 + 20)] {
        assert!(
            ok(
                store.revoke_token(&token(jti, exp), &a, T0).await,
                "revoke_token"
            ),
            "the first revoke_token of a jti must return true"
        );
    }
    let before = whole_log(&*store).await;
    assert_eq!(
        before.entries.len(),
        2,
        "two tokens revoked, two entries: {before:?}"
    );
    assert_eq!(
        ok(store.purge_revocations(T0 + 30).await, "purge_revocations"),
        2,
        "purge_revocations must count what it dropped"
    );
    let purged = whole_log(&*store).await;
    assert!(
        purged.entries.is_empty(),
        "purge_revocations must drop the expired entries, left {:?}",
        purged.entries
    );
    assert_eq!(
        purged.head, before.head,
        "the head must count purged entries: a cursor handed out before the purge stays valid"
    );
    for entry in &before.entries {
        assert_eq!(
            ok(store.revocation_at(entry.seq).await, "revocation_at"),
            None,
            "revocation_at of a purged entry must be None"
        );
    }
    assert!(
        ok(
            store
                .revoke_token(&token("jti-1", T0 + 500), &a, T0 + 1)
                .await,
            "revoke_token"
        ),
        "a purged jti revoked again must be logged again"
    );
    let after = whole_log(&*store).await;
    let [entry] = &after.entries[..] else {
        panic!("one entry after the purge and one revocation, got {after:?}");
    };
    assert!(
        entry.seq > before.head,
        "a sequence number must never be reused, even after a purge of the newest entries: \
         {} <= {}",
        entry.seq,
        before.head
    );
    assert_eq!(
        after.head, entry.seq,
        "the head must be the new entry's number"
    );
}

/// `purge_revocations(before)` drops entries of every kind whose exp is
/// before `before` (an exp equal to it stays), counts them, and nothing it
/// dropped covers a token any more.
pub async fn revocation_purge_drops_every_kind_by_exp<S: Store>(store: Arc<S>) {
    let a = ClientId::new("m2m_a");
    let old_token = token("jti-old", T0 + 100);
    let new_token = token("jti-new", T0 + 200);
    let old_client = RevokedClient {
        client_id: ClientId::new("m2m_old"),
        revoked_at: T0,
        exp: T0 + 100,
    };
    let new_client = RevokedClient {
        client_id: ClientId::new("m2m_new"),
        revoked_at: T0,
        exp: T0 + 200,
    };
    let old_key = RevokedKey {
        kid: "kid-old".to_owned(),
        revoked_at: T0,
        exp: T0 + 100,
    };
    let new_key = RevokedKey {
        kid: "kid-new".to_owned(),
        revoked_at: T0,
        exp: T0 + 200,
    };
    let forever = RevokedKey {
        kid: "kid-forever".to_owned(),
        revoked_at: T0,
        exp: u64::MAX,
    };
    ok(store.revoke_token(&old_token, &a, T0).await, "revoke_token");
    log_client(&*store, &old_client).await;
    log_key(&*store, &old_key).await;
    ok(store.revoke_token(&new_token, &a, T0).await, "revoke_token");
    log_client(&*store, &new_client).await;
    log_key(&*store, &new_key).await;
    log_key(&*store, &forever).await;
    let head = whole_log(&*store).await.head;

    assert_eq!(
        ok(store.purge_revocations(T0 + 100).await, "purge_revocations"),
        0,
        "purge_revocations must keep entries whose exp equals `before`"
    );
    assert_eq!(
        ok(store.purge_revocations(T0 + 101).await, "purge_revocations"),
        3,
        "purge_revocations must drop the token, client and key entries with exp before `before`"
    );
    let left = whole_log(&*store).await;
    assert_eq!(
        revocations(&left.entries),
        [
            Revocation::Token(new_token),
            Revocation::Client(new_client),
            Revocation::Key(new_key),
            Revocation::Key(forever),
        ],
        "purge_revocations must keep the entries that expire later, in order"
    );
    assert_eq!(left.head, head, "purge_revocations must not move the head");

    let covered = |jti: &str, client: &str, kid: &str| {
        let store = Arc::clone(&store);
        let claims = claims(jti, client, T0);
        let kid = kid.to_owned();
        async move { ok(store.is_revoked(&claims, Some(&kid)).await, "is_revoked") }
    };
    assert!(
        !covered("jti-old", "m2m_x", "kid-x").await,
        "a purged token entry must no longer revoke its token"
    );
    assert!(
        !covered("jti-x", "m2m_old", "kid-x").await,
        "a purged client entry must no longer revoke the client's tokens"
    );
    assert!(
        !covered("jti-x", "m2m_x", "kid-old").await,
        "a purged key entry must no longer revoke the key's tokens"
    );
    assert!(
        covered("jti-new", "m2m_x", "kid-x").await
            && covered("jti-x", "m2m_new", "kid-x").await
            && covered("jti-x", "m2m_x", "kid-new").await,
        "the entries left must still revoke their tokens"
    );
    assert_eq!(
        ok(store.purge_revocations(u64::MAX).await, "purge_revocations"),
        3,
        "purge_revocations(u64::MAX) must drop all but an entry that never expires"
    );
    assert!(
        covered("jti-x", "m2m_x", "kid-forever").await,
        "an entry with exp u64::MAX must never be purged"
    );
}

/// `is_revoked` covers a token when its jti is logged, when its client was
/// revoked at or after its `iat` (the latest client entry counts), or when
/// the key that verified it was revoked; and nothing else.
pub async fn is_revoked_by_jti_client_and_key<S: Store>(store: Arc<S>) {
    let revoked = |jti: &str, client: &str, iat: u64, kid: Option<&str>| {
        let store = Arc::clone(&store);
        let claims = claims(jti, client, iat);
        let kid = kid.map(str::to_owned);
        async move {
            ok(
                store.is_revoked(&claims, kid.as_deref()).await,
                "is_revoked",
            )
        }
    };
    assert!(
        !revoked("j", "m2m_a", T0, Some("k")).await,
        "nothing is revoked in a fresh store"
    );

    ok(
        store
            .revoke_token(&token("jti-1", T0 + 900), &ClientId::new("m2m_a"), T0)
            .await,
        "revoke_token",
    );
    assert!(
        revoked("jti-1", "m2m_a", T0, None).await,
        "a revoked jti must be covered"
    );
    assert!(
        revoked("jti-1", "m2m_other", T0 + 5, Some("k")).await,
        "a revoked jti must be covered whatever its client, iat and kid"
    );
    assert!(
        !revoked("jti-2", "m2m_a", T0, None).await,
        "another jti of the same client must not be covered"
    );

    log_client(
        &*store,
        &RevokedClient::new(ClientId::new("m2m_b"), T0 + 100),
    )
    .await;
    assert!(
        revoked("j", "m2m_b", T0 + 99, None).await,
        "a client's token issued before revoked_at must be covered"
    );
    assert!(
        revoked("j", "m2m_b", T0 + 100, None).await,
        "a client's token issued at revoked_at must be covered (iat <= revoked_at)"
    );
    assert!(
        !revoked("j", "m2m_b", T0 + 101, None).await,
        "a client's token issued after revoked_at must not be covered"
    );
    assert!(
        !revoked("j", "m2m_c", T0, None).await,
        "another client's token must not be covered"
    );
    // A later revocation of the same client moves the boundary; an earlier
    // one does not move it back.
    log_client(
        &*store,
        &RevokedClient::new(ClientId::new("m2m_b"), T0 + 200),
    )
    .await;
    log_client(
        &*store,
        &RevokedClient::new(ClientId::new("m2m_b"), T0 + 50),
    )
    .await;
    assert!(
        revoked("j", "m2m_b", T0 + 200, None).await,
        "the latest revocation of a client must count"
    );
    assert!(
        !revoked("j", "m2m_b", T0 + 201, None).await,
        "a client's token issued after its latest revocation must not be covered"
    );

    log_key(&*store, &RevokedKey::new("kid-dead", T0)).await;
    assert!(
        revoked("j", "m2m_c", T0 + 10_000, Some("kid-dead")).await,
        "a token verified by a revoked key must be covered whatever its iat"
    );
    assert!(
        !revoked("j", "m2m_c", T0, Some("kid-live")).await,
        "a token verified by another key must not be covered"
    );
    assert!(
        !revoked("j", "m2m_c", T0, None).await,
        "a token verified without a kid is not covered by a key entry"
    );
}

/// Writers append (token revocations, repeated ones, client updates and
/// deletions) while a reader follows the cursor: the reader sees every entry
/// exactly once, in sequence order, the same as a full read afterwards, and
/// no page's head is behind its entries.
pub async fn revocation_log_followed_under_concurrency<S: Store>(store: Arc<S>) {
    const WRITERS: usize = 6;
    const EACH: usize = 12;
    for w in 0..WRITERS {
        let id = format!("m2m_w{w}");
        ok(
            store
                .create_client(
                    &client(&id, ClientKind::Org, Some("o")),
                    Some(&secret(&id, "s", 1, T0)),
                )
                .await,
            "create_client",
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen: Vec<LoggedRevocation> = Vec::new();
            let mut cursor = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = ok(
                    store.revocations_since(cursor, 5).await,
                    "revocations_since",
                );
                if let Some(last) = page.entries.last() {
                    assert!(
                        page.head >= last.seq,
                        "a page's head must not be behind its entries: head {} < seq {}",
                        page.head,
                        last.seq
                    );
                    cursor = last.seq;
                }
                let empty = page.entries.is_empty();
                seen.extend(page.entries);
                if finished && empty {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = ClientId::new(format!("m2m_w{w}"));
                let record = client(id.as_str(), ClientKind::Org, Some("o"));
                for i in 0..EACH {
                    let revoked = token(&format!("w{w}-{i}"), T0 + 1000);
                    assert!(
                        ok(store.revoke_token(&revoked, &id, T0).await, "revoke_token"),
                        "the first revoke_token of a jti must return true"
                    );
                    assert!(
                        !ok(store.revoke_token(&revoked, &id, T0).await, "revoke_token"),
                        "revoking a token again must return false"
                    );
                    if i == EACH / 2 {
                        let revocation = RevokedClient::new(id.clone(), T0 + i as u64);
                        assert!(
                            ok(
                                store.update_client(&record, Some(&revocation)).await,
                                "update_client"
                            ),
                            "update_client of an existing client must return true"
                        );
                    }
                }
                let revocation = RevokedClient::new(id.clone(), T0 + 999);
                assert!(
                    ok(store.delete_client(&id, &revocation).await, "delete_client"),
                    "delete_client of an existing client must return true"
                );
            })
        })
        .collect();
    for writer in writers {
        joined(writer.await, "writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = joined(reader.await, "reader");

    let all = whole_log(&*store).await;
    assert_eq!(
        all.entries.len(),
        WRITERS * (EACH + 2),
        "every append must be logged once"
    );
    assert!(
        all.entries.windows(2).all(|w| w[0].seq < w[1].seq),
        "a full read must be in sequence order"
    );
    assert_eq!(
        all.head,
        all.entries.last().map_or(0, |e| e.seq),
        "the head must be the last entry's number"
    );
    if seen != all.entries {
        let seen_seqs: HashSet<u64> = seen.iter().map(|e| e.seq).collect();
        let missed: Vec<u64> = all
            .entries
            .iter()
            .map(|e| e.seq)
            .filter(|seq| !seen_seqs.contains(seq))
            .collect();
        panic!(
            "a reader following the cursor must see every entry once, in sequence order: \
             saw {} of {}, missed {missed:?}",
            seen.len(),
            all.entries.len()
        );
    }
}
