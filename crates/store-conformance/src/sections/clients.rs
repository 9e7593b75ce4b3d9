//! Clients and their secrets.

use std::sync::Arc;

use m2m_core::{
    ClientId, ClientKind, OrgId, Revocation, RevokedClient, ScopeSet, TokenTtl, UserId,
};
use m2m_issuer::store::{
    AddSecret, ClientFilter, ClientRecord, SecretTouch, Store, StoreError, TokenEndpointAuthMethod,
};

use crate::check::{joined, ok, whole_log};
use crate::fixtures::{T0, claims, client, secret};

fn ids(clients: &[ClientRecord]) -> Vec<&str> {
    clients.iter().map(|c| c.client_id.as_str()).collect()
}

/// `create_client`, `get_client` and `update_client` keep every field
/// exactly; a duplicate id is a conflict that stores nothing; updating an
/// unknown client creates nothing.
pub async fn clients_round_trip<S: Store>(store: Arc<S>) {
    let org = client("m2m_c1", ClientKind::Org, Some("org_1"));
    ok(
        store
            .create_client(&org, Some(&secret("m2m_c1", "sec_1", 1, T0)))
            .await,
        "create_client of a new client",
    );
    assert_eq!(
        ok(store.get_client(&org.client_id).await, "get_client"),
        Some(org.clone()),
        "get_client must return every field exactly as created"
    );
    assert_eq!(
        ok(
            store.get_client(&ClientId::new("m2m_none")).await,
            "get_client"
        ),
        None,
        "get_client of an unknown id must be None"
    );

    let mut twin = org.clone();
    twin.name = "twin".to_owned();
    let dup = store
        .create_client(&twin, Some(&secret("m2m_c1", "sec_other", 2, T0)))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "create_client with an existing id must be StoreError::Conflict, got {dup:?}"
    );
    assert_eq!(
        ok(store.get_client(&org.client_id).await, "get_client"),
        Some(org.clone()),
        "a refused create_client must not change the existing client"
    );
    assert_eq!(
        ok(store.list_secrets(&org.client_id).await, "list_secrets").len(),
        1,
        "a refused create_client must not add its secret"
    );

    let mut user = client("m2m_c2", ClientKind::User, Some("org_1"));
    user.user_id = Some(UserId::new("user_7"));
    user.redirect_uris = vec!["https://app.example.com/cb?x=1&y=\"2\"".to_owned()];
    user.audiences = vec![];
    user.metadata = serde_json::json!({});
    user.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
    ok(
        store.create_client(&user, None).await,
        "create_client of a public client, without a secret",
    );
    assert_eq!(
        ok(store.get_client(&user.client_id).await, "get_client"),
        Some(user.clone()),
        "get_client must round-trip user_id, redirect_uris, empty audiences and \
         token_endpoint_auth_method none"
    );
    assert_eq!(
        ok(store.list_secrets(&user.client_id).await, "list_secrets"),
        vec![],
        "a client created without a secret has none"
    );

    let mut service = client("m2m_c3", ClientKind::Service, None);
    service.scopes = ScopeSet::new();
    service.enabled = false;
    service.token_ttl = TokenTtl::new(u64::from(TokenTtl::MAX)).expect("the longest ttl is valid");
    ok(
        store
            .create_client(&service, Some(&secret("m2m_c3", "sec_3", 3, T0)))
            .await,
        "create_client",
    );
    assert_eq!(
        ok(store.get_client(&service.client_id).await, "get_client"),
        Some(service),
        "get_client must round-trip no org, no scopes, disabled and the longest ttl"
    );

    let mut changed = org.clone();
    changed.name = "renamed – ∂".to_owned();
    changed.kind = ClientKind::Service;
    changed.org_id = None;
    changed.scopes = ScopeSet::parse("a:b").expect("valid scopes");
    changed.audiences = vec!["https://z.example.com".to_owned()];
    changed.token_ttl = TokenTtl::new(86_400).expect("valid ttl");
    changed.metadata = serde_json::json!({"k": "v"});
    changed.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    changed.enabled = false;
    changed.updated_at = T0 + 10;
    assert!(
        ok(store.update_client(&changed, None).await, "update_client"),
        "update_client of an existing client must return true"
    );
    assert_eq!(
        ok(store.get_client(&org.client_id).await, "get_client"),
        Some(changed),
        "update_client must replace every field"
    );
    let ghost = client("m2m_none", ClientKind::Org, Some("o"));
    assert!(
        !ok(store.update_client(&ghost, None).await, "update_client"),
        "update_client of an unknown client must return false"
    );
    assert_eq!(
        ok(store.get_client(&ghost.client_id).await, "get_client"),
        None,
        "update_client must not create a client"
    );
    let log = whole_log(&*store).await;
    assert!(
        log.entries.is_empty() && log.head == 0,
        "update_client without a revocation must log nothing, got {log:?}"
    );
}

