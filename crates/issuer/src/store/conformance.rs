//! The conformance suite every [`Store`] implementation must pass.
//!
//! Call [`run`] from a `#[tokio::test]` of the implementing crate, with a
//! closure that returns a **fresh, empty** store each time it is called (the
//! suite calls it once per section, so sections cannot disturb each other).
//! Each violated contract panics with a message naming the method and what
//! was expected. A multi-threaded runtime exercises the concurrency checks
//! best, but a current-thread one works too.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use m2m_issuer::store::{MemoryStore, conformance};
//! conformance::run(|| async { MemoryStore::new() }).await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;

use m2m_core::{
    Algorithm, ClientId, ClientKind, KeySchedule, OrgId, PublicJwk, ScopeSet, SecretHash, TokenTtl,
    UserId,
};

use super::{
    AddSecret, AuditEvent, AuthCodeRecord, ClientFilter, ClientRecord, ConsumeCode, GrantRecord,
    RefreshTokenRecord, RevocationEntry, RotateRefresh, SecretRecord, Store, StoreError, StoredKey,
    TokenRevocation,
};

const T0: u64 = 1_700_000_000;

/// Runs every section of the suite, each on a store from `make`.
///
/// Panics at the first violation, with a message that says which method
/// broke which rule.
pub async fn run<S, F, Fut>(mut make: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    clients(&make().await).await;
    listing(&make().await).await;
    deletion(&make().await).await;
    secrets(&make().await).await;
    keys(&make().await).await;
    revocations(&make().await).await;
    audit(&make().await).await;
    concurrent_secrets(Arc::new(make().await)).await;
    concurrent_key_ring(Arc::new(make().await)).await;
    auth_codes(&make().await).await;
    grants(&make().await).await;
    concurrent_codes(Arc::new(make().await)).await;
    concurrent_refresh(Arc::new(make().await)).await;
}

fn client(id: &str, kind: ClientKind, org: Option<&str>) -> ClientRecord {
    ClientRecord {
        client_id: ClientId::new(id),
        name: format!("client {id}"),
        kind,
        org_id: org.map(OrgId::new),
        user_id: None,
        scopes: ScopeSet::parse("invoices:read invoices:write").expect("valid scopes"),
        audiences: vec![
            "https://b.example.com".to_owned(),
            "https://a.example.com".to_owned(),
        ],
        token_ttl: TokenTtl::new(900).expect("valid ttl"),
        redirect_uris: vec![],
        metadata: serde_json::json!({"team": "billing", "n": [1, 2, {"deep": true}]}),
        enabled: true,
        created_at: T0,
        updated_at: T0,
    }
}

fn secret(client_id: &str, secret_id: &str, byte: u8, created_at: u64) -> SecretRecord {
    SecretRecord {
        secret_id: secret_id.to_owned(),
        client_id: ClientId::new(client_id),
        hash: SecretHash::from_bytes([byte; 32]),
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

fn key(kid: &str, signs_from: u64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: Algorithm::ES256,
        encrypted_private_key: kid.bytes().chain([0, 1, 2, 255]).collect(),
        public_jwk: PublicJwk {
            kty: "EC".to_owned(),
            key_use: Some("sig".to_owned()),
            alg: Some("ES256".to_owned()),
            kid: Some(kid.to_owned()),
            crv: Some("P-256".to_owned()),
            x: Some(format!("x-{kid}")),
            y: Some(format!("y-{kid}")),
            n: None,
            e: None,
        },
        schedule: KeySchedule {
            created_at: signs_from,
            signs_from,
            signs_until: None,
            published_until: None,
        },
    }
}

fn sorted_kids(keys: &[StoredKey]) -> Vec<String> {
    let mut kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
    kids.sort();
    kids
}

async fn clients(store: &dyn Store) {
    let mut org = client("m2m_c1", ClientKind::Org, Some("org_1"));
    org.user_id = None;
    store
        .create_client(&org, &secret("m2m_c1", "sec_1", 1, T0))
        .await
        .expect("create_client: a new client must be stored");
    assert_eq!(
        store.get_client(&org.client_id).await.expect("get_client"),
        Some(org.clone()),
        "get_client must return every field exactly as created"
    );
    assert_eq!(
        store
            .get_client(&ClientId::new("m2m_none"))
            .await
            .expect("get_client"),
        None,
        "get_client of an unknown id must be None"
    );

    let dup = store
        .create_client(&org, &secret("m2m_c1", "sec_other", 2, T0))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "create_client with an existing id must be StoreError::Conflict, got {dup:?}"
    );
    let secrets = store
        .list_secrets(&org.client_id)
        .await
        .expect("list_secrets");
    assert_eq!(
        secrets.len(),
        1,
        "a refused create_client must not add its secret"
    );

    let mut user = client("m2m_c2", ClientKind::User, Some("org_1"));
    user.user_id = Some(UserId::new("user_7"));
    user.redirect_uris = vec!["https://app.example.com/cb".to_owned()];
    user.audiences = vec![];
    user.metadata = serde_json::json!({});
    store
        .create_client(&user, &secret("m2m_c2", "sec_2", 2, T0))
        .await
        .expect("create_client");
    assert_eq!(
        store.get_client(&user.client_id).await.expect("get_client"),
        Some(user.clone()),
        "get_client must round-trip user_id, redirect_uris and empty audiences"
    );

    let mut changed = org.clone();
    changed.name = "renamed".to_owned();
    changed.scopes = ScopeSet::parse("a:b").expect("valid");
    changed.audiences = vec!["https://z.example.com".to_owned()];
    changed.token_ttl = TokenTtl::new(86_400).expect("valid");
    changed.metadata = serde_json::json!({"k": "v"});
    changed.enabled = false;
    changed.updated_at = T0 + 10;
    assert!(
        store.update_client(&changed).await.expect("update_client"),
        "update_client of an existing client must return true"
    );
    assert_eq!(
        store.get_client(&org.client_id).await.expect("get_client"),
        Some(changed),
        "update_client must replace every field"
    );
    assert!(
        !store
            .update_client(&client("m2m_none", ClientKind::Org, Some("o")))
            .await
            .expect("update_client"),
        "update_client of an unknown client must return false"
    );
    assert_eq!(
        store
            .get_client(&ClientId::new("m2m_none"))
            .await
            .expect("get_client"),
        None,
        "update_client must not create a client"
    );
}

