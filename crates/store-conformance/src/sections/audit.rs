//! The audit log.

use std::sync::Arc;

use m2m_core::ClientId;
use m2m_issuer::store::{AuditFilter, AuditRecord, Store, TokenMinute};

use crate::check::ok;
use crate::fixtures::{T0, event};

fn for_client(client_id: &ClientId) -> AuditFilter {
    AuditFilter {
        client_id: Some(client_id.clone()),
        ..AuditFilter::default()
    }
}

fn kinds(events: &[AuditRecord]) -> Vec<(&str, u64)> {
    events.iter().map(|e| (e.kind.as_str(), e.at)).collect()
}

/// Audit events get increasing sequence numbers, come back newest first
/// with every field, page with `before`/`next`, and filter by client.
pub async fn audit<S: Store>(store: Arc<S>) {
    let empty = ok(
        store.list_audit(&AuditFilter::default(), None, 10).await,
        "list_audit",
    );
    assert!(
        empty.items.is_empty() && empty.next.is_none(),
        "a fresh store has no audit events, got {empty:?}"
    );

    ok(
        store
            .append_audit(&[
                event("client.created", Some("m2m_a"), T0),
                event("token.issued", Some("m2m_b"), T0 + 1),
            ])
            .await,
        "append_audit",
    );
    let mut anonymous = event("auth.failed", None, T0 + 2);
    anonymous.actor = None;
    anonymous.detail = serde_json::json!({});
    let mut stray = event("token.issued", Some("m2m_a"), T0 + 3);
    stray.seq = 12_345;
    ok(
        store.append_audit(&[anonymous.clone(), stray]).await,
        "append_audit",
    );
    ok(
        store.append_audit(&[]).await,
        "append_audit of nothing must succeed",
    );

    let all = ok(
        store.list_audit(&AuditFilter::default(), None, 10).await,
        "list_audit",
    );
    assert_eq!(
        kinds(&all.items),
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
        "append_audit must assign increasing seq, in append order"
    );
    assert!(
        all.items.iter().all(|e| e.seq != 0 && e.seq != 12_345),
        "append_audit must assign seq itself, ignoring the one given"
    );
    let mut expected = event("client.created", Some("m2m_a"), T0);
    expected.seq = all.items[3].seq;
    assert_eq!(
        all.items[3], expected,
        "list_audit must return every field as appended"
    );
    anonymous.seq = all.items[1].seq;
    assert_eq!(
        all.items[1], anonymous,
        "an event without client_id or actor keeps None"
    );

    let page1 = ok(
        store.list_audit(&AuditFilter::default(), None, 3).await,
        "list_audit",
    );
    assert_eq!(page1.items.len(), 3, "list_audit must honour limit");
    assert_eq!(
        page1.next,
        Some(page1.items[2].seq),
        "list_audit: next must be the last listed seq when more follow"
    );
    let page2 = ok(
        store
            .list_audit(&AuditFilter::default(), page1.next, 3)
            .await,
        "list_audit",
    );
    assert_eq!(
        kinds(&page2.items),
        [("client.created", T0)],
        "list_audit must start before `before`"
    );
    assert!(
        page2.next.is_none(),
        "list_audit: the last page has no next"
    );
    let exact = ok(
        store.list_audit(&AuditFilter::default(), None, 4).await,
        "list_audit",
    );
    assert!(
        exact.items.len() == 4 && exact.next.is_none(),
        "list_audit: a page that ends exactly at the oldest event has no next"
    );

    let a = ClientId::new("m2m_a");
    let for_a = ok(
        store.list_audit(&for_client(&a), None, 10).await,
        "list_audit",
    );
    assert_eq!(
        kinds(&for_a.items),
        [("token.issued", T0 + 3), ("client.created", T0)],
        "list_audit must filter by client_id"
    );
    let one = ok(
        store.list_audit(&for_client(&a), None, 1).await,
        "list_audit",
    );
    assert_eq!(
        one.next,
        Some(for_a.items[0].seq),
        "list_audit: next within a client filter"
    );
    let rest = ok(
        store.list_audit(&for_client(&a), one.next, 1).await,
        "list_audit",
    );
    assert_eq!(
        kinds(&rest.items),
        [("client.created", T0)],
        "list_audit must page within a client filter"
    );
    assert!(
        rest.next.is_none(),
        "list_audit: the last page within a client filter has no next"
    );
    let between = ok(
        store
            .list_audit(&for_client(&a), Some(all.items[0].seq), 10)
            .await,
        "list_audit",
    );
    assert_eq!(
        kinds(&between.items),
        [("client.created", T0)],
        "list_audit must apply client_id and before together"
    );
}

