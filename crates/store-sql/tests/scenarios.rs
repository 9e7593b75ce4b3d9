//! Scenarios that every SQL store must pass, whatever the database.

use std::collections::HashSet;
use std::sync::Arc;

use m2m_core::{ClientId, ClientKind, OrgId, ScopeSet};
use m2m_issuer::store::{
    AddSecret, AuditEvent, ClientFilter, RevocationEntry, Store, StoreError, TokenRevocation,
};

use crate::support::{NOW, client, key, secret};

/// Every field of every record comes back as it was written.
pub(crate) async fn records_round_trip<S: Store>(store: &S) {
    let org = client("m2m_b_org", ClientKind::Org, Some("org_1"));
    let user = client("m2m_a_user", ClientKind::User, Some("org_1"));
    let mut service = client("m2m_c_svc", ClientKind::Service, None);
    service.scopes = ScopeSet::new();
    service.audiences = vec![];
    service.redirect_uris = vec![];
    service.metadata = serde_json::json!({});
    service.enabled = false;
    for c in [&org, &user, &service] {
        store
            .create_client(c, &secret(c.client_id.as_str(), "s1", None))
            .await
            .expect("create");
    }
    assert_eq!(
        store.get_client(&org.client_id).await.unwrap(),
        Some(org.clone())
    );
    assert_eq!(
        store.get_client(&user.client_id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.get_client(&service.client_id).await.unwrap(),
        Some(service.clone())
    );
    assert_eq!(
        store.get_client(&ClientId::new("m2m_none")).await.unwrap(),
        None
    );

    // A second client with the same id is a conflict, and stores nothing.
    let mut twin = org.clone();
    twin.name = "twin".into();
    let err = store
        .create_client(&twin, &secret("m2m_b_org", "s2", None))
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.get_client(&org.client_id).await.unwrap(),
        Some(org.clone())
    );
    assert_eq!(store.list_secrets(&org.client_id).await.unwrap().len(), 1);

    // Update replaces the fields.
    let mut changed = org.clone();
    changed.name = "renamed".into();
    changed.scopes = ScopeSet::parse("a b c").unwrap();
    changed.metadata = serde_json::json!({"k": "v"});
    changed.enabled = false;
    changed.updated_at = NOW + 10;
    assert!(store.update_client(&changed).await.unwrap());
    assert_eq!(
        store.get_client(&org.client_id).await.unwrap(),
        Some(changed)
    );
    let ghost = client("m2m_ghost", ClientKind::Org, Some("o"));
    assert!(!store.update_client(&ghost).await.unwrap());
    assert_eq!(store.get_client(&ghost.client_id).await.unwrap(), None);

    // Listing: id order, filters, pages.
    let all = store
        .list_clients(&ClientFilter::default(), None, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = all.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["m2m_a_user", "m2m_b_org", "m2m_c_svc"]);
    assert_eq!(all.next, None);
    let first = store
        .list_clients(&ClientFilter::default(), None, 2)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let after = first.next.expect("a second page");
    assert_eq!(after.as_str(), "m2m_b_org");
    let second = store
        .list_clients(&ClientFilter::default(), Some(&after), 2)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].client_id.as_str(), "m2m_c_svc");
    assert_eq!(second.next, None);
    let by_org = ClientFilter {
        org_id: Some(OrgId::new("org_1")),
        kind: None,
    };
    assert_eq!(
        store
            .list_clients(&by_org, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let by_both = ClientFilter {
        org_id: Some(OrgId::new("org_1")),
        kind: Some(ClientKind::User),
    };
    let page = store.list_clients(&by_both, None, 10).await.unwrap();
    assert_eq!(page.items, vec![user.clone()]);
    let by_kind = ClientFilter {
        org_id: None,
        kind: Some(ClientKind::Service),
    };
    let page = store.list_clients(&by_kind, None, 10).await.unwrap();
    assert_eq!(page.items, vec![service.clone()]);

    // Secrets: oldest first, touch, delete.
    let mut s2 = secret("m2m_a_user", "s2", Some(NOW + 100));
    s2.created_at = NOW + 1;
    assert_eq!(
        store.add_secret(&s2, 5, NOW).await.unwrap(),
        AddSecret::Added
    );
    store
        .touch_secret(&user.client_id, "s2", NOW + 5)
        .await
        .unwrap();
    store
        .touch_secret(&user.client_id, "nope", NOW + 5)
        .await
        .unwrap();
    let secrets = store.list_secrets(&user.client_id).await.unwrap();
    s2.last_used_at = Some(NOW + 5);
    assert_eq!(secrets, vec![secret("m2m_a_user", "s1", None), s2]);
    assert!(store.delete_secret(&user.client_id, "s1").await.unwrap());
    assert!(!store.delete_secret(&user.client_id, "s1").await.unwrap());
    assert!(!store.delete_secret(&org.client_id, "s2").await.unwrap());
    assert_eq!(store.list_secrets(&user.client_id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .add_secret(&secret("m2m_none", "s1", None), 5, NOW)
            .await
            .unwrap(),
        AddSecret::NoSuchClient
    );
}

/// Expired secrets do not count against the limit.
pub(crate) async fn expired_secrets_do_not_count<S: Store>(store: &S) {
    let c = client("m2m_exp", ClientKind::Org, Some("o"));
    store
        .create_client(&c, &secret("m2m_exp", "s0", Some(NOW - 1)))
        .await
        .unwrap();
    for i in 1..=5 {
        let s = secret("m2m_exp", &format!("s{i}"), Some(NOW + 10));
        assert_eq!(
            store.add_secret(&s, 5, NOW).await.unwrap(),
            AddSecret::Added
        );
    }
    let sixth = secret("m2m_exp", "s6", None);
    assert_eq!(
        store.add_secret(&sixth, 5, NOW).await.unwrap(),
        AddSecret::LimitReached
    );
    // Later, the five have expired too.
    assert_eq!(
        store.add_secret(&sixth, 5, NOW + 10).await.unwrap(),
        AddSecret::Added
    );
    assert_eq!(store.list_secrets(&c.client_id).await.unwrap().len(), 7);
}

/// 20 concurrent creations on a fresh client (which has its first secret)
/// end with exactly 5 live secrets.
pub(crate) async fn secret_limit_holds_under_concurrency<S: Store + Clone>(store: &S) {
    let c = client("m2m_race", ClientKind::Org, Some("o"));
    store
        .create_client(&c, &secret("m2m_race", "first", None))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .add_secret(&secret("m2m_race", &format!("s{i}"), None), 5, NOW)
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        match task.await.expect("task").expect("add_secret") {
            AddSecret::Added => added += 1,
            AddSecret::LimitReached => {}
            AddSecret::NoSuchClient => panic!("the client exists"),
        }
    }
    assert_eq!(added, 4);
    let live = store.list_secrets(&c.client_id).await.unwrap();
    assert_eq!(live.len(), 5);
}

/// Deleting a client deletes its secrets and appends one revocation entry;
/// token revocations are idempotent; the feed pages by cursor; purge drops
/// only expired token entries.
pub(crate) async fn revocation_log<S: Store>(store: &S) {
    assert_eq!(
        store.revocations_since(None, 10).await.unwrap(),
        (vec![], None)
    );
    let c = client("m2m_gone", ClientKind::Org, Some("o"));
    store
        .create_client(&c, &secret("m2m_gone", "s1", None))
        .await
        .unwrap();
    let revocation = TokenRevocation {
        jti: "jti-1".into(),
        client_id: c.client_id.clone(),
        exp: NOW + 100,
        revoked_at: NOW,
    };
    store.revoke_token(&revocation).await.unwrap();
    store.revoke_token(&revocation).await.unwrap();
    assert!(store.is_token_revoked("jti-1").await.unwrap());
    assert!(!store.is_token_revoked("jti-2").await.unwrap());

    assert!(store.delete_client(&c.client_id, NOW + 1).await.unwrap());
    assert!(!store.delete_client(&c.client_id, NOW + 2).await.unwrap());
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), None);
    assert!(store.list_secrets(&c.client_id).await.unwrap().is_empty());
    store
        .revoke_client(&ClientId::new("m2m_off"), NOW + 3)
        .await
        .unwrap();
    let short = TokenRevocation {
        jti: "jti-short".into(),
        client_id: ClientId::new("m2m_off"),
        exp: NOW + 5,
        revoked_at: NOW + 4,
    };
    store.revoke_token(&short).await.unwrap();

    let (all, last) = store.revocations_since(None, 100).await.unwrap();
    assert_eq!(
        all,
        vec![
            RevocationEntry::Token {
                jti: "jti-1".into(),
                exp: NOW + 100
            },
            RevocationEntry::Client {
                client_id: c.client_id.clone(),
                revoked_at: NOW + 1
            },
            RevocationEntry::Client {
                client_id: ClientId::new("m2m_off"),
                revoked_at: NOW + 3
            },
            RevocationEntry::Token {
                jti: "jti-short".into(),
                exp: NOW + 5
            },
        ]
    );
    // Page by cursor: the same entries, in the same order.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let (entries, next) = store.revocations_since(cursor, 3).await.unwrap();
        if entries.is_empty() {
            assert_eq!(next, cursor);
            break;
        }
        paged.extend(entries);
        cursor = next;
    }
    assert_eq!(paged, all);
    assert_eq!(cursor, last);

    // Purge drops the expired token entry only; cursors stay valid.
    assert_eq!(store.purge_revocations(NOW + 6).await.unwrap(), 1);
    assert!(!store.is_token_revoked("jti-short").await.unwrap());
    assert!(store.is_token_revoked("jti-1").await.unwrap());
    let (left, _) = store.revocations_since(None, 100).await.unwrap();
    assert_eq!(left.len(), 3);
    // A new entry after a purge of the newest gets a new, higher number.
    let again = TokenRevocation {
        jti: "jti-3".into(),
        ..revocation
    };
    store.revoke_token(&again).await.unwrap();
    let (new, new_last) = store.revocations_since(last, 100).await.unwrap();
    assert_eq!(
        new,
        vec![RevocationEntry::Token {
            jti: "jti-3".into(),
            exp: NOW + 100
        }]
    );
    assert!(new_last > last);
}