async fn listing(store: &dyn Store) {
    // Created out of order: the listing orders by client id.
    let ids = ["m2m_e", "m2m_b", "m2m_d", "m2m_a", "m2m_c"];
    for (i, id) in ids.iter().enumerate() {
        let (kind, org) = match i % 3 {
            0 => (ClientKind::Org, Some("org_x")),
            1 => (ClientKind::Service, None),
            _ => (ClientKind::Org, Some("org_y")),
        };
        store
            .create_client(
                &client(id, kind, org),
                &secret(id, &format!("s_{id}"), 3, T0),
            )
            .await
            .expect("create_client");
    }
    let all = store
        .list_clients(&ClientFilter::default(), None, 100)
        .await
        .expect("list_clients");
    let listed: Vec<&str> = all.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(
        listed,
        ["m2m_a", "m2m_b", "m2m_c", "m2m_d", "m2m_e"],
        "list_clients must order by client id"
    );
    assert_eq!(all.next, None, "list_clients: the last page has no next");

    let first = store
        .list_clients(&ClientFilter::default(), None, 2)
        .await
        .expect("list_clients");
    let listed: Vec<&str> = first.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(listed, ["m2m_a", "m2m_b"], "list_clients must honour limit");
    assert_eq!(
        first.next.as_ref().map(ClientId::as_str),
        Some("m2m_b"),
        "list_clients: next must be the last listed id when more follow"
    );
    let second = store
        .list_clients(&ClientFilter::default(), first.next.as_ref(), 2)
        .await
        .expect("list_clients");
    let listed: Vec<&str> = second.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(
        listed,
        ["m2m_c", "m2m_d"],
        "list_clients must start after `after`"
    );
    let third = store
        .list_clients(&ClientFilter::default(), second.next.as_ref(), 2)
        .await
        .expect("list_clients");
    let listed: Vec<&str> = third.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(listed, ["m2m_e"], "list_clients: the last page");
    assert_eq!(third.next, None, "list_clients: the last page has no next");

    let exact = store
        .list_clients(&ClientFilter::default(), None, 5)
        .await
        .expect("list_clients");
    assert_eq!(exact.items.len(), 5);
    assert_eq!(
        exact.next, None,
        "list_clients: a page that ends exactly at the last client has no next"
    );

    let by_org = store
        .list_clients(
            &ClientFilter {
                org_id: Some(OrgId::new("org_x")),
                kind: None,
            },
            None,
            100,
        )
        .await
        .expect("list_clients");
    let listed: Vec<&str> = by_org.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(
        listed,
        ["m2m_a", "m2m_e"],
        "list_clients must filter by org_id"
    );

    let by_kind = store
        .list_clients(
            &ClientFilter {
                org_id: None,
                kind: Some(ClientKind::Service),
            },
            None,
            100,
        )
        .await
        .expect("list_clients");
    let listed: Vec<&str> = by_kind.items.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(
        listed,
        ["m2m_b", "m2m_c"],
        "list_clients must filter by kind"
    );

    let both = store
        .list_clients(
            &ClientFilter {
                org_id: Some(OrgId::new("org_y")),
                kind: Some(ClientKind::Service),
            },
            None,
            100,
        )
        .await
        .expect("list_clients");
    assert!(
        both.items.is_empty(),
        "list_clients must apply org_id and kind together"
    );
}

