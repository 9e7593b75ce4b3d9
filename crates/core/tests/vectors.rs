//! Published test vectors, reproduced byte for byte.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{Algorithm, PublicJwk, SigningKey, VerifyingKey};

/// RFC 8037 appendix A.1-A.4: the Ed25519 key, its thumbprint, and the JWS.
#[test]
fn rfc8037_ed25519_jws() {
    let d = URL_SAFE_NO_PAD
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let key = SigningKey::ed25519_from_seed(&d.try_into().unwrap()).unwrap();
    let jwk = key.public_jwk();
    assert_eq!(jwk.kty, "OKP");
    assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
    assert_eq!(
        jwk.x.as_deref(),
        Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    );
    // A.3: the thumbprint, which is also our kid.
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");

    // A.4: sign {"alg":"EdDSA"} . "Example of Ed25519 signing".
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#);
    let payload = URL_SAFE_NO_PAD.encode(b"Example of Ed25519 signing");
    assert_eq!(header, "eyJhbGciOiJFZERTQSJ9");
    assert_eq!(payload, "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap());
    let jws = format!("{input}.{signature}");
    assert_eq!(
        jws,
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );

    // A.5: the public key verifies it, and not a changed message.
    let public: PublicJwk = serde_json::from_str(
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    )
    .unwrap();
    let verifier = VerifyingKey::from_jwk(&public).unwrap();
    assert_eq!(verifier.algorithm(), Algorithm::EdDSA);
    let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert!(verifier.verify(input.as_bytes(), &raw));
    assert!(!verifier.verify(b"Example of Ed25519 signinG", &raw));
}

/// RFC 7638 section 3.1: the RSA example key's thumbprint.
#[test]
fn rfc7638_rsa_thumbprint() {
    let jwk: PublicJwk = serde_json::from_str(
        r#"{
          "kty": "RSA",
          "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
          "e": "AQAB",
          "alg": "RS256",
          "kid": "2011-04-29"
        }"#,
    )
    .unwrap();
    assert_eq!(
        jwk.thumbprint().unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // The key is usable as an RS256 verifier.
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap().algorithm(),
        Algorithm::RS256
    );
}
