//! jsonwebtoken is the independent reference: our tokens verify with it, and
//! its tokens verify with us, for each algorithm.

use jsonwebtoken as jwt;
use m2m_core::{AccessTokenClaims, Algorithm, sign};

use crate::common::*;

fn jwt_alg(alg: Algorithm) -> jwt::Algorithm {
    match alg {
        Algorithm::EdDSA => jwt::Algorithm::EdDSA,
        Algorithm::ES256 => jwt::Algorithm::ES256,
        Algorithm::RS256 => jwt::Algorithm::RS256,
        Algorithm::PS256 => jwt::Algorithm::PS256,
    }
}

fn jwt_validation(alg: Algorithm) -> jwt::Validation {
    let mut validation = jwt::Validation::new(jwt_alg(alg));
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation
}

#[test]
fn our_tokens_verify_with_jsonwebtoken() {
    let mut live = claims();
    let now = m2m_core::now_unix();
    live.iat = now;
    live.nbf = Some(now);
    live.exp = now + 600;
    for alg in ALGS {
        let key = key(alg);
        let token = sign(&key, &live).unwrap();

        let header = jwt::decode_header(&token).unwrap();
        assert_eq!(header.alg, jwt_alg(alg));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        // jsonwebtoken reads the JWK exactly as we publish it.
        let jwk: jwt::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        let decoding = jwt::DecodingKey::from_jwk(&jwk).unwrap();
        let data = jwt::decode::<serde_json::Value>(&token, &decoding, &jwt_validation(alg))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let expected = serde_json::to_value(&live).unwrap();
        assert_eq!(data.claims, expected, "{alg}");
        assert_eq!(data.claims["scopes"][0], "customers:read");

        // And it refuses a tampered one, as we do.
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 8..tampered.len() - 4, "AAAA");
        assert!(
            jwt::decode::<serde_json::Value>(&tampered, &decoding, &jwt_validation(alg)).is_err()
        );
    }
}

#[test]
fn jsonwebtoken_tokens_verify_with_us() {
    for alg in ALGS {
        let key = key(alg);
        let pem = pem_of(alg).as_bytes();
        let encoding = match alg {
            Algorithm::EdDSA => jwt::EncodingKey::from_ed_pem(pem),
            Algorithm::ES256 => jwt::EncodingKey::from_ec_pem(pem),
            Algorithm::RS256 | Algorithm::PS256 => jwt::EncodingKey::from_rsa_pem(pem),
        }
        .unwrap();
        let mut header = jwt::Header::new(jwt_alg(alg));
        header.kid = Some(key.kid().to_owned());
        header.typ = Some("at+jwt".to_owned());
        let token = jwt::encode(&header, &claims(), &encoding).unwrap();

        let verified = validation()
            .verify(&token, &keys_of(&key), NOW + 1)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.claims, claims());

        // jsonwebtoken's default `typ` is JWT, which is not an access token.
        let mut plain = jwt::Header::new(jwt_alg(alg));
        plain.kid = Some(key.kid().to_owned());
        let token = jwt::encode(&plain, &claims(), &encoding).unwrap();
        assert_eq!(
            validation().verify(&token, &keys_of(&key), NOW + 1),
            Err(m2m_core::VerifyError::WrongType(Some("JWT".into())))
        );
    }
}

#[test]
fn claims_written_by_jsonwebtoken_without_scopes_array_are_read() {
    // Another issuer may send only the RFC 9068 `scope` string.
    let key = key(Algorithm::EdDSA);
    let encoding = jwt::EncodingKey::from_ed_pem(ED25519_PEM.as_bytes()).unwrap();
    let mut header = jwt::Header::new(jwt::Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some("at+jwt".to_owned());
    let mut value = serde_json::to_value(claims()).unwrap();
    value.as_object_mut().unwrap().remove("scopes");
    let token = jwt::encode(&header, &value, &encoding).unwrap();
    let verified: AccessTokenClaims = validation()
        .verify(&token, &keys_of(&key), NOW)
        .unwrap()
        .claims;
    assert!(verified.has_scope("invoices:write"));
}
