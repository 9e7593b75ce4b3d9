//! A fixed-count harness for instruction counts (callgrind): one mode per
//! run, `N` in-process requests through `tower::ServiceExt::oneshot` on a
//! current-thread runtime, every request with the same `Authorization`
//! header shape. The measured loop is the function `measured`, so
//! `valgrind --tool=callgrind --toggle-collect='*guard_ir::measured*'`
//! counts only it; divide the total by `N`.
//!
//! Modes: `unguarded`, `hit` (one repeated token, a cache hit),
//! `fresh-es256` and `fresh-eddsa` (a new token per request: the signature
//! path), `verify-es256` and `verify-eddsa` (the bare ring verification of
//! the same tokens, no guard). Tokens are signed before the loop.
//!
//! One more mode, `rss`, is not for callgrind: it fills a guard's cache with
//! `N` fresh EdDSA tokens, three times over or as many as a third argument
//! says (the cache holds 100,000 by default), signing each just before it
//! is sent and dropping it after, so the harness keeps no tokens of its own
//! in memory, and prints the process's resident set size after each round
//! and the number of cached tokens.
//!
//! Run: `cargo bench -p m2m-guard --bench guard_ir -- MODE N` (it also
//! prints the wall time per request, which is only indicative).

use std::hint::black_box;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, SigningKey, VerifyingKey, now_unix, sign,
};
use m2m_guard::Guard;
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

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

fn route() -> Router {
    Router::new().route("/invoices", get(|| async { "ok" }))
}

fn request(token: &str) -> Request<Body> {
    Request::get("/invoices")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

/// The measured loop: `tokens.len()` requests, one at a time.
#[inline(never)]
fn measured(rt: &tokio::runtime::Runtime, app: &Router, tokens: &[String]) {
    rt.block_on(async {
        for token in tokens {
            let response = app
                .clone()
                .oneshot(request(token))
                .await
                .expect("infallible");
            assert_eq!(response.status(), 200);
            black_box(response);
        }
    });
}

/// The measured loop of the bare verifications.
#[inline(never)]
fn measured_verify(key: &VerifyingKey, parts: &[(&[u8], Vec<u8>)]) {
    for (input, sig) in parts {
        assert!(key.verify(black_box(input), black_box(sig)));
    }
}

/// The resident set size of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The `rss` mode: see the module documentation.
fn rss(rt: &tokio::runtime::Runtime, n: usize, rounds: usize) {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let guard = rt
        .block_on(
            Guard::builder(ISS, AUD)
                .jwk_set(JwkSet {
                    keys: vec![key.public_jwk().clone()],
                })
                .build(),
        )
        .expect("guard");
    let app = route().route_layer(guard.require(["invoices:read"]));
    println!("before: RSS {} KiB", rss_kib());
    let mut next = 0;
    for round in 1..=rounds {
        // One token at a time, signed just before it is sent: like a server
        // reading tokens off the network, the harness holds no token list
        // that the process's RSS would count as the guard's.
        for _ in 0..n {
            let token = sign(&key, &claims(next)).expect("sign");
            measured(rt, &app, std::slice::from_ref(&token));
            next += 1;
        }
        println!(
            "round {round}: {next} tokens verified, {} cached, RSS {} KiB",
            guard.cached_tokens(),
            rss_kib()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().map_or("hit", String::as_str).to_owned();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let alg = if mode.ends_with("eddsa") {
        Algorithm::EdDSA
    } else {
        Algorithm::ES256
    };
    let key = SigningKey::generate(alg).expect("key");
    let tokens: Vec<String> = match mode.as_str() {
        "rss" => Vec::new(),
        "unguarded" | "hit" => vec![sign(&key, &claims(usize::MAX)).expect("sign"); n],
        _ => (0..n)
            .map(|i| sign(&key, &claims(i)).expect("sign"))
            .collect(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if mode == "rss" {
        let rounds = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
        rss(&rt, n, rounds);
        return;
    }
    let start = Instant::now();
    if mode.starts_with("verify") {
        let parts: Vec<(&[u8], Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let (input, sig) = t.rsplit_once('.').expect("jws");
                (input.as_bytes(), URL_SAFE_NO_PAD.decode(sig).expect("b64"))
            })
            .collect();
        measured_verify(&key.verifying_key(), &parts);
    } else {
        let guard = rt.block_on(
            Guard::builder(ISS, AUD)
                .jwk_set(JwkSet {
                    keys: vec![key.public_jwk().clone()],
                })
                .build(),
        );
        let guard = guard.expect("guard");
        let app = match mode.as_str() {
            "unguarded" => route(),
            "hit" | "fresh-es256" | "fresh-eddsa" => {
                route().route_layer(guard.require(["invoices:read"]))
            }
            other => panic!("unknown mode {other}"),
        };
        // Warm the route (and, on a hit, the cache) outside the count.
        rt.block_on(async {
            let warm = match mode.as_str() {
                "hit" | "unguarded" => tokens[0].clone(),
                _ => sign(&key, &claims(usize::MAX)).expect("sign"),
            };
            let response = app
                .clone()
                .oneshot(request(&warm))
                .await
                .expect("infallible");
            assert_eq!(response.status(), 200);
        });
        let start = Instant::now();
        measured(&rt, &app, &tokens);
        let elapsed = start.elapsed();
        println!(
            "{mode}: {n} requests, {:.2} us/req (wall, indicative)",
            elapsed.as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    println!(
        "{mode}: {n} verifications, {:.2} us/op (wall, indicative)",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