/// `list_clients` orders by client id, pages with `after`/`next`, and
/// filters by organization and kind.
pub async fn clients_listing<S: Store>(store: Arc<S>) {
    // Created out of order: the listing orders by client id.
    let created = ["m2m_e", "m2m_b", "m2m_d", "m2m_a", "m2m_c"];
    for (i, id) in created.iter().enumerate() {
        let (kind, org) = match i % 3 {
            0 => (ClientKind::Org, Some("org_x")),
            1 => (ClientKind::Service, None),
            _ => (ClientKind::Org, Some("org_y")),
        };
        ok(
            store
                .create_client(
                    &client(id, kind, org),
                    Some(&secret(id, &format!("s_{id}"), 3, T0)),
                )
                .await,
            "create_client",
        );
    }
    let all_filter = ClientFilter::default();
    let all = ok(
        store.list_clients(&all_filter, None, 100).await,
        "list_clients",
    );
    assert_eq!(
        ids(&all.items),
        ["m2m_a", "m2m_b", "m2m_c", "m2m_d", "m2m_e"],
        "list_clients must order by client id"
    );
    assert_eq!(all.next, None, "list_clients: the last page has no next");

    let first = ok(
        store.list_clients(&all_filter, None, 2).await,
        "list_clients",
    );
    assert_eq!(
        ids(&first.items),
        ["m2m_a", "m2m_b"],
        "list_clients must honour limit"
    );
    assert_eq!(
        first.next.as_ref().map(ClientId::as_str),
        Some("m2m_b"),
        "list_clients: next must be the last listed id when more follow"
    );
    let second = ok(
        store
            .list_clients(&all_filter, first.next.as_ref(), 2)
            .await,
        "list_clients",
    );
    assert_eq!(
        ids(&second.items),
        ["m2m_c", "m2m_d"],
        "list_clients must start after `after`"
    );
    let third = ok(
        store
            .list_clients(&all_filter, second.next.as_ref(), 2)
            .await,
        "list_clients",
    );
    assert_eq!(ids(&third.items), ["m2m_e"], "list_clients: the last page");
    assert_eq!(third.next, None, "list_clients: the last page has no next");

    let exact = ok(
        store.list_clients(&all_filter, None, 5).await,
        "list_clients",
    );
    assert_eq!(exact.items.len(), 5, "list_clients must list all five");
    assert_eq!(
        exact.next, None,
        "list_clients: a page that ends exactly at the last client has no next"
    );
    let none = ok(
        store.list_clients(&all_filter, None, 0).await,
        "list_clients",
    );
    assert!(
        none.items.is_empty(),
        "list_clients with limit 0 must list nothing, got {:?}",
        ids(&none.items)
    );

    let by_org = ClientFilter {
        org_id: Some(OrgId::new("org_x")),
        kind: None,
    };
    let page = ok(store.list_clients(&by_org, None, 100).await, "list_clients");
    assert_eq!(
        ids(&page.items),
        ["m2m_a", "m2m_e"],
        "list_clients must filter by org_id"
    );
    let page = ok(store.list_clients(&by_org, None, 1).await, "list_clients");
    let rest = ok(
        store.list_clients(&by_org, page.next.as_ref(), 1).await,
        "list_clients",
    );
    assert_eq!(
        (ids(&page.items), ids(&rest.items), rest.next),
        (vec!["m2m_a"], vec!["m2m_e"], None),
        "list_clients must page within an org_id filter"
    );

    let by_kind = ClientFilter {
        org_id: None,
        kind: Some(ClientKind::Service),
    };
    let page = ok(
        store.list_clients(&by_kind, None, 100).await,
        "list_clients",
    );
    assert_eq!(
        ids(&page.items),
        ["m2m_b", "m2m_c"],
        "list_clients must filter by kind"
    );

    let both = ClientFilter {
        org_id: Some(OrgId::new("org_y")),
        kind: Some(ClientKind::Service),
    };
    let page = ok(store.list_clients(&both, None, 100).await, "list_clients");
    assert!(
        page.items.is_empty(),
        "list_clients must apply org_id and kind together, got {:?}",
        ids(&page.items)
    );
    let both = ClientFilter {
        org_id: Some(OrgId::new("org_y")),
        kind: Some(ClientKind::Org),
    };
    let page = ok(store.list_clients(&both, None, 100).await, "list_clients");
    assert_eq!(
        ids(&page.items),
        ["m2m_d"],
        "list_clients must apply org_id and kind together"
    );
}

