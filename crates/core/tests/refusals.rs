//! Every way a token can be wrong is refused, each with its own precise error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use m2m_core::{Algorithm, KeySet, SigningKey, VerifyError, sign};
use serde_json::{Value, json};

use crate::common::*;

/// Signs an arbitrary header and payload with `key`.
fn forge(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let sig = B64.encode(key.sign(input.as_bytes()).unwrap());
    format!("{input}.{sig}")
}

fn header_of(key: &SigningKey) -> Value {
    json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "at+jwt"})
}

fn payload() -> Value {
    serde_json::to_value(claims()).unwrap()
}

fn verify(token: &str, keys: &KeySet) -> Result<m2m_core::VerifiedToken, VerifyError> {
    validation().verify(token, keys, NOW + 10)
}

fn es() -> (SigningKey, KeySet) {
    let key = key(Algorithm::ES256);
    let keys = keys_of(&key);
    (key, keys)
}

#[test]
fn the_untouched_token_passes_for_each_algorithm() {
    for alg in ALGS {
        let key = key(alg);
        let token = sign(&key, &claims()).unwrap();
        let verified = verify(&token, &keys_of(&key)).unwrap();
        assert_eq!(verified.claims, claims());
        assert_eq!(verified.kid.as_deref(), Some(key.kid()));
        // A hand-built token with the same content passes too.
        let forged = forge(&key, &header_of(&key), &payload());
        assert!(verify(&forged, &keys_of(&key)).is_ok());
    }
}

#[test]
fn alg_none() {
    let (key, keys) = es();
    let header = json!({"alg": "none", "kid": key.kid(), "typ": "at+jwt"});
    let token = format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(payload().to_string())
    );
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::NoneAlgorithm
    );
}

#[test]
fn hs256_signed_with_the_public_key() {
    // The classic key-confusion attack: HMAC keyed by the verifier's public key.
    for alg in ALGS {
        let key = key(alg);
        let keys = keys_of(&key);
        let public = serde_json::to_vec(key.public_jwk()).unwrap();
        let header = json!({"alg": "HS256", "kid": key.kid(), "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload().to_string())
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", B64.encode(mac.as_ref()));
        assert_eq!(
            verify(&token, &keys).unwrap_err(),
            VerifyError::SymmetricAlgorithm
        );
    }
}

#[test]
fn header_alg_differs_from_the_jwk() {
    let es = key(Algorithm::ES256);
    let ed = key(Algorithm::EdDSA);
    let keys = keys_of(&es);
    // Signed by a key of another algorithm, claiming the ES256 key's kid.
    let header = json!({"alg": "EdDSA", "kid": es.kid(), "typ": "at+jwt"});
    let token = forge(&ed, &header, &payload());
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::AlgorithmMismatch {
            token: "EdDSA".into(),
            key: Algorithm::ES256
        }
    );
    let header = json!({"alg": "RS256", "kid": es.kid(), "typ": "at+jwt"});
    let token = forge(&key(Algorithm::RS256), &header, &payload());
    assert!(matches!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::AlgorithmMismatch { .. }
    ));
}

#[test]
fn unknown_kid() {
    let (key, keys) = es();
    let mut header = header_of(&key);
    header["kid"] = json!("not-a-known-kid");
    let token = forge(&key, &header, &payload());
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::UnknownKid("not-a-known-kid".into())
    );
}

#[test]
fn no_kid_with_several_keys() {
    let es = key(Algorithm::ES256);
    let ed = key(Algorithm::EdDSA);
    let mut header = header_of(&es);
    header.as_object_mut().unwrap().remove("kid");
    let token = forge(&es, &header, &payload());
    // One key loaded: unambiguous, accepted.
    assert!(verify(&token, &keys_of(&es)).is_ok());
    let both = KeySet::from_keys([es.verifying_key(), ed.verifying_key()]);
    assert_eq!(verify(&token, &both).unwrap_err(), VerifyError::MissingKid);
}