/// Concurrent appends (token revocations, client revocations and deletions)
/// while a reader follows the cursor: the reader sees every entry exactly
/// once, in log order, and a full re-read gives the same order.
pub(crate) async fn concurrent_revocations_lose_nothing<S: Store + Clone>(store: &S) {
    const WRITERS: usize = 8;
    const EACH: usize = 15;
    for w in 0..WRITERS {
        let id = format!("m2m_w{w}");
        store
            .create_client(
                &client(&id, ClientKind::Org, Some("o")),
                &secret(&id, "s", None),
            )
            .await
            .unwrap();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (entries, next) = store.revocations_since(cursor, 7).await.unwrap();
                assert!(next >= cursor, "the cursor never goes back");
                cursor = next;
                let empty = entries.is_empty();
                seen.extend(entries);
                if finished && empty {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = ClientId::new(format!("m2m_w{w}"));
                for i in 0..EACH {
                    let revocation = TokenRevocation {
                        jti: format!("w{w}-{i}"),
                        client_id: id.clone(),
                        exp: NOW + 1000,
                        revoked_at: NOW,
                    };
                    store.revoke_token(&revocation).await.unwrap();
                    // The same jti from elsewhere changes nothing.
                    store.revoke_token(&revocation).await.unwrap();
                    if i == EACH / 2 {
                        store.revoke_client(&id, NOW + i as u64).await.unwrap();
                    }
                }
                assert!(store.delete_client(&id, NOW + 999).await.unwrap());
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");

    let (all, _) = store.revocations_since(None, usize::MAX).await.unwrap();
    assert_eq!(all.len(), WRITERS * (EACH + 2));
    assert_eq!(seen, all, "the follower saw every entry once, in log order");
    let jtis: HashSet<_> = all
        .iter()
        .filter_map(|e| match e {
            RevocationEntry::Token { jti, .. } => Some(jti.clone()),
            RevocationEntry::Client { .. } => None,
        })
        .collect();
    assert_eq!(jtis.len(), WRITERS * EACH);
}

/// The key ring is compare-and-swap: of concurrent savers that read the
/// same ring, exactly one wins.
pub(crate) async fn key_ring_compare_and_swap<S: Store + Clone>(store: &S) {
    assert!(store.list_keys().await.unwrap().is_empty());
    assert!(store.save_key_ring(&[key("k1", NOW)], &[]).await.unwrap());
    assert!(!store.save_key_ring(&[key("k2", NOW)], &[]).await.unwrap());
    assert_eq!(store.list_keys().await.unwrap(), vec![key("k1", NOW)]);

    // Rotate: schedule k1's end, add k2.
    let mut k1 = key("k1", NOW);
    k1.schedule.signs_until = Some(NOW + 500);
    k1.schedule.published_until = Some(NOW + 900);
    let k2 = key("k2", NOW + 400);
    let expected = vec!["k1".to_owned()];
    assert!(
        store
            .save_key_ring(&[k2.clone(), k1.clone()], &expected)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_keys().await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );

    // Drop k1; the expected kids may come in any order.
    let expected = vec!["k2".to_owned(), "k1".to_owned()];
    assert!(
        store
            .save_key_ring(std::slice::from_ref(&k2), &expected)
            .await
            .unwrap()
    );
    assert_eq!(store.list_keys().await.unwrap(), vec![k2.clone()]);

    // Ten replicas rotate at once from the same ring: one wins.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            let k2 = k2.clone();
            tokio::spawn(async move {
                let new = key(&format!("r{i}"), NOW + 1000);
                let won = store
                    .save_key_ring(&[k2, new], &["k2".to_owned()])
                    .await
                    .unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let kids: Vec<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, vec!["k2".to_owned(), format!("r{}", winners[0])]);
}

/// Audit events come back newest first, filtered by client, page by page.
pub(crate) async fn audit_pages_newest_first<S: Store>(store: &S) {
    let event = |i: u64, client: Option<&str>| AuditEvent {
        seq: 0,
        at: NOW + i,
        kind: if i.is_multiple_of(2) {
            "token.issued"
        } else {
            "auth.failed"
        }
        .into(),
        client_id: client.map(ClientId::new),
        actor: (i == 3).then(|| ClientId::new("m2m_admin")),
        detail: serde_json::json!({"i": i}),
    };
    let batch: Vec<AuditEvent> = (0..7)
        .map(|i| {
            event(
                i,
                if i.is_multiple_of(3) {
                    None
                } else {
                    Some("m2m_x")
                },
            )
        })
        .collect();
    store.append_audit(&batch).await.unwrap();
    store.append_audit(&[]).await.unwrap();

    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_audit(None, before, 3).await.unwrap();
        assert!(page.items.len() <= 3);
        all.extend(page.items);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let ats: Vec<u64> = all.iter().map(|e| e.at - NOW).collect();
    assert_eq!(ats, [6, 5, 4, 3, 2, 1, 0]);
    let mut expected = event(3, None);
    expected.seq = all[3].seq;
    assert_eq!(all[3], expected);

    let x = ClientId::new("m2m_x");
    let page = store.list_audit(Some(&x), None, 100).await.unwrap();
    let ats: Vec<u64> = page.items.iter().map(|e| e.at - NOW).collect();
    assert_eq!(ats, [5, 4, 2, 1]);
    assert_eq!(page.next, None);
    let page = store
        .list_audit(Some(&x), Some(all[2].seq), 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].at, NOW + 2);
    assert_eq!(page.next, Some(page.items[0].seq));
}

/// Deleting a client while secrets are being added to it: no error, no
/// deadlock, no orphan secret, and one revocation entry.
pub(crate) async fn delete_races_with_add_secret<S: Store + Clone>(store: &S) {
    let c = client("m2m_doomed", ClientKind::Org, Some("o"));
    store
        .create_client(&c, &secret("m2m_doomed", "s0", None))
        .await
        .unwrap();
    let adders: Vec<_> = (0..10u32)
        .map(|i| {
            let store = store.clone();
            // Some reuse the first secret's id: a conflict, never a deadlock.
            let id = if i.is_multiple_of(3) {
                "s0".to_owned()
            } else {
                format!("s{i}")
            };
            tokio::spawn(async move {
                match store
                    .add_secret(&secret("m2m_doomed", &id, None), 5, NOW)
                    .await
                {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(other) => panic!("add_secret: {other}"),
                }
            })
        })
        .collect();
    let deleter = {
        let store = store.clone();
        let id = c.client_id.clone();
        tokio::spawn(async move { store.delete_client(&id, NOW).await.unwrap() })
    };
    for adder in adders {
        adder.await.unwrap();
    }
    assert!(deleter.await.unwrap());
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), None);
    assert!(store.list_secrets(&c.client_id).await.unwrap().is_empty());
    let (log, _) = store.revocations_since(None, 100).await.unwrap();
    assert_eq!(
        log,
        vec![RevocationEntry::Client {
            client_id: c.client_id.clone(),
            revoked_at: NOW
        }]
    );
}