/// `update_client` and `delete_client` write the client and its revocation
/// entry together; a call for an unknown client writes neither.
pub async fn clients_update_and_delete_log_their_revocation<S: Store>(store: Arc<S>) {
    let c = client("m2m_rev", ClientKind::Org, Some("org_1"));
    ok(
        store
            .create_client(&c, Some(&secret("m2m_rev", "s1", 1, T0)))
            .await,
        "create_client",
    );
    ok(
        store
            .add_secret(&secret("m2m_rev", "s2", 2, T0 + 1), 5, T0 + 1)
            .await,
        "add_secret",
    );

    let mut disabled = c.clone();
    disabled.enabled = false;
    disabled.updated_at = T0 + 10;
    let disabling = RevokedClient::new(c.client_id.clone(), T0 + 10);
    assert!(
        ok(
            store.update_client(&disabled, Some(&disabling)).await,
            "update_client with a revocation"
        ),
        "update_client of an existing client must return true"
    );
    assert_eq!(
        ok(store.get_client(&c.client_id).await, "get_client"),
        Some(disabled.clone()),
        "update_client with a revocation must still update the client"
    );
    let log = whole_log(&*store).await;
    let logged: Vec<&Revocation> = log.entries.iter().map(|e| &e.revocation).collect();
    assert_eq!(
        logged,
        [&Revocation::Client(disabling.clone())],
        "update_client with a revocation must log exactly that revocation"
    );
    assert!(
        ok(
            store
                .is_revoked(&claims("j1", "m2m_rev", T0 + 10), None)
                .await,
            "is_revoked"
        ),
        "a client revoked by update_client must cover its tokens issued at or before revoked_at"
    );

    // An unknown client: false, and nothing logged.
    let ghost = client("m2m_ghost", ClientKind::Org, Some("o"));
    let ghost_revocation = RevokedClient::new(ghost.client_id.clone(), T0 + 11);
    assert!(
        !ok(
            store.update_client(&ghost, Some(&ghost_revocation)).await,
            "update_client of an unknown client"
        ),
        "update_client of an unknown client must return false"
    );
    assert!(
        !ok(
            store
                .delete_client(&ghost.client_id, &ghost_revocation)
                .await,
            "delete_client of an unknown client"
        ),
        "delete_client of an unknown client must return false"
    );
    assert_eq!(
        whole_log(&*store).await,
        log,
        "update_client and delete_client of an unknown client must log nothing (head included)"
    );
    assert!(
        !ok(
            store.is_revoked(&claims("j2", "m2m_ghost", T0), None).await,
            "is_revoked"
        ),
        "a refused update_client must not revoke the client's tokens"
    );

    let deleting = RevokedClient::new(c.client_id.clone(), T0 + 20);
    assert!(
        ok(
            store.delete_client(&c.client_id, &deleting).await,
            "delete_client"
        ),
        "delete_client of an existing client must return true"
    );
    assert_eq!(
        ok(store.get_client(&c.client_id).await, "get_client"),
        None,
        "a deleted client must be gone"
    );
    assert!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets").is_empty(),
        "delete_client must delete the client's secrets"
    );
    let after = whole_log(&*store).await;
    let logged: Vec<&Revocation> = after.entries.iter().map(|e| &e.revocation).collect();
    assert_eq!(
        logged,
        [
            &Revocation::Client(disabling),
            &Revocation::Client(deleting.clone())
        ],
        "delete_client must append its revocation after the earlier ones"
    );
    assert!(
        !ok(
            store.delete_client(&c.client_id, &deleting).await,
            "delete_client"
        ),
        "delete_client of a deleted client must return false"
    );
    assert_eq!(
        whole_log(&*store).await,
        after,
        "delete_client of a deleted client must log nothing"
    );

    // The id can be reused after deletion, and starts with no old secrets.
    ok(
        store
            .create_client(&c, Some(&secret("m2m_rev", "s3", 3, T0 + 30)))
            .await,
        "create_client after delete_client",
    );
    let secret_ids: Vec<String> = ok(store.list_secrets(&c.client_id).await, "list_secrets")
        .into_iter()
        .map(|s| s.secret_id)
        .collect();
    assert_eq!(
        secret_ids,
        ["s3"],
        "a re-created client must not inherit old secrets"
    );
}

