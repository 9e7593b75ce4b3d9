//! Access tokens as JWS compact JWTs: [`sign`] and [`Validation::verify`].
//!
//! Verification follows RFC 8725 and RFC 9068:
//!
//! 1. The token's length is checked before anything is decoded.
//! 2. The header must be strict base64url JSON; `crit`, `jku`, `jwk`, `x5u` and
//!    `x5c` are refused, as is any `typ` other than `at+jwt`.
//! 3. `none` and every `HS*` are refused outright; the key is found by `kid`,
//!    and the header's `alg` must equal the algorithm the key declares.
//! 4. The signature is checked before the claims are parsed.
//! 5. `exp` is required; `exp`, `nbf` and `iat` are checked with leeway;
//!    `iss` and `aud` must match exactly.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::b64;
use crate::claims::AccessTokenClaims;
use crate::error::KeyError;
use crate::key::{Algorithm, KeySet, SigningKey};

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The default limit on a token's length, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The default clock leeway, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Signs `claims` into a compact JWT with header `{"alg","kid","typ":"at+jwt"}`.
///
/// ```
/// use m2m_core::{sign, Algorithm, AccessTokenClaims, Audience, KeySet, SigningKey, Validation};
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let claims = AccessTokenClaims {
///     iss: "https://auth.example.com".into(),
///     sub: "m2m_1".into(),
///     client_id: "m2m_1".into(),
///     aud: Audience::from("https://api.example.com"),
///     iat: 1_700_000_000,
///     nbf: Some(1_700_000_000),
///     exp: 1_700_003_600,
///     jti: "j1".into(),
///     scope: "invoices:read".parse().unwrap(),
///     oid: None,
///     uid: None,
///     cnf: None,
///     act: None,
///     may_act: None,
/// };
/// let token = sign(&key, &claims)?;
/// let keys = KeySet::from_keys([key.verifying_key()]);
/// let validation = Validation::new("https://auth.example.com", "https://api.example.com");
/// let verified = validation.verify(&token, &keys, 1_700_000_100).unwrap();
/// assert_eq!(verified.claims, claims);
/// # Ok::<(), m2m_core::KeyError>(())
/// ```
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> Result<String, KeyError> {
    // Sized for a typical token's claims, so serde_json does not regrow it.
    let mut payload = Vec::with_capacity(512);
    serde_json::to_writer(&mut payload, claims).map_err(|_| KeyError::CryptoFailure)?;
    let header = key.header_b64();
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 360);
    token.push_str(header);
    token.push('.');
    b64::encode_into(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    b64::encode_into(&signature, &mut token);
    Ok(token)
}

/// The exact length in bytes of the token [`sign`] makes of `claims` with
/// `key`, without signing: an issuer checks with it that every token it can
/// mint stays under the verifiers' size limit.
///
/// ```
/// use m2m_core::{sign, signed_len, Algorithm, AccessTokenClaims, SigningKey};
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// # let claims: AccessTokenClaims = serde_json::from_str(r#"{"iss":"i","sub":"s",
/// #   "client_id":"m2m_x","aud":["a","b"],"exp":2,"iat":1,"jti":"j","scope":"x:y"}"#).unwrap();
/// assert_eq!(signed_len(&key, &claims), sign(&key, &claims)?.len());
/// # Ok::<(), m2m_core::KeyError>(())
/// ```
pub fn signed_len(key: &SigningKey, claims: &AccessTokenClaims) -> usize {
    let payload = serde_json::to_vec(claims).map_or(usize::MAX / 2, |p| p.len());
    key.header_b64().len() + 1 + b64_len(payload) + 1 + b64_len(key.signature_len())
}

/// The length of unpadded base64url of `bytes` bytes.
fn b64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Why a token was refused. Every variant is a reason to answer
/// `invalid_token` (RFC 6750 §3.1); the variants let logs say which.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than the configured limit; nothing was decoded.
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not three dot-separated parts.
    Malformed,
    /// A part is not strict, unpadded base64url.
    Base64,
    /// The header is not a JSON object with a string `alg`.
    HeaderJson,
    /// `alg` is `none`.
    NoneAlgorithm,
    /// `alg` is an HMAC algorithm (`HS256`...): never accepted, to rule out key confusion.
    SymmetricAlgorithm,
    /// `alg` is not one of EdDSA, ES256, RS256 and PS256.
    UnsupportedAlgorithm(String),
    /// The header has a member this verifier refuses (`crit`, `jku`, `jwk`, `x5u`, `x5c`).
    ForbiddenHeader(&'static str),
    /// `typ` is missing or is not `at+jwt`.
    WrongType(Option<String>),
    /// No trusted key has the token's `kid`.
    UnknownKid(String),
    /// The token has no `kid` and more than one key is trusted.
    MissingKid,
    /// The header's `alg` differs from the algorithm the key declares.
    AlgorithmMismatch {
        /// The token's `alg`.
        token: String,
        /// The key's algorithm.
        key: Algorithm,
    },
    /// The signature does not verify.
    BadSignature,
    /// The payload is not JSON, lacks a required claim, or has a claim of the wrong type.
    ClaimsJson(String),
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not an expected issuer.
    WrongIssuer,
    /// `aud` names none of the expected audiences.
    WrongAudience,
}

impl VerifyError {
    /// A short, stable reason for logs and metrics (`expired`, `bad_signature`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::TooLarge { .. } => "too_large",
            VerifyError::Malformed => "malformed",
            VerifyError::Base64 => "bad_base64",
            VerifyError::HeaderJson => "bad_header",
            VerifyError::NoneAlgorithm => "alg_none",
            VerifyError::SymmetricAlgorithm => "alg_symmetric",
            VerifyError::UnsupportedAlgorithm(_) => "alg_unsupported",
            VerifyError::ForbiddenHeader(_) => "forbidden_header",
            VerifyError::WrongType(_) => "wrong_typ",
            VerifyError::UnknownKid(_) => "unknown_kid",
            VerifyError::MissingKid => "missing_kid",
            VerifyError::AlgorithmMismatch { .. } => "alg_mismatch",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::ClaimsJson(_) => "bad_claims",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::IssuedInFuture => "issued_in_future",
            VerifyError::WrongIssuer => "wrong_issuer",
            VerifyError::WrongAudience => "wrong_audience",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::TooLarge { len, max } => {
                write!(f, "token is {len} bytes; the limit is {max}")
            }
            VerifyError::Malformed => f.write_str("token is not a JWS compact serialization"),
            VerifyError::Base64 => f.write_str("token part is not base64url without padding"),
            VerifyError::HeaderJson => f.write_str("token header is not valid JSON"),
            VerifyError::NoneAlgorithm => f.write_str("unsigned tokens (alg none) are refused"),
            VerifyError::SymmetricAlgorithm => f.write_str("HMAC-signed tokens are refused"),
            VerifyError::UnsupportedAlgorithm(alg) => {
                write!(f, "algorithm {alg:?} is not supported")
            }
            VerifyError::ForbiddenHeader(name) => write!(f, "header `{name}` is not accepted"),
            VerifyError::WrongType(Some(typ)) => write!(f, "token type {typ:?} is not at+jwt"),
            VerifyError::WrongType(None) => {
                f.write_str("token type is missing; at+jwt is required")
            }
            VerifyError::UnknownKid(_) => f.write_str("token is signed by an unknown key"),
            VerifyError::MissingKid => f.write_str("token has no kid and several keys are trusted"),
            VerifyError::AlgorithmMismatch { token, key } => {
                write!(f, "token algorithm {token:?} differs from the key's {key}")
            }
            VerifyError::BadSignature => f.write_str("signature does not verify"),
            VerifyError::ClaimsJson(why) => write!(f, "token claims are invalid: {why}"),
            VerifyError::Expired => f.write_str("token has expired"),
            VerifyError::NotYetValid => f.write_str("token is not valid yet"),
            VerifyError::IssuedInFuture => f.write_str("token was issued in the future"),
            VerifyError::WrongIssuer => f.write_str("token issuer is not trusted"),
            VerifyError::WrongAudience => f.write_str("token audience does not match"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// A token whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: AccessTokenClaims,
    /// The `kid` of the key that verified it, if the token named one.
    pub kid: Option<String>,
}

/// What a verifier expects of a token: issuer(s), audience(s), leeway, type and size.
///
/// ```
/// use m2m_core::Validation;
/// let validation = Validation::new("https://auth.example.com", "https://api.example.com")
///     .leeway(30)
///     .max_token_len(4096);
/// assert_eq!(validation.leeway_secs(), 30);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Validation {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    max_len: usize,
    typ: Option<String>,
    any_audience: bool,
}

impl Validation {
    /// Expects tokens from `issuer` meant for `audience`, with a leeway of
    /// 60 s, an 8 KiB size limit, and `typ` `at+jwt`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuers: vec![issuer.into()],
            audiences: vec![audience.into()],
            leeway: DEFAULT_LEEWAY_SECS,
            max_len: DEFAULT_MAX_TOKEN_LEN,
            typ: Some(ACCESS_TOKEN_TYP.to_owned()),
            any_audience: false,
        }
    }

    /// Also accepts tokens from `issuer`.
    pub fn also_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Also accepts tokens meant for `audience`.
    pub fn also_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts a token whatever its `aud`. Only for the issuer judging its own
    /// tokens (introspection, revocation, RFC 7662 §2.2), which answers for
    /// every audience; a resource server must check that it is the audience
    /// (RFC 8707 §2, RFC 9068 §4), so never use this in one.
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Clock leeway in seconds for `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The longest token accepted, in bytes (default [`DEFAULT_MAX_TOKEN_LEN`]).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// The `typ` header required (compared case-insensitively, with or without
    /// the `application/` prefix); `None` accepts any or none. Default `at+jwt`.
    pub fn required_typ(mut self, typ: Option<&str>) -> Self {
        self.typ = typ.map(str::to_owned);
        self
    }

    /// The configured leeway, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }

    /// The expected issuers.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The longest token accepted, in bytes.
    pub fn token_len_limit(&self) -> usize {
        self.max_len
    }

    /// The expected audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Verifies `token` against `keys` at time `now` (seconds since the epoch).
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: u64,
    ) -> Result<VerifiedToken, VerifyError> {
        let jws = verify_jws(token, keys, self.max_len, |typ| match &self.typ {
            Some(required) => typ.is_some_and(|t| typ_matches(t, required)),
            None => true,
        })?;
        let claims: AccessTokenClaims = serde_json::from_slice(&jws.payload)
            .map_err(|e| VerifyError::ClaimsJson(e.to_string()))?;
        self.check_claims(&claims, now)?;
        Ok(VerifiedToken {
            claims,
            kid: jws.kid,
        })
    }

    /// Checks the time, issuer and audience claims of already verified claims
    /// (for a cache that re-checks a token it verified before).
    pub fn check_claims(&self, claims: &AccessTokenClaims, now: u64) -> Result<(), VerifyError> {
        if claims.exp.saturating_add(self.leeway) <= now {
            return Err(VerifyError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        if !self.issuers.contains(&claims.iss) {
            return Err(VerifyError::WrongIssuer);
        }
        if !self.any_audience && !self.audiences.iter().any(|aud| claims.aud.contains(aud)) {
            return Err(VerifyError::WrongAudience);
        }
        Ok(())
    }
}

pub(crate) fn check_alg(alg: &str) -> Result<Algorithm, VerifyError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(VerifyError::NoneAlgorithm);
    }
    // `get`, not indexing: `alg` is attacker text and may hold a multi-byte
    // character across the cut.
    if alg
        .get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("HS"))
    {
        return Err(VerifyError::SymmetricAlgorithm);
    }
    Algorithm::from_name(alg).ok_or_else(|| VerifyError::UnsupportedAlgorithm(alg.to_owned()))
}

/// A JWS whose header passed the RFC 8725 checks and whose signature
/// verified: its `kid` and its payload, not yet parsed.
pub(crate) struct VerifiedJws {
    pub(crate) kid: Option<String>,
    pub(crate) payload: Vec<u8>,
}

/// The signature half of verification, shared by access tokens and client
/// assertions: length bound, strict base64url, header JSON, `none`/`HS*`
/// refused, forbidden members refused, `typ_ok` on the `typ` header, key by
/// `kid` (or the only one), the key's algorithm equal to `alg`, then the
/// signature, before anything of the payload is read.
pub(crate) fn verify_jws(
    token: &str,
    keys: &KeySet,
    max_len: usize,
    typ_ok: impl FnOnce(Option<&str>) -> bool,
) -> Result<VerifiedJws, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(VerifyError::Malformed)?;
    if payload_b64.contains('.') {
        return Err(VerifyError::Malformed);
    }

    let header_bytes = b64::decode(header_b64).ok_or(VerifyError::Base64)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_bytes).map_err(|_| VerifyError::HeaderJson)?;
    let token_alg = check_alg(&header.alg)?;
    header.refuse_forbidden()?;
    let typ = header.typ.as_deref();
    if !typ_ok(typ) {
        return Err(VerifyError::WrongType(typ.map(str::to_owned)));
    }

    let key = match header.kid.as_deref() {
        Some(kid) => keys
            .get(kid)
            .ok_or_else(|| VerifyError::UnknownKid(kid.to_owned()))?,
        None => keys.single().ok_or(VerifyError::MissingKid)?,
    };
    if key.algorithm() != token_alg {
        return Err(VerifyError::AlgorithmMismatch {
            token: header.alg.into_owned(),
            key: key.algorithm(),
        });
    }

    let signature = b64::decode(signature_b64).ok_or(VerifyError::Base64)?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(VerifyError::BadSignature);
    }

    let payload = b64::decode(payload_b64).ok_or(VerifyError::Base64)?;
    Ok(VerifiedJws {
        kid: header.kid.map(Cow::into_owned),
        payload,
    })
}

pub(crate) fn typ_matches(typ: &str, required: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(required)
}

/// The JOSE header fields we read. Unknown members are ignored, except the
/// ones in [`Header::refuse_forbidden`], which we refuse whatever their value.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

impl Header<'_> {
    fn refuse_forbidden(&self) -> Result<(), VerifyError> {
        for (present, name) in [
            (self.crit, "crit"),
            (self.jku, "jku"),
            (self.jwk, "jwk"),
            (self.x5u, "x5u"),
            (self.x5c, "x5c"),
        ] {
            if present {
                return Err(VerifyError::ForbiddenHeader(name));
            }
        }
        Ok(())
    }
}

/// A member counts as present whatever its value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_names() {
        assert_eq!(check_alg("none"), Err(VerifyError::NoneAlgorithm));
        assert_eq!(check_alg("NONE"), Err(VerifyError::NoneAlgorithm));
        assert_eq!(check_alg("HS256"), Err(VerifyError::SymmetricAlgorithm));
        assert_eq!(check_alg("hs512"), Err(VerifyError::SymmetricAlgorithm));
        assert!(matches!(
            check_alg("PS384"),
            Err(VerifyError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            check_alg("es256"),
            Err(VerifyError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(check_alg("ES256"), Ok(Algorithm::ES256));
    }

    #[test]
    fn non_ascii_alg_names_are_refused_not_sliced() {
        for alg in ["aé", "€", "é", "Hé", "H€S256"] {
            assert!(
                matches!(check_alg(alg), Err(VerifyError::UnsupportedAlgorithm(_))),
                "{alg}"
            );
        }
    }

    #[test]
    fn typ_forms() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/", "at+jwt"));
    }
}
