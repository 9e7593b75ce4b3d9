//! Token exchange (RFC 8693): a client's `token_exchange` policy kept
//! exactly; exchanged tokens revoked with the token, grant or client they
//! came from, transitively; a record never made for a revoked parent, even
//! racing its revocation.

use std::collections::HashSet;
use std::sync::Arc;

use m2m_core::{ClientId, ClientKind, OrgId, Revocation, RevokedClient, RevokedToken};
use m2m_issuer::store::{
    ExchangeSubject, ExchangedFrom, ExchangedTokenRecord, Store, TokenExchangePolicy,
};

use crate::check::{joined, ok, whole_log};
use crate::fixtures::{T0, claims, client};

/// An exchanged token `jti` of `client`, made at `iat` from `parent`, a
/// token of `parent_client` made at `parent_iat`.
fn record(
    jti: &str,
    client: &str,
    parent: &str,
    parent_client: &str,
    parent_iat: u64,
) -> ExchangedTokenRecord {
    ExchangedTokenRecord {
        jti: jti.to_owned(),
        exp: T0 + 900,
        client_id: ClientId::new(client),
        parent_jti: parent.to_owned(),
        parent_client_id: ClientId::new(parent_client),
        parent_iat,
        parent_kid: "kid-1".to_owned(),
    }
}

async fn remember(store: &impl Store, record: &ExchangedTokenRecord) -> bool {
    let parent = claims(
        &record.parent_jti,
        record.parent_client_id.as_str(),
        record.parent_iat,
    );
    ok(
        store.record_exchanged_token(record, &parent).await,
        "record_exchanged_token",
    )
}

