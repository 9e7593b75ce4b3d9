//! User-level clients: authorization codes, grants, refresh tokens.

use std::sync::Arc;

use m2m_core::{ClientId, Revocation, RevokedToken, UserId};
use m2m_issuer::store::{
    AuthCodeRecord, ConsumeCode, GrantRecord, GrantRevocation, RefreshTokenRecord, RotateRefresh,
    Store, StoreError,
};
use tokio::sync::Barrier;

use crate::check::{joined, ok, whole_log};
use crate::fixtures::{T0, USER_CLIENT, auth_code, claims, grant, refresh};

fn user_client() -> ClientId {
    ClientId::new(USER_CLIENT)
}

fn revocation<'a>(client_id: &'a ClientId, grant_id: &'a str, at: u64) -> GrantRevocation<'a> {
    GrantRevocation {
        client_id,
        grant_id,
        at,
        live_after: at,
        create_revoked: None,
    }
}

fn access(token: &RefreshTokenRecord) -> RevokedToken {
    RevokedToken {
        jti: token.access_jti.clone(),
        exp: token.access_exp,
    }
}

/// The token entries of the log, in log order.
async fn logged_tokens(store: &impl Store) -> Vec<RevokedToken> {
    whole_log(store)
        .await
        .entries
        .into_iter()
        .filter_map(|e| match e.revocation {
            Revocation::Token(token) => Some(token),
            _ => None,
        })
        .collect()
}

/// Authorization codes: a duplicate hash conflicts; the first consumption
/// returns the code as stored, later ones report it used; purge drops
/// exactly the codes expired before its bound.
pub async fn auth_codes<S: Store>(store: Arc<S>) {
    let code = auth_code(1, "grant_1");
    ok(store.create_auth_code(&code).await, "create_auth_code");
    let dup = store.create_auth_code(&code).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "create_auth_code with an existing hash must be StoreError::Conflict, got {dup:?}"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&[9; 32], T0 + 1).await,
            "consume_auth_code"
        ),
        ConsumeCode::NotFound,
        "consume_auth_code of an unknown hash must be NotFound"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&code.code_hash, T0 + 1).await,
            "consume_auth_code"
        ),
        ConsumeCode::Consumed(code.clone()),
        "the first consume_auth_code must return the code as stored"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&code.code_hash, T0 + 2).await,
            "consume_auth_code"
        ),
        ConsumeCode::AlreadyUsed(code.clone()),
        "a second consume_auth_code must report AlreadyUsed with the code"
    );
    let late = AuthCodeRecord {
        expires_at: T0 + 500,
        ..auth_code(2, "grant_2")
    };
    ok(store.create_auth_code(&late).await, "create_auth_code");
    let edge = AuthCodeRecord {
        expires_at: T0 + 100,
        ..auth_code(3, "grant_3")
    };
    ok(store.create_auth_code(&edge).await, "create_auth_code");
    assert_eq!(
        ok(store.purge_auth_codes(T0 + 100).await, "purge_auth_codes"),
        1,
        "purge_auth_codes must drop exactly the codes expired before `before` \
         (one that expires at `before` stays)"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&code.code_hash, T0 + 3).await,
            "consume_auth_code"
        ),
        ConsumeCode::NotFound,
        "a purged code is gone"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&edge.code_hash, T0 + 3).await,
            "consume_auth_code"
        ),
        ConsumeCode::Consumed(edge),
        "purge_auth_codes must keep a code that expires at `before`"
    );
    assert_eq!(
        ok(
            store.consume_auth_code(&late.code_hash, T0 + 3).await,
            "consume_auth_code"
        ),
        ConsumeCode::Consumed(late),
        "purge_auth_codes must keep codes that expire later"
    );
}

