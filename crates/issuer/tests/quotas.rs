//! Token quotas: reached exactly on one node, with `Retry-After` and the
//! `RateLimit` / `RateLimit-Policy` headers; windows rolling over on the
//! fake clock; log-only issuing and recording once per window; failed
//! requests consuming nothing; counters kept across a restart on a SQLite
//! file; and two replicas on one PostgreSQL holding an org quota within the
//! documented bound. Every test runs over a real TCP listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use m2m_issuer::store::{AuditFilter, Store};
use m2m_issuer::{IssuerBuilder, QuotaConfig, QuotaLimits, QuotaMode, ThrottleConfig};
use serde_json::{Value, json};

use crate::common::{T0, TestServer};

fn per_minute(n: u64) -> QuotaConfig {
    QuotaConfig {
        client: QuotaLimits {
            per_minute: Some(n),
            ..QuotaLimits::default()
        },
        ..QuotaConfig::default()
    }
}

fn with(config: QuotaConfig) -> impl FnOnce(IssuerBuilder) -> IssuerBuilder + Copy {
    move |b: IssuerBuilder| {
        b.quotas(config).throttle(ThrottleConfig {
            max_failures_per_client: 1000,
            max_failures_per_address: 1000,
            ..ThrottleConfig::default()
        })
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_owned())
}

async fn quota_events(server: &TestServer, client_id: &str) -> Vec<Value> {
    server.issuer.flush_audit().await;
    let filter = AuditFilter {
        kind: Some("token.quota_exceeded".into()),
        ..AuditFilter::default()
    };
    server
        .store
        .list_audit(&filter, None, 1000)
        .await
        .expect("audit")
        .items
        .into_iter()
        .filter(|e| e.client_id.as_ref().map(|c| c.as_str()) == Some(client_id))
        .map(|e| e.detail)
        .collect()
}

/// A client of its own org, created through the admin API.
async fn client_of(server: &mut TestServer, org: &str) -> (String, String) {
    let (id, secret, _) = server
        .create_client(json!({"name": "worker", "kind": "org", "org_id": org, "scopes": ["a"]}))
        .await;
    (id, secret)
}

#[tokio::test]
async fn a_quota_is_reached_exactly_with_retry_after_and_ratelimit_headers() {
    // Start at a minute boundary so the window is the whole test.
    let mut server = TestServer::start_with(with(per_minute(5))).await;
    server.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut server, "org_exact").await;
    for i in 0..5u64 {
        let response = server.token_basic(&id, &secret, &[]).await;
        assert_eq!(response.status(), 200, "token {i}");
        assert_eq!(
            header(&response, "ratelimit-policy").as_deref(),
            Some("\"client-minute\";q=5;w=60")
        );
        assert_eq!(
            header(&response, "ratelimit").as_deref(),
            Some(format!("\"client-minute\";r={};t=60", 4 - i).as_str())
        );
    }
    server.advance(18);
    let refused = server.token_basic(&id, &secret, &[]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after").as_deref(), Some("42"));
    assert_eq!(
        header(&refused, "ratelimit").as_deref(),
        Some("\"client-minute\";r=0;t=42")
    );
    assert!(header(&refused, "ratelimit-policy").is_some());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "slow_down");
    // Refused again, but recorded once for the window.
    let again = server.token_basic(&id, &secret, &[]).await;
    assert_eq!(again.status(), 429);
    let events = quota_events(&server, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["window"], "minute");
    assert_eq!(events[0]["mode"], "enforce");
    assert_eq!(server.issuer.quota_windows_exceeded(), 1);

    // Another client has its own quota.
    let (other, other_secret) = client_of(&mut server, "org_other").await;
    server.token(&other, &other_secret, &[]).await;

    // The window rolls over on the clock.
    server.advance(42);
    for _ in 0..5 {
        server.token(&id, &secret, &[]).await;
    }
    assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 429);
    assert_eq!(quota_events(&server, &id).await.len(), 2);
}