#[test]
fn time_claims() {
    let (key, keys) = es();
    let token = sign(&key, &claims()).unwrap();
    let v = validation();
    let exp = NOW + 3600;
    assert!(
        v.verify(&token, &keys, exp + 59).is_ok(),
        "inside the leeway"
    );
    assert_eq!(
        v.verify(&token, &keys, exp + 60).unwrap_err(),
        VerifyError::Expired
    );
    let mut early = claims();
    early.nbf = Some(NOW + 600);
    early.iat = NOW;
    let token = sign(&key, &early).unwrap();
    assert_eq!(
        v.verify(&token, &keys, NOW).unwrap_err(),
        VerifyError::NotYetValid
    );
    let mut future = claims();
    future.iat = NOW + 600;
    future.nbf = None;
    let token = sign(&key, &future).unwrap();
    assert_eq!(
        v.verify(&token, &keys, NOW).unwrap_err(),
        VerifyError::IssuedInFuture
    );
    let mut no_exp = payload();
    no_exp.as_object_mut().unwrap().remove("exp");
    let token = forge(&key, &header_of(&key), &no_exp);
    assert!(matches!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::ClaimsJson(why) if why.contains("exp")
    ));
}

#[test]
fn wrong_issuer_and_audience() {
    let (key, keys) = es();
    let mut other = claims();
    other.iss = "https://auth.example.com/".into(); // exact match: a trailing slash differs
    let token = sign(&key, &other).unwrap();
    assert_eq!(verify(&token, &keys).unwrap_err(), VerifyError::WrongIssuer);
    let mut other = claims();
    other.aud = "https://api.example.org".into();
    let token = sign(&key, &other).unwrap();
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::WrongAudience
    );
    // One of several audiences is enough.
    other.aud = m2m_core::Audience::Many(vec!["x".into(), AUD.into()]);
    let token = sign(&key, &other).unwrap();
    assert!(verify(&token, &keys).is_ok());
}

#[test]
fn typ_missing_or_jwt() {
    let (key, keys) = es();
    let mut header = header_of(&key);
    header.as_object_mut().unwrap().remove("typ");
    let token = forge(&key, &header, &payload());
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::WrongType(None)
    );
    header["typ"] = json!("JWT");
    let token = forge(&key, &header, &payload());
    assert_eq!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::WrongType(Some("JWT".into()))
    );
    header["typ"] = json!("application/at+jwt");
    let token = forge(&key, &header, &payload());
    assert!(verify(&token, &keys).is_ok());
}

#[test]
fn forbidden_headers() {
    let (key, keys) = es();
    for (name, value) in [
        ("crit", json!(["exp"])),
        ("jku", json!("https://evil.example/jwks.json")),
        ("jwk", json!(key.public_jwk())),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", Value::Null),
    ] {
        let mut header = header_of(&key);
        header[name] = value;
        let token = forge(&key, &header, &payload());
        assert_eq!(
            verify(&token, &keys).unwrap_err(),
            VerifyError::ForbiddenHeader(match name {
                "crit" => "crit",
                "jku" => "jku",
                "jwk" => "jwk",
                "x5u" => "x5u",
                _ => "x5c",
            }),
            "{name}"
        );
    }
}

#[test]
fn changed_payload_or_signature() {
    for alg in ALGS {
        let key = key(alg);
        let keys = keys_of(&key);
        let token = sign(&key, &claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let mut escalated = claims();
        escalated.scope = "invoices:read invoices:write customers:read admin"
            .parse()
            .unwrap();
        let other_payload = B64.encode(serde_json::to_vec(&escalated).unwrap());
        let swapped = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
        assert_eq!(
            verify(&swapped, &keys).unwrap_err(),
            VerifyError::BadSignature
        );

        let mut sig = B64.decode(parts[2]).unwrap();
        sig[5] ^= 0x01;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
        assert_eq!(
            verify(&flipped, &keys).unwrap_err(),
            VerifyError::BadSignature
        );

        // Truncated inside the signature (at a base64 quantum, so it still decodes).
        let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]);
        assert_eq!(
            verify(&truncated, &keys).unwrap_err(),
            VerifyError::BadSignature
        );
        // Cut to 4n + 1 characters: one character left over encodes no whole
        // byte, so no signature whatever its bits is valid base64url. (Cutting
        // to 4n + 2 or 4n + 3 leaves trailing bits that are zero, hence
        // canonical, for some random signatures.)
        let ragged = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..41]);
        assert_eq!(verify(&ragged, &keys).unwrap_err(), VerifyError::Base64);
    }
}

