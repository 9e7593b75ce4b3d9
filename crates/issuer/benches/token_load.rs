//! Load benchmark of the token endpoint: client credentials with Basic auth,
//! 64 concurrent keep-alive connections, the load generator in the same
//! process on the same machine. Three runs in one process, so their ratios
//! hold on a noisy machine: ES256 on MemoryStore, ES256 on a SQLite file
//! (m2m-store-sql, as `m2m serve` uses by default), EdDSA on MemoryStore.
//!
//! ```sh
//! cargo bench -p m2m-issuer --bench token_load
//! M2M_BENCH_SECS=10 M2M_BENCH_CONCURRENCY=64 cargo bench -p m2m-issuer --bench token_load
//! ```
//!
//! For each algorithm it prints tokens/s, latency percentiles, and the bare
//! signing rate of a key of the same algorithm on one thread, for reference.
//!
//! With `M2M_BENCH_AUDIT=1` it instead measures what the token audit costs:
//! ES256 on a fresh SQLite file for each mode (`off`, `aggregate`,
//! `per_token`), one after another in one process, printing tokens/s, the
//! ratio to `off`, and the database growth (file plus WAL after the store is
//! closed, minus a file that saw no load) per token and per million tokens.
//!
//! ```sh
//! M2M_BENCH_AUDIT=1 M2M_BENCH_SECS=10 cargo bench -p m2m-issuer --bench token_load
//! ```
//!
//! With `M2M_BENCH_QUOTAS=1` it measures what token quotas cost: ES256 with
//! quotas off and on (per client and per org, every window, limits far above
//! the load, the default lease of 10), on a SQLite file and, when
//! `M2M_TEST_POSTGRES_URL` is set, on PostgreSQL; off and on alternate for
//! `M2M_BENCH_ROUNDS` rounds (default 3) on each backend, so a busy machine
//! weighs on both alike, and it prints each round and the ratio of the sums.
//!
//! ```sh
//! M2M_BENCH_QUOTAS=1 M2M_TEST_POSTGRES_URL=postgres://... cargo bench -p m2m-issuer --bench token_load
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use m2m_core::{AccessTokenClaims, Algorithm, Audience, SigningKey};
use std::sync::Arc;

use m2m_issuer::store::{MemoryStore, Store};
use m2m_issuer::{Issuer, QuotaConfig, QuotaLimits, TokenAudit};
use m2m_store_sql::SqliteStore;

/// Where the issuer keeps its records during a run.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Sqlite,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Signs as many tokens as it can for `secs` on one thread.
fn bare_signing_rate(alg: Algorithm, secs: f64) -> f64 {
    let key = SigningKey::generate(alg).expect("key");
    let now = m2m_core::now_unix();
    let mut claims = AccessTokenClaims {
        iss: "http://127.0.0.1:1/auth".into(),
        sub: "m2m_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        client_id: "m2m_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        aud: Audience::from("http://127.0.0.1:1/auth"),
        exp: now + 3600,
        nbf: Some(now),
        iat: now,
        jti: String::new(),
        scope: "invoices:read invoices:write".parse().expect("scope"),
        oid: Some("org_1".into()),
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    };
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        claims.jti = m2m_core::random_id("").expect("random");
        std::hint::black_box(m2m_core::sign(&key, &claims).expect("sign"));
        count += 1;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

struct Outcome {
    /// Tokens issued, warm-up included (they grow the database too).
    issued: u64,
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

async fn worker(
    addr: SocketAddr,
    authorization: String,
    warmup_until: Instant,
    until: Instant,
) -> Outcome {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut outcome = Outcome {
        issued: 0,
        ok: 0,
        errors: 0,
        latencies_us: Vec::with_capacity(100_000),
    };
    let body = Bytes::from_static(b"grant_type=client_credentials");
    loop {
        let now = Instant::now();
        if now >= until {
            return outcome;
        }
        let request = http::Request::post("/auth/oauth/token")
            .header("host", "127.0.0.1")
            .header("authorization", authorization.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(body.clone()))
            .expect("request");
        sender.ready().await.expect("connection ready");
        let response = sender.send_request(request).await.expect("send");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let elapsed = now.elapsed();
        let issued = status == 200 && bytes.starts_with(b"{\"access_token\"");
        outcome.issued += u64::from(issued);
        if now < warmup_until {
            continue;
        }
        if issued {
            outcome.ok += 1;
            outcome
                .latencies_us
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        } else {
            outcome.errors += 1;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// An issuer serving on 127.0.0.1, and the Basic header of its bootstrap admin.
struct Running {
    addr: SocketAddr,
    issuer: Issuer,
    authorization: String,
    server: tokio::task::JoinHandle<()>,
}

/// Starts an issuer on `store` signing with `alg`, with the token audit in
/// `audit` (`None`: the builder's default), and bootstraps its admin client.
async fn start(alg: Algorithm, store: Arc<dyn Store>, audit: Option<TokenAudit>) -> Running {
    start_with(alg, store, audit, QuotaConfig::default()).await
}

/// [`start`] with token quotas.
async fn start_with(
    alg: Algorithm,
    store: Arc<dyn Store>,
    audit: Option<TokenAudit>,
    quotas: QuotaConfig,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut builder =
        Issuer::builder_with_shared_store(format!("http://{addr}/auth"), store).algorithm(alg);
    if let Some(mode) = audit {
        builder = builder.token_audit(mode);
    }
    builder = builder.quotas(quotas);
    let issuer = builder.build().await.expect("issuer");
    let (client_id, secret) = issuer
        .bootstrap_admin()
        .await
        .expect("bootstrap")
        .expect("empty store");
    let app = Router::new().nest("/auth", issuer.router());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", secret.expose()))
    );
    Running {
        addr,
        issuer,
        authorization,
        server,
    }
}

/// `concurrency` workers against `running` for a second of warm-up and then
/// `secs`; their outcomes summed, and the measured time in seconds.
async fn load(running: &Running, secs: u64, concurrency: u64) -> (Outcome, f64) {
    let warmup_until = Instant::now() + Duration::from_secs(1);
    let until = warmup_until + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                running.addr,
                running.authorization.clone(),
                warmup_until,
                until,
            ))
        })
        .collect();
    let mut total = Outcome {
        issued: 0,
        ok: 0,
        errors: 0,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let outcome = task.await.expect("worker");
        total.issued += outcome.issued;
        total.ok += outcome.ok;
        total.errors += outcome.errors;
        total.latencies_us.extend(outcome.latencies_us);
    }
    let measured = (Instant::now() - warmup_until).as_secs_f64().max(1e-9);
    (total, measured)
}

