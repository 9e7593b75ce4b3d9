//! The audit log.

use std::sync::Arc;

use m2m_core::ClientId;
use m2m_issuer::store::{AuditRecord, Store};

use crate::check::ok;
use crate::fixtures::{T0, event};

fn kinds(events: &[AuditRecord]) -> Vec<(&str, u64)> {
    events.iter().map(|e| (e.kind.as_str(), e.at)).collect()
}

/// Audit events get increasing sequence numbers, come back newest first
/// with every field, page with `before`/`next`, and filter by client.
pub async fn audit<S: Store>(store: Arc<S>) {
    let empty = ok(store.list_audit(None, None, 10).await, "list_audit");
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

    let all = ok(store.list_audit(None, None, 10).await, "list_audit");
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

    let page1 = ok(store.list_audit(None, None, 3).await, "list_audit");
    assert_eq!(page1.items.len(), 3, "list_audit must honour limit");
    assert_eq!(
        page1.next,
        Some(page1.items[2].seq),
        "list_audit: next must be the last listed seq when more follow"
    );
    let page2 = ok(store.list_audit(None, page1.next, 3).await, "list_audit");
    assert_eq!(
        kinds(&page2.items),
        [("client.created", T0)],
        "list_audit must start before `before`"
    );
    assert!(
        page2.next.is_none(),
        "list_audit: the last page has no next"
    );
    let exact = ok(store.list_audit(None, None, 4).await, "list_audit");
    assert!(
        exact.items.len() == 4 && exact.next.is_none(),
        "list_audit: a page that ends exactly at the oldest event has no next"
    );

    let a = ClientId::new("m2m_a");
    let for_a = ok(store.list_audit(Some(&a), None, 10).await, "list_audit");
    assert_eq!(
        kinds(&for_a.items),
        [("token.issued", T0 + 3), ("client.created", T0)],
        "list_audit must filter by client_id"
    );
    let one = ok(store.list_audit(Some(&a), None, 1).await, "list_audit");
    assert_eq!(
        one.next,
        Some(for_a.items[0].seq),
        "list_audit: next within a client filter"
    );
    let rest = ok(store.list_audit(Some(&a), one.next, 1).await, "list_audit");
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
        store.list_audit(Some(&a), Some(all.items[0].seq), 10).await,
        "list_audit",
    );
    assert_eq!(
        kinds(&between.items),
        [("client.created", T0)],
        "list_audit must apply client_id and before together"
    );
}