/// Secrets: listed oldest first with every field, at most `max_live` live
/// ones (expired ones do not count), `touch_secret` and `delete_secret`
/// change only the named secret.
pub async fn secrets<S: Store>(store: Arc<S>) {
    let c = client("m2m_s", ClientKind::Org, Some("org_1"));
    let first = secret("m2m_s", "s1", 1, T0);
    ok(store.create_client(&c, Some(&first)).await, "create_client");
    assert_eq!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets"),
        std::slice::from_ref(&first),
        "create_client must store the first secret exactly"
    );
    assert!(
        ok(
            store.list_secrets(&ClientId::new("m2m_none")).await,
            "list_secrets"
        )
        .is_empty(),
        "list_secrets of an unknown client must be empty"
    );

    let mut expiring = secret("m2m_s", "s2", 2, T0 + 1);
    expiring.expires_at = Some(T0 + 100);
    assert_eq!(
        ok(store.add_secret(&expiring, 3, T0 + 1).await, "add_secret"),
        AddSecret::Added,
        "add_secret under the limit must add"
    );
    // Created in the same second as the next one: insertion order breaks the tie.
    let third = secret("m2m_s", "s3", 3, T0 + 2);
    assert_eq!(
        ok(store.add_secret(&third, 3, T0 + 2).await, "add_secret"),
        AddSecret::Added,
        "add_secret under the limit must add"
    );
    let duplicate = store
        .add_secret(&secret("m2m_s", "s3", 9, T0 + 2), 10, T0 + 2)
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "add_secret with an existing secret id must be StoreError::Conflict, got {duplicate:?}"
    );
    let fourth = secret("m2m_s", "s4", 4, T0 + 2);
    assert_eq!(
        ok(store.add_secret(&fourth, 3, T0 + 3).await, "add_secret"),
        AddSecret::LimitReached,
        "add_secret must refuse a secret beyond max_live live secrets"
    );
    assert_eq!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets").len(),
        3,
        "a refused add_secret must store nothing"
    );
    assert_eq!(
        ok(store.add_secret(&fourth, 3, T0 + 99).await, "add_secret"),
        AddSecret::LimitReached,
        "add_secret must count a secret live until its expires_at"
    );
    assert_eq!(
        ok(store.add_secret(&fourth, 3, T0 + 100).await, "add_secret"),
        AddSecret::Added,
        "add_secret must not count secrets expired at `now` (expires_at <= now)"
    );
    assert_eq!(
        ok(
            store
                .add_secret(&secret("m2m_none", "x", 5, T0), 5, T0)
                .await,
            "add_secret"
        ),
        AddSecret::NoSuchClient,
        "add_secret for an unknown client must be NoSuchClient"
    );
    assert!(
        ok(
            store.list_secrets(&ClientId::new("m2m_none")).await,
            "list_secrets"
        )
        .is_empty(),
        "add_secret for an unknown client must store nothing"
    );

    assert_eq!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets"),
        [
            first.clone(),
            expiring.clone(),
            third.clone(),
            fourth.clone()
        ],
        "list_secrets must return every secret (expired too), oldest first, fields exact"
    );

    ok(
        store.touch_secret(&c.client_id, "s3", T0 + 50).await,
        "touch_secret",
    );
    let touched = ok(store.list_secrets(&c.client_id).await, "list_secrets");
    let used = |id: &str| {
        touched
            .iter()
            .find(|s| s.secret_id == id)
            .and_then(|s| s.last_used_at)
    };
    assert_eq!(
        used("s3"),
        Some(T0 + 50),
        "touch_secret must set last_used_at"
    );
    assert_eq!(
        used("s1"),
        None,
        "touch_secret must change only the named secret"
    );
    ok(
        store.touch_secret(&c.client_id, "nope", T0 + 50).await,
        "touch_secret of an unknown secret must not fail",
    );
    ok(
        store
            .touch_secret(&ClientId::new("m2m_other"), "s1", T0 + 50)
            .await,
        "touch_secret of another client must not fail",
    );
    assert_eq!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets")
            .iter()
            .find(|s| s.secret_id == "s1")
            .and_then(|s| s.last_used_at),
        None,
        "touch_secret must match the client id too"
    );

    // A batch: several secrets at once, the unknown ones skipped.
    ok(
        store
            .touch_secrets(&[
                SecretTouch {
                    client_id: c.client_id.clone(),
                    secret_id: "s1".into(),
                    at: T0 + 60,
                },
                SecretTouch {
                    client_id: ClientId::new("m2m_other"),
                    secret_id: "s2".into(),
                    at: T0 + 60,
                },
                SecretTouch {
                    client_id: c.client_id.clone(),
                    secret_id: "nope".into(),
                    at: T0 + 60,
                },
                SecretTouch {
                    client_id: c.client_id.clone(),
                    secret_id: "s3".into(),
                    at: T0 + 61,
                },
            ])
            .await,
        "touch_secrets",
    );
    let batch = ok(store.list_secrets(&c.client_id).await, "list_secrets");
    let used = |id: &str| {
        batch
            .iter()
            .find(|s| s.secret_id == id)
            .and_then(|s| s.last_used_at)
    };
    assert_eq!(
        (used("s1"), used("s2"), used("s3")),
        (Some(T0 + 60), None, Some(T0 + 61)),
        "touch_secrets must set each named secret of its client, and only those"
    );
    ok(store.touch_secrets(&[]).await, "touch_secrets of nothing");

    assert!(
        !ok(
            store.delete_secret(&ClientId::new("m2m_other"), "s3").await,
            "delete_secret"
        ),
        "delete_secret must match the client id too"
    );
    assert!(
        ok(
            store.delete_secret(&c.client_id, "s3").await,
            "delete_secret"
        ),
        "delete_secret of an existing secret must return true"
    );
    assert!(
        !ok(
            store.delete_secret(&c.client_id, "s3").await,
            "delete_secret"
        ),
        "delete_secret of a deleted secret must return false"
    );
    let secret_ids: Vec<String> = ok(store.list_secrets(&c.client_id).await, "list_secrets")
        .into_iter()
        .map(|s| s.secret_id)
        .collect();
    assert_eq!(
        secret_ids,
        ["s1", "s2", "s4"],
        "delete_secret must delete exactly that secret"
    );
}