async fn run(alg: Algorithm, backend: Backend, secs: u64, concurrency: u64) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Sqlite => Arc::new(
            SqliteStore::open(dir.path().join("m2m.db"))
                .await
                .expect("sqlite"),
        ),
    };
    let running = start(alg, store, None).await;
    let (outcome, measured) = load(&running, secs, concurrency).await;
    running.server.abort();
    let mut latencies = outcome.latencies_us;
    latencies.sort_unstable();
    let bare = tokio::task::spawn_blocking(move || bare_signing_rate(alg, 2.0))
        .await
        .expect("bare signing");
    let rate = outcome.ok as f64 / measured;
    println!(
        "{alg:<6} {:<7} concurrency {concurrency}, {secs} s: {:>8.0} tokens/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors; bare signing (1 thread): {:>8.0} signs/s; audit events dropped: {}",
        format!("{backend:?}"),
        rate,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        outcome.errors,
        bare,
        running.issuer.dropped_audit_events(),
    );
    rate
}

/// Bytes on disk of a SQLite database: the file and its WAL, if any.
fn database_bytes(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path.to_path_buf(), wal]
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

/// What one audit mode cost: tokens/s, tokens issued in all, bytes the
/// database grew by, audit events dropped.
struct AuditCost {
    rate: f64,
    issued: u64,
    bytes: u64,
    dropped: u64,
}

/// One load of `secs` on a fresh SQLite file with the token audit in `mode`
/// (with `load_it` false: no load at all, the baseline file), then the store closed (which
/// checkpoints the WAL) and the file measured.
async fn audit_run(mode: TokenAudit, load_it: bool, secs: u64, concurrency: u64) -> AuditCost {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m2m.db");
    let sqlite = Arc::new(SqliteStore::open(&path).await.expect("sqlite"));
    let running = start(Algorithm::ES256, sqlite.clone(), Some(mode)).await;
    let (ok, issued, measured) = if load_it {
        let (outcome, measured) = load(&running, secs, concurrency).await;
        (outcome.ok, outcome.issued, measured)
    } else {
        (0, 0, 1.0)
    };
    running.server.abort();
    running.issuer.flush_audit().await;
    let dropped = running.issuer.dropped_audit_events();
    drop(running);
    sqlite.close().await;
    AuditCost {
        rate: ok as f64 / measured,
        issued,
        bytes: database_bytes(&path),
        dropped,
    }
}

/// `M2M_BENCH_AUDIT=1`: the three token audit modes, one after another.
fn audit_cost(runtime: &tokio::runtime::Runtime, secs: u64, concurrency: u64) {
    let baseline = runtime.block_on(audit_run(TokenAudit::Off, false, secs, concurrency));
    println!(
        "token audit cost, ES256 on SQLite, concurrency {concurrency}, {secs} s per mode; baseline file {} bytes",
        baseline.bytes
    );
    let mut off_rate = None;
    for (name, mode) in [
        ("off", TokenAudit::Off),
        ("aggregate", TokenAudit::Aggregate),
        ("per_token", TokenAudit::PerToken),
    ] {
        let cost = runtime.block_on(audit_run(mode, true, secs, concurrency));
        let off = *off_rate.get_or_insert(cost.rate);
        let growth = cost.bytes.saturating_sub(baseline.bytes);
        let per_token = growth as f64 / cost.issued.max(1) as f64;
        println!(
            "{name:<10} {:>8.0} tokens/s ({:.3}x off), {} tokens issued, database grew {growth} bytes: {per_token:.1} bytes/token (= MB per million tokens); audit events dropped: {}",
            cost.rate,
            cost.rate / off,
            cost.issued,
            cost.dropped,
        );
    }
}