async fn deletion(store: &dyn Store) {
    let c = client("m2m_del", ClientKind::Org, Some("org_1"));
    store
        .create_client(&c, &secret("m2m_del", "s1", 1, T0))
        .await
        .expect("create_client");
    store
        .add_secret(&secret("m2m_del", "s2", 2, T0 + 1), 5, T0 + 1)
        .await
        .expect("add_secret");
    assert!(
        store
            .delete_client(&c.client_id, T0 + 5)
            .await
            .expect("delete_client"),
        "delete_client of an existing client must return true"
    );
    assert_eq!(
        store.get_client(&c.client_id).await.expect("get_client"),
        None,
        "a deleted client must be gone"
    );
    assert!(
        store
            .list_secrets(&c.client_id)
            .await
            .expect("list_secrets")
            .is_empty(),
        "delete_client must delete the client's secrets"
    );
    let (entries, _) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert_eq!(
        entries,
        [RevocationEntry::Client {
            client_id: c.client_id.clone(),
            revoked_at: T0 + 5
        }],
        "delete_client must append a RevocationEntry::Client"
    );
    assert!(
        !store
            .delete_client(&c.client_id, T0 + 6)
            .await
            .expect("delete_client"),
        "delete_client of an unknown client must return false"
    );
    let (entries, _) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert_eq!(
        entries.len(),
        1,
        "delete_client of an unknown client must not log a revocation"
    );
    // The id can be reused after deletion, and starts with no old secrets.
    store
        .create_client(&c, &secret("m2m_del", "s3", 3, T0 + 7))
        .await
        .expect("create_client after delete_client must succeed");
    let ids: Vec<String> = store
        .list_secrets(&c.client_id)
        .await
        .expect("list_secrets")
        .into_iter()
        .map(|s| s.secret_id)
        .collect();
    assert_eq!(
        ids,
        ["s3"],
        "a re-created client must not inherit old secrets"
    );
}

async fn secrets(store: &dyn Store) {
    let c = client("m2m_s", ClientKind::Org, Some("org_1"));
    let first = secret("m2m_s", "s1", 1, T0);
    store
        .create_client(&c, &first)
        .await
        .expect("create_client");
    assert_eq!(
        store
            .list_secrets(&c.client_id)
            .await
            .expect("list_secrets"),
        std::slice::from_ref(&first),
        "create_client must store the first secret exactly"
    );
    assert!(
        store
            .list_secrets(&ClientId::new("m2m_none"))
            .await
            .expect("list_secrets")
            .is_empty(),
        "list_secrets of an unknown client must be empty"
    );

    let mut expiring = secret("m2m_s", "s2", 2, T0 + 1);
    expiring.expires_at = Some(T0 + 100);
    assert_eq!(
        store
            .add_secret(&expiring, 3, T0 + 1)
            .await
            .expect("add_secret"),
        AddSecret::Added,
        "add_secret under the limit must add"
    );
    let third = secret("m2m_s", "s3", 3, T0 + 2);
    assert_eq!(
        store
            .add_secret(&third, 3, T0 + 2)
            .await
            .expect("add_secret"),
        AddSecret::Added
    );
    let fourth = secret("m2m_s", "s4", 4, T0 + 3);
    assert_eq!(
        store
            .add_secret(&fourth, 3, T0 + 3)
            .await
            .expect("add_secret"),
        AddSecret::LimitReached,
        "add_secret must refuse a secret beyond max_live live secrets"
    );
    assert_eq!(
        store
            .list_secrets(&c.client_id)
            .await
            .expect("list_secrets")
            .len(),
        3,
        "a refused add_secret must store nothing"
    );
    assert_eq!(
        store
            .add_secret(&fourth, 3, T0 + 100)
            .await
            .expect("add_secret"),
        AddSecret::Added,
        "add_secret must not count secrets expired at `now` (expires_at <= now)"
    );
    assert_eq!(
        store
            .add_secret(&secret("m2m_none", "x", 5, T0), 5, T0)
            .await
            .expect("add_secret"),
        AddSecret::NoSuchClient,
        "add_secret for an unknown client must be NoSuchClient"
    );
    assert!(
        store
            .list_secrets(&ClientId::new("m2m_none"))
            .await
            .expect("list_secrets")
            .is_empty(),
        "add_secret for an unknown client must store nothing"
    );

    let listed = store
        .list_secrets(&c.client_id)
        .await
        .expect("list_secrets");
    assert_eq!(
        listed,
        [
            first.clone(),
            expiring.clone(),
            third.clone(),
            fourth.clone()
        ],
        "list_secrets must return every secret (expired too), oldest first, fields exact"
    );

    store
        .touch_secret(&c.client_id, "s3", T0 + 50)
        .await
        .expect("touch_secret");
    let touched = store
        .list_secrets(&c.client_id)
        .await
        .expect("list_secrets");
    assert_eq!(
        touched
            .iter()
            .find(|s| s.secret_id == "s3")
            .and_then(|s| s.last_used_at),
        Some(T0 + 50),
        "touch_secret must set last_used_at"
    );
    assert_eq!(
        touched
            .iter()
            .find(|s| s.secret_id == "s1")
            .and_then(|s| s.last_used_at),
        None,
        "touch_secret must change only the named secret"
    );
    store
        .touch_secret(&c.client_id, "nope", T0 + 50)
        .await
        .expect("touch_secret of an unknown secret must not fail");

    assert!(
        !store
            .delete_secret(&ClientId::new("m2m_other"), "s3")
            .await
            .expect("delete_secret"),
        "delete_secret must match the client id too"
    );
    assert!(
        store
            .delete_secret(&c.client_id, "s3")
            .await
            .expect("delete_secret"),
        "delete_secret of an existing secret must return true"
    );
    assert!(
        !store
            .delete_secret(&c.client_id, "s3")
            .await
            .expect("delete_secret"),
        "delete_secret of a deleted secret must return false"
    );
    let ids: Vec<String> = store
        .list_secrets(&c.client_id)
        .await
        .expect("list_secrets")
        .into_iter()
        .map(|s| s.secret_id)
        .collect();
    assert_eq!(
        ids,
        ["s1", "s2", "s4"],
        "delete_secret must delete exactly that secret"
    );
}