/// Of 20 concurrent consumers of one code, exactly one consumes it.
pub async fn auth_codes_single_use_under_concurrency<S: Store>(store: Arc<S>) {
    let code = auth_code(7, "grant_race");
    ok(store.create_auth_code(&code).await, "create_auth_code");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.consume_auth_code(&[7; 32], T0 + i).await })
        })
        .collect();
    let mut consumed = 0;
    for task in tasks {
        match joined(task.await, "consume_auth_code") {
            Ok(ConsumeCode::Consumed(got)) => {
                assert_eq!(got, code, "Consumed must carry the code as stored");
                consumed += 1;
            }
            Ok(ConsumeCode::AlreadyUsed(_)) => {}
            other => panic!(
                "concurrent consume_auth_code must be Consumed or AlreadyUsed, got {other:?}"
            ),
        }
    }
    assert_eq!(
        consumed, 1,
        "exactly one of 20 concurrent consume_auth_code must report Consumed"
    );
}

/// Grants and their first refresh token are stored together; a duplicate
/// grant id stores neither; listing is per client (and user), oldest first.
pub async fn grants<S: Store>(store: Arc<S>) {
    let g1 = grant("grant_1", "user_1", T0);
    let r1 = refresh(1, "grant_1", "jti-a", T0);
    ok(store.create_grant(&g1, &r1).await, "create_grant");
    let r_dup = refresh(2, "grant_1", "jti-x", T0);
    let dup = store.create_grant(&g1, &r_dup).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "create_grant with an existing grant id must be StoreError::Conflict, got {dup:?}"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r_dup.token_hash).await,
            "get_refresh_token"
        ),
        None,
        "a refused create_grant must not store its refresh token"
    );
    let g_twin = grant("grant_twin", "user_1", T0);
    let twin = store.create_grant(&g_twin, &r1).await;
    assert!(
        matches!(twin, Err(StoreError::Conflict(_))),
        "create_grant with an existing refresh token hash must be StoreError::Conflict, \
         got {twin:?}"
    );
    assert_eq!(
        ok(store.get_grant("grant_twin").await, "get_grant"),
        None,
        "a refused create_grant must not store its grant"
    );

    let g2 = grant("grant_2", "user_2", T0 + 1);
    ok(
        store
            .create_grant(&g2, &refresh(3, "grant_2", "jti-b", T0 + 1))
            .await,
        "create_grant",
    );
    let mut other = grant("grant_3", "user_1", T0 + 2);
    other.client_id = ClientId::new("m2m_other");
    let mut r_other = refresh(4, "grant_3", "jti-o", T0 + 2);
    r_other.client_id = other.client_id.clone();
    ok(store.create_grant(&other, &r_other).await, "create_grant");

    assert_eq!(
        ok(store.get_grant("grant_1").await, "get_grant"),
        Some(g1.clone()),
        "get_grant must return the grant as stored"
    );
    assert_eq!(
        ok(store.get_grant("nope").await, "get_grant"),
        None,
        "get_grant of an unknown id must be None"
    );
    let client = user_client();
    assert_eq!(
        ok(store.list_grants(&client, None).await, "list_grants"),
        vec![g1.clone(), g2.clone()],
        "list_grants must list a client's grants (and no other client's), oldest first"
    );
    assert_eq!(
        ok(
            store
                .list_grants(&client, Some(&UserId::new("user_2")))
                .await,
            "list_grants"
        ),
        vec![g2],
        "list_grants with a user must list only that user's grants"
    );
    assert!(
        ok(
            store.list_grants(&ClientId::new("m2m_nobody"), None).await,
            "list_grants"
        )
        .is_empty(),
        "list_grants of a client without grants must be empty"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r1.token_hash).await,
            "get_refresh_token"
        ),
        Some(r1),
        "get_refresh_token must return the token as stored"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&[99; 32]).await,
            "get_refresh_token"
        ),
        None,
        "get_refresh_token of an unknown hash must be None"
    );
}