/// 20 concurrent `add_secret` calls with `max_live` 5, on a client that has
/// its first secret: exactly 4 are added and 5 secrets are live.
pub async fn secrets_limit_under_concurrency<S: Store>(store: Arc<S>) {
    let c = client("m2m_race", ClientKind::Org, Some("org_1"));
    ok(
        store
            .create_client(&c, Some(&secret("m2m_race", "first", 0, T0)))
            .await,
        "create_client",
    );
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .add_secret(
                        &secret("m2m_race", &format!("race-{i}"), i + 1, T0 + 1),
                        5,
                        T0 + 1,
                    )
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        match joined(task.await, "add_secret") {
            Ok(AddSecret::Added) => added += 1,
            Ok(AddSecret::LimitReached) => {}
            other => panic!("concurrent add_secret must be Added or LimitReached, got {other:?}"),
        }
    }
    let live = ok(store.list_secrets(&c.client_id).await, "list_secrets")
        .iter()
        .filter(|s| s.is_live(T0 + 1))
        .count();
    assert_eq!(
        live, 5,
        "20 concurrent add_secret with max_live 5 must end with exactly 5 live secrets"
    );
    assert_eq!(
        added, 4,
        "exactly 4 of 20 concurrent add_secret (beside the first secret) must report Added"
    );
}