async fn keys(store: &dyn Store) {
    assert!(
        store.list_keys().await.expect("list_keys").is_empty(),
        "a fresh store has no keys"
    );
    let k1 = key("kid-1", T0);
    assert!(
        !store
            .save_key_ring(std::slice::from_ref(&k1), &["kid-x".to_owned()])
            .await
            .expect("save_key_ring"),
        "save_key_ring must refuse when the stored kids differ from expected_kids"
    );
    assert!(
        store.list_keys().await.expect("list_keys").is_empty(),
        "a refused save_key_ring must change nothing"
    );
    assert!(
        store
            .save_key_ring(std::slice::from_ref(&k1), &[])
            .await
            .expect("save_key_ring"),
        "save_key_ring on an empty ring with expected_kids [] must succeed"
    );
    assert_eq!(
        store.list_keys().await.expect("list_keys"),
        std::slice::from_ref(&k1),
        "list_keys must return the saved key exactly (encrypted bytes, jwk, schedule)"
    );
    assert!(
        !store
            .save_key_ring(std::slice::from_ref(&k1), &[])
            .await
            .expect("save_key_ring"),
        "save_key_ring must refuse a stale expected_kids (compare-and-swap)"
    );

    let mut k1_retiring = k1.clone();
    k1_retiring.schedule.signs_until = Some(T0 + 3600);
    k1_retiring.schedule.published_until = Some(T0 + 90_000);
    let k2 = key("kid-2", T0 + 3600);
    assert!(
        store
            .save_key_ring(&[k1_retiring.clone(), k2.clone()], &["kid-1".to_owned()])
            .await
            .expect("save_key_ring"),
        "save_key_ring with the right expected_kids must succeed"
    );
    let mut listed = store.list_keys().await.expect("list_keys");
    listed.sort_by(|a, b| a.kid.cmp(&b.kid));
    assert_eq!(
        listed,
        [k1_retiring.clone(), k2.clone()],
        "save_key_ring must insert new kids and update schedules"
    );

    assert!(
        !store
            .save_key_ring(std::slice::from_ref(&k2), &["kid-1".to_owned()])
            .await
            .expect("save_key_ring"),
        "save_key_ring must refuse an expected_kids that is a strict subset"
    );
    let k3 = key("kid-3", T0 + 7200);
    assert!(
        store
            .save_key_ring(
                &[k2.clone(), k3.clone()],
                &["kid-2".to_owned(), "kid-1".to_owned()]
            )
            .await
            .expect("save_key_ring"),
        "save_key_ring must accept expected_kids in any order"
    );
    assert_eq!(
        sorted_kids(&store.list_keys().await.expect("list_keys")),
        ["kid-2", "kid-3"],
        "save_key_ring must delete kids not in `keys`"
    );
}

