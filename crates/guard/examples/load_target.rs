//! The target of the external load benchmark (`benches/load.sh`): one axum
//! server with an unguarded route and a guarded one, the tokens to send it,
//! and the in-process costs the script compares the guard against.
//!
//! Modes (first argument):
//!
//! - `serve DIR [COUNT]`: makes an ES256 and an EdDSA signing key, writes to
//!   `DIR` the tokens the load generator sends (`hit.txt`: one token, sent
//!   again and again; `es256.txt` and `eddsa.txt`: `COUNT` distinct tokens
//!   each, default 150,000, so the cache misses; `rss.txt`: 300,000 more
//!   distinct ES256 tokens for the memory run), then serves
//!   `GET /unguarded` (no guard) and `GET /guarded` (guarded by
//!   `guard.require(["invoices:read"])`, trusting both keys) on
//!   `LOAD_LISTEN` (default `127.0.0.1:0`, a free port). Once it accepts
//!   requests it prints `listening on http://ADDRESS`. `GET /stats` answers
//!   `cached_tokens N`, what the guard's cache holds.
//! - `measure`: prints the bare costs on this machine, one `name value` line
//!   each, in CPU µs (this thread's time on a CPU, from
//!   `/proc/thread-self/schedstat`, the median of 7 rounds): `sign_es256_us`, `sign_eddsa_us` (m2m-core's `sign` of a
//!   token like the issuer's), `verify_es256_us`, `verify_eddsa_us` (ring's
//!   verify of a token's signature, as the guard's signature path does it).
//! - `catch-up ISSUER AUDIENCE`: builds a guard on `ISSUER`'s JWKS and
//!   revocation feed and prints `caught_up_ms T entries N`: the time from
//!   start to a guard that has read the whole feed (a guard's build reads it
//!   to its end), and the revocations it then holds.
//!
//! Run: `cargo run --release -p m2m-guard --example load_target -- serve /tmp/tokens`.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, SigningKey, VerifyingKey, now_unix, sign,
};
use m2m_guard::Guard;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
/// Distinct ES256 tokens for the memory run: twice the default cache.
const RSS_TOKENS: usize = 300_000;

type Error = Box<dyn std::error::Error>;

/// A token's claims, the size of the issuer's (about 630 bytes signed).
fn claims(jti: &str) -> AccessTokenClaims {
    let now = now_unix();
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        client_id: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        aud: Audience::from(AUD),
        exp: now + 4 * 3600,
        nbf: Some(now),
        iat: now,
        jti: jti.to_owned(),
        scope: "invoices:read invoices:write".parse().expect("scopes"),
        oid: Some("org_5f2a9c".into()),
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

/// Writes `count` distinct tokens signed by `key`, one a line.
fn write_tokens(
    path: &std::path::Path,
    key: &SigningKey,
    prefix: &str,
    count: usize,
) -> Result<(), Error> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..count {
        writeln!(out, "{}", sign(key, &claims(&format!("{prefix}-{i:08}")))?)?;
    }
    out.flush()?;
    Ok(())
}

async fn serve(dir: &str, count: usize) -> Result<(), Error> {
    let es256 = SigningKey::generate(Algorithm::ES256)?;
    let eddsa = SigningKey::generate(Algorithm::EdDSA)?;
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("hit.txt"),
        format!("{}\n", sign(&es256, &claims("hit"))?),
    )?;
    write_tokens(&dir.join("es256.txt"), &es256, "es", count)?;
    write_tokens(&dir.join("eddsa.txt"), &eddsa, "ed", count)?;
    write_tokens(&dir.join("rss.txt"), &es256, "rss", RSS_TOKENS)?;

    let guard = Guard::builder(ISS, AUD)
        .jwk_set(JwkSet {
            keys: vec![es256.public_jwk().clone(), eddsa.public_jwk().clone()],
        })
        .build()
        .await?;
    let app = Router::new()
        .route("/guarded", get(|| async { "ok" }))
        .route_layer(guard.require(["invoices:read"]))
        .route("/unguarded", get(|| async { "ok" }))
        .route(
            "/stats",
            get(|State(guard): State<Guard>| async move {
                format!("cached_tokens {}\n", guard.cached_tokens())
            }),
        )
        .with_state(guard);
    let listen = std::env::var("LOAD_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// The CPU time this thread has run, in ns (the first field of
/// `/proc/thread-self/schedstat`): CPU time, like the server's figures, so a
/// busy machine slows the wall clock but not this.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat")
}

/// The median over `rounds` of the mean CPU µs per call of `op` over `n` calls.
fn median_us(rounds: usize, n: usize, mut op: impl FnMut(usize)) -> f64 {
    let mut means: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = thread_cpu_ns();
            for i in 0..n {
                op(i);
            }
            (thread_cpu_ns() - start) as f64 / 1e3 / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[rounds / 2]
}

fn measure() -> Result<(), Error> {
    const N: usize = 2_000;
    for (name, alg) in [("es256", Algorithm::ES256), ("eddsa", Algorithm::EdDSA)] {
        let key = SigningKey::generate(alg)?;
        let all: Vec<AccessTokenClaims> = (0..N).map(|i| claims(&format!("m-{i}"))).collect();
        let sign_us = median_us(7, N, |i| {
            black_box(sign(&key, black_box(&all[i])).expect("sign"));
        });
        let tokens: Vec<String> = all.iter().map(|c| sign(&key, c).expect("sign")).collect();
        let verifier: VerifyingKey = key.verifying_key();
        let verify_us = median_us(7, N, |i| {
            let (input, sig) = tokens[i].rsplit_once('.').expect("jws");
            let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
            assert!(verifier.verify(black_box(input.as_bytes()), black_box(&sig)));
        });
        println!("sign_{name}_us {sign_us:.2}");
        println!("verify_{name}_us {verify_us:.2}");
    }
    Ok(())
}

async fn catch_up(issuer: &str, audience: &str) -> Result<(), Error> {
    let start = Instant::now();
    let guard = Guard::builder(issuer, audience)
        .jwks_url(format!("{issuer}/.well-known/jwks.json"))
        .revocation_feed(format!("{issuer}/oauth/revocations"))
        .revocation_poll_interval(Duration::from_secs(3600))
        .fetch_timeout(Duration::from_secs(60))
        .build()
        .await?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!("caught_up_ms {ms:.0} entries {}", guard.revocations().len());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["serve", dir] => serve(dir, 150_000).await,
        ["serve", dir, count] => serve(dir, count.parse()?).await,
        ["measure"] => measure(),
        ["catch-up", issuer, audience] => catch_up(issuer, audience).await,
        _ => {
            Err("usage: load_target serve DIR [COUNT] | measure | catch-up ISSUER AUDIENCE".into())
        }
    }
}
