//! JWT client assertions (RFC 7521 §4.2, RFC 7523 §3): the signature check
//! and the claim rules, as pieces a caller composes.
//!
//! - [`verify_assertion`]: the signature, with the same RFC 8725 refusals as
//!   access tokens (`none`, every `HS*`, an unknown `kid`, an `alg` other
//!   than the key's, `crit`/`jku`/`jwk`/`x5u`/`x5c` headers), plus the
//!   refusal of a JWT typed as something else (`at+jwt`, `dpop+jwt`), then
//!   the claims parsed into [`AssertionClaims`].
//! - [`AssertionRules::check`]: `iss`, `sub`, `aud`, `exp` (required, at most
//!   [`AssertionRules::max_lifetime`] ahead), `nbf` and `iat` with leeway,
//!   `jti` (required unless told otherwise, bounded).
//! - [`dangerous::peek_assertion`]: the header and claims *unverified*, to
//!   choose which keys and rules apply (a `private_key_jwt` client, a
//!   federated issuer) before verifying.
//!
//! Replay (a `jti` seen before) needs shared state, so it is the caller's:
//! [`AssertionClaims::replay_until`] says how long to remember a `jti`.
//!
//! ```
//! use m2m_core::*;
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let now = 1_700_000_000;
//! let claims = serde_json::json!({
//!     "iss": "m2m_1", "sub": "m2m_1", "aud": "https://auth.example.com",
//!     "exp": now + 60, "iat": now, "jti": "a1",
//! });
//! let assertion = sign_assertion(&key, &claims)?;
//!
//! let keys = KeySet::from_keys([key.verifying_key()]);
//! let verified = verify_assertion(&assertion, &keys, DEFAULT_MAX_ASSERTION_LEN).unwrap();
//! let rules = AssertionRules::new(["https://auth.example.com"])
//!     .issuer("m2m_1")
//!     .subject("m2m_1");
//! assert_eq!(rules.check(&verified.claims, now + 5), Ok(()));
//! assert_eq!(
//!     AssertionRules::new(["https://other.example"]).check(&verified.claims, now),
//!     Err(AssertionError::WrongAudience)
//! );
//! # Ok::<(), KeyError>(())
//! ```

use std::fmt;

use serde::Deserialize;

use crate::b64;
use crate::claims::Audience;
use crate::error::KeyError;
use crate::key::{KeySet, SigningKey};
use crate::token::{DEFAULT_LEEWAY_SECS, VerifyError, typ_matches, verify_jws};

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The default limit on an assertion's length, in bytes.
pub const DEFAULT_MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The default longest time an assertion's `exp` may lie ahead, in seconds.
pub const DEFAULT_MAX_ASSERTION_LIFETIME_SECS: u64 = 300;
/// The longest `jti` accepted, in bytes.
pub const MAX_JTI_LEN: usize = 256;
/// The longest `iss` or `sub` accepted, in bytes.
pub const MAX_ASSERTION_ID_LEN: usize = 2048;

/// JWT types that are other kinds of token, refused as assertions (RFC 8725 §3.11).
const OTHER_TYPES: [&str; 2] = ["at+jwt", "dpop+jwt"];

/// The claims of a client assertion. Members other than the registered
/// ones are kept in [`AssertionClaims::other`], for rules about them (a
/// federated token's `repository`, say).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssertionClaims {
    /// Issuer: the client itself for `private_key_jwt`.
    pub iss: String,
    /// Subject: the client id for client authentication.
    pub sub: String,
    /// Audience: must name the authorization server.
    pub aud: Audience,
    /// Expiry, seconds since the epoch (required by [`AssertionRules::check`]).
    #[serde(default)]
    pub exp: Option<u64>,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<u64>,
    /// The assertion's unique id, for replay detection.
    #[serde(default)]
    pub jti: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl AssertionClaims {
    /// Until when a verifier with `leeway` could still accept this
    /// assertion, so until when its `jti` must be remembered: `exp + leeway`
    /// (`None` without `exp`).
    pub fn replay_until(&self, leeway: u64) -> Option<u64> {
        self.exp.map(|exp| exp.saturating_add(leeway))
    }
}

/// An assertion whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAssertion {
    /// Its claims, not yet checked against any rule.
    pub claims: AssertionClaims,
    /// The `kid` of the key that verified it, if it named one.
    pub kid: Option<String>,
}