async fn revocations(store: &dyn Store) {
    let (entries, cursor) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert!(
        entries.is_empty(),
        "a fresh store has an empty revocation log"
    );
    assert_eq!(
        cursor, None,
        "revocations_since on an empty log returns `after` (None)"
    );

    let r1 = TokenRevocation {
        jti: "jti-1".to_owned(),
        client_id: ClientId::new("m2m_a"),
        exp: T0 + 100,
        revoked_at: T0,
    };
    assert!(
        !store
            .is_token_revoked("jti-1")
            .await
            .expect("is_token_revoked")
    );
    store.revoke_token(&r1).await.expect("revoke_token");
    assert!(
        store
            .is_token_revoked("jti-1")
            .await
            .expect("is_token_revoked"),
        "revoke_token must make is_token_revoked true"
    );
    assert!(
        !store
            .is_token_revoked("jti-2")
            .await
            .expect("is_token_revoked"),
        "is_token_revoked must be false for other tokens"
    );
    store
        .revoke_token(&TokenRevocation {
            revoked_at: T0 + 1,
            ..r1.clone()
        })
        .await
        .expect("revoking a token twice must not fail");
    store
        .revoke_client(&ClientId::new("m2m_b"), T0 + 2)
        .await
        .expect("revoke_client");
    let r3 = TokenRevocation {
        jti: "jti-3".to_owned(),
        client_id: ClientId::new("m2m_a"),
        exp: T0 + 10_000,
        revoked_at: T0 + 3,
    };
    store.revoke_token(&r3).await.expect("revoke_token");

    let expected = vec![
        RevocationEntry::Token {
            jti: "jti-1".to_owned(),
            exp: T0 + 100,
        },
        RevocationEntry::Client {
            client_id: ClientId::new("m2m_b"),
            revoked_at: T0 + 2,
        },
        RevocationEntry::Token {
            jti: "jti-3".to_owned(),
            exp: T0 + 10_000,
        },
    ];
    let (entries, end) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert_eq!(
        entries, expected,
        "revocations_since(None) must list every entry in log order, a token revoked twice once"
    );
    let end = end.expect("revocations_since must return the last sequence number");

    let (page1, c1) = store
        .revocations_since(None, 2)
        .await
        .expect("revocations_since");
    assert_eq!(page1, expected[..2], "revocations_since must honour limit");
    let (page2, c2) = store
        .revocations_since(c1, 2)
        .await
        .expect("revocations_since");
    assert_eq!(
        page2,
        expected[2..],
        "revocations_since(after) must return only entries after `after`"
    );
    assert_eq!(
        c2,
        Some(end),
        "the cursors of a paged read must end where a full read ends"
    );
    let (none, same) = store
        .revocations_since(Some(end), 10)
        .await
        .expect("revocations_since");
    assert!(none.is_empty(), "nothing follows the last entry");
    assert_eq!(
        same,
        Some(end),
        "revocations_since with nothing new must return `after` unchanged"
    );

    store
        .revoke_client(&ClientId::new("m2m_c"), T0 + 4)
        .await
        .expect("revoke_client");
    let (newer, _) = store
        .revocations_since(Some(end), 10)
        .await
        .expect("revocations_since");
    assert_eq!(
        newer,
        [RevocationEntry::Client {
            client_id: ClientId::new("m2m_c"),
            revoked_at: T0 + 4
        }],
        "an entry appended later must follow the old cursor"
    );

    let purged = store
        .purge_revocations(T0 + 101)
        .await
        .expect("purge_revocations");
    assert_eq!(
        purged, 1,
        "purge_revocations must drop exactly the token revocations with exp before `before`"
    );
    assert!(
        store
            .is_token_revoked("jti-3")
            .await
            .expect("is_token_revoked"),
        "purge_revocations must keep unexpired revocations"
    );
    let (after_purge, _) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert!(
        !after_purge.contains(&expected[0]),
        "a purged token revocation must leave the feed"
    );
    assert!(
        after_purge.contains(&expected[2]) && after_purge.contains(&expected[1]),
        "purge_revocations must keep unexpired tokens and client revocations in the feed"
    );
}

fn event(kind: &str, client: Option<&str>, at: u64) -> AuditEvent {
    AuditEvent {
        seq: 0,
        at,
        kind: kind.to_owned(),
        client_id: client.map(ClientId::new),
        actor: Some(ClientId::new("m2m_admin")),
        detail: serde_json::json!({"reason": "test", "fields": ["name"]}),
    }
}