#[tokio::test]
async fn failed_requests_consume_no_quota() {
    let mut server = TestServer::start_with(with(per_minute(3))).await;
    server.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut server, "org_fail").await;
    for _ in 0..10 {
        // A wrong secret, a scope it may not have, an unknown grant.
        assert_eq!(server.token_basic(&id, "wrong", &[]).await.status(), 401);
        assert_eq!(
            server
                .token_basic(&id, &secret, &[("scope", "admin")])
                .await
                .status(),
            400
        );
        let response = server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400);
    }
    for _ in 0..3 {
        server.token(&id, &secret, &[]).await;
    }
    assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 429);
}

#[tokio::test]
async fn log_only_issues_past_the_quota_and_records_once_per_window() {
    let config = QuotaConfig {
        mode: QuotaMode::LogOnly,
        ..per_minute(2)
    };
    let mut server = TestServer::start_with(with(config)).await;
    server.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut server, "org_log").await;
    for _ in 0..6 {
        let response = server.token_basic(&id, &secret, &[]).await;
        assert_eq!(response.status(), 200);
        assert!(header(&response, "ratelimit").is_some());
    }
    let events = quota_events(&server, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["mode"], "log_only");
    server.advance(60);
    for _ in 0..3 {
        server.token(&id, &secret, &[]).await;
    }
    assert_eq!(quota_events(&server, &id).await.len(), 2);
}

#[tokio::test]
async fn hostile_quota_configuration_is_refused() {
    for config in [
        per_minute(0),
        per_minute(m2m_issuer::MAX_QUOTA + 1),
        QuotaConfig {
            lease: 0,
            ..per_minute(5)
        },
        QuotaConfig {
            lease: m2m_issuer::MAX_QUOTA_LEASE + 1,
            ..per_minute(5)
        },
    ] {
        let store: Arc<dyn Store> = Arc::new(m2m_issuer::store::MemoryStore::new());
        let built = TestServer::start_on(store, with(config)).await;
        assert!(built.is_err(), "{config:?} must be refused");
    }
}

#[tokio::test]
async fn a_restart_on_sqlite_keeps_the_counters() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("m2m.db");
    let store: Arc<dyn Store> = Arc::new(
        m2m_store_sql::SqliteStore::open(&path)
            .await
            .expect("sqlite"),
    );
    let config = QuotaConfig {
        lease: 2,
        ..per_minute(5)
    };
    let mut first = TestServer::start_on(Arc::clone(&store), with(config))
        .await
        .expect("issuer");
    first.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut first, "org_restart").await;
    for _ in 0..3 {
        first.token(&id, &secret, &[]).await;
    }
    drop(first.issuer);
    drop(store);
    // A new process over the same file: the count is where it was (the
    // unspent token of the first lease is lost for this window).
    let reopened: Arc<dyn Store> = Arc::new(
        m2m_store_sql::SqliteStore::open(&path)
            .await
            .expect("sqlite"),
    );
    let second = TestServer::start_on(reopened, with(config))
        .await
        .expect("issuer");
    second.advance(60 - T0 % 60);
    second.token(&id, &secret, &[]).await;
    assert_eq!(second.token_basic(&id, &secret, &[]).await.status(), 429);
}