/// Rotation marks the old token used and stores the new one; a used token
/// presented again is a reuse that stores nothing; a rotation into another
/// grant conflicts; a revoked grant's tokens do not rotate.
pub async fn refresh_rotation<S: Store>(store: Arc<S>) {
    let r1 = refresh(1, "grant_1", "jti-a", T0);
    ok(
        store
            .create_grant(&grant("grant_1", "user_1", T0), &r1)
            .await,
        "create_grant",
    );
    ok(
        store
            .create_grant(
                &grant("grant_2", "user_2", T0),
                &refresh(2, "grant_2", "jti-b", T0),
            )
            .await,
        "create_grant",
    );

    let r4 = refresh(4, "grant_1", "jti-c", T0 + 10);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(&r1.token_hash, &r4, T0 + 10)
                .await,
            "rotate_refresh_token"
        ),
        RotateRefresh::Rotated(r1.clone()),
        "rotating a fresh token must return it as it was"
    );
    let used = ok(
        store.get_refresh_token(&r1.token_hash).await,
        "get_refresh_token",
    );
    let expected_used = RefreshTokenRecord {
        used_at: Some(T0 + 10),
        dpop_jkt: None,
        ..r1.clone()
    };
    assert_eq!(
        used,
        Some(expected_used.clone()),
        "rotation must mark the old token used at `now` and keep it stored"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r4.token_hash).await,
            "get_refresh_token"
        ),
        Some(r4.clone()),
        "rotation must store the new token"
    );
    let r5 = refresh(5, "grant_1", "jti-d", T0 + 11);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(&r1.token_hash, &r5, T0 + 11)
                .await,
            "rotate_refresh_token"
        ),
        RotateRefresh::Reused(expected_used),
        "rotating a used token again must report Reused with the token as stored"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r5.token_hash).await,
            "get_refresh_token"
        ),
        None,
        "a reused rotation must store nothing"
    );
    assert_eq!(
        ok(
            store.rotate_refresh_token(&[77; 32], &r5, T0 + 11).await,
            "rotate_refresh_token"
        ),
        RotateRefresh::NotFound,
        "rotating an unknown token must be NotFound"
    );
    let across = store
        .rotate_refresh_token(&r4.token_hash, &refresh(6, "grant_2", "jti-e", T0), T0)
        .await;
    assert!(
        matches!(across, Err(StoreError::Conflict(_))),
        "a rotation into another grant must be StoreError::Conflict, got {across:?}"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r4.token_hash).await,
            "get_refresh_token"
        )
        .and_then(|t| t.used_at),
        None,
        "a refused rotation must not mark the old token used"
    );

    let client = user_client();
    ok(
        store
            .revoke_grant(&revocation(&client, "grant_1", T0 + 20))
            .await,
        "revoke_grant",
    );
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(&r4.token_hash, &r5, T0 + 40)
                .await,
            "rotate_refresh_token"
        ),
        RotateRefresh::GrantRevoked,
        "a token of a revoked grant must not rotate"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r5.token_hash).await,
            "get_refresh_token"
        ),
        None,
        "a refused rotation must store nothing"
    );
}

/// Of 16 concurrent rotations of one refresh token, exactly one rotates it
/// and only its new token is stored.
pub async fn refresh_rotation_under_concurrency<S: Store>(store: Arc<S>) {
    ok(
        store
            .create_grant(
                &grant("grant_race", "user_1", T0),
                &refresh(1, "grant_race", "jti-0", T0),
            )
            .await,
        "create_grant",
    );
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let new = refresh(i + 10, "grant_race", &format!("jti-{}", i + 10), T0 + 1);
                (i, store.rotate_refresh_token(&[1; 32], &new, T0 + 1).await)
            })
        })
        .collect();
    let mut rotated = Vec::new();
    for task in tasks {
        match joined(task.await, "rotate_refresh_token") {
            (i, Ok(RotateRefresh::Rotated(_))) => rotated.push(i),
            (_, Ok(RotateRefresh::Reused(_))) => {}
            (_, other) => {
                panic!("concurrent rotate_refresh_token must be Rotated or Reused, got {other:?}")
            }
        }
    }
    let [winner] = rotated[..] else {
        panic!(
            "exactly one of 16 concurrent rotations of one refresh token must report Rotated, \
             got {rotated:?}"
        );
    };
    for i in 0..16u8 {
        let stored = ok(
            store.get_refresh_token(&[i + 10; 32]).await,
            "get_refresh_token",
        );
        assert_eq!(
            stored.is_some(),
            i == winner,
            "only the winning rotation may store its new token (token {i}, winner {winner})"
        );
    }
}

