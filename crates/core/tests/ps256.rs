//! PS256 (RSASSA-PSS, RFC 7518 §3.5): verified for an RSA key whose JWK
//! declares it, with jsonwebtoken as the independent signer. One key, one
//! algorithm: an RSA JWK without `alg` stays RS256, a PS256 key refuses
//! RS256, and no EC or OKP key is ever PS256.

use jsonwebtoken as jwt;
use m2m_core::{
    Algorithm, AssertionError, AssertionRules, DEFAULT_MAX_ASSERTION_LEN, JwkSet, KeyError, KeySet,
    PublicJwk, SigningKey, VerifyError, VerifyingKey, verify_assertion,
};
use serde_json::json;

use crate::common::*;

const CLIENT: &str = "m2m_ps256";

fn rsa_jwk(alg: Option<&str>, kid: &str) -> PublicJwk {
    let mut jwk = key(Algorithm::RS256).public_jwk().clone();
    jwk.alg = alg.map(str::to_owned);
    jwk.kid = Some(kid.to_owned());
    jwk
}

fn keys(jwk: PublicJwk) -> KeySet {
    let set = KeySet::from_jwk_set(&JwkSet { keys: vec![jwk] }).unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    set
}

fn assertion_claims() -> serde_json::Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": ISS, "exp": NOW + 60, "iat": NOW, "jti": "ps1"})
}

/// An assertion signed by jsonwebtoken with the RSA fixture.
fn mint(alg: jwt::Algorithm, kid: Option<&str>, pem: &str) -> String {
    let encoding = match alg {
        jwt::Algorithm::ES256 => jwt::EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => jwt::EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut header = jwt::Header::new(alg);
    header.kid = kid.map(str::to_owned);
    header.typ = Some("JWT".to_owned());
    jwt::encode(&header, &assertion_claims(), &encoding).unwrap()
}

fn verify(assertion: &str, keys: &KeySet) -> Result<(), AssertionError> {
    let verified = verify_assertion(assertion, keys, DEFAULT_MAX_ASSERTION_LEN)?;
    AssertionRules::new([ISS])
        .issuer(CLIENT)
        .subject(CLIENT)
        .check(&verified.claims, NOW + 1)
}

#[test]
fn an_rsa_key_declared_ps256_verifies_ps256_assertions() {
    let jwk = rsa_jwk(Some("PS256"), "rsa-pss");
    let key = VerifyingKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.algorithm(), Algorithm::PS256);
    assert_eq!("PS256".parse::<Algorithm>().unwrap(), Algorithm::PS256);
    let keys = keys(jwk);
    let assertion = mint(jwt::Algorithm::PS256, Some("rsa-pss"), RSA_PEM);
    assert_eq!(verify(&assertion, &keys), Ok(()));
    // Without a kid, the only key.
    let assertion = mint(jwt::Algorithm::PS256, None, RSA_PEM);
    assert_eq!(verify(&assertion, &keys), Ok(()));

    // A tampered signature is refused.
    let mut tampered = mint(jwt::Algorithm::PS256, Some("rsa-pss"), RSA_PEM);
    let at = tampered.len() - 6;
    let swapped = if &tampered[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, swapped);
    assert_eq!(
        verify(&tampered, &keys),
        Err(AssertionError::Jws(VerifyError::BadSignature))
    );
}

#[test]
fn one_rsa_key_verifies_one_algorithm() {
    // Declared PS256: an RS256 (PKCS#1 v1.5) signature by the same key is refused.
    let pss = keys(rsa_jwk(Some("PS256"), "rsa"));
    let rs256 = mint(jwt::Algorithm::RS256, Some("rsa"), RSA_PEM);
    assert!(matches!(
        verify(&rs256, &pss),
        Err(AssertionError::Jws(VerifyError::AlgorithmMismatch { .. }))
    ));
    // No `alg` (or RS256): the key is RS256, and a PS256 signature is refused.
    for alg in [None, Some("RS256")] {
        let pkcs1 = keys(rsa_jwk(alg, "rsa"));
        assert_eq!(verify(&rs256, &pkcs1), Ok(()), "{alg:?}");
        let ps256 = mint(jwt::Algorithm::PS256, Some("rsa"), RSA_PEM);
        assert!(
            matches!(
                verify(&ps256, &pkcs1),
                Err(AssertionError::Jws(VerifyError::AlgorithmMismatch { .. }))
            ),
            "{alg:?}"
        );
    }
}

#[test]
fn ps256_by_another_rsa_key_is_refused() {
    // The same kid, another key's signature: what an attacker without the
    // registered private key sends.
    let registered = keys(rsa_jwk(Some("PS256"), "rsa"));
    // Sign with the RSA fixture, verify against a PS256 key of different
    // material (a modulus of the same size, flipped low bits).
    let mut foreign = rsa_jwk(Some("PS256"), "rsa");
    let mut n = foreign.n.clone().unwrap();
    let last = n.pop().unwrap();
    n.push(if last == 'A' { 'B' } else { 'A' });
    foreign.n = Some(n);
    let foreign = keys(foreign);
    let assertion = mint(jwt::Algorithm::PS256, Some("rsa"), RSA_PEM);
    assert_eq!(verify(&assertion, &registered), Ok(()));
    assert_eq!(
        verify(&assertion, &foreign),
        Err(AssertionError::Jws(VerifyError::BadSignature))
    );
}

#[test]
fn ps256_never_fits_an_ec_or_okp_key() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let mut jwk = key(alg).public_jwk().clone();
        jwk.alg = Some("PS256".into());
        assert!(
            matches!(
                VerifyingKey::from_jwk(&jwk),
                Err(KeyError::AlgorithmMismatch { .. })
            ),
            "{alg}"
        );
    }
    // A PS256 header against a P-256 key: the key decides, and it is ES256.
    let p256 = key(Algorithm::ES256);
    let keys = KeySet::from_keys([p256.verifying_key()]);
    let assertion = mint(jwt::Algorithm::PS256, Some(p256.kid()), RSA_PEM);
    assert!(matches!(
        verify(&assertion, &keys),
        Err(AssertionError::Jws(VerifyError::AlgorithmMismatch { .. }))
    ));
}

#[test]
fn ps256_needs_a_2048_bit_modulus() {
    // A 1,024-bit modulus (the first 128 bytes of the fixture's) is refused
    // whatever the declared algorithm.
    for alg in [Some("PS256"), Some("RS256"), None] {
        let mut jwk = rsa_jwk(alg, "short");
        let n = b64_decode(jwk.n.as_deref().unwrap());
        jwk.n = Some(b64_encode(&n[..128]));
        assert!(
            matches!(
                VerifyingKey::from_jwk(&jwk),
                Err(KeyError::InvalidPublicKey(_))
            ),
            "{alg:?}"
        );
    }
}

#[test]
fn no_signing_key_signs_ps256() {
    assert!(matches!(
        SigningKey::generate(Algorithm::PS256),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