/// Why an assertion was refused. Every variant answers `invalid_client`
/// (or `invalid_grant` for the JWT-bearer grant); they let logs say why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionError {
    /// The JWS itself: size, encoding, header, algorithm, key or signature.
    Jws(VerifyError),
    /// The payload is not a JSON object with string `iss`, `sub` and an `aud`.
    ClaimsJson(String),
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `sub` is not the expected subject.
    WrongSubject,
    /// `aud` names none of the expected audiences.
    WrongAudience,
    /// No `exp`.
    MissingExp,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `exp` lies further ahead than the allowed lifetime.
    TooLongLived {
        /// The longest lifetime allowed, in seconds.
        max: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// No `jti`, or an empty one.
    MissingJti,
    /// `jti`, `iss` or `sub` is longer than allowed.
    TooLongClaim(&'static str),
}

impl AssertionError {
    /// A short, stable reason for logs, audit and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AssertionError::Jws(e) => e.reason(),
            AssertionError::ClaimsJson(_) => "bad_claims",
            AssertionError::WrongIssuer => "wrong_issuer",
            AssertionError::WrongSubject => "wrong_subject",
            AssertionError::WrongAudience => "wrong_audience",
            AssertionError::MissingExp => "missing_exp",
            AssertionError::Expired => "expired",
            AssertionError::TooLongLived { .. } => "too_long_lived",
            AssertionError::NotYetValid => "not_yet_valid",
            AssertionError::IssuedInFuture => "issued_in_future",
            AssertionError::MissingJti => "missing_jti",
            AssertionError::TooLongClaim(_) => "claim_too_long",
        }
    }
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssertionError::Jws(e) => write!(f, "assertion: {e}"),
            AssertionError::ClaimsJson(why) => write!(f, "assertion claims are invalid: {why}"),
            AssertionError::WrongIssuer => f.write_str("assertion issuer is not the expected one"),
            AssertionError::WrongSubject => {
                f.write_str("assertion subject is not the expected one")
            }
            AssertionError::WrongAudience => {
                f.write_str("assertion audience does not name this server")
            }
            AssertionError::MissingExp => f.write_str("assertion has no exp"),
            AssertionError::Expired => f.write_str("assertion has expired"),
            AssertionError::TooLongLived { max } => {
                write!(f, "assertion expires more than {max} s ahead")
            }
            AssertionError::NotYetValid => f.write_str("assertion is not valid yet"),
            AssertionError::IssuedInFuture => f.write_str("assertion was issued in the future"),
            AssertionError::MissingJti => f.write_str("assertion has no jti"),
            AssertionError::TooLongClaim(name) => write!(f, "assertion claim {name} is too long"),
        }
    }
}

impl std::error::Error for AssertionError {}

impl From<VerifyError> for AssertionError {
    fn from(e: VerifyError) -> Self {
        AssertionError::Jws(e)
    }
}

/// Verifies an assertion's signature against `keys` and parses its claims.
/// No rule about the claims is applied yet: see [`AssertionRules::check`].
pub fn verify_assertion(
    assertion: &str,
    keys: &KeySet,
    max_len: usize,
) -> Result<VerifiedAssertion, AssertionError> {
    let jws = verify_jws(assertion, keys, max_len, |typ| {
        !typ.is_some_and(|t| OTHER_TYPES.iter().any(|other| typ_matches(t, other)))
    })?;
    let claims = parse_claims(&jws.payload)?;
    Ok(VerifiedAssertion {
        claims,
        kid: jws.kid,
    })
}

fn parse_claims(payload: &[u8]) -> Result<AssertionClaims, AssertionError> {
    let claims: AssertionClaims =
        serde_json::from_slice(payload).map_err(|e| AssertionError::ClaimsJson(e.to_string()))?;
    for (value, name) in [(&claims.iss, "iss"), (&claims.sub, "sub")] {
        if value.len() > MAX_ASSERTION_ID_LEN {
            return Err(AssertionError::TooLongClaim(name));
        }
    }
    if claims.jti.as_ref().is_some_and(|j| j.len() > MAX_JTI_LEN) {
        return Err(AssertionError::TooLongClaim("jti"));
    }
    Ok(claims)
}

/// Signs `claims` (any JSON object) as a JWT with header `{"alg","kid","typ":"JWT"}`:
/// what a client sends as its `client_assertion`.
pub fn sign_assertion(key: &SigningKey, claims: &serde_json::Value) -> Result<String, KeyError> {
    let header = serde_json::json!({
        "alg": key.algorithm().as_str(),
        "kid": key.kid(),
        "typ": "JWT",
    });
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::CryptoFailure)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::CryptoFailure)?;
    let mut out = b64::encode(header);
    out.push('.');
    b64::encode_into(payload, &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    b64::encode_into(signature, &mut out);
    Ok(out)
}