async fn audit(store: &dyn Store) {
    let empty = store.list_audit(None, None, 10).await.expect("list_audit");
    assert!(
        empty.items.is_empty() && empty.next.is_none(),
        "a fresh store has no audit events"
    );

    store
        .append_audit(&[
            event("client.created", Some("m2m_a"), T0),
            event("token.issued", Some("m2m_b"), T0 + 1),
        ])
        .await
        .expect("append_audit");
    store
        .append_audit(&[
            event("auth.failed", None, T0 + 2),
            event("token.issued", Some("m2m_a"), T0 + 3),
        ])
        .await
        .expect("append_audit");
    store
        .append_audit(&[])
        .await
        .expect("append_audit of nothing must succeed");

    let all = store.list_audit(None, None, 10).await.expect("list_audit");
    let kinds: Vec<(&str, u64)> = all.items.iter().map(|e| (e.kind.as_str(), e.at)).collect();
    assert_eq!(
        kinds,
        [
            ("token.issued", T0 + 3),
            ("auth.failed", T0 + 2),
            ("token.issued", T0 + 1),
            ("client.created", T0)
        ],
        "list_audit must list newest first"
    );
    assert!(all.next.is_none(), "list_audit: the last page has no next");
    assert!(
        all.items.windows(2).all(|w| w[0].seq > w[1].seq),
        "append_audit must assign increasing seq"
    );
    assert!(
        all.items.iter().all(|e| e.seq != 0),
        "append_audit must assign seq"
    );
    let mut expected = event("client.created", Some("m2m_a"), T0);
    expected.seq = all.items[3].seq;
    assert_eq!(
        all.items[3], expected,
        "list_audit must return every field as appended"
    );
    assert_eq!(
        all.items[1].client_id, None,
        "an event without client_id keeps None"
    );

    let page1 = store.list_audit(None, None, 3).await.expect("list_audit");
    assert_eq!(page1.items.len(), 3, "list_audit must honour limit");
    assert_eq!(
        page1.next,
        Some(page1.items[2].seq),
        "list_audit: next must be the last listed seq when more follow"
    );
    let page2 = store
        .list_audit(None, page1.next, 3)
        .await
        .expect("list_audit");
    let kinds: Vec<&str> = page2.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["client.created"],
        "list_audit must start before `before`"
    );
    assert!(
        page2.next.is_none(),
        "list_audit: the last page has no next"
    );

    let for_a = store
        .list_audit(Some(&ClientId::new("m2m_a")), None, 10)
        .await
        .expect("list_audit");
    let kinds: Vec<&str> = for_a.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["token.issued", "client.created"],
        "list_audit must filter by client_id"
    );
    let one = store
        .list_audit(Some(&ClientId::new("m2m_a")), None, 1)
        .await
        .expect("list_audit");
    let rest = store
        .list_audit(Some(&ClientId::new("m2m_a")), one.next, 1)
        .await
        .expect("list_audit");
    assert_eq!(
        rest.items
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        ["client.created"],
        "list_audit must page within a client filter"
    );
}

async fn concurrent_secrets<S: Store>(store: Arc<S>) {
    let c = client("m2m_race", ClientKind::Org, Some("org_1"));
    store
        .create_client(&c, &secret("m2m_race", "first", 0, T0))
        .await
        .expect("create_client");
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .add_secret(
                    &secret("m2m_race", &format!("race-{i}"), i + 1, T0 + 1),
                    5,
                    T0 + 1,
                )
                .await
        }));
    }
    let mut added = 0;
    for task in tasks {
        match task.await.expect("add_secret task panicked") {
            Ok(AddSecret::Added) => added += 1,
            Ok(AddSecret::LimitReached) => {}
            other => panic!("concurrent add_secret must be Added or LimitReached, got {other:?}"),
        }
    }
    let live = store
        .list_secrets(&c.client_id)
        .await
        .expect("list_secrets")
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

async fn concurrent_key_ring<S: Store>(store: Arc<S>) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .save_key_ring(&[key(&format!("kid-{i}"), T0)], &[])
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        if task
            .await
            .expect("save_key_ring task panicked")
            .expect("save_key_ring")
        {
            won += 1;
        }
    }
    assert_eq!(
        won, 1,
        "of concurrent save_key_ring calls with the same expected_kids, exactly one must win"
    );
    assert_eq!(
        store.list_keys().await.expect("list_keys").len(),
        1,
        "the ring must hold only the winner's key"
    );
}

fn auth_code(hash: u8, grant_id: &str) -> AuthCodeRecord {
    AuthCodeRecord {
        code_hash: vec![hash; 32],
        client_id: ClientId::new("m2m_user"),
        grant_id: grant_id.to_owned(),
        redirect_uri: "https://app.example.com/callback?x=1".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        user_id: UserId::new("user_1"),
        org_id: OrgId::new("org_1"),
        scopes: ScopeSet::parse("invoices:read invoices:write").expect("valid scopes"),
        created_at: T0,
        expires_at: T0 + 60,
    }
}

fn grant(grant_id: &str, user: &str, created_at: u64) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id.to_owned(),
        client_id: ClientId::new("m2m_user"),
        user_id: UserId::new(user),
        org_id: OrgId::new("org_1"),
        scopes: ScopeSet::parse("invoices:read invoices:write").expect("valid scopes"),
        created_at,
        revoked_at: None,
    }
}

fn refresh(hash: u8, grant_id: &str, jti: &str, at: u64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: vec![hash; 32],
        grant_id: grant_id.to_owned(),
        client_id: ClientId::new("m2m_user"),
        scopes: ScopeSet::parse("invoices:read").expect("valid scopes"),
        access_jti: jti.to_owned(),
        access_exp: at + 900,
        created_at: at,
        expires_at: at + 86_400,
        used_at: None,
    }
}

