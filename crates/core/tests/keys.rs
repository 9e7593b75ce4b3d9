//! Key generation, import, JWK form and redaction.

use m2m_core::{Algorithm, JwkSet, KeyError, KeySet, PublicJwk, SigningKey, VerifyingKey, sign};

use crate::common::*;

#[test]
fn generated_keys_round_trip_through_pkcs8() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let key = SigningKey::generate(alg).unwrap();
        assert_eq!(key.algorithm(), alg);
        let again = SigningKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.public_jwk(), key.public_jwk());
        assert_ne!(SigningKey::generate(alg).unwrap().kid(), key.kid());
    }
}

#[test]
fn rsa_generation_follows_the_feature() {
    let result = SigningKey::generate(Algorithm::RS256);
    if cfg!(feature = "rsa-keygen") {
        assert_eq!(result.unwrap().algorithm(), Algorithm::RS256);
    } else {
        assert_eq!(result.unwrap_err(), KeyError::RsaGenerationUnavailable);
    }
}

#[test]
fn pem_and_der_import_infer_the_algorithm() {
    for alg in ALGS {
        let key = key(alg);
        assert_eq!(key.algorithm(), alg);
        let jwk = key.public_jwk();
        assert_eq!(jwk.alg.as_deref(), Some(alg.as_str()));
        assert_eq!(jwk.key_use.as_deref(), Some("sig"));
        assert_eq!(jwk.kid.as_deref(), Some(key.kid()));
        assert_eq!(jwk.thumbprint().unwrap(), key.kid());
    }
    let der = include_bytes!("fixtures/rsa2048.der");
    assert_eq!(
        SigningKey::from_pkcs8_der(der).unwrap().kid(),
        key(Algorithm::RS256).kid()
    );
    assert_eq!(
        SigningKey::from_pkcs8_der(b"not a key").unwrap_err(),
        KeyError::InvalidPrivateKey
    );
    assert_eq!(
        SigningKey::from_pkcs8_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .unwrap_err(),
        KeyError::InvalidPem
    );
}

#[test]
fn jwk_members_are_exactly_the_rfc_ones() {
    let members = |alg| {
        let value = serde_json::to_value(key(alg).public_jwk()).unwrap();
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(
        members(Algorithm::EdDSA),
        ["alg", "crv", "kid", "kty", "use", "x"]
    );
    assert_eq!(
        members(Algorithm::ES256),
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    );
    assert_eq!(
        members(Algorithm::RS256),
        ["alg", "e", "kid", "kty", "n", "use"]
    );
    let rsa = key(Algorithm::RS256).public_jwk().clone();
    assert_eq!(rsa.e.as_deref(), Some("AQAB"));
}

#[test]
fn debug_never_shows_private_material() {
    for alg in ALGS {
        let key = key(alg);
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid()));
        let pem_body: String = pem_of(alg)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!shown.contains(&pem_body[..16]));
        assert!(!shown.to_lowercase().contains("pkcs8"));
    }
}

#[test]
fn jwk_loading_refuses_what_does_not_fit() {
    let mut jwk = key(Algorithm::ES256).public_jwk().clone();
    jwk.alg = Some("RS256".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(KeyError::AlgorithmMismatch { .. })
    ));
    let mut jwk = key(Algorithm::ES256).public_jwk().clone();
    jwk.y = None;
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap_err(),
        KeyError::MissingMember("y")
    );
    let oct: PublicJwk = serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0"}"#).unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&oct),
        Err(KeyError::UnsupportedKeyType(_))
    ));
    // A 1024-bit RSA key is too small.
    let small: PublicJwk = serde_json::from_str(&format!(
        r#"{{"kty":"RSA","e":"AQAB","n":"{}"}}"#,
        "w".repeat(171)
    ))
    .unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&small),
        Err(KeyError::InvalidPublicKey(_))
    ));
}