/// `revoke_grant` revokes only the client's own grant, keeps the first
/// revocation time, logs every access token of the family with
/// `exp >= live_after` once (an exp equal to it included, one less not) and
/// returns them in issue order; refresh tokens of the grant stop rotating.
pub async fn revoke_grant_logs_live_access_tokens<S: Store>(store: Arc<S>) {
    let client = user_client();
    // The family: r0 (access exp T0+899), rotated to r1 (T0+900), to r2 (T0+910).
    let r0 = RefreshTokenRecord {
        access_exp: T0 + 899,
        ..refresh(1, "grant_1", "jti-old", T0 - 1)
    };
    ok(
        store
            .create_grant(&grant("grant_1", "user_1", T0 - 1), &r0)
            .await,
        "create_grant",
    );
    let r1 = refresh(2, "grant_1", "jti-a", T0);
    let r2 = refresh(3, "grant_1", "jti-c", T0 + 10);
    for (old, new, at) in [(&r0, &r1, T0), (&r1, &r2, T0 + 10)] {
        assert!(
            matches!(
                ok(
                    store.rotate_refresh_token(&old.token_hash, new, at).await,
                    "rotate_refresh_token"
                ),
                RotateRefresh::Rotated(_)
            ),
            "rotating a fresh token must succeed"
        );
    }
    let bystander = refresh(4, "grant_2", "jti-b", T0);
    ok(
        store
            .create_grant(&grant("grant_2", "user_2", T0), &bystander)
            .await,
        "create_grant",
    );

    let other = ClientId::new("m2m_other");
    assert_eq!(
        ok(
            store
                .revoke_grant(&revocation(&other, "grant_1", T0 + 20))
                .await,
            "revoke_grant"
        ),
        None,
        "revoke_grant must not revoke another client's grant"
    );
    assert_eq!(
        ok(
            store
                .revoke_grant(&revocation(&client, "nope", T0 + 20))
                .await,
            "revoke_grant"
        ),
        None,
        "revoke_grant of an unknown grant without create_revoked must be None"
    );
    assert_eq!(
        ok(store.get_grant("nope").await, "get_grant"),
        None,
        "revoke_grant without create_revoked must not create a grant"
    );
    let untouched = whole_log(&*store).await;
    assert!(
        untouched.entries.is_empty() && untouched.head == 0,
        "a revoke_grant that found no grant must log nothing, got {untouched:?}"
    );

    let first = GrantRevocation {
        live_after: T0 + 900,
        ..revocation(&client, "grant_1", T0 + 20)
    };
    let revoked = ok(store.revoke_grant(&first).await, "revoke_grant");
    assert_eq!(
        revoked,
        Some(vec![access(&r1), access(&r2)]),
        "revoke_grant must return the family's access tokens with exp >= live_after \
         (one with exp == live_after included, one with exp == live_after - 1 not), \
         in issue order"
    );
    assert_eq!(
        logged_tokens(&*store).await,
        [access(&r1), access(&r2)],
        "revoke_grant must log the family's live access tokens, in issue order"
    );
    for (jti, covered) in [
        ("jti-a", true),
        ("jti-c", true),
        ("jti-old", false),
        ("jti-b", false),
    ] {
        assert_eq!(
            ok(
                store.is_revoked(&claims(jti, USER_CLIENT, T0), None).await,
                "is_revoked"
            ),
            covered,
            "after revoke_grant, is_revoked({jti}) must be {covered}"
        );
    }
    assert_eq!(
        ok(store.get_grant("grant_1").await, "get_grant").and_then(|g| g.revoked_at),
        Some(T0 + 20),
        "revoke_grant must record when the grant was revoked"
    );
    assert_eq!(
        ok(store.get_grant("grant_2").await, "get_grant").and_then(|g| g.revoked_at),
        None,
        "revoke_grant must not revoke another grant"
    );

    let log = whole_log(&*store).await;
    let again = GrantRevocation {
        live_after: T0 + 900,
        ..revocation(&client, "grant_1", T0 + 30)
    };
    assert_eq!(
        ok(store.revoke_grant(&again).await, "revoke_grant"),
        Some(vec![access(&r1), access(&r2)]),
        "revoking a grant again must return the same access tokens"
    );
    assert_eq!(
        whole_log(&*store).await,
        log,
        "revoking a grant again must log nothing new"
    );
    assert_eq!(
        ok(store.get_grant("grant_1").await, "get_grant").and_then(|g| g.revoked_at),
        Some(T0 + 20),
        "revoking a grant again must keep the first revocation time"
    );
    let r3 = refresh(5, "grant_1", "jti-d", T0 + 40);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(&r2.token_hash, &r3, T0 + 40)
                .await,
            "rotate_refresh_token"
        ),
        RotateRefresh::GrantRevoked,
        "a token of a revoked grant must not rotate"
    );
    // A token revoked on its own before is returned but not logged twice.
    ok(
        store
            .revoke_token(&access(&bystander), &client, T0 + 50)
            .await,
        "revoke_token",
    );
    assert_eq!(
        ok(
            store
                .revoke_grant(&revocation(&client, "grant_2", T0 + 50))
                .await,
            "revoke_grant"
        ),
        Some(vec![access(&bystander)]),
        "revoke_grant must return an access token that was already revoked"
    );
    assert_eq!(
        logged_tokens(&*store).await,
        [access(&r1), access(&r2), access(&bystander)],
        "revoke_grant must not log an access token that is logged already"
    );
}

