//! DPoP proofs under structured hostile input: proofs built as
//! base64url(JSON header) . base64url(JSON claims) . signature, signed by the
//! key in their own header, with hostile values of every JSON type in every
//! member. A proof is either refused or says exactly what the request is.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use m2m_core::{
    Algorithm, DpopError, DpopNonces, DpopValidation, ProofRequest, SigningKey, access_token_hash,
    normalize_htu, sign_proof,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::common::*;

const URL: &str = "https://api.example.com/invoices";
const TOKEN: &str = "access-token";

fn header_of(key: &SigningKey) -> Value {
    let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
    let jwk_obj = jwk.as_object_mut().unwrap();
    jwk_obj.remove("kid");
    jwk_obj.remove("use");
    json!({"typ": "dpop+jwt", "alg": key.algorithm().as_str(), "jwk": jwk})
}

fn claims_of() -> Value {
    json!({"jti": "j1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)})
}

fn signed(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig))
}

fn request() -> ProofRequest<'static> {
    ProofRequest::new("GET", URL).access_token(TOKEN)
}

/// A hostile JSON value: every type, words the verifier compares against,
/// and those words with a multi-byte or control character in them.
fn hostile() -> impl Strategy<Value = Value> {
    let words = select(vec![
        "",
        "dpop+jwt",
        "DPOP+JWT",
        "application/dpop+jwt",
        "JWT",
        "none",
        "HS256",
        "ES256",
        "EdDSA",
        "RS256",
        "PS256",
        "EC",
        "OKP",
        "RSA",
        "oct",
        "P-256",
        "Ed25519",
        "GET",
        "get",
        "POST",
        URL,
        "https://api.example.com:443/invoices",
        "http://api.example.com/invoices",
        "//api.example.com/invoices",
        "https://api.example.com/invoices/",
        "j1",
    ]);
    let nasty = select(vec![
        'é',
        '€',
        '𝄞',
        '\u{0}',
        '\u{202e}',
        '"',
        '\\',
        'İ',
        '\u{10ffff}',
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(NOW)),
        Just(json!(NOW - 61)),
        Just(json!(NOW + 6)),
        words.clone().prop_map(Value::from),
        (words, any::<prop::sample::Index>(), nasty).prop_map(|(w, at, c)| {
            let mut chars: Vec<char> = w.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            Value::from(chars.into_iter().collect::<String>())
        }),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const HEADER_MEMBERS: &[&str] = &["typ", "alg", "jwk", "kid", "crit", "jku", "x5u", "x5c"];
const JWK_MEMBERS: &[&str] = &["kty", "crv", "x", "y", "n", "e", "d", "k", "alg", "use"];
const CLAIM_MEMBERS: &[&str] = &["jti", "htm", "htu", "iat", "ath", "nonce"];

/// Whether an accepted proof says exactly what the request is.
fn says_the_request(claims: &Value) -> bool {
    claims["htm"] == "GET"
        && claims["htu"].as_str().and_then(normalize_htu).as_deref() == Some(URL)
        && claims["iat"]
            .as_u64()
            .is_some_and(|iat| (NOW - 60..=NOW + 5).contains(&iat))
        && claims["ath"] == access_token_hash(TOKEN).as_str()
        && claims["jti"]
            .as_str()
            .is_some_and(|j| !j.is_empty() && j.len() <= 256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_claims_are_refused_or_match_the_request(
        alg in select(ALGS.to_vec()),
        member in select(CLAIM_MEMBERS),
        value in hostile(),
        remove in any::<bool>(),
    ) {
        let key = key(alg);
        let mut claims = claims_of();
        if remove {
            claims.as_object_mut().unwrap().remove(member);
        } else {
            claims[member] = value;
        }
        let proof = signed(&key, &header_of(&key), &claims);
        match DpopValidation::new().verify(&proof, &request(), NOW) {
            Ok(verified) => {
                prop_assert!(says_the_request(&claims), "accepted: {claims}");
                prop_assert_eq!(verified.jkt, key.kid());
            }
            Err(error) => prop_assert_eq!(error.error_code(), "invalid_dpop_proof"),
        }
    }

    #[test]
    fn hostile_headers_are_refused_unless_they_are_a_proof_header(
        alg in select(ALGS.to_vec()),
        member in select(HEADER_MEMBERS),
        jwk_member in select(JWK_MEMBERS),
        in_jwk in any::<bool>(),
        value in hostile(),
    ) {
        let key = key(alg);
        let mut header = header_of(&key);
        if in_jwk {
            header["jwk"][jwk_member] = value.clone();
        } else {
            header[member] = value.clone();
        }
        let proof = signed(&key, &header, &claims_of());
        if let Ok(verified) = DpopValidation::new().verify(&proof, &request(), NOW) {
            // Only a change that leaves a valid public proof header may pass,
            // and the proof is then bound to the thumbprint of the key in it.
            let jwk: m2m_core::PublicJwk = serde_json::from_value(header["jwk"].clone()).unwrap();
            prop_assert_eq!(&verified.jkt, &jwk.thumbprint().unwrap());
            prop_assert_eq!(verified.jkt, key.kid());
            prop_assert!(header["jwk"].get("d").is_none() && header["jwk"].get("k").is_none());
            prop_assert!(["kid", "crit", "jku", "x5u", "x5c"].iter().all(|m| header.get(m).is_none()));
            prop_assert_eq!(header["alg"].as_str(), Some(alg.as_str()));
        }
    }

    #[test]
    fn verify_never_panics_on_damaged_proofs(pos in 0usize..2000, byte in any::<u8>()) {
        let key = key(Algorithm::EdDSA);
        let proof = sign_proof(&key, "GET", URL, NOW, "j", Some(&access_token_hash(TOKEN)), None).unwrap();
        let mut bytes = proof.clone().into_bytes();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let damaged = String::from_utf8_lossy(&bytes).into_owned();
        let result = DpopValidation::new().verify(&damaged, &request(), NOW);
        if damaged != proof {
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn htu_normalisation_is_idempotent_and_total(text in ".{0,200}", prefix in select(vec!["", "https://", "HTTP://a.example", "https://a.example:443"])) {
        let url = format!("{prefix}{text}");
        if let Some(normal) = normalize_htu(&url) {
            let again = normalize_htu(&normal);
            prop_assert_eq!(again.as_deref(), Some(normal.as_str()));
            prop_assert!(!normal.contains('?') && !normal.contains('#'));
        }
    }

    #[test]
    fn nonces_from_another_secret_or_slot_are_refused(secret in any::<[u8; 32]>(), other in any::<[u8; 32]>(), now in 1_000u64..u64::MAX / 2) {
        let nonces = DpopNonces::new(&secret, 60);
        let nonce = nonces.issue(now);
        prop_assert!(nonces.check(&nonce, now));
        prop_assert!(nonces.check(&nonce, now + 60));
        prop_assert!(!nonces.check(&nonce, now + 120));
        if secret != other {
            prop_assert!(!DpopNonces::new(&other, 60).check(&nonce, now));
        }
    }
}

#[test]
fn rsa_proofs_fit_the_default_size_limit() {
    let key = key(Algorithm::RS256);
    let proof = sign_proof(
        &key,
        "GET",
        URL,
        NOW,
        &"j".repeat(256),
        Some(&access_token_hash(TOKEN)),
        Some(&"n".repeat(256)),
    )
    .unwrap();
    assert!(proof.len() < m2m_core::DEFAULT_MAX_PROOF_LEN);
    assert_eq!(
        DpopValidation::new()
            .verify(&proof, &request(), NOW)
            .map(|p| p.jkt),
        Ok(key.kid().to_owned())
    );
}

#[test]
fn every_error_maps_to_an_rfc_9449_code() {
    assert_eq!(DpopError::UseNonce.error_code(), "use_dpop_nonce");
    assert_eq!(DpopError::WrongAth.error_code(), "invalid_dpop_proof");
}