/// A store for one quota run: a fresh SQLite file, or a fresh schema on
/// `M2M_TEST_POSTGRES_URL`.
async fn quota_store(postgres: bool, dir: &std::path::Path, n: u32) -> Arc<dyn Store> {
    if postgres {
        let url = std::env::var("M2M_TEST_POSTGRES_URL").expect("postgres url");
        let now = m2m_core::now_unix();
        // Named like m2m-store-sql's conformance schemas, which its runs drop.
        let schema = format!("m2m_conformance_{now}_bench{}_{n}", std::process::id());
        Arc::new(
            m2m_store_sql::PostgresStore::connect_with_schema(&url, &schema)
                .await
                .expect("postgres"),
        )
    } else {
        Arc::new(
            SqliteStore::open(dir.join(format!("m2m-{n}.db")))
                .await
                .expect("sqlite"),
        )
    }
}

/// Creates an org-level client through the admin API; returns its Basic header.
async fn org_client(running: &Running) -> String {
    let http = reqwest::Client::new();
    let base = format!("http://{}/auth", running.addr);
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .header("authorization", &running.authorization)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("admin token")
        .json()
        .await
        .expect("json");
    let created: serde_json::Value = http
        .post(format!("{base}/admin/clients"))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .json(&serde_json::json!({
            "name": "bench", "kind": "org", "org_id": "org_bench", "scopes": ["invoices:read"]
        }))
        .send()
        .await
        .expect("create client")
        .json()
        .await
        .expect("json");
    let id = created["client_id"].as_str().expect("client_id");
    let secret = created["client_secret"].as_str().expect("client_secret");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// `M2M_BENCH_QUOTAS=1`: quotas off and on, alternating, per backend.
fn quota_cost(runtime: &tokio::runtime::Runtime, secs: u64, concurrency: u64) {
    let rounds = env_or("M2M_BENCH_ROUNDS", 3) as u32;
    let far = Some(1_000_000_000);
    let on = QuotaConfig {
        client: QuotaLimits {
            per_minute: far,
            per_hour: far,
            per_day: far,
        },
        org: QuotaLimits {
            per_minute: far,
            per_hour: far,
            per_day: far,
        },
        ..QuotaConfig::default()
    };
    let postgres = std::env::var("M2M_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty());
    println!(
        "token quota cost, ES256, concurrency {concurrency}, {secs} s per run, {rounds} rounds of off/on per backend"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    for (name, pg) in [("SQLite", false), ("PostgreSQL", true)] {
        if pg && !postgres {
            println!("PostgreSQL: skipped (M2M_TEST_POSTGRES_URL not set)");
            continue;
        }
        let (mut off_sum, mut on_sum) = (0.0, 0.0);
        for round in 1..=rounds {
            let mut rates = [0.0; 2];
            for (i, quotas) in [QuotaConfig::default(), on].into_iter().enumerate() {
                n += 1;
                let rate = runtime.block_on(async {
                    let store = quota_store(pg, dir.path(), n).await;
                    let mut running = start_with(Algorithm::ES256, store, None, quotas).await;
                    // The bootstrap admin has no org: load an org client, so
                    // that the org's windows are counted too.
                    running.authorization = org_client(&running).await;
                    let (outcome, measured) = load(&running, secs, concurrency).await;
                    running.server.abort();
                    assert_eq!(outcome.errors, 0, "no request may fail");
                    outcome.ok as f64 / measured
                });
                rates[i] = rate;
            }
            off_sum += rates[0];
            on_sum += rates[1];
            println!(
                "{name:<10} round {round}: off {:>8.0} tokens/s, on {:>8.0} tokens/s ({:.3}x)",
                rates[0],
                rates[1],
                rates[1] / rates[0]
            );
        }
        println!(
            "{name:<10} quotas on / off, sum of {rounds} rounds: {:.3}x (target >= 0.9x)",
            on_sum / off_sum
        );
    }
}

fn main() {
    let secs = env_or("M2M_BENCH_SECS", 5);
    let concurrency = env_or("M2M_BENCH_CONCURRENCY", 64);
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os("M2M_BENCH_AUDIT").is_some_and(|v| v == "1") {
        audit_cost(&runtime, secs, concurrency);
        return;
    }
    if std::env::var_os("M2M_BENCH_QUOTAS").is_some_and(|v| v == "1") {
        quota_cost(&runtime, secs, concurrency);
        return;
    }
    println!(
        "token endpoint load, {threads} runtime threads (server and load generator share them)"
    );
    let memory = runtime.block_on(run(Algorithm::ES256, Backend::Memory, secs, concurrency));
    let sqlite = runtime.block_on(run(Algorithm::ES256, Backend::Sqlite, secs, concurrency));
    runtime.block_on(run(Algorithm::EdDSA, Backend::Memory, secs, concurrency));
    println!(
        "SQLite / MemoryStore (ES256, same run): {:.3}x (target >= 0.8x)",
        sqlite / memory
    );
}
