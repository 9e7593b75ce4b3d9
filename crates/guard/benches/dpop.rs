//! What DPoP costs at the guard, measured in one run: the same guarded axum
//! route called in-process (`tower::ServiceExt::oneshot`, one request at a
//! time) with
//!
//! - a Bearer token the guard has verified before (cache hit),
//! - a DPoP-bound token it has verified before, with a fresh proof per
//!   request (the token's signature is cached; the proof never is: its
//!   signature, claims, thumbprint and replay check run every time),
//! - a token it has never seen (cache miss), Bearer and DPoP-bound,
//!
//! for ES256 and EdDSA proof keys (access tokens are ES256), beside the bare
//! `DpopValidation::verify` of one proof. Tokens and proofs are signed in the
//! untimed setup of each iteration (`iter_batched`), so only the guard's side
//! is measured.
//!
//! Run: `cargo bench -p m2m-guard --bench dpop -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion};
use http::Request;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, Confirmation, DpopValidation, JwkSet, ProofRequest,
    SigningKey, access_token_hash, now_unix, random_id, sign, sign_proof,
};
use m2m_guard::{DpopConfig, Guard};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const URL: &str = "https://api.example.com/invoices";

static JTI: AtomicUsize = AtomicUsize::new(0);

fn claims(jkt: Option<String>) -> AccessTokenClaims {
    let now = now_unix();
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        client_id: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        aud: Audience::from(AUD),
        exp: now + 3600,
        nbf: Some(now),
        iat: now,
        jti: format!("jti-{:010}", JTI.fetch_add(1, Ordering::Relaxed)),
        scope: "invoices:read invoices:write".parse().expect("scopes"),
        oid: Some("org_5f2a9c".into()),
        uid: None,
        cnf: jkt.map(Confirmation::jkt),
        act: None,
        may_act: None,
    }
}

fn proof(holder: &SigningKey, token: &str) -> String {
    sign_proof(
        holder,
        "GET",
        URL,
        now_unix(),
        &random_id("").expect("jti"),
        Some(&access_token_hash(token)),
        None,
    )
    .expect("proof")
}

fn bearer(token: &str) -> Request<Body> {
    Request::get("/invoices")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

fn dpop(token: &str, proof: &str) -> Request<Body> {
    Request::get("/invoices")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .expect("request")
}

fn app(rt: &Runtime, issuer: &SigningKey) -> Router {
    let guard = rt
        .block_on(
            Guard::builder(ISS, AUD)
                .jwk_set(JwkSet {
                    keys: vec![issuer.public_jwk().clone()],
                })
                // Every measured proof is remembered for the iat window: room
                // for all of them, so the cache never refuses one as full.
                .dpop(DpopConfig::new(AUD).replay_capacity(20_000_000))
                .build(),
        )
        .expect("guard");
    Router::new()
        .route("/invoices", get(|| async { "ok" }))
        .route_layer(guard.require(["invoices:read"]))
}

fn call(rt: &Runtime, app: &Router, request: Request<Body>) {
    let response = rt
        .block_on(app.clone().oneshot(request))
        .expect("infallible");
    assert_eq!(response.status(), 200, "{:?}", response.headers());
    black_box(response);
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
    let mut group = c.benchmark_group("guard_dpop");

    let app_bearer = app(&rt, &issuer);
    let repeated = sign(&issuer, &claims(None)).expect("sign");
    group.bench_function("bearer/cache_hit", |b| {
        b.iter_batched(
            || bearer(&repeated),
            |r| call(&rt, &app_bearer, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bearer/fresh_token", |b| {
        b.iter_batched(
            || bearer(&sign(&issuer, &claims(None)).expect("sign")),
            |r| call(&rt, &app_bearer, r),
            BatchSize::SmallInput,
        )
    });

    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let holder = SigningKey::generate(alg).expect("proof key");
        let jkt = holder.public_jwk().thumbprint().expect("jkt");
        let app_dpop = app(&rt, &issuer);
        let bound = sign(&issuer, &claims(Some(jkt.clone()))).expect("sign");
        let name = alg.as_str();
        group.bench_function(format!("dpop_{name}/cache_hit"), |b| {
            b.iter_batched(
                || dpop(&bound, &proof(&holder, &bound)),
                |r| call(&rt, &app_dpop, r),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("dpop_{name}/fresh_token"), |b| {
            b.iter_batched(
                || {
                    let token = sign(&issuer, &claims(Some(jkt.clone()))).expect("sign");
                    let proof = proof(&holder, &token);
                    dpop(&token, &proof)
                },
                |r| call(&rt, &app_dpop, r),
                BatchSize::SmallInput,
            )
        });
        // The proof check alone, without the guard (no replay cache).
        let validation = DpopValidation::new();
        let one = proof(&holder, &bound);
        group.bench_function(format!("dpop_{name}/proof_verify_alone"), |b| {
            b.iter(|| {
                let request = ProofRequest::new("GET", URL).access_token(&bound);
                black_box(validation.verify(black_box(&one), &request, now_unix())).expect("proof")
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