/// Two replicas over one PostgreSQL database, one org of two clients, 100
/// tokens an hour with leases of 10: requests spread over both replicas get
/// at most 100 tokens, and at least 100 - 2 × 10. Skipped when
/// `M2M_TEST_POSTGRES_URL` is unset.
#[tokio::test]
async fn two_replicas_on_postgres_hold_the_org_quota_within_the_bound() {
    let Some(url) = std::env::var("M2M_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let schema = format!(
        "m2m_conformance_{now}_quota{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let store = m2m_store_sql::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}"));
    let config = QuotaConfig {
        org: QuotaLimits {
            per_hour: Some(100),
            ..QuotaLimits::default()
        },
        lease: 10,
        ..QuotaConfig::default()
    };
    let mut first = TestServer::start_on(Arc::new(store), with(config))
        .await
        .expect("issuer");
    first.advance(3600 - T0 % 3600);
    let (a, a_secret) = client_of(&mut first, "org_shared").await;
    let (b, b_secret) = client_of(&mut first, "org_shared").await;
    let second = first.replica(with(config)).await;

    let mut issued = 0;
    let mut refused_in_a_row = 0;
    for i in 0..400 {
        let server = if i % 2 == 0 { &first } else { &second };
        let (id, secret) = if i % 3 == 0 {
            (&a, &a_secret)
        } else {
            (&b, &b_secret)
        };
        let response = server.token_basic(id, secret, &[]).await;
        match response.status().as_u16() {
            200 => {
                issued += 1;
                refused_in_a_row = 0;
            }
            429 => {
                assert!(header(&response, "retry-after").is_some());
                refused_in_a_row += 1;
                if refused_in_a_row > 8 {
                    break;
                }
            }
            status => panic!("unexpected {status}"),
        }
    }
    assert!(
        (80..=100).contains(&issued),
        "issued {issued}, bound [100 - 2 x 10, 100]"
    );
    // Recorded once for the org's window, whichever replica saw it first.
    first.issuer.flush_audit().await;
    second.issuer.flush_audit().await;
    let filter = AuditFilter {
        kind: Some("token.quota_exceeded".into()),
        ..AuditFilter::default()
    };
    let events = first
        .store
        .list_audit(&filter, None, 100)
        .await
        .expect("audit")
        .items;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].detail["oid"], "org_shared");
    // The next hour is a new window on both replicas.
    first.advance(3600);
    second.token(&a, &a_secret, &[]).await;
    first.token(&b, &b_secret, &[]).await;
}

async fn postgres_store(tag: &str) -> Option<Arc<dyn Store>> {
    let url = std::env::var("M2M_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let schema = format!(
        "m2m_conformance_{now}_{tag}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let store = m2m_store_sql::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("M2M_TEST_POSTGRES_URL is set, but: {e}"));
    Some(Arc::new(store))
}

/// Failures spread over two replicas count once: 10 per client id in all,
/// not 10 per replica; the right secret is still never throttled.
async fn throttle_across_replicas(store: Arc<dyn Store>) {
    let limits = |b: IssuerBuilder| {
        b.throttle(ThrottleConfig {
            max_failures_per_client: 10,
            max_failures_per_address: 1000,
            ..ThrottleConfig::default()
        })
    };
    let mut first = TestServer::start_on(store, limits).await.expect("issuer");
    // Well inside one shared window.
    first.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut first, "org_throttle").await;
    let second = first.replica(limits).await;
    let mut refused = 0;
    for i in 0..20 {
        let server = if i % 2 == 0 { &first } else { &second };
        match server
            .token_basic(&id, "m2ms_guess", &[])
            .await
            .status()
            .as_u16()
        {
            401 => {}
            429 => refused += 1,
            status => panic!("unexpected {status}"),
        }
    }
    assert_eq!(
        refused, 10,
        "10 failures in all are answered 401, the rest 429"
    );
    for server in [&first, &second] {
        let response = server.token_basic(&id, "m2ms_guess", &[]).await;
        assert_eq!(response.status(), 429);
        assert!(header(&response, "retry-after").is_some());
        assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 200);
    }
    // The next window starts afresh on both.
    first.advance(61);
    assert_eq!(
        first.token_basic(&id, "m2ms_guess", &[]).await.status(),
        401
    );
    assert_eq!(
        second.token_basic(&id, "m2ms_guess", &[]).await.status(),
        401
    );
}

#[tokio::test]
async fn the_failure_throttle_holds_across_two_replicas_on_one_store() {
    throttle_across_replicas(Arc::new(m2m_issuer::store::MemoryStore::new())).await;
}

#[tokio::test]
async fn the_failure_throttle_holds_across_two_replicas_on_postgres() {
    let Some(store) = postgres_store("throttle").await else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    throttle_across_replicas(store).await;
}

