//! One axum route served three ways in one run: unguarded, guarded with a
//! repeated token (cache hit), and guarded with a fresh token per request
//! (the signature path), beside the bare ring verify of the same tokens.
//!
//! Two drivers: in-process through `tower::ServiceExt::oneshot` (one request
//! at a time, so a per-request cost is a difference of means), and real HTTP
//! on 127.0.0.1 (hyper clients over 32 keep-alive connections). Every loop is
//! bounded in count and in time.
//!
//! Run: `cargo bench -p m2m-guard --bench guard`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, RevokedClient, RevokedKey, RevokedToken,
    SigningKey, VerifyingKey, now_unix, sign,
};
use m2m_guard::Guard;
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const PHASE: Duration = Duration::from_millis(1500);
const CONNECTIONS: usize = 32;
const FRESH_TOKENS: usize = 40_000;

fn claims(jti: usize) -> AccessTokenClaims {
    let now = now_unix();
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        client_id: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        aud: Audience::from(AUD),
        exp: now + 3600,
        nbf: Some(now),
        iat: now,
        jti: format!("jti-{jti:08}"),
        scope: "invoices:read invoices:write".parse().expect("scopes"),
        oid: Some("org_5f2a9c".into()),
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

async fn guard(key: &SigningKey) -> Guard {
    Guard::builder(ISS, AUD)
        .jwk_set(JwkSet {
            keys: vec![key.public_jwk().clone()],
        })
        .build()
        .await
        .expect("guard")
}

fn route() -> Router {
    Router::new().route("/invoices", get(|| async { "ok" }))
}

fn request(token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/invoices");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

/// Requests per second through `oneshot`, one at a time; `token(i)` gives
/// the i-th request's token. Stops at `max` requests or after `PHASE`.
async fn in_process<'a>(app: &Router, max: usize, token: impl Fn(usize) -> Option<&'a str>) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while n < max && (n % 256 != 0 || start.elapsed() < PHASE) {
        let response = app
            .clone()
            .oneshot(request(token(n)))
            .await
            .expect("infallible");
        assert_eq!(response.status(), 200);
        black_box(response);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Requests per second over real HTTP: `CONNECTIONS` keep-alive connections,
/// each sending requests one after another, until `max` requests or `PHASE`.
async fn over_http(addr: SocketAddr, tokens: Arc<Vec<String>>, repeat: bool, max: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let next = Arc::clone(&next);
        let tokens = Arc::clone(&tokens);
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut done = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max || start.elapsed() >= PHASE {
                    return done;
                }
                let mut builder = Request::get("/invoices").header("host", "bench");
                if !tokens.is_empty() {
                    let token = if repeat {
                        &tokens[0]
                    } else {
                        &tokens[i % tokens.len()]
                    };
                    builder = builder.header("authorization", format!("Bearer {token}"));
                }
                let response = sender
                    .send_request(builder.body(Empty::<Bytes>::new()).expect("request"))
                    .await
                    .expect("response");
                assert_eq!(response.status(), 200);
                black_box(response.into_body().collect().await.expect("body"));
                done += 1;
            }
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.expect("task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Bare ring verifications per second of the same tokens (signature only).
fn bare_verify(key: &VerifyingKey, tokens: &[String]) -> f64 {
    let parts: Vec<(&[u8], Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.rsplit_once('.').expect("jws");
            (input.as_bytes(), URL_SAFE_NO_PAD.decode(sig).expect("b64"))
        })
        .collect();
    let start = Instant::now();
    let mut n = 0;
    while n < parts.len() && (n % 256 != 0 || start.elapsed() < PHASE) {
        let (input, sig) = &parts[n];
        assert!(key.verify(black_box(input), black_box(sig)));
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn us(rps: f64) -> f64 {
    1e6 / rps
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    print!("signing {FRESH_TOKENS} ES256 tokens... ");
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..FRESH_TOKENS)
            .map(|i| sign(&key, &claims(i)).expect("sign"))
            .collect(),
    );
    println!("done ({} bytes each)", tokens[0].len());
    let repeated = sign(&key, &claims(usize::MAX)).expect("sign");

    // In-process, one request at a time.
    let unguarded = route();
    let hit_guard = guard(&key).await;
    let hit_app = route().route_layer(hit_guard.require(["invoices:read"]));
    let sig_guard = guard(&key).await;
    let sig_app = route().route_layer(sig_guard.require(["invoices:read"]));
    // Warm up each path once.
    in_process(&unguarded, 2_000, |_| Some(repeated.as_str())).await;
    in_process(&hit_app, 2_000, |_| Some(repeated.as_str())).await;

    let bare = bare_verify(&key.verifying_key(), &tokens);
    // The guard's own work on a cache hit, without axum or a request.
    let check_start = Instant::now();
    let mut checks = 0u32;
    while checks < 2_000_000 && (!checks.is_multiple_of(256) || check_start.elapsed() < PHASE) {
        black_box(hit_guard.check_token(black_box(&repeated)).is_ok());
        checks += 1;
    }
    let check_ns = check_start.elapsed().as_nanos() as f64 / f64::from(checks);
    // The same, while the guard holds revocations of every kind (none of
    // them this token's): one lookup per kind instead of one atomic load.
    let revoked_guard = guard(&key).await;
    let exp = now_unix() + 3600;
    revoked_guard
        .revocations()
        .extend((0..10_000).map(|i| RevokedToken {
            jti: format!("revoked-{i}"),
            exp,
        }));
    revoked_guard
        .revocations()
        .extend((0..100).map(|i| RevokedClient::new(format!("m2m_gone{i}").into(), 1)));
    revoked_guard
        .revocations()
        .revoke(RevokedKey::new("another-key", 1));
    assert!(revoked_guard.check_token(&repeated).is_ok());
    let revoked_start = Instant::now();
    let mut revoked_checks = 0u32;
    while revoked_checks < 2_000_000
        && (!revoked_checks.is_multiple_of(256) || revoked_start.elapsed() < PHASE)
    {
        black_box(revoked_guard.check_token(black_box(&repeated)).is_ok());
        revoked_checks += 1;
    }
    let revoked_ns = revoked_start.elapsed().as_nanos() as f64 / f64::from(revoked_checks);
    // The same request each way: the unguarded route gets the header too.
    let plain = in_process(&unguarded, usize::MAX, |_| Some(repeated.as_str())).await;
    let hit = in_process(&hit_app, usize::MAX, |_| Some(repeated.as_str())).await;
    let fresh = in_process(&sig_app, tokens.len(), |i| Some(tokens[i].as_str())).await;
    assert!(sig_guard.cached_tokens() > 0);

    println!();
    println!("in-process (tower oneshot, sequential):");
    println!(
        "  unguarded             {plain:>10.0} req/s  {:>7.2} us/req",
        us(plain)
    );
    println!(
        "  guarded, cache hit    {hit:>10.0} req/s  {:>7.2} us/req  ratio {:.3}x of unguarded",
        us(hit),
        hit / plain
    );
    println!(
        "  guarded, fresh token  {fresh:>10.0} req/s  {:>7.2} us/req  ratio {:.3}x of unguarded",
        us(fresh),
        fresh / plain
    );
    println!(
        "  bare ring verify      {bare:>10.0} op/s   {:>7.2} us/op",
        us(bare)
    );
    println!("  guard's check alone on a cache hit: {check_ns:.0} ns (Guard::check_token)");
    println!("  the same with 10,101 revocations held (jtis, clients, a key): {revoked_ns:.0} ns");
    let added = us(fresh) - us(plain);
    println!(
        "  signature path adds {added:.2} us/req; bare verify + 10 us = {:.2} us -> {}",
        us(bare) + 10.0,
        if added <= us(bare) + 10.0 {
            "within target"
        } else {
            "OVER target"
        }
    );
    println!(
        "  cache hit: {:.3}x of unguarded -> {}",
        hit / plain,
        if hit / plain >= 0.9 {
            "within target (>= 0.9x)"
        } else {
            "UNDER target (0.9x)"
        }
    );

    // Real HTTP on 127.0.0.1, fresh guards so the caches start empty.
    let http_hit_guard = guard(&key).await;
    let http_sig_guard = guard(&key).await;
    let plain_addr = serve(route()).await;
    let hit_addr = serve(route().route_layer(http_hit_guard.require(["invoices:read"]))).await;
    let sig_addr = serve(route().route_layer(http_sig_guard.require(["invoices:read"]))).await;
    let one = Arc::new(vec![repeated.clone()]);
    over_http(plain_addr, Arc::clone(&one), true, 5_000).await; // warm-up
    let plain = over_http(plain_addr, Arc::clone(&one), true, usize::MAX).await;
    let hit = over_http(hit_addr, one, true, usize::MAX).await;
    let fresh = over_http(sig_addr, Arc::clone(&tokens), false, tokens.len()).await;
    println!();
    println!(
        "HTTP/1.1 on 127.0.0.1 ({CONNECTIONS} keep-alive connections; client and server share the 2 cores):"
    );
    println!("  unguarded             {plain:>10.0} req/s");
    println!(
        "  guarded, cache hit    {hit:>10.0} req/s  ratio {:.3}x of unguarded",
        hit / plain
    );
    println!(
        "  guarded, fresh token  {fresh:>10.0} req/s  ratio {:.3}x of unguarded",
        fresh / plain
    );
}