/// What an assertion's claims must say. Build one per use: `private_key_jwt`
/// sets issuer and subject to the client id; a federated credential sets its
/// own issuer, subject and audience, and may not require a `jti`.
#[derive(Debug, Clone)]
#[must_use]
pub struct AssertionRules {
    issuer: Option<String>,
    subject: Option<String>,
    audiences: Vec<String>,
    leeway: u64,
    max_lifetime: u64,
    require_jti: bool,
}

impl AssertionRules {
    /// Assertions whose `aud` names one of `audiences`, with `exp` at most
    /// [`DEFAULT_MAX_ASSERTION_LIFETIME_SECS`] ahead, a leeway of
    /// [`DEFAULT_LEEWAY_SECS`], and a `jti` required. Issuer and subject are
    /// not checked until set.
    pub fn new<A: Into<String>>(audiences: impl IntoIterator<Item = A>) -> Self {
        AssertionRules {
            issuer: None,
            subject: None,
            audiences: audiences.into_iter().map(Into::into).collect(),
            leeway: DEFAULT_LEEWAY_SECS,
            max_lifetime: DEFAULT_MAX_ASSERTION_LIFETIME_SECS,
            require_jti: true,
        }
    }

    /// `iss` must equal `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// `sub` must equal `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// How far ahead `exp` may lie, in seconds (plus the leeway, for a
    /// client whose clock is ahead).
    pub fn max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// Whether a `jti` is required (default: yes).
    pub fn require_jti(mut self, required: bool) -> Self {
        self.require_jti = required;
        self
    }

    /// The configured leeway, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }

    /// Checks `claims` at `now`: issuer, subject, audience, then time, then `jti`.
    pub fn check(&self, claims: &AssertionClaims, now: u64) -> Result<(), AssertionError> {
        if self.issuer.as_ref().is_some_and(|iss| *iss != claims.iss) {
            return Err(AssertionError::WrongIssuer);
        }
        if self.subject.as_ref().is_some_and(|sub| *sub != claims.sub) {
            return Err(AssertionError::WrongSubject);
        }
        if !self.audiences.iter().any(|aud| claims.aud.contains(aud)) {
            return Err(AssertionError::WrongAudience);
        }
        let exp = claims.exp.ok_or(AssertionError::MissingExp)?;
        if exp.saturating_add(self.leeway) <= now {
            return Err(AssertionError::Expired);
        }
        if exp
            > now
                .saturating_add(self.max_lifetime)
                .saturating_add(self.leeway)
        {
            return Err(AssertionError::TooLongLived {
                max: self.max_lifetime,
            });
        }
        let ahead = now.saturating_add(self.leeway);
        if claims.nbf.is_some_and(|nbf| nbf > ahead) {
            return Err(AssertionError::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat > ahead) {
            return Err(AssertionError::IssuedInFuture);
        }
        if self.require_jti && claims.jti.as_deref().is_none_or(str::is_empty) {
            return Err(AssertionError::MissingJti);
        }
        Ok(())
    }
}

/// Reading an assertion without verifying it. Nothing read here may be
/// trusted: it only chooses which keys and rules to verify the assertion
/// with, and the verified claims are what counts.
pub(crate) mod dangerous {
    use super::{AssertionClaims, AssertionError, parse_claims};
    use crate::b64;
    use crate::token::VerifyError;

    /// An assertion's header members and claims, unverified.
    #[derive(Debug, Clone, PartialEq)]
    pub struct UnverifiedAssertion {
        /// The header's `alg`.
        pub alg: String,
        /// The header's `kid`.
        pub kid: Option<String>,
        /// The claims, as they claim to be.
        pub claims: AssertionClaims,
    }

    #[derive(serde::Deserialize)]
    struct PeekHeader {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
    }

    /// Decodes an assertion's header and claims *without checking the
    /// signature*, bounded by `max_len`. Use it only to choose how to
    /// verify, then verify with [`verify_assertion`](super::verify_assertion).
    pub fn peek_assertion(
        assertion: &str,
        max_len: usize,
    ) -> Result<UnverifiedAssertion, AssertionError> {
        if assertion.len() > max_len {
            return Err(VerifyError::TooLarge {
                len: assertion.len(),
                max: max_len,
            }
            .into());
        }
        let mut parts = assertion.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed.into());
        };
        let header = b64::decode(header).ok_or(VerifyError::Base64)?;
        let header: PeekHeader =
            serde_json::from_slice(&header).map_err(|_| VerifyError::HeaderJson)?;
        let payload = b64::decode(payload).ok_or(VerifyError::Base64)?;
        Ok(UnverifiedAssertion {
            alg: header.alg,
            kid: header.kid,
            claims: parse_claims(&payload)?,
        })
    }
}