fn jtis(tokens: &[RevokedToken]) -> HashSet<String> {
    tokens.iter().map(|t| t.jti.clone()).collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn logged_jtis(store: &impl Store) -> Vec<String> {
    whole_log(store)
        .await
        .entries
        .into_iter()
        .filter_map(|e| match e.revocation {
            Revocation::Token(t) => Some(t.jti),
            _ => None,
        })
        .collect()
}

/// `token_exchange` survives create, update (set, changed, removed) and get.
pub async fn token_exchange_policy_round_trip<S: Store>(store: Arc<S>) {
    let mut agent = client("m2m_agent", ClientKind::Service, None);
    agent.token_exchange = Some(TokenExchangePolicy {
        subjects: vec![
            ExchangeSubject::Client(ClientId::new("m2m_app")),
            ExchangeSubject::Org(OrgId::new("org_1")),
        ],
        audiences: Some(vec!["https://api.example.com".to_owned()]),
        max_depth: Some(3),
    });
    ok(store.create_client(&agent, None).await, "create_client");
    assert_eq!(
        ok(store.get_client(&agent.client_id).await, "get_client"),
        Some(agent.clone()),
        "get_client must return token_exchange as created"
    );
    let mut changed = agent.clone();
    changed.token_exchange = Some(TokenExchangePolicy {
        subjects: vec![ExchangeSubject::Org(OrgId::new("org_2"))],
        audiences: None,
        max_depth: None,
    });
    assert!(ok(
        store.update_client(&changed, None).await,
        "update_client"
    ));
    assert_eq!(
        ok(store.get_client(&agent.client_id).await, "get_client"),
        Some(changed.clone()),
        "update_client must replace token_exchange"
    );
    changed.token_exchange = None;
    assert!(ok(
        store.update_client(&changed, None).await,
        "update_client"
    ));
    assert_eq!(
        ok(store.get_client(&agent.client_id).await, "get_client"),
        Some(changed),
        "update_client must clear token_exchange"
    );
}

/// `revoke_exchanged` walks the chain: from tokens (children, grandchildren,
/// not siblings' lines), from a client's tokens issued at or before its
/// revocation (not after), from a key's tokens, skipping tokens whose `exp` is before
/// `live_after`; each covered token enters the log once; the purge drops
/// expired records.
pub async fn exchanged_tokens_revoked_with_their_chain<S: Store>(store: Arc<S>) {
    // root -> a -> b -> c; root -> d; other -> e.
    for r in [
        record("a", "m2m_planner", "root", "m2m_app", T0),
        record("b", "m2m_worker", "a", "m2m_planner", T0 + 1),
        record("c", "m2m_reviewer", "b", "m2m_worker", T0 + 2),
        record("d", "m2m_planner", "root", "m2m_app", T0),
        record("e", "m2m_planner", "other", "m2m_app", T0 + 50),
    ] {
        assert!(
            remember(&*store, &r).await,
            "record_exchanged_token of an unrevoked parent must store it"
        );
    }
    let duplicate = store
        .record_exchanged_token(
            &record("a", "m2m_planner", "root", "m2m_app", T0),
            &claims("root", "m2m_app", T0),
        )
        .await;
    assert!(
        matches!(duplicate, Err(m2m_issuer::store::StoreError::Conflict(_))),
        "a second record with the same jti must be a conflict: {duplicate:?}"
    );

    let covered = ok(
        store
            .revoke_exchanged(ExchangedFrom::Tokens(&["a".to_owned()]), T0, T0 + 10)
            .await,
        "revoke_exchanged from a token",
    );
    assert_eq!(
        jtis(&covered),
        set(&["b", "c"]),
        "revoke_exchanged from `a` must cover its descendants b and c, and only them"
    );
    let logged = logged_jtis(&*store).await;
    assert_eq!(
        logged.iter().cloned().collect::<HashSet<_>>(),
        set(&["b", "c"]),
        "the covered tokens must be in the log"
    );
    // Again: covered again, logged once.
    ok(
        store
            .revoke_exchanged(ExchangedFrom::Tokens(&["a".to_owned()]), T0, T0 + 11)
            .await,
        "revoke_exchanged again",
    );
    assert_eq!(
        logged_jtis(&*store).await.len(),
        2,
        "a token covered twice must be logged once"
    );

    // From a client: its tokens issued at or before T0 + 10 (root, not other).
    let app = ClientId::new("m2m_app");
    let covered = ok(
        store
            .revoke_exchanged(
                ExchangedFrom::Client {
                    client_id: &app,
                    issued_before: T0 + 10,
                },
                T0,
                T0 + 12,
            )
            .await,
        "revoke_exchanged from a client",
    );
    assert_eq!(
        jtis(&covered),
        set(&["a", "b", "c", "d"]),
        "revoke_exchanged from a client must cover what its tokens issued by then led to"
    );
    assert!(
        !logged_jtis(&*store).await.contains(&"e".to_owned()),
        "a token of the client issued after the revocation is not covered"
    );

    // From a key: the tokens it signed (parent_kid), and their descendants.
    let mut keyed = record("k1", "m2m_planner", "signed-by-k9", "m2m_app", T0 + 60);
    keyed.parent_kid = "kid-9".to_owned();
    assert!(remember(&*store, &keyed).await);
    assert!(
        remember(
            &*store,
            &record("k2", "m2m_worker", "k1", "m2m_planner", T0 + 61)
        )
        .await
    );
    let covered = ok(
        store
            .revoke_exchanged(ExchangedFrom::Key("kid-9"), T0, T0 + 12)
            .await,
        "revoke_exchanged from a key",
    );
    assert_eq!(
        jtis(&covered),
        set(&["k1", "k2"]),
        "revoke_exchanged from a key must cover what its tokens led to, and only that"
    );

    // live_after: an expired line is not logged.
    let covered = ok(
        store
            .revoke_exchanged(
                ExchangedFrom::Tokens(&["other".to_owned()]),
                T0 + 901,
                T0 + 13,
            )
            .await,
        "revoke_exchanged of expired tokens",
    );
    assert!(
        covered.is_empty(),
        "tokens whose exp is before live_after must not be covered: {covered:?}"
    );

    assert_eq!(
        ok(
            store.purge_exchanged_tokens(T0 + 901).await,
            "purge_exchanged_tokens"
        ),
        7,
        "purge_exchanged_tokens must drop every record with exp before `before`"
    );
}

/// A record whose parent a logged revocation covers (its jti, or its client
/// at or after its iat) is refused; of a record racing the parent's
/// revocation, either the record is refused or the revocation covers it.
pub async fn exchanged_record_races_revocation<S: Store>(store: Arc<S>) {
    ok(
        store
            .revoke_token(
                &RevokedToken {
                    jti: "dead".to_owned(),
                    exp: T0 + 900,
                },
                &ClientId::new("m2m_app"),
                T0,
            )
            .await,
        "revoke_token",
    );
    assert!(
        !remember(&*store, &record("x", "m2m_planner", "dead", "m2m_app", T0)).await,
        "record_exchanged_token must refuse a revoked parent"
    );
    let mut app = client("m2m_gone", ClientKind::Org, Some("org_1"));
    ok(store.create_client(&app, None).await, "create_client");
    app.enabled = false;
    ok(
        store
            .update_client(
                &app,
                Some(&RevokedClient::new(app.client_id.clone(), T0 + 5)),
            )
            .await,
        "update_client with a revocation",
    );
    assert!(
        !remember(
            &*store,
            &record("y", "m2m_planner", "p", "m2m_gone", T0 + 5)
        )
        .await,
        "record_exchanged_token must refuse a parent whose client was revoked at or after its iat"
    );
    assert!(
        remember(
            &*store,
            &record("z", "m2m_planner", "p", "m2m_gone", T0 + 6)
        )
        .await,
        "a parent issued after its client's revocation is not covered"
    );

    for round in 0..20 {
        let parent = format!("parent-{round}");
        let child = format!("child-{round}");
        let recorder = {
            let store = Arc::clone(&store);
            let r = record(&child, "m2m_planner", &parent, "m2m_app", T0);
            tokio::spawn(async move { remember(&*store, &r).await })
        };
        let revoker = {
            let store = Arc::clone(&store);
            let parent = parent.clone();
            tokio::spawn(async move {
                ok(
                    store
                        .revoke_token(
                            &RevokedToken {
                                jti: parent.clone(),
                                exp: T0 + 900,
                            },
                            &ClientId::new("m2m_app"),
                            T0,
                        )
                        .await,
                    "revoke_token",
                );
                ok(
                    store
                        .revoke_exchanged(ExchangedFrom::Tokens(&[parent]), T0, T0)
                        .await,
                    "revoke_exchanged",
                )
            })
        };
        let recorded = joined(recorder.await, "recorder");
        let covered = joined(revoker.await, "revoker");
        if recorded {
            assert!(
                jtis(&covered).contains(&child),
                "round {round}: a child recorded while its parent was revoked must be covered \
                 by the revocation"
            );
        }
    }
}