/// Concurrent requests race for the last tokens: exactly the quota is
/// issued, the rest refused, none fails otherwise.
#[tokio::test]
async fn concurrent_requests_get_exactly_the_quota() {
    let config = QuotaConfig {
        lease: 3,
        ..per_minute(20)
    };
    let mut server = TestServer::start_with(with(config)).await;
    server.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut server, "org_race").await;
    let server = Arc::new(server);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (server, id, secret) = (Arc::clone(&server), id.clone(), secret.clone());
            tokio::spawn(async move { server.token_basic(&id, &secret, &[]).await.status() })
        })
        .collect();
    let mut counts = [0; 2];
    for task in tasks {
        match task.await.expect("task").as_u16() {
            200 => counts[0] += 1,
            429 => counts[1] += 1,
            status => panic!("unexpected {status}"),
        }
    }
    assert_eq!(counts, [20, 30]);
}

/// Tokens `id` gets in a row before the first 429.
async fn issued_until_refused(server: &TestServer, id: &str, secret: &str, cap: u64) -> u64 {
    for n in 0..cap {
        let response = server.token_basic(id, secret, &[]).await;
        match response.status().as_u16() {
            200 => {}
            429 => return n,
            other => panic!("token {n}: status {other}"),
        }
    }
    cap
}

#[tokio::test]
async fn a_client_override_below_the_default_is_reached_exactly_and_removing_it_falls_back() {
    let mut server = TestServer::start_with(with(per_minute(10))).await;
    server.advance(60 - T0 % 60);
    let (id, secret, created) = server
        .create_client(json!({
            "name": "tight", "kind": "org", "org_id": "org_tight", "scopes": ["a"],
            "quota": {"per_minute": 3}
        }))
        .await;
    assert_eq!(created["quota"], json!({"per_minute": 3}));
    let first = server.token_basic(&id, &secret, &[]).await;
    assert_eq!(
        header(&first, "ratelimit-policy").as_deref(),
        Some("\"client-minute\";q=3;w=60")
    );
    assert_eq!(issued_until_refused(&server, &id, &secret, 20).await, 2);

    // Removed: the default (10 a minute) counts from the next window.
    let (status, body) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"quota": null})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("quota").is_none(), "{body}");
    server.advance(60);
    assert_eq!(issued_until_refused(&server, &id, &secret, 20).await, 10);
}

#[tokio::test]
async fn a_client_override_above_the_default_lets_more_through_and_keeps_other_windows() {
    let config = QuotaConfig {
        client: QuotaLimits {
            per_minute: Some(2),
            per_hour: Some(6),
            ..QuotaLimits::default()
        },
        ..QuotaConfig::default()
    };
    let mut server = TestServer::start_with(with(config)).await;
    server.advance(3_600 - T0 % 3_600);
    let (id, secret) = client_of(&mut server, "org_wide").await;
    let (status, body) = server
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"quota": {"per_minute": 5}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quota"], json!({"per_minute": 5}));
    assert_eq!(issued_until_refused(&server, &id, &secret, 20).await, 5);
    // The hour the override leaves out keeps the default: 6 in all.
    server.advance(60);
    assert_eq!(issued_until_refused(&server, &id, &secret, 20).await, 1);
    // Another client still has the default.
    let (other, other_secret) = client_of(&mut server, "org_wide").await;
    assert_eq!(
        issued_until_refused(&server, &other, &other_secret, 20).await,
        2
    );
}

#[tokio::test]
async fn a_log_only_override_on_an_enforce_default_issues_and_records() {
    let mut server = TestServer::start_with(with(per_minute(2))).await;
    server.advance(60 - T0 % 60);
    let (id, secret, _) = server
        .create_client(json!({
            "name": "observed", "kind": "org", "org_id": "org_observed", "scopes": ["a"],
            "quota": {"mode": "log_only"}
        }))
        .await;
    for _ in 0..5 {
        server.token(&id, &secret, &[]).await;
    }
    let events = quota_events(&server, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["mode"], "log_only");
    assert_eq!(events[0]["limit"], 2);
    // The default stays enforced for everyone else.
    let (other, other_secret) = client_of(&mut server, "org_observed").await;
    assert_eq!(
        issued_until_refused(&server, &other, &other_secret, 20).await,
        2
    );
}