#[test]
fn a_jwk_set_skips_encryption_keys() {
    let sig = key(Algorithm::EdDSA);
    let mut enc = key(Algorithm::RS256).public_jwk().clone();
    enc.key_use = Some("enc".into());
    enc.kid = Some("enc-key".into());
    let set = JwkSet {
        keys: vec![sig.public_jwk().clone(), enc],
    };
    let json = serde_json::to_string(&set).unwrap();
    let back: JwkSet = serde_json::from_str(&json).unwrap();
    let keys = KeySet::from_jwk_set(&back).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.contains(sig.kid()));
    let token = sign(&sig, &claims()).unwrap();
    assert!(validation().verify(&token, &keys, NOW).is_ok());
}

#[test]
fn a_jwk_set_skips_every_key_it_does_not_understand() {
    let good = key(Algorithm::ES256);
    let parse = |json: &str| -> PublicJwk { serde_json::from_str(json).unwrap() };
    let mut ps384 = key(Algorithm::RS256).public_jwk().clone();
    ps384.alg = Some("PS384".into());
    ps384.kid = Some("ps384".into());
    let mut ec_ps256 = key(Algorithm::ES256).public_jwk().clone();
    ec_ps256.alg = Some("PS256".into());
    ec_ps256.kid = Some("ec-ps256".into());
    let mut broken = key(Algorithm::EdDSA).public_jwk().clone();
    broken.x = Some("not base64url!".into());
    broken.kid = Some("broken".into());
    let strangers = vec![
        parse(r#"{"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"}"#),
        parse(r#"{"kty":"OKP","crv":"X25519","kid":"x25519","x":"AA"}"#),
        parse(r#"{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}"#),
        parse(r#"{"kty":"EC","crv":"P-256","kid":"no-y","x":"AA"}"#),
        parse(r#"{"kty":"AKP","kid":"pq","alg":"ML-DSA-44"}"#),
        ps384,
        ec_ps256,
        broken,
    ];
    let mut keys = strangers.clone();
    keys.insert(3, good.public_jwk().clone());
    let set = KeySet::from_jwk_set(&JwkSet { keys }).unwrap();
    assert_eq!(set.len(), 1, "only the key it understands");
    assert!(set.contains(good.kid()));
    let skipped: Vec<_> = set.skipped().iter().map(|s| s.kid.as_deref()).collect();
    let expected: Vec<_> = strangers.iter().map(|k| k.kid.as_deref()).collect();
    assert_eq!(skipped, expected, "each one reported once, in order");
    let token = sign(&good, &claims()).unwrap();
    assert!(validation().verify(&token, &set, NOW).is_ok());

    // Nothing usable is an empty set, not an error: the verifier refuses
    // every token until a usable key arrives.
    let none = KeySet::from_jwk_set(&JwkSet { keys: strangers }).unwrap();
    assert!(none.is_empty());
}

#[test]
fn duplicate_kids_are_one_key_when_they_agree_and_refused_when_they_differ() {
    let a = key(Algorithm::ES256);
    let same = JwkSet {
        keys: vec![a.public_jwk().clone(), a.public_jwk().clone()],
    };
    let set = KeySet::from_jwk_set(&same).unwrap();
    assert_eq!(set.len(), 1);

    let mut impostor = key(Algorithm::EdDSA).public_jwk().clone();
    impostor.kid = Some(a.kid().to_owned());
    let clash = JwkSet {
        keys: vec![a.public_jwk().clone(), impostor],
    };
    assert_eq!(
        KeySet::from_jwk_set(&clash).unwrap_err(),
        KeyError::DuplicateKid(a.kid().to_owned())
    );
}

#[test]
fn signed_len_is_exact_for_every_algorithm() {
    for alg in ALGS {
        let key = key(alg);
        let mut claims = claims();
        claims.aud = m2m_core::Audience::from_list(vec!["a".into(), "b".repeat(300)]);
        let token = sign(&key, &claims).unwrap();
        assert_eq!(m2m_core::signed_len(&key, &claims), token.len(), "{alg}");
        assert!(alg.max_signature_len() >= key.signature_len());
    }
}