async fn auth_codes(store: &dyn Store) {
    let code = auth_code(1, "grant_1");
    store
        .create_auth_code(&code)
        .await
        .expect("create_auth_code");
    assert!(
        matches!(
            store.create_auth_code(&code).await,
            Err(StoreError::Conflict(_))
        ),
        "create_auth_code with an existing hash must be a Conflict"
    );
    assert_eq!(
        store
            .consume_auth_code(&[9; 32], T0 + 1)
            .await
            .expect("consume_auth_code"),
        ConsumeCode::NotFound,
        "consume_auth_code of an unknown hash must be NotFound"
    );
    assert_eq!(
        store
            .consume_auth_code(&code.code_hash, T0 + 1)
            .await
            .expect("consume_auth_code"),
        ConsumeCode::Consumed(code.clone()),
        "the first consume_auth_code must return the code as stored"
    );
    assert_eq!(
        store
            .consume_auth_code(&code.code_hash, T0 + 2)
            .await
            .expect("consume_auth_code"),
        ConsumeCode::AlreadyUsed(code.clone()),
        "a second consume_auth_code must report AlreadyUsed with the code"
    );
    let late = AuthCodeRecord {
        expires_at: T0 + 500,
        ..auth_code(2, "grant_2")
    };
    store
        .create_auth_code(&late)
        .await
        .expect("create_auth_code");
    assert_eq!(
        store
            .purge_auth_codes(T0 + 100)
            .await
            .expect("purge_auth_codes"),
        1,
        "purge_auth_codes must drop exactly the codes expired before `before`"
    );
    assert_eq!(
        store
            .consume_auth_code(&code.code_hash, T0 + 3)
            .await
            .expect("consume_auth_code"),
        ConsumeCode::NotFound,
        "a purged code is gone"
    );
    assert_eq!(
        store
            .consume_auth_code(&late.code_hash, T0 + 3)
            .await
            .expect("consume_auth_code"),
        ConsumeCode::Consumed(late),
        "purge_auth_codes must keep codes that expire later"
    );
}

async fn grants(store: &dyn Store) {
    let g1 = grant("grant_1", "user_1", T0);
    let r1 = refresh(1, "grant_1", "jti-a", T0);
    store.create_grant(&g1, &r1).await.expect("create_grant");
    assert!(
        matches!(
            store
                .create_grant(&g1, &refresh(2, "grant_1", "jti-x", T0))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "create_grant with an existing grant id must be a Conflict"
    );
    let g2 = grant("grant_2", "user_2", T0 + 1);
    store
        .create_grant(&g2, &refresh(3, "grant_2", "jti-b", T0 + 1))
        .await
        .expect("create_grant");
    assert_eq!(
        store.get_grant("grant_1").await.expect("get_grant"),
        Some(g1.clone()),
        "get_grant must return the grant as stored"
    );
    assert_eq!(store.get_grant("nope").await.expect("get_grant"), None);
    let client = ClientId::new("m2m_user");
    assert_eq!(
        store.list_grants(&client, None).await.expect("list_grants"),
        vec![g1.clone(), g2.clone()],
        "list_grants must list a client's grants, oldest first"
    );
    assert_eq!(
        store
            .list_grants(&client, Some(&UserId::new("user_2")))
            .await
            .expect("list_grants"),
        vec![g2.clone()],
        "list_grants with a user must list only that user's grants"
    );
    assert!(
        store
            .list_grants(&ClientId::new("m2m_other"), None)
            .await
            .expect("list_grants")
            .is_empty(),
        "list_grants must not list another client's grants"
    );
    assert_eq!(
        store
            .get_refresh_token(&r1.token_hash)
            .await
            .expect("get_refresh_token"),
        Some(r1.clone()),
        "get_refresh_token must return the token as stored"
    );

    // Rotation: r1 -> r4, then r1 again is a reuse.
    let r4 = refresh(4, "grant_1", "jti-c", T0 + 10);
    assert_eq!(
        store
            .rotate_refresh_token(&r1.token_hash, &r4, T0 + 10)
            .await
            .expect("rotate_refresh_token"),
        RotateRefresh::Rotated(r1.clone()),
        "rotating a fresh token must return it as it was"
    );
    let used = store
        .get_refresh_token(&r1.token_hash)
        .await
        .expect("get_refresh_token")
        .expect("a rotated token stays stored");
    assert_eq!(
        used.used_at,
        Some(T0 + 10),
        "rotation must mark the old token used"
    );
    assert_eq!(
        store
            .get_refresh_token(&r4.token_hash)
            .await
            .expect("get_refresh_token"),
        Some(r4.clone()),
        "rotation must store the new token"
    );
    let r5 = refresh(5, "grant_1", "jti-d", T0 + 11);
    assert_eq!(
        store
            .rotate_refresh_token(&r1.token_hash, &r5, T0 + 11)
            .await
            .expect("rotate_refresh_token"),
        RotateRefresh::Reused(used),
        "rotating a used token again must report Reused"
    );
    assert_eq!(
        store
            .get_refresh_token(&r5.token_hash)
            .await
            .expect("get_refresh_token"),
        None,
        "a reused rotation must store nothing"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&[77; 32], &r5, T0 + 11)
            .await
            .expect("rotate_refresh_token"),
        RotateRefresh::NotFound
    );
    assert!(
        matches!(
            store
                .rotate_refresh_token(&r4.token_hash, &refresh(6, "grant_2", "jti-e", T0), T0)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a rotation into another grant must be a Conflict"
    );

    // Revocation of the family.
    assert_eq!(
        store
            .revoke_grant(&ClientId::new("m2m_other"), "grant_1", T0 + 20)
            .await
            .expect("revoke_grant"),
        None,
        "revoke_grant must not revoke another client's grant"
    );
    assert_eq!(
        store
            .revoke_grant(&client, "nope", T0 + 20)
            .await
            .expect("revoke_grant"),
        None
    );
    let revoked = store
        .revoke_grant(&client, "grant_1", T0 + 20)
        .await
        .expect("revoke_grant")
        .expect("the client has grant_1");
    let expected: Vec<TokenRevocation> = [("jti-a", T0 + 900), ("jti-c", T0 + 10 + 900)]
        .iter()
        .map(|(jti, exp)| TokenRevocation {
            jti: (*jti).to_owned(),
            client_id: client.clone(),
            exp: *exp,
            revoked_at: T0 + 20,
        })
        .collect();
    assert_eq!(
        revoked, expected,
        "revoke_grant must return the family's unexpired access tokens in issue order"
    );
    for jti in ["jti-a", "jti-c"] {
        assert!(
            store.is_token_revoked(jti).await.expect("is_token_revoked"),
            "revoke_grant must revoke the access token {jti} of the family"
        );
    }
    assert!(
        !store
            .is_token_revoked("jti-b")
            .await
            .expect("is_token_revoked"),
        "revoke_grant must not revoke another grant's tokens"
    );
    let (entries, _) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    let mut jtis: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            RevocationEntry::Token { jti, .. } => Some(jti.clone()),
            RevocationEntry::Client { .. } => None,
        })
        .collect();
    jtis.sort();
    assert_eq!(
        jtis,
        vec!["jti-a".to_owned(), "jti-c".to_owned()],
        "revoke_grant must put the family's access tokens into the revocation feed once"
    );
    assert!(
        store
            .revoke_grant(&client, "grant_1", T0 + 30)
            .await
            .expect("revoking a grant twice must not fail")
            .is_some()
    );
    let (again, _) = store
        .revocations_since(None, 100)
        .await
        .expect("revocations_since");
    assert_eq!(again.len(), 2, "revoking a grant twice appends nothing");
    assert_eq!(
        store
            .get_grant("grant_1")
            .await
            .expect("get_grant")
            .and_then(|g| g.revoked_at),
        Some(T0 + 20),
        "revoke_grant must record the first revocation time"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&r4.token_hash, &r5, T0 + 40)
            .await
            .expect("rotate_refresh_token"),
        RotateRefresh::GrantRevoked,
        "a token of a revoked grant must not rotate"
    );
    assert_eq!(
        store
            .get_refresh_token(&r5.token_hash)
            .await
            .expect("get_refresh_token"),
        None
    );
}