/// `revoke_grant` with `create_revoked` for a grant that does not exist yet
/// stores it revoked (a tombstone): a later `create_grant` with that id
/// conflicts and stores nothing. For an existing grant it revokes as usual
/// and stores nothing new; another client's grant it leaves alone.
pub async fn revoke_grant_tombstone<S: Store>(store: Arc<S>) {
    let client = user_client();
    let ghost = grant("grant_ghost", "user_1", T0);
    let tombstoning = GrantRevocation {
        create_revoked: Some(&ghost),
        ..revocation(&client, "grant_ghost", T0 + 5)
    };
    assert_eq!(
        ok(store.revoke_grant(&tombstoning).await, "revoke_grant"),
        Some(vec![]),
        "revoke_grant with create_revoked of a missing grant must return Some(no tokens)"
    );
    let stored = GrantRecord {
        revoked_at: Some(T0 + 5),
        ..ghost.clone()
    };
    assert_eq!(
        ok(store.get_grant("grant_ghost").await, "get_grant"),
        Some(stored.clone()),
        "revoke_grant with create_revoked must store the grant as given, revoked at `at`"
    );
    assert_eq!(
        ok(store.list_grants(&client, None).await, "list_grants"),
        vec![stored.clone()],
        "a tombstone is listed like any grant"
    );
    let r = refresh(1, "grant_ghost", "jti-ghost", T0 + 6);
    let late = store.create_grant(&ghost, &r).await;
    assert!(
        matches!(late, Err(StoreError::Conflict(_))),
        "create_grant after a tombstone must be StoreError::Conflict, got {late:?}"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&r.token_hash).await,
            "get_refresh_token"
        ),
        None,
        "create_grant refused by a tombstone must not store its refresh token"
    );
    assert_eq!(
        ok(store.get_grant("grant_ghost").await, "get_grant"),
        Some(stored.clone()),
        "create_grant refused by a tombstone must leave it revoked"
    );
    assert_eq!(
        ok(store.revoke_grant(&tombstoning).await, "revoke_grant"),
        Some(vec![]),
        "revoke_grant with create_revoked of an existing tombstone revokes it again (no tokens)"
    );
    assert_eq!(
        ok(store.get_grant("grant_ghost").await, "get_grant"),
        Some(stored),
        "revoking a tombstone again must keep it as it was"
    );

    // An existing grant: revoked as usual, the record passed is not stored.
    let live = grant("grant_live", "user_1", T0);
    let r_live = refresh(2, "grant_live", "jti-live", T0);
    ok(store.create_grant(&live, &r_live).await, "create_grant");
    let impostor = grant("grant_live", "user_9", T0 + 7);
    let revoking = GrantRevocation {
        create_revoked: Some(&impostor),
        ..revocation(&client, "grant_live", T0 + 8)
    };
    assert_eq!(
        ok(store.revoke_grant(&revoking).await, "revoke_grant"),
        Some(vec![access(&r_live)]),
        "revoke_grant with create_revoked of an existing grant must revoke its family"
    );
    assert_eq!(
        ok(store.get_grant("grant_live").await, "get_grant"),
        Some(GrantRecord {
            revoked_at: Some(T0 + 8),
            ..live
        }),
        "revoke_grant of an existing grant must not replace it with create_revoked"
    );

    // Another client's grant: untouched.
    let mut foreign = grant("grant_foreign", "user_1", T0);
    foreign.client_id = ClientId::new("m2m_other");
    let mut r_foreign = refresh(3, "grant_foreign", "jti-foreign", T0);
    r_foreign.client_id = foreign.client_id.clone();
    ok(
        store.create_grant(&foreign, &r_foreign).await,
        "create_grant",
    );
    let mine = grant("grant_foreign", "user_1", T0);
    let stealing = GrantRevocation {
        create_revoked: Some(&mine),
        ..revocation(&client, "grant_foreign", T0 + 9)
    };
    assert_eq!(
        ok(store.revoke_grant(&stealing).await, "revoke_grant"),
        None,
        "revoke_grant with create_revoked must not touch another client's grant"
    );
    assert_eq!(
        ok(store.get_grant("grant_foreign").await, "get_grant"),
        Some(foreign),
        "another client's grant must stay as it was"
    );
    assert_eq!(
        logged_tokens(&*store).await,
        [access(&r_live)],
        "only the existing grant's access token may be logged"
    );
}