#[test]
fn structural_damage() {
    let (key, keys) = es();
    let token = sign(&key, &claims()).unwrap();
    let (first, rest) = token.split_once('.').unwrap();

    // Truncated inside the payload: the structure is gone.
    assert_eq!(
        verify(&token[..first.len() + 20], &keys).unwrap_err(),
        VerifyError::Malformed
    );
    assert_eq!(verify("abc", &keys).unwrap_err(), VerifyError::Malformed);
    assert_eq!(verify("a.b", &keys).unwrap_err(), VerifyError::Malformed);
    assert_eq!(
        verify(&format!("{token}.extra"), &keys).unwrap_err(),
        VerifyError::Malformed
    );

    // Padding, the standard alphabet and junk are not base64url.
    let padded = format!("{first}=.{rest}");
    assert_eq!(verify(&padded, &keys).unwrap_err(), VerifyError::Base64);
    let std_alphabet = format!("{}+/.{rest}", &first[..first.len() - 2]);
    assert_eq!(
        verify(&std_alphabet, &keys).unwrap_err(),
        VerifyError::Base64
    );
    let junk = format!("{first}.{rest}!");
    assert_eq!(verify(&junk, &keys).unwrap_err(), VerifyError::Base64);

    // A header that is not JSON.
    let not_json = format!("{}.{rest}", B64.encode("{alg: ES256}"));
    assert_eq!(
        verify(&not_json, &keys).unwrap_err(),
        VerifyError::HeaderJson
    );
    let not_object = format!("{}.{rest}", B64.encode("[1,2]"));
    assert_eq!(
        verify(&not_object, &keys).unwrap_err(),
        VerifyError::HeaderJson
    );
}

#[test]
fn claims_of_the_wrong_json_types() {
    let (key, keys) = es();
    for (claim, value) in [
        ("exp", json!("1700003600")),
        ("iat", json!(-1)),
        ("aud", json!(42)),
        ("scope", json!(["invoices:read"])),
        ("oid", json!({"id": 1})),
        ("client_id", Value::Null),
    ] {
        let mut payload = payload();
        payload[claim] = value;
        let token = forge(&key, &header_of(&key), &payload);
        assert!(
            matches!(
                verify(&token, &keys).unwrap_err(),
                VerifyError::ClaimsJson(_)
            ),
            "{claim}"
        );
    }
    // A payload that is not JSON at all, properly signed.
    let input = format!(
        "{}.{}",
        B64.encode(header_of(&key).to_string()),
        B64.encode("not json")
    );
    let token = format!(
        "{input}.{}",
        B64.encode(key.sign(input.as_bytes()).unwrap())
    );
    assert!(matches!(
        verify(&token, &keys).unwrap_err(),
        VerifyError::ClaimsJson(_)
    ));
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    let (_, keys) = es();
    // Not even base64: had it been decoded, the error would be Base64.
    let huge = "!".repeat(8 * 1024 + 1);
    assert_eq!(
        verify(&huge, &keys).unwrap_err(),
        VerifyError::TooLarge {
            len: 8193,
            max: 8192
        }
    );
    let small = validation().max_token_len(100);
    let token = sign(&key(Algorithm::ES256), &claims()).unwrap();
    assert!(matches!(
        small.verify(&token, &keys, NOW).unwrap_err(),
        VerifyError::TooLarge { .. }
    ));
}

#[test]
fn non_ascii_algorithm_names_are_refused_without_panic() {
    let (_key, keys) = es();
    let body = B64.encode(serde_json::to_vec(&claims()).unwrap());
    for alg in ["aé", "€", "é", "h€", "Hé"] {
        let header = B64.encode(format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#));
        let token = format!("{header}.{body}.AAAA");
        assert!(
            matches!(
                verify(&token, &keys),
                Err(VerifyError::UnsupportedAlgorithm(_))
            ),
            "{alg}"
        );
    }
    let header = B64.encode(r#"{"alg":"HSé","typ":"at+jwt"}"#);
    let token = format!("{header}.{body}.AAAA");
    assert_eq!(verify(&token, &keys), Err(VerifyError::SymmetricAlgorithm));
}

/// RFC 9864's `Ed25519` names the same algorithm as `EdDSA`: an Ed25519 key
/// verifies it, and no other key does (the key decides, never the name).
#[test]
fn the_fully_specified_ed25519_name_is_eddsa_and_binds_to_the_key() {
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let keys = KeySet::from_keys([ed.verifying_key()]);
    let header = json!({"alg": "Ed25519", "kid": ed.kid(), "typ": "at+jwt"});
    assert!(verify(&forge(&ed, &header, &payload()), &keys).is_ok());

    let (es, es_keys) = es();
    let lying = json!({"alg": "Ed25519", "kid": es.kid(), "typ": "at+jwt"});
    assert!(matches!(
        verify(&forge(&es, &lying, &payload()), &es_keys),
        Err(VerifyError::AlgorithmMismatch { .. })
    ));
}
