//! m2m-core: the types that the m2m-auth issuer and guard share, so they can
//! never disagree on a claim, a scope or a key.
//!
//! - [`Scope`], [`ScopeSet`], [`ScopeRequirement`]: scope syntax and checks.
//! - [`AccessTokenClaims`], [`Audience`], [`ClientId`], [`OrgId`], [`UserId`]: token contents.
//! - [`ClientKind`], [`TokenTtl`]: client registration rules.
//! - [`ClientSecret`], [`SecretHasher`]: credentials and how they are stored.
//! - [`SigningKey`], [`VerifyingKey`], [`KeySet`], [`PublicJwk`], [`JwkSet`]: keys.
//! - [`KeyRing`], [`RotationPolicy`]: rotation as pure functions of time.
//! - [`sign`], [`Validation`]: JWS compact tokens, signed and verified with ring.
//! - [`verify_assertion`], [`AssertionRules`]: JWT client assertions (RFC 7523);
//!   [`dangerous::peek_assertion`] reads one unverified, to choose its keys.
//! - [`DpopValidation`], [`sign_proof`], [`DpopNonces`]: DPoP proofs (RFC 9449).
//! - [`Revocation`] ([`RevokedToken`], [`RevokedClient`], [`RevokedKey`]) and
//!   [`RevocationFeed`]: one revocation type for the store, the feed and guards.
//!
//! No I/O, no async, no global state: time is always passed in.
//!
//! ```
//! use m2m_core::*;
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let now = 1_700_000_000;
//! let claims = AccessTokenClaims {
//!     iss: "https://auth.example.com".into(),
//!     sub: "m2m_1".into(),
//!     client_id: "m2m_1".into(),
//!     aud: Audience::from("https://api.example.com"),
//!     iat: now, nbf: Some(now), exp: now + 3600,
//!     jti: random_id("").unwrap(),
//!     scope: "invoices:read".parse().unwrap(),
//!     oid: Some("org_1".into()),
//!     uid: None,
//!     cnf: None,
//!     act: None,
//!     may_act: None,
//! };
//! let token = sign(&key, &claims)?;
//!
//! let keys = KeySet::from_jwk_set(&JwkSet { keys: vec![key.public_jwk().clone()] })?;
//! let validation = Validation::new("https://auth.example.com", "https://api.example.com");
//! let verified = validation.verify(&token, &keys, now + 10).expect("valid token");
//! assert!(verified.claims.has_scope("invoices:read"));
//! assert_eq!(
//!     validation.verify(&token, &keys, now + 7200),
//!     Err(VerifyError::Expired)
//! );
//! # Ok::<(), KeyError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assertion;
mod b64;
mod claims;
mod client;
mod credentials;
mod dpop;
mod error;
mod ids;
mod jwk;
mod key;
mod keyring;
mod revocation;
mod scope;
mod token;

pub use assertion::{
    AssertionClaims, AssertionError, AssertionRules, CLIENT_ASSERTION_TYPE_JWT,
    DEFAULT_MAX_ASSERTION_LEN, DEFAULT_MAX_ASSERTION_LIFETIME_SECS, MAX_ASSERTION_ID_LEN,
    MAX_JTI_LEN, VerifiedAssertion, sign_assertion, verify_assertion,
};
pub use claims::{AccessTokenClaims, Actor, Audience, Confirmation, MAX_DELEGATION_DEPTH, MayAct};
pub use client::{BindingError, ClientKind, TokenTtl, TtlOutOfRange, UnknownClientKind};
pub use credentials::{
    CLIENT_ID_PREFIX, CLIENT_SECRET_PREFIX, ClientSecret, MAX_SECRET_LEN, RandomnessUnavailable,
    SecretHash, SecretHasher, random_bytes, random_id,
};
/// Reading tokens without verifying them: only to choose how to verify.
pub mod dangerous {
    pub use crate::assertion::dangerous::{UnverifiedAssertion, peek_assertion};
}
pub use dpop::{
    DEFAULT_IAT_FUTURE_SECS, DEFAULT_IAT_PAST_SECS, DEFAULT_MAX_PROOF_LEN, DPOP_TYP, DpopError,
    DpopNonces, DpopValidation, MAX_HTU_LEN, MAX_NONCE_LEN, ProofRequest, VerifiedProof,
    access_token_hash, normalize_htu, sign_proof,
};
pub use error::KeyError;
pub use ids::{ClientId, InvalidId, MAX_ID_LEN, OrgId, UserId, validate_id};
pub use jwk::{JwkSet, PublicJwk};
pub use key::{Algorithm, KeySet, SigningKey, SkippedKey, VerifyingKey};
pub use keyring::{KeyRing, KeySchedule, KeyState, RingEntry, RotationPolicy};
pub use revocation::{Revocation, RevocationFeed, RevokedClient, RevokedKey, RevokedToken};
pub use scope::{MAX_SCOPE_LEN, Scope, ScopeError, ScopeRequirement, ScopeSet};
pub use token::{
    ACCESS_TOKEN_TYP, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_LEN, Validation, VerifiedToken,
    VerifyError, sign, signed_len,
};

/// Seconds since the Unix epoch, from the system clock (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