async fn concurrent_codes<S: Store>(store: Arc<S>) {
    let code = auth_code(7, "grant_race");
    store
        .create_auth_code(&code)
        .await
        .expect("create_auth_code");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.consume_auth_code(&[7; 32], T0 + i).await
        }));
    }
    let mut consumed = 0;
    for task in tasks {
        match task.await.expect("consume_auth_code task panicked") {
            Ok(ConsumeCode::Consumed(_)) => consumed += 1,
            Ok(ConsumeCode::AlreadyUsed(_)) => {}
            other => panic!(
                "concurrent consume_auth_code must be Consumed or AlreadyUsed, got {other:?}"
            ),
        }
    }
    assert_eq!(
        consumed, 1,
        "exactly one of 16 concurrent consume_auth_code must report Consumed"
    );
}

async fn concurrent_refresh<S: Store>(store: Arc<S>) {
    store
        .create_grant(
            &grant("grant_race", "user_1", T0),
            &refresh(1, "grant_race", "jti-0", T0),
        )
        .await
        .expect("create_grant");
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let new = refresh(i + 10, "grant_race", &format!("jti-{}", i + 10), T0 + 1);
            store.rotate_refresh_token(&[1; 32], &new, T0 + 1).await
        }));
    }
    let mut rotated = 0;
    for task in tasks {
        match task.await.expect("rotate_refresh_token task panicked") {
            Ok(RotateRefresh::Rotated(_)) => rotated += 1,
            Ok(RotateRefresh::Reused(_)) => {}
            other => {
                panic!("concurrent rotate_refresh_token must be Rotated or Reused, got {other:?}")
            }
        }
    }
    assert_eq!(
        rotated, 1,
        "exactly one of 16 concurrent rotations of one refresh token must report Rotated"
    );
}