#[tokio::test]
async fn hostile_quota_overrides_are_refused_and_change_nothing() {
    // No default: the admin's own token requests must not run out.
    let mut server = TestServer::start_with(with(QuotaConfig::default())).await;
    let (id, _, _) = server
        .create_client(json!({
            "name": "target", "kind": "org", "org_id": "org_target", "scopes": ["a"],
            "quota": {"per_hour": 50, "mode": "enforce"}
        }))
        .await;
    let path = format!("/admin/clients/{id}");
    let hostile = [
        json!({"per_minute": -1}),
        json!({"per_minute": 0}),
        json!({"per_hour": 1_000_000_001u64}),
        json!({"per_day": u64::MAX}),
        json!({"per_day": 1e30}),
        json!({"per_minute": 1.5}),
        json!({"per_minute": "10"}),
        json!({"per_minute": 5, "per_week": 5}),
        json!({"mode": "block"}),
        json!({"mode": "Enforce"}),
        json!({"mode": null, "lease": 1}),
        json!("10/minute"),
        json!([10]),
        json!(10),
    ];
    for body in hostile {
        let (status, error) = server
            .admin(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"quota": body, "name": "renamed"})),
            )
            .await;
        assert_eq!(status, 422, "{body}: {error}");
        assert!(error["error"].is_string(), "{body}: {error}");
        let (status, created) = server
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({"name": "new", "kind": "org", "org_id": "org_target", "scopes": ["a"], "quota": body})),
            )
            .await;
        assert_eq!(status, 422, "create with {body}: {created}");
    }
    let (status, client) = server.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(client["quota"], json!({"per_hour": 50, "mode": "enforce"}));
    assert_eq!(client["name"], "target");
    // The largest quota the server accepts is accepted.
    let (status, body) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"quota": {"per_day": 1_000_000_000u64}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quota"], json!({"per_day": 1_000_000_000u64}));
}

/// A client override set through one replica holds on another (one
/// PostgreSQL) once the other's client cache window (2 s here) has passed.
#[tokio::test]
async fn a_second_replica_on_postgres_applies_a_client_override_within_the_cache_window() {
    let Some(store) = postgres_store("override").await else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    let config = QuotaConfig {
        lease: 1,
        ..per_minute(2)
    };
    let mut first = TestServer::start_on(store, with(config))
        .await
        .expect("issuer");
    first.advance(60 - T0 % 60);
    let (id, secret) = client_of(&mut first, "org_replicated").await;
    let second = first.replica(with(config)).await;
    second.token(&id, &secret, &[]).await;
    let (status, body) = first
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"quota": {"per_minute": 5}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    // 5 in the minute across both replicas: 1 already issued.
    assert_eq!(issued_until_refused(&second, &id, &secret, 20).await, 4);
    assert_eq!(issued_until_refused(&first, &id, &secret, 20).await, 0);
}