/// `revoke_grant` with `create_revoked` racing `create_grant` for the same
/// grant, many times: whichever runs first, the grant ends revoked, and if
/// `create_grant` succeeded its access token is in the log (and returned).
pub async fn revoke_grant_races_create_grant<S: Store>(store: Arc<S>) {
    const ROUNDS: u8 = 40;
    let client = user_client();
    let mut created = 0;
    for round in 0..ROUNDS {
        let grant_id = format!("grant_race_{round}");
        let record = grant(&grant_id, "user_1", T0);
        let token = refresh(round, &grant_id, &format!("jti-race-{round}"), T0);
        let start = Arc::new(Barrier::new(2));
        let creator = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (record, token) = (record.clone(), token.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.create_grant(&record, &token).await
            })
        };
        let revoker = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (record, client, grant_id) = (record.clone(), client.clone(), grant_id.clone());
            tokio::spawn(async move {
                start.wait().await;
                let revocation = GrantRevocation {
                    create_revoked: Some(&record),
                    ..revocation(&client, &grant_id, T0 + 1)
                };
                store.revoke_grant(&revocation).await
            })
        };
        let create = joined(creator.await, "create_grant");
        let revoked =
            ok(joined(revoker.await, "revoke_grant"), "revoke_grant").unwrap_or_else(|| {
                panic!("round {round}: revoke_grant with create_revoked must return Some")
            });
        assert_eq!(
            ok(store.get_grant(&grant_id).await, "get_grant").and_then(|g| g.revoked_at),
            Some(T0 + 1),
            "round {round}: the grant must end revoked whichever call ran first \
             (create_grant: {create:?})"
        );
        let logged = ok(
            store
                .is_revoked(&claims(&token.access_jti, USER_CLIENT, T0), None)
                .await,
            "is_revoked",
        );
        match create {
            Ok(()) => {
                created += 1;
                assert!(
                    logged,
                    "round {round}: create_grant won, so revoke_grant must log its access token"
                );
                assert_eq!(
                    revoked,
                    [access(&token)],
                    "round {round}: create_grant won, so revoke_grant must return its access token"
                );
            }
            Err(StoreError::Conflict(_)) => {
                assert!(
                    !logged && revoked.is_empty(),
                    "round {round}: the tombstone won, so no access token may be logged"
                );
                assert_eq!(
                    ok(
                        store.get_refresh_token(&token.token_hash).await,
                        "get_refresh_token"
                    ),
                    None,
                    "round {round}: create_grant refused by a tombstone must store nothing"
                );
            }
            Err(other) => panic!(
                "round {round}: create_grant racing a tombstone must succeed or conflict, \
                 got {other}"
            ),
        }
    }
    let log = whole_log(&*store).await;
    assert_eq!(
        log.entries.len(),
        created,
        "one log entry per round that create_grant won, and no other"
    );
}