/// `list_audit` filters by kind and by time (`since` inclusive, `until`
/// exclusive), together with the client filter and the cursor.
pub async fn audit_filters<S: Store>(store: Arc<S>) {
    ok(
        store
            .append_audit(&[
                event("auth.failed", Some("m2m_a"), T0),
                event("client.created", Some("m2m_a"), T0 + 10),
                event("auth.failed", Some("m2m_b"), T0 + 20),
                event("auth.failed", Some("m2m_a"), T0 + 30),
            ])
            .await,
        "append_audit",
    );
    let failed = AuditFilter {
        kind: Some("auth.failed".to_owned()),
        ..AuditFilter::default()
    };
    let page = ok(store.list_audit(&failed, None, 10).await, "list_audit");
    assert_eq!(
        kinds(&page.items),
        [
            ("auth.failed", T0 + 30),
            ("auth.failed", T0 + 20),
            ("auth.failed", T0)
        ],
        "list_audit must filter by kind"
    );
    let window = AuditFilter {
        since: Some(T0 + 10),
        until: Some(T0 + 30),
        ..AuditFilter::default()
    };
    let page = ok(store.list_audit(&window, None, 10).await, "list_audit");
    assert_eq!(
        kinds(&page.items),
        [("auth.failed", T0 + 20), ("client.created", T0 + 10)],
        "list_audit: since is inclusive, until exclusive"
    );
    let all = AuditFilter {
        client_id: Some(ClientId::new("m2m_a")),
        kind: Some("auth.failed".to_owned()),
        since: Some(T0),
        until: Some(T0 + 31),
    };
    let first = ok(store.list_audit(&all, None, 1).await, "list_audit");
    assert_eq!(kinds(&first.items), [("auth.failed", T0 + 30)]);
    let rest = ok(store.list_audit(&all, first.next, 1).await, "list_audit");
    assert_eq!(
        kinds(&rest.items),
        [("auth.failed", T0)],
        "list_audit must apply every filter and the cursor together"
    );
    assert!(rest.next.is_none(), "list_audit: the last page has no next");
}

fn minute(client: &str, at: u64, jti: &str, scope: &str, aud: &str) -> TokenMinute {
    TokenMinute::one(
        ClientId::new(client),
        at,
        jti.to_owned(),
        [scope.to_owned()],
        [aud.to_owned()],
    )
}

