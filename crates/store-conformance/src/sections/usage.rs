//! Usage counters (token quotas, the failure throttle): additions per
//! (subject, window length, window start), atomic under concurrency, and the
//! purge of ended windows.

use std::sync::Arc;

use m2m_core::{ClientKind, OrgId};
use m2m_issuer::store::{QuotaMode, QuotaOverride, Store};

use crate::check::{joined, ok};
use crate::fixtures::{T0, client};

/// An organization's quota override: absent, set, replaced, deleted once;
/// other organizations apart.
pub async fn org_quota_round_trip<S: Store>(store: Arc<S>) {
    let org = OrgId::new("org_quota");
    let other = OrgId::new("org_quota_other");
    assert_eq!(ok(store.get_org_quota(&org).await, "get_org_quota"), None);
    let first = QuotaOverride {
        per_hour: Some(100),
        mode: Some(QuotaMode::LogOnly),
        ..QuotaOverride::default()
    };
    ok(store.put_org_quota(&org, &first, T0).await, "put_org_quota");
    assert_eq!(
        ok(store.get_org_quota(&org).await, "get_org_quota"),
        Some(first),
        "get_org_quota must return what was put"
    );
    assert_eq!(ok(store.get_org_quota(&other).await, "get_org_quota"), None);
    let second = QuotaOverride {
        per_minute: Some(3),
        ..QuotaOverride::default()
    };
    ok(
        store.put_org_quota(&org, &second, T0 + 1).await,
        "put_org_quota",
    );
    assert_eq!(
        ok(store.get_org_quota(&org).await, "get_org_quota"),
        Some(second),
        "put_org_quota must replace"
    );
    assert!(ok(store.delete_org_quota(&org).await, "delete_org_quota"));
    assert!(!ok(store.delete_org_quota(&org).await, "delete_org_quota"));
    assert_eq!(ok(store.get_org_quota(&org).await, "get_org_quota"), None);
}

/// A client's `quota` override survives create, update (set, changed,
/// removed) and get.
pub async fn client_quota_round_trip<S: Store>(store: Arc<S>) {
    let mut app = client("m2m_quota_app", ClientKind::Service, None);
    app.quota = Some(QuotaOverride {
        per_minute: Some(5),
        per_hour: None,
        per_day: Some(1_000_000_000),
        mode: Some(QuotaMode::LogOnly),
    });
    ok(store.create_client(&app, None).await, "create_client");
    assert_eq!(
        ok(store.get_client(&app.client_id).await, "get_client"),
        Some(app.clone()),
        "get_client must return quota as created"
    );
    let mut changed = app.clone();
    changed.quota = Some(QuotaOverride {
        per_hour: Some(7),
        ..QuotaOverride::default()
    });
    assert!(ok(
        store.update_client(&changed, None).await,
        "update_client"
    ));
    assert_eq!(
        ok(store.get_client(&app.client_id).await, "get_client"),
        Some(changed.clone()),
        "update_client must replace quota"
    );
    changed.quota = None;
    assert!(ok(
        store.update_client(&changed, None).await,
        "update_client"
    ));
    assert_eq!(
        ok(store.get_client(&app.client_id).await, "get_client"),
        Some(changed),
        "update_client must clear quota"
    );
}

/// Each addition returns the count including itself; counters of another
/// subject, window length or window start are apart; purge drops exactly the
/// windows that ended before its time.
pub async fn usage_counters<S: Store>(store: Arc<S>) {
    let add = |subject: &'static str, secs: u64, start: u64, amount: u64| {
        let store = Arc::clone(&store);
        async move {
            ok(
                store.add_usage(subject, secs, start, amount).await,
                "add_usage",
            )
        }
    };
    assert_eq!(
        add("quota:client:a", 60, T0, 10).await,
        10,
        "add_usage of a new counter"
    );
    assert_eq!(
        add("quota:client:a", 60, T0, 10).await,
        20,
        "add_usage adds"
    );
    assert_eq!(add("quota:client:b", 60, T0, 1).await, 1, "another subject");
    assert_eq!(
        add("quota:client:a", 3600, T0, 1).await,
        1,
        "another window length"
    );
    assert_eq!(
        add("quota:client:a", 60, T0 + 60, 1).await,
        1,
        "another window"
    );
    // T0 + 60 has ended by T0 + 121; T0 + 3600 of 3600 s has not.
    let purged = ok(store.purge_usage(T0 + 121).await, "purge_usage");
    assert_eq!(purged, 3, "purge_usage drops the ended 60 s windows only");
    assert_eq!(
        add("quota:client:a", 3600, T0, 1).await,
        2,
        "a live window is kept"
    );
    assert_eq!(
        add("quota:client:a", 60, T0, 1).await,
        1,
        "a purged window starts again"
    );
}

/// Concurrent additions to one counter, as replicas make them: every
/// addition is counted and the returned counts are all different.
pub async fn usage_counters_under_concurrency<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                ok(
                    store.add_usage("quota:org:o", 60, T0, 10).await,
                    "add_usage",
                )
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(joined(task.await, "add_usage"));
    }
    seen.sort_unstable();
    let expected: Vec<u64> = (1..=32).map(|n| n * 10).collect();
    assert_eq!(
        seen, expected,
        "add_usage under concurrency: each caller sees the sum up to its own addition"
    );
}