/// `revoke_grant` racing `rotate_refresh_token` of the grant's token, many
/// times: either the rotation happened first and its new access token is
/// logged by the revocation, or it reports `GrantRevoked` and stores nothing.
pub async fn revoke_grant_races_rotation<S: Store>(store: Arc<S>) {
    const ROUNDS: u8 = 30;
    let client = user_client();
    for round in 0..ROUNDS {
        let grant_id = format!("grant_rot_{round}");
        let first = refresh(
            round.wrapping_mul(2),
            &grant_id,
            &format!("jti-{round}-a"),
            T0,
        );
        ok(
            store
                .create_grant(&grant(&grant_id, "user_1", T0), &first)
                .await,
            "create_grant",
        );
        let next = refresh(
            round.wrapping_mul(2).wrapping_add(1),
            &grant_id,
            &format!("jti-{round}-b"),
            T0 + 1,
        );
        let start = Arc::new(Barrier::new(2));
        let rotator = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (old, next) = (first.token_hash.clone(), next.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&old, &next, T0 + 1).await
            })
        };
        let revoker = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            let (client, grant_id) = (client.clone(), grant_id.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .revoke_grant(&revocation(&client, &grant_id, T0 + 2))
                    .await
            })
        };
        let rotation = ok(
            joined(rotator.await, "rotate_refresh_token"),
            "rotate_refresh_token",
        );
        let revoked =
            ok(joined(revoker.await, "revoke_grant"), "revoke_grant").unwrap_or_else(|| {
                panic!("round {round}: revoke_grant of an existing grant must return Some")
            });
        let next_logged = ok(
            store
                .is_revoked(&claims(&next.access_jti, USER_CLIENT, T0), None)
                .await,
            "is_revoked",
        );
        match rotation {
            RotateRefresh::Rotated(_) => {
                assert!(
                    next_logged && revoked.contains(&access(&next)),
                    "round {round}: the rotation ran first, so revoke_grant must see and log \
                     its new access token (returned {revoked:?})"
                );
            }
            RotateRefresh::GrantRevoked => {
                assert!(
                    !next_logged && !revoked.contains(&access(&next)),
                    "round {round}: a rotation refused as GrantRevoked must issue nothing"
                );
                assert_eq!(
                    ok(
                        store.get_refresh_token(&next.token_hash).await,
                        "get_refresh_token"
                    ),
                    None,
                    "round {round}: a rotation refused as GrantRevoked must store nothing"
                );
            }
            other => panic!(
                "round {round}: rotate_refresh_token racing revoke_grant must be Rotated or \
                 GrantRevoked, got {other:?}"
            ),
        }
        assert!(
            revoked.contains(&access(&first)),
            "round {round}: revoke_grant must log the first access token"
        );
    }
}