#[tokio::test]
async fn an_org_override_is_reached_by_two_clients_of_the_org_together() {
    // No default: the override alone limits the org.
    let mut server = TestServer::start_with(with(QuotaConfig::default())).await;
    server.advance(60 - T0 % 60);
    let (a, a_secret) = client_of(&mut server, "org_team").await;
    let (b, b_secret) = client_of(&mut server, "org_team").await;
    let (outsider, outsider_secret) = client_of(&mut server, "org_elsewhere").await;
    let (status, body) = server
        .admin(
            reqwest::Method::PUT,
            "/admin/orgs/org_team/quota",
            Some(json!({"per_minute": 5})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"per_minute": 5}));
    let (status, shown) = server
        .admin(reqwest::Method::GET, "/admin/orgs/org_team/quota", None)
        .await;
    assert_eq!((status, shown), (200, json!({"per_minute": 5})));
    let mut issued = 0;
    for i in 0..20 {
        let (id, secret) = if i % 2 == 0 {
            (&a, &a_secret)
        } else {
            (&b, &b_secret)
        };
        let response = server.token_basic(id, secret, &[]).await;
        match response.status().as_u16() {
            200 => issued += 1,
            429 => {
                assert_eq!(
                    header(&response, "ratelimit-policy").as_deref(),
                    Some("\"org-minute\";q=5;w=60")
                );
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!(issued, 5);
    // Another organization is not limited.
    for _ in 0..10 {
        server.token(&outsider, &outsider_secret, &[]).await;
    }
    // Cleared: no limit again (this replica at once).
    let (status, _) = server
        .admin(reqwest::Method::DELETE, "/admin/orgs/org_team/quota", None)
        .await;
    assert_eq!(status, 204);
    server.token(&a, &a_secret, &[]).await;
    let (status, error) = server
        .admin(reqwest::Method::GET, "/admin/orgs/org_team/quota", None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "not_found");
    // Set and cleared are audited.
    server.issuer.flush_audit().await;
    for kind in ["org.quota_set", "org.quota_cleared"] {
        let filter = AuditFilter {
            kind: Some(kind.into()),
            ..AuditFilter::default()
        };
        let events = server
            .store
            .list_audit(&filter, None, 10)
            .await
            .expect("audit")
            .items;
        assert_eq!(events.len(), 1, "{kind}: {events:?}");
        assert_eq!(events[0].detail["oid"], "org_team");
    }
}

#[tokio::test]
async fn org_quota_admin_refuses_hostile_bodies_unknown_orgs_and_bad_ids() {
    let mut server = TestServer::start_with(with(QuotaConfig::default())).await;
    let path = "/admin/orgs/org_h/quota";
    let (status, _) = server.admin(reqwest::Method::GET, path, None).await;
    assert_eq!(status, 404);
    let (status, error) = server.admin(reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "not_found");
    let (status, _) = server
        .admin(
            reqwest::Method::PUT,
            path,
            Some(json!({"per_day": 70, "mode": "log_only"})),
        )
        .await;
    assert_eq!(status, 200);
    for body in [
        json!({"per_minute": -1}),
        json!({"per_minute": 0}),
        json!({"per_hour": 1_000_000_001u64}),
        json!({"per_day": 1e30}),
        json!({"per_minute": "10"}),
        json!({"per_week": 5}),
        json!({"mode": "block"}),
        json!([10]),
        json!(null),
        json!("x"),
    ] {
        let (status, error) = server
            .admin(reqwest::Method::PUT, path, Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {error}");
    }
    let (status, shown) = server.admin(reqwest::Method::GET, path, None).await;
    assert_eq!(
        (status, shown),
        (200, json!({"per_day": 70, "mode": "log_only"}))
    );
    // A path id that cannot be an org id is refused before the store.
    let (status, _) = server
        .admin(reqwest::Method::GET, "/admin/orgs/a%20b/quota", None)
        .await;
    assert_eq!(status, 400);
    // Admin scope required.
    let (id, secret) = client_of(&mut server, "org_h").await;
    let token = server.token(&id, &secret, &[]).await;
    let response = server
        .http
        .put(server.url(path))
        .bearer_auth(token)
        .json(&json!({"per_day": 1}))
        .send()
        .await
        .expect("request");
    assert!(
        [401, 403].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
}

/// An org override set through one replica holds on a second one (one
/// PostgreSQL) once the second's refresh window has passed on the clock.
#[tokio::test]
async fn a_second_replica_on_postgres_sees_an_org_override_within_the_refresh_window() {
    let Some(store) = postgres_store("orgoverride").await else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return;
    };
    let config = QuotaConfig {
        lease: 1,
        ..QuotaConfig::default()
    };
    let mut first = TestServer::start_on(store, with(config))
        .await
        .expect("issuer");
    first.advance(3_600 - T0 % 3_600);
    let (id, secret) = client_of(&mut first, "org_spread").await;
    let second = first.replica(with(config)).await;
    // The second replica has read "no override" for the org.
    second.token(&id, &secret, &[]).await;
    let (status, _) = first
        .admin(
            reqwest::Method::PUT,
            "/admin/orgs/org_spread/quota",
            Some(json!({"per_hour": 3})),
        )
        .await;
    assert_eq!(status, 200);
    // The client cache window of the test servers is 2 s: 3 s later the
    // second replica reads the override again.
    first.advance(3);
    // 3 an hour across both replicas; the first token before the override
    // was not counted against it (no org quota then).
    assert_eq!(issued_until_refused(&second, &id, &secret, 20).await, 3);
    assert_eq!(issued_until_refused(&first, &id, &secret, 20).await, 0);
}
