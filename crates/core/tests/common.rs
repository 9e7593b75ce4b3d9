//! Shared test material: committed key fixtures and typical claims.

use m2m_core::{AccessTokenClaims, Algorithm, Audience, KeySet, SigningKey, Validation};

pub(crate) const ISS: &str = "https://auth.example.com";
pub(crate) const AUD: &str = "https://api.example.com";
pub(crate) const NOW: u64 = 1_700_000_000;

pub(crate) const RSA_PEM: &str = include_str!("fixtures/rsa2048.pem");
pub(crate) const ED25519_PEM: &str = include_str!("fixtures/ed25519.pem");
pub(crate) const P256_PEM: &str = include_str!("fixtures/p256.pem");

pub(crate) const ALGS: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// A fixed key per algorithm (RSA from a fixture: generating one is slow).
pub(crate) fn key(alg: Algorithm) -> SigningKey {
    let pem = match alg {
        Algorithm::EdDSA => ED25519_PEM,
        Algorithm::ES256 => P256_PEM,
        // An RSA key signs RS256; PS256 is only verified (tests/ps256.rs).
        Algorithm::RS256 | Algorithm::PS256 => RSA_PEM,
    };
    SigningKey::from_pkcs8_pem(pem).expect("fixture key loads")
}

pub(crate) fn pem_of(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => ED25519_PEM,
        Algorithm::ES256 => P256_PEM,
        Algorithm::RS256 | Algorithm::PS256 => RSA_PEM,
    }
}

/// A typical token's claims (about 300 bytes of JSON).
pub(crate) fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        client_id: "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t".into(),
        aud: Audience::from(AUD),
        exp: NOW + 3600,
        nbf: Some(NOW),
        iat: NOW,
        jti: "c2m4q8s0u2w4y6a8c0e2g4i6k8".into(),
        scope: "invoices:read invoices:write customers:read"
            .parse()
            .unwrap(),
        oid: Some("org_5f2a9c".into()),
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

pub(crate) fn validation() -> Validation {
    Validation::new(ISS, AUD)
}

pub(crate) fn keys_of(key: &SigningKey) -> KeySet {
    KeySet::from_keys([key.verifying_key()])
}