/// Deleting a client while secrets are being added to it: every call
/// succeeds or conflicts (no deadlock, no other error), no secret outlives
/// the client, and the deletion logs one entry.
pub async fn delete_client_races_add_secret<S: Store>(store: Arc<S>) {
    let c = client("m2m_doomed", ClientKind::Org, Some("o"));
    ok(
        store
            .create_client(&c, Some(&secret("m2m_doomed", "s0", 0, T0)))
            .await,
        "create_client",
    );
    let adders: Vec<_> = (0..10u8)
        .map(|i| {
            let store = Arc::clone(&store);
            // Some reuse the first secret's id: a conflict, never a deadlock.
            let id = if i % 3 == 0 {
                "s0".to_owned()
            } else {
                format!("s{i}")
            };
            tokio::spawn(async move {
                let result = store
                    .add_secret(&secret("m2m_doomed", &id, i, T0), 5, T0)
                    .await;
                assert!(
                    matches!(result, Ok(_) | Err(StoreError::Conflict(_))),
                    "add_secret racing delete_client must succeed or conflict, got {result:?}"
                );
            })
        })
        .collect();
    let revocation = RevokedClient::new(c.client_id.clone(), T0);
    let deleter = {
        let store = Arc::clone(&store);
        let id = c.client_id.clone();
        let revocation = revocation.clone();
        tokio::spawn(async move { store.delete_client(&id, &revocation).await })
    };
    for adder in adders {
        joined(adder.await, "add_secret");
    }
    assert!(
        ok(joined(deleter.await, "delete_client"), "delete_client"),
        "delete_client of an existing client must return true"
    );
    assert_eq!(
        ok(store.get_client(&c.client_id).await, "get_client"),
        None,
        "a deleted client must be gone"
    );
    assert!(
        ok(store.list_secrets(&c.client_id).await, "list_secrets").is_empty(),
        "no secret may outlive its client's deletion"
    );
    let logged: Vec<Revocation> = whole_log(&*store)
        .await
        .entries
        .into_iter()
        .map(|e| e.revocation)
        .collect();
    assert_eq!(
        logged,
        [Revocation::Client(revocation)],
        "delete_client must log exactly its one revocation"
    );
}
