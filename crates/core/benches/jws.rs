//! Sign and verify for each algorithm, beside the bare ring operation on the
//! same key and message, so the cost m2m-core adds (JSON, base64, checks) shows
//! as a ratio measured in one run.
//!
//! Run: `cargo bench -p m2m-core --bench jws`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, KeySet, PublicJwk, SigningKey, Validation, sign,
};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, UnparsedPublicKey};

const NOW: u64 = 1_700_000_000;

fn key(alg: Algorithm) -> SigningKey {
    let pem = match alg {
        Algorithm::EdDSA => include_str!("../tests/fixtures/ed25519.pem"),
        Algorithm::ES256 => include_str!("../tests/fixtures/p256.pem"),
        Algorithm::RS256 | Algorithm::PS256 => include_str!("../tests/fixtures/rsa2048.pem"),
    };
    SigningKey::from_pkcs8_pem(pem).expect("fixture key")
}

/// A typical token: about 300 bytes of claims.
fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example.com".into(),
        sub: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        client_id: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        aud: Audience::from("https://api.example.com"),
        exp: NOW + 3600,
        nbf: Some(NOW),
        iat: NOW,
        jti: "c2m4q8s0u2w4y6a8c0e2g4i6k8".into(),
        scope: "invoices:read invoices:write customers:read"
            .parse()
            .expect("scopes"),
        oid: Some("org_5f2a9c".into()),
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;
type VerifyFn = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// The bare ring operations on the same key.
struct Bare {
    sign: SignFn,
    verify: VerifyFn,
}

fn bare(key: &SigningKey) -> Bare {
    let der = key.pkcs8_der().to_vec();
    let rng = SystemRandom::new();
    let jwk = key.public_jwk().clone();
    let sign: SignFn = match key.algorithm() {
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).expect("ed25519");
            Box::new(move |m| pair.sign(m).as_ref().to_vec())
        }
        Algorithm::ES256 => {
            let pair =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                    .expect("p256");
            Box::new(move |m| pair.sign(&rng, m).expect("sign").as_ref().to_vec())
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(&der).expect("rsa");
            Box::new(move |m| {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
                    .expect("sign");
                sig
            })
        }
        Algorithm::PS256 => unreachable!("no SigningKey signs PS256"),
    };
    Bare {
        sign,
        verify: bare_verifier(&jwk),
    }
}

fn bare_verifier(jwk: &PublicJwk) -> VerifyFn {
    use base64::Engine as _;
    let b64 = |s: &Option<String>| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_deref().expect("member"))
            .expect("b64")
    };
    match jwk.kty.as_str() {
        "OKP" => {
            let key = UnparsedPublicKey::new(&signature::ED25519, b64(&jwk.x));
            Box::new(move |m, s| key.verify(m, s).is_ok())
        }
        "EC" => {
            let mut point = vec![4];
            point.extend(b64(&jwk.x));
            point.extend(b64(&jwk.y));
            let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point);
            Box::new(move |m, s| key.verify(m, s).is_ok())
        }
        _ => {
            let key = signature::RsaPublicKeyComponents {
                n: b64(&jwk.n),
                e: b64(&jwk.e),
            };
            Box::new(move |m, s| {
                key.verify(&signature::RSA_PKCS1_2048_8192_SHA256, m, s)
                    .is_ok()
            })
        }
    }
}

fn benches(c: &mut Criterion) {
    let claims = claims();
    let validation = Validation::new("https://auth.example.com", "https://api.example.com");
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let key = key(alg);
        let keys = KeySet::from_keys([key.verifying_key()]);
        let bare = bare(&key);
        let token = sign(&key, &claims).expect("sign");
        let (input, sig_b64) = token.rsplit_once('.').expect("token");
        let sig = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .expect("b64")
        };
        assert!((bare.verify)(input.as_bytes(), &sig));

        let mut group = c.benchmark_group(alg.as_str());
        group.bench_function("m2m sign", |b| {
            b.iter(|| sign(&key, black_box(&claims)).expect("sign"))
        });
        group.bench_function("ring sign", |b| {
            b.iter(|| (bare.sign)(black_box(input.as_bytes())))
        });
        group.bench_function("m2m verify", |b| {
            b.iter(|| {
                validation
                    .verify(black_box(&token), &keys, NOW)
                    .expect("valid")
            })
        });
        group.bench_function("ring verify", |b| {
            b.iter(|| (bare.verify)(black_box(input.as_bytes()), black_box(&sig)))
        });
        group.finish();
    }
}

/// Median time per operation of `f`, measured in rounds interleaved with
/// `g`'s so that both see the same machine state.
fn paired(mut f: impl FnMut(), mut g: impl FnMut()) -> (Duration, Duration) {
    let per_round = |h: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..200 {
            h();
        }
        start.elapsed() / 200
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..25 {
        a.push(per_round(&mut f));
        b.push(per_round(&mut g));
    }
    a.sort();
    b.sort();
    (a[a.len() / 2], b[b.len() / 2])
}

fn ratios() {
    let claims = claims();
    let validation = Validation::new("https://auth.example.com", "https://api.example.com");
    println!("\nratio of m2m-core to bare ring, same key and token, one run (target <= 1.15x):");
    println!(
        "{:<6} {:>10} {:>10} {:>7}   {:>10} {:>10} {:>7}",
        "alg", "m2m sign", "ring sign", "ratio", "m2m verify", "ring verify", "ratio"
    );
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let key = key(alg);
        let keys = KeySet::from_keys([key.verifying_key()]);
        let bare = bare(&key);
        let token = sign(&key, &claims).expect("sign");
        let (input, sig_b64) = token.rsplit_once('.').expect("token");
        let sig = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .expect("b64")
        };
        let (ours_s, ring_s) = paired(
            || {
                black_box(sign(&key, black_box(&claims)).expect("sign"));
            },
            || {
                black_box((bare.sign)(black_box(input.as_bytes())));
            },
        );
        let (ours_v, ring_v) = paired(
            || {
                black_box(
                    validation
                        .verify(black_box(&token), &keys, NOW)
                        .expect("ok"),
                );
            },
            || {
                black_box((bare.verify)(black_box(input.as_bytes()), black_box(&sig)));
            },
        );
        println!(
            "{:<6} {:>10.1?} {:>10.1?} {:>6.3}x   {:>10.1?} {:>10.1?} {:>6.3}x",
            alg.as_str(),
            ours_s,
            ring_s,
            ours_s.as_secs_f64() / ring_s.as_secs_f64(),
            ours_v,
            ring_v,
            ours_v.as_secs_f64() / ring_v.as_secs_f64(),
        );
    }
    println!(
        "(typical token: {} bytes)",
        sign(&key(Algorithm::ES256), &claims).map_or(0, |t| t.len())
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    ratios();
}