/// Token aggregates: one per (client, minute), listed with the events as
/// kind `tokens.issued`; recording the same minute again merges into it
/// (counts added, scopes and audiences united, first jti the earliest, last
/// jti the latest), also when many writers record it at once.
pub async fn audit_token_minutes<S: Store>(store: Arc<S>) {
    let m0 = TokenMinute::minute_of(T0);
    ok(
        store
            .record_token_minutes(&[
                minute("m2m_a", m0 + 10, "a-10", "read", "api"),
                minute("m2m_b", m0 + 11, "b-11", "read", "api"),
            ])
            .await,
        "record_token_minutes",
    );
    ok(
        store
            .append_audit(&[event("auth.failed", Some("m2m_a"), m0 + 12)])
            .await,
        "append_audit",
    );
    let mut later = minute("m2m_a", m0 + 50, "a-50", "write", "other");
    later.merge(&minute("m2m_a", m0 + 20, "a-20", "read", "api"));
    ok(
        store
            .record_token_minutes(&[later, minute("m2m_a", m0 + 5, "a-5", "read", "api")])
            .await,
        "record_token_minutes",
    );
    ok(
        store
            .record_token_minutes(&[minute("m2m_a", m0 + 70, "a-70", "read", "api")])
            .await,
        "record_token_minutes",
    );
    ok(
        store.record_token_minutes(&[]).await,
        "record_token_minutes of nothing must succeed",
    );

    let a = ok(
        store
            .list_audit(&for_client(&ClientId::new("m2m_a")), None, 10)
            .await,
        "list_audit",
    );
    assert_eq!(
        kinds(&a.items),
        [
            (TokenMinute::KIND, m0 + 60),
            ("auth.failed", m0 + 12),
            (TokenMinute::KIND, m0)
        ],
        "one aggregate per client and minute, at the minute, newest first by sequence"
    );
    let merged = TokenMinute::from_record(&a.items[2]).expect("an aggregate reads back");
    assert_eq!(
        merged,
        TokenMinute {
            client_id: ClientId::new("m2m_a"),
            minute: m0,
            count: 4,
            scopes: ["read".to_owned(), "write".to_owned()].into(),
            audiences: ["api".to_owned(), "other".to_owned()].into(),
            first_jti: "a-5".to_owned(),
            first_at: m0 + 5,
            last_jti: "a-50".to_owned(),
            last_at: m0 + 50,
        },
        "record_token_minutes must merge into the stored minute"
    );
    assert_eq!(a.items[2].actor, None, "an aggregate has no actor");
    let only = AuditFilter {
        kind: Some(TokenMinute::KIND.to_owned()),
        ..AuditFilter::default()
    };
    let page = ok(store.list_audit(&only, None, 10).await, "list_audit");
    assert_eq!(page.items.len(), 3, "two clients' minutes and a later one");

    // Many writers (replicas) recording the same minute at once.
    let m1 = m0 + 600;
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_token_minutes(&[minute(
                        "m2m_race",
                        m1 + i,
                        &format!("r-{i}"),
                        &format!("s{}", i % 3),
                        "api",
                    )])
                    .await
            })
        })
        .collect();
    for task in tasks {
        ok(
            crate::check::joined(task.await, "record_token_minutes"),
            "concurrent record_token_minutes",
        );
    }
    let race = ok(
        store
            .list_audit(&for_client(&ClientId::new("m2m_race")), None, 10)
            .await,
        "list_audit",
    );
    assert_eq!(
        race.items.len(),
        1,
        "concurrent writers of one minute make one aggregate"
    );
    let merged = TokenMinute::from_record(&race.items[0]).expect("an aggregate");
    assert_eq!(merged.count, 16, "concurrent writers' counts all add up");
    assert_eq!(merged.scopes.len(), 3);
    assert_eq!((merged.first_jti.as_str(), merged.first_at), ("r-0", m1));
    assert_eq!(
        (merged.last_jti.as_str(), merged.last_at),
        ("r-15", m1 + 15)
    );
}

/// `purge_audit` deletes events and aggregates with `at` before the cutoff,
/// oldest first, at most `limit` a call; newer ones stay.
pub async fn audit_purge<S: Store>(store: Arc<S>) {
    let old: Vec<AuditRecord> = (0..5)
        .map(|i| event("auth.failed", Some("m2m_a"), T0 + i))
        .collect();
    ok(store.append_audit(&old).await, "append_audit");
    let m_old = TokenMinute::minute_of(T0);
    let m_new = m_old + 3600;
    ok(
        store
            .record_token_minutes(&[
                minute("m2m_a", m_old, "old", "read", "api"),
                minute("m2m_a", m_new, "new", "read", "api"),
            ])
            .await,
        "record_token_minutes",
    );
    ok(
        store
            .append_audit(&[event("client.created", Some("m2m_a"), m_new + 1)])
            .await,
        "append_audit",
    );
    let cutoff = m_new;
    let first = ok(store.purge_audit(cutoff, 4).await, "purge_audit");
    assert_eq!(
        first, 4,
        "purge_audit must delete at most limit, and that many when due"
    );
    let mut total = first;
    loop {
        let n = ok(store.purge_audit(cutoff, 4).await, "purge_audit");
        total += n;
        if n < 4 {
            break;
        }
    }
    assert_eq!(
        total, 6,
        "purge_audit must delete every event and aggregate before the cutoff"
    );
    let left = ok(
        store.list_audit(&AuditFilter::default(), None, 10).await,
        "list_audit",
    );
    assert_eq!(
        kinds(&left.items),
        [("client.created", m_new + 1), (TokenMinute::KIND, m_new)],
        "purge_audit must keep what is not older than the cutoff"
    );
    assert_eq!(
        ok(store.purge_audit(cutoff, 4).await, "purge_audit"),
        0,
        "nothing left to purge"
    );
    // A purged minute recorded again starts afresh.
    ok(
        store
            .record_token_minutes(&[minute("m2m_a", m_old + 1, "again", "read", "api")])
            .await,
        "record_token_minutes",
    );
    let again = ok(
        store.list_audit(&AuditFilter::default(), None, 1).await,
        "list_audit",
    );
    let again = TokenMinute::from_record(&again.items[0]).expect("an aggregate");
    assert_eq!((again.count, again.first_jti.as_str()), (1, "again"));
}
