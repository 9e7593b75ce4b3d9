//! DPoP proofs (RFC 9449): [`DpopValidation::verify`] checks one, [`sign_proof`]
//! makes one, [`DpopNonces`] issues and checks stateless server nonces.
//!
//! A proof is a JWS compact JWT whose header carries the public key that
//! signed it. Verification, in order (every step bounded and total):
//!
//! 1. The proof's length is checked before anything is decoded.
//! 2. Header: strict base64url JSON; `typ` must be `dpop+jwt`; `alg` must be
//!    asymmetric and one m2m-core supports (`none` and `HS*` are refused
//!    outright); `crit`, `jku`, `x5u`, `x5c` and `kid` are refused; `jwk` is
//!    required and must be a public key: a JWK with private members (`d`,
//!    `p`, `q`, `dp`, `dq`, `qi`, `oth`) or a symmetric one (`oct`, `k`) is
//!    refused.
//! 3. The header's `alg` must be the algorithm of the key type (RFC 8725 §3.1):
//!    the key decides, never the header alone.
//! 4. The signature is checked by that key before the claims are parsed.
//! 5. Claims: `jti` (1 to [`MAX_JTI_LEN`] bytes), `htm` equal to the
//!    request's method, `htu` equal to the request's URL once both are
//!    normalised ([`normalize_htu`], RFC 9449 §4.3), `iat` within the
//!    window (by default [`DEFAULT_IAT_PAST_SECS`] in the past,
//!    [`DEFAULT_IAT_FUTURE_SECS`] ahead), `ath` equal to
//!    [`access_token_hash`] of the access token when one is presented, and
//!    `nonce` when the verifier requires one.
//!
//! What this module cannot know, the caller checks: whether the `jti` was
//! seen before (a replay cache is state), and whether the key's thumbprint
//! ([`VerifiedProof::jkt`]) equals the access token's `cnf.jkt`.
//!
//! ```
//! use m2m_core::{Algorithm, SigningKey, DpopValidation, ProofRequest, sign_proof, access_token_hash};
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let now = 1_700_000_000;
//! let token = "eyJ...access-token";
//! let proof = sign_proof(&key, "GET", "https://api.example.com/invoices?page=2", now,
//!     "jti-1", Some(&access_token_hash(token)), None)?;
//! let request = ProofRequest::new("GET", "https://API.example.com:443/invoices").access_token(token);
//! let verified = DpopValidation::new().verify(&proof, &request, now).expect("valid proof");
//! assert_eq!(verified.jkt, key.public_jwk().thumbprint()?);
//! # Ok::<(), m2m_core::KeyError>(())
//! ```

use std::fmt;

use ring::{digest, hmac};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::assertion::MAX_JTI_LEN;
use crate::b64;
use crate::error::KeyError;
use crate::jwk::PublicJwk;
use crate::key::{Algorithm, SigningKey, VerifyingKey};
use crate::token::{check_alg, typ_matches};

/// The `typ` header of DPoP proofs (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";
/// The default limit on a proof's length, in bytes: enough for an RS256
/// proof with an 8,192-bit key in its header, with room for a nonce.
pub const DEFAULT_MAX_PROOF_LEN: usize = 6 * 1024;
/// The longest `nonce` claim accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 256;
/// How far in the past a proof's `iat` may be by default, in seconds. A proof
/// is made for one request and sent at once: a minute covers clock skew and a
/// slow network, and bounds how long a replay cache must remember a `jti`.
pub const DEFAULT_IAT_PAST_SECS: u64 = 60;
/// How far in the future a proof's `iat` may be by default, in seconds (clock skew).
pub const DEFAULT_IAT_FUTURE_SECS: u64 = 5;

/// Why a DPoP proof was refused. Every variant is answered
/// `invalid_dpop_proof` (RFC 9449 §5, §7.1), except [`DpopError::UseNonce`],
/// which is answered `use_dpop_nonce` with a fresh nonce (§8, §9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// The request has no `DPoP` header.
    MissingProof,
    /// The request has more than one `DPoP` header, or one that is not visible ASCII.
    BadProofHeader,
    /// The proof is longer than the configured limit; nothing was decoded.
    TooLarge {
        /// The proof's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The proof is not three dot-separated parts.
    Malformed,
    /// A part is not strict, unpadded base64url.
    Base64,
    /// The header is not a JSON object with the members a proof needs.
    HeaderJson,
    /// `typ` is missing or is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`.
    NoneAlgorithm,
    /// `alg` is an HMAC algorithm: a proof must be signed by a private key.
    SymmetricAlgorithm,
    /// `alg` is not one this verifier accepts.
    UnsupportedAlgorithm(String),
    /// The header has a member a proof must not carry (`crit`, `jku`, `x5u`, `x5c`, `kid`).
    ForbiddenHeader(&'static str),
    /// The header has no `jwk`.
    MissingJwk,
    /// The `jwk` carries private key material.
    PrivateKey,
    /// The `jwk` is a symmetric key.
    SymmetricKey,
    /// The `jwk` is not a usable public key.
    BadKey(KeyError),
    /// The header's `alg` is not the algorithm of the `jwk`'s key type.
    AlgorithmMismatch,
    /// The signature does not verify with the `jwk`.
    BadSignature,
    /// The payload is not JSON, lacks a required claim, or has one of the wrong type.
    ClaimsJson,
    /// `jti` is empty or longer than [`MAX_JTI_LEN`].
    BadJti,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not an absolute http(s) URL.
    BadUrl,
    /// `htu` is not the request's URL.
    WrongUrl,
    /// `iat` is older than the window allows.
    Stale,
    /// `iat` is further in the future than the window allows.
    IssuedInFuture,
    /// An access token was presented and the proof has no `ath`.
    MissingAth,
    /// `ath` is not the hash of the presented access token.
    WrongAth,
    /// A nonce is required and the proof has none, or not a current one.
    UseNonce,
}

impl DpopError {
    /// A short, stable reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DpopError::MissingProof => "missing_proof",
            DpopError::BadProofHeader => "bad_proof_header",
            DpopError::TooLarge { .. } => "too_large",
            DpopError::Malformed => "malformed",
            DpopError::Base64 => "bad_base64",
            DpopError::HeaderJson => "bad_header",
            DpopError::WrongType => "wrong_typ",
            DpopError::NoneAlgorithm => "alg_none",
            DpopError::SymmetricAlgorithm => "alg_symmetric",
            DpopError::UnsupportedAlgorithm(_) => "alg_unsupported",
            DpopError::ForbiddenHeader(_) => "forbidden_header",
            DpopError::MissingJwk => "missing_jwk",
            DpopError::PrivateKey => "private_jwk",
            DpopError::SymmetricKey => "symmetric_jwk",
            DpopError::BadKey(_) => "bad_jwk",
            DpopError::AlgorithmMismatch => "alg_mismatch",
            DpopError::BadSignature => "bad_signature",
            DpopError::ClaimsJson => "bad_claims",
            DpopError::BadJti => "bad_jti",
            DpopError::WrongMethod => "wrong_htm",
            DpopError::BadUrl => "bad_htu",
            DpopError::WrongUrl => "wrong_htu",
            DpopError::Stale => "stale_iat",
            DpopError::IssuedInFuture => "future_iat",
            DpopError::MissingAth => "missing_ath",
            DpopError::WrongAth => "wrong_ath",
            DpopError::UseNonce => "use_nonce",
        }
    }

    /// The RFC 9449 error code: `use_dpop_nonce` or `invalid_dpop_proof`.
    pub fn error_code(&self) -> &'static str {
        match self {
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpopError::MissingProof => f.write_str("a DPoP proof is required"),
            DpopError::BadProofHeader => {
                f.write_str("exactly one DPoP header of visible ASCII is required")
            }
            DpopError::TooLarge { len, max } => {
                write!(f, "DPoP proof is {len} bytes; the limit is {max}")
            }
            DpopError::Malformed => f.write_str("DPoP proof is not a JWS compact serialization"),
            DpopError::Base64 => f.write_str("DPoP proof part is not base64url without padding"),
            DpopError::HeaderJson => f.write_str("DPoP proof header is not valid"),
            DpopError::WrongType => f.write_str("DPoP proof typ must be dpop+jwt"),
            DpopError::NoneAlgorithm => f.write_str("unsigned DPoP proofs (alg none) are refused"),
            DpopError::SymmetricAlgorithm => f.write_str("HMAC-signed DPoP proofs are refused"),
            DpopError::UnsupportedAlgorithm(alg) => {
                write!(f, "DPoP proof algorithm {alg:?} is not supported")
            }
            DpopError::ForbiddenHeader(name) => {
                write!(f, "DPoP proof header `{name}` is not accepted")
            }
            DpopError::MissingJwk => f.write_str("DPoP proof header has no jwk"),
            DpopError::PrivateKey => f.write_str("DPoP proof jwk carries a private key"),
            DpopError::SymmetricKey => f.write_str("DPoP proof jwk is a symmetric key"),
            DpopError::BadKey(why) => write!(f, "DPoP proof jwk is not usable: {why}"),
            DpopError::AlgorithmMismatch => {
                f.write_str("DPoP proof algorithm does not fit its jwk")
            }
            DpopError::BadSignature => f.write_str("DPoP proof signature does not verify"),
            DpopError::ClaimsJson => f.write_str("DPoP proof claims are invalid"),
            DpopError::BadJti => f.write_str("DPoP proof jti is empty or too long"),
            DpopError::WrongMethod => f.write_str("DPoP proof htm does not match the request"),
            DpopError::BadUrl => f.write_str("DPoP proof htu is not an http(s) URL"),
            DpopError::WrongUrl => f.write_str("DPoP proof htu does not match the request"),
            DpopError::Stale => f.write_str("DPoP proof iat is too old"),
            DpopError::IssuedInFuture => f.write_str("DPoP proof iat is in the future"),
            DpopError::MissingAth => f.write_str("DPoP proof has no ath for the access token"),
            DpopError::WrongAth => f.write_str("DPoP proof ath does not match the access token"),
            DpopError::UseNonce => f.write_str("a current DPoP nonce is required"),
        }
    }
}

impl std::error::Error for DpopError {}

/// A proof whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key: what `cnf.jkt` binds to.
    pub jkt: String,
    /// The proof's `jti`, for the caller's replay cache.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: u64,
    /// The proof's algorithm.
    pub alg: Algorithm,
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    method: &'a str,
    url: &'a str,
    access_token: Option<&'a str>,
}

impl<'a> ProofRequest<'a> {
    /// A request with this HTTP method and absolute URL (its query and
    /// fragment are ignored, as `htu` has none).
    pub fn new(method: &'a str, url: &'a str) -> Self {
        ProofRequest {
            method,
            url,
            access_token: None,
        }
    }

    /// The access token presented with the proof: `ath` is then required.
    #[must_use]
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// What a verifier expects of a DPoP proof: size, `iat` window, algorithms,
/// and optionally a server nonce.
///
/// ```
/// use m2m_core::{Algorithm, DpopValidation};
/// let validation = DpopValidation::new().iat_window(30, 2).algorithms([Algorithm::ES256]);
/// assert_eq!(validation.algorithm_names(), vec!["ES256"]);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DpopValidation {
    max_len: usize,
    iat_past: u64,
    iat_future: u64,
    algorithms: Vec<Algorithm>,
    nonces: Option<DpopNonces>,
}

impl Default for DpopValidation {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopValidation {
    /// The defaults: [`DEFAULT_MAX_PROOF_LEN`], an `iat` window of
    /// [`DEFAULT_IAT_PAST_SECS`] past and [`DEFAULT_IAT_FUTURE_SECS`] ahead,
    /// EdDSA, ES256 and RS256, no nonce.
    pub fn new() -> Self {
        DpopValidation {
            max_len: DEFAULT_MAX_PROOF_LEN,
            iat_past: DEFAULT_IAT_PAST_SECS,
            iat_future: DEFAULT_IAT_FUTURE_SECS,
            algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256],
            nonces: None,
        }
    }

    /// The longest proof accepted, in bytes.
    pub fn max_proof_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// How old (`past`) and how far ahead (`future`) a proof's `iat` may be, in seconds.
    pub fn iat_window(mut self, past: u64, future: u64) -> Self {
        self.iat_past = past;
        self.iat_future = future;
        self
    }

    /// The algorithms accepted (a subset of what m2m-core supports).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Requires a current nonce from these nonces in every proof.
    pub fn require_nonce(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The nonces required, if any.
    pub fn nonces(&self) -> Option<&DpopNonces> {
        self.nonces.as_ref()
    }

    /// How long a `jti` must be remembered to refuse every replay of a proof
    /// this validation accepts: the whole `iat` window.
    pub fn replay_window_secs(&self) -> u64 {
        self.iat_past.saturating_add(self.iat_future)
    }

    /// The accepted algorithms' names, for `dpop_signing_alg_values_supported`
    /// and the `algs` of a `WWW-Authenticate: DPoP` challenge.
    pub fn algorithm_names(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(|a| a.as_str()).collect()
    }

    /// Verifies `proof` for `request` at `now` (seconds since the epoch).
    pub fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        now: u64,
    ) -> Result<VerifiedProof, DpopError> {
        if proof.len() > self.max_len {
            return Err(DpopError::TooLarge {
                len: proof.len(),
                max: self.max_len,
            });
        }
        let (signing_input, signature_b64) = proof.rsplit_once('.').ok_or(DpopError::Malformed)?;
        let (header_b64, payload_b64) =
            signing_input.split_once('.').ok_or(DpopError::Malformed)?;
        if payload_b64.contains('.') {
            return Err(DpopError::Malformed);
        }
        let header_bytes = b64::decode(header_b64).ok_or(DpopError::Base64)?;
        let header: ProofHeader =
            serde_json::from_slice(&header_bytes).map_err(|_| DpopError::HeaderJson)?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| typ_matches(t, DPOP_TYP))
        {
            return Err(DpopError::WrongType);
        }
        let alg = check_alg(&header.alg).map_err(|e| match e {
            crate::VerifyError::NoneAlgorithm => DpopError::NoneAlgorithm,
            crate::VerifyError::SymmetricAlgorithm => DpopError::SymmetricAlgorithm,
            _ => DpopError::UnsupportedAlgorithm(header.alg.chars().take(32).collect()),
        })?;
        if !self.algorithms.contains(&alg) {
            return Err(DpopError::UnsupportedAlgorithm(alg.as_str().to_owned()));
        }
        header.refuse_forbidden()?;
        let jwk = public_jwk(header.jwk.ok_or(DpopError::MissingJwk)?)?;
        let key = VerifyingKey::from_jwk(&jwk).map_err(DpopError::BadKey)?;
        if key.algorithm() != alg {
            return Err(DpopError::AlgorithmMismatch);
        }
        let signature = b64::decode(signature_b64).ok_or(DpopError::Base64)?;
        if !key.verify(signing_input.as_bytes(), &signature) {
            return Err(DpopError::BadSignature);
        }

        let payload = b64::decode(payload_b64).ok_or(DpopError::Base64)?;
        let claims: ProofClaims =
            serde_json::from_slice(&payload).map_err(|_| DpopError::ClaimsJson)?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
            return Err(DpopError::BadJti);
        }
        if claims.htm != request.method {
            return Err(DpopError::WrongMethod);
        }
        let htu = normalize_htu(&claims.htu).ok_or(DpopError::BadUrl)?;
        if normalize_htu(request.url).as_deref() != Some(htu.as_str()) {
            return Err(DpopError::WrongUrl);
        }
        if claims.iat.saturating_add(self.iat_past) < now {
            return Err(DpopError::Stale);
        }
        if claims.iat > now.saturating_add(self.iat_future) {
            return Err(DpopError::IssuedInFuture);
        }
        if let Some(token) = request.access_token {
            let ath = claims.ath.as_deref().ok_or(DpopError::MissingAth)?;
            let expected = access_token_hash(token);
            if !ring_eq(ath.as_bytes(), expected.as_bytes()) {
                return Err(DpopError::WrongAth);
            }
        }
        if let Some(nonces) = &self.nonces {
            let nonce = claims.nonce.as_deref().ok_or(DpopError::UseNonce)?;
            if nonce.len() > MAX_NONCE_LEN || !nonces.check(nonce, now) {
                return Err(DpopError::UseNonce);
            }
        }
        let jkt = jwk.thumbprint().map_err(DpopError::BadKey)?;
        Ok(VerifiedProof {
            jkt,
            jti: claims.jti,
            iat: claims.iat,
            alg,
        })
    }
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The members of a JWK that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn public_jwk(jwk: Map<String, Value>) -> Result<PublicJwk, DpopError> {
    if jwk.get("kty").and_then(Value::as_str) == Some("oct") || jwk.contains_key("k") {
        return Err(DpopError::SymmetricKey);
    }
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    serde_json::from_value(Value::Object(jwk)).map_err(|_| DpopError::HeaderJson)
}

#[derive(Deserialize)]
struct ProofHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    jwk: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    kid: bool,
}

impl ProofHeader {
    fn refuse_forbidden(&self) -> Result<(), DpopError> {
        for (present, name) in [
            (self.crit, "crit"),
            (self.jku, "jku"),
            (self.x5u, "x5u"),
            (self.x5c, "x5c"),
            (self.kid, "kid"),
        ] {
            if present {
                return Err(DpopError::ForbiddenHeader(name));
            }
        }
        Ok(())
    }
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// The longest `htu` (or request URL) [`normalize_htu`] accepts, in bytes.
pub const MAX_HTU_LEN: usize = 2048;

/// An http(s) URL normalised for comparing `htu` (RFC 9449 §4.3, RFC 3986
/// §6.2.2 and §6.2.3): scheme and host lowercased, the default port dropped,
/// dot segments removed, an empty path made `/`, query and fragment dropped.
/// `None` for anything else (a relative URL, another scheme, userinfo, over
/// [`MAX_HTU_LEN`]).
///
/// ```
/// use m2m_core::normalize_htu;
/// assert_eq!(
///     normalize_htu("HTTPS://API.Example.com:443/a/../invoices?x=1#f").as_deref(),
///     Some("https://api.example.com/invoices"),
/// );
/// assert_eq!(normalize_htu("http://h:8080").as_deref(), Some("http://h:8080/"));
/// assert_eq!(normalize_htu("/relative"), None);
/// ```
pub fn normalize_htu(url: &str) -> Option<String> {
    if url.len() > MAX_HTU_LEN {
        return None;
    }
    let mut parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.into())
}

/// `ath`: base64url of the SHA-256 of the access token (RFC 9449 §4.2).
///
/// ```
/// // RFC 9449 §7.1's example token and its ath.
/// assert_eq!(
///     m2m_core::access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
/// );
/// ```
pub fn access_token_hash(access_token: &str) -> String {
    b64::encode(digest::digest(&digest::SHA256, access_token.as_bytes()))
}

/// Signs a DPoP proof with `key` for one request: header `{"typ":"dpop+jwt",
/// "alg","jwk"}` (the public key, without `kid`), claims `jti`, `htm`, `htu`
/// (normalised: no query or fragment), `iat`, and `ath`, `nonce` when given.
pub fn sign_proof(
    key: &SigningKey,
    htm: &str,
    htu: &str,
    iat: u64,
    jti: &str,
    ath: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, KeyError> {
    let mut jwk = key.public_jwk().clone();
    jwk.kid = None;
    jwk.key_use = None;
    jwk.alg = None;
    let header = serde_json::json!({"typ": DPOP_TYP, "alg": key.algorithm().as_str(), "jwk": jwk});
    let htu = normalize_htu(htu).unwrap_or_else(|| htu.to_owned());
    let mut claims = serde_json::json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat});
    if let Some(ath) = ath {
        claims["ath"] = Value::from(ath);
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = Value::from(nonce);
    }
    let mut proof = b64::encode(header.to_string());
    proof.push('.');
    b64::encode_into(claims.to_string(), &mut proof);
    let signature = key.sign(proof.as_bytes())?;
    proof.push('.');
    b64::encode_into(&signature, &mut proof);
    Ok(proof)
}

/// Stateless server nonces (RFC 9449 §8, §9): a nonce is the HMAC-SHA-256 of
/// a time slot under a secret key, so every replica holding the same key
/// issues and accepts the same nonces with no shared state. A nonce is
/// accepted during its slot and the next one, so it lives between one and
/// two slots.
///
/// ```
/// use m2m_core::DpopNonces;
/// let nonces = DpopNonces::new(&[7u8; 32], 300);
/// let nonce = nonces.issue(1_700_000_000);
/// assert!(nonces.check(&nonce, 1_700_000_100));
/// assert!(!nonces.check(&nonce, 1_700_001_000));
/// assert!(!DpopNonces::new(&[8u8; 32], 300).check(&nonce, 1_700_000_000));
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: hmac::Key,
    slot_secs: u64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("slot_secs", &self.slot_secs)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces under `secret` (at least 32 random bytes; shared by every
    /// replica), each slot `slot_secs` long (at least 1).
    pub fn new(secret: &[u8], slot_secs: u64) -> Self {
        DpopNonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            slot_secs: slot_secs.max(1),
        }
    }

    fn for_slot(&self, slot: u64) -> String {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        b64::encode(&tag.as_ref()[..24])
    }

    /// The nonce to hand out at `now`.
    pub fn issue(&self, now: u64) -> String {
        self.for_slot(now / self.slot_secs)
    }

    /// Whether `nonce` is the current slot's or the previous one's (constant time).
    pub fn check(&self, nonce: &str, now: u64) -> bool {
        let slot = now / self.slot_secs;
        let current = ring_eq(nonce.as_bytes(), self.for_slot(slot).as_bytes());
        let previous = slot
            .checked_sub(1)
            .is_some_and(|s| ring_eq(nonce.as_bytes(), self.for_slot(s).as_bytes()));
        current | previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const URL: &str = "https://api.example.com/invoices";

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::ES256).unwrap()
    }

    fn part(json: &Value) -> String {
        b64::encode(json.to_string())
    }

    /// A proof with arbitrary header and claims, signed by `key`.
    fn crafted(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", part(header), part(claims));
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64::encode(sig))
    }

    fn header(key: &SigningKey) -> Value {
        let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
        jwk.as_object_mut().unwrap().remove("kid");
        serde_json::json!({"typ":"dpop+jwt","alg":key.algorithm().as_str(),"jwk":jwk})
    }

    fn claims() -> Value {
        serde_json::json!({"jti":"j1","htm":"POST","htu":URL,"iat":NOW})
    }

    fn verify(proof: &str) -> Result<VerifiedProof, DpopError> {
        DpopValidation::new().verify(proof, &ProofRequest::new("POST", URL), NOW)
    }

    #[test]
    fn a_signed_proof_verifies_and_binds_to_the_thumbprint() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let key = SigningKey::generate(alg).unwrap();
            let proof = sign_proof(&key, "POST", URL, NOW, "j", None, None).unwrap();
            let verified = verify(&proof).unwrap();
            assert_eq!(verified.jkt, key.kid());
            assert_eq!(verified.alg, alg);
        }
    }

    #[test]
    fn header_refusals() {
        let key = key();
        let mut h = header(&key);
        h["typ"] = "JWT".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::WrongType)
        );
        let mut h = header(&key);
        h.as_object_mut().unwrap().remove("typ");
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::WrongType)
        );
        let mut h = header(&key);
        h["alg"] = "none".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::NoneAlgorithm)
        );
        h["alg"] = "HS256".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::SymmetricAlgorithm)
        );
        h["alg"] = "EdDSA".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::AlgorithmMismatch)
        );
        let mut h = header(&key);
        h["kid"] = "x".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::ForbiddenHeader("kid"))
        );
        let mut h = header(&key);
        h.as_object_mut().unwrap().remove("jwk");
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::MissingJwk)
        );
        let mut h = header(&key);
        h["jwk"]["d"] = "AAAA".into();
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::PrivateKey)
        );
        let mut h = header(&key);
        h["jwk"] = serde_json::json!({"kty":"oct","k":"c2VjcmV0"});
        assert_eq!(
            verify(&crafted(&key, &h, &claims())),
            Err(DpopError::SymmetricKey)
        );
    }

    #[test]
    fn a_proof_signed_by_another_key_than_its_jwk_is_refused() {
        let (a, b) = (key(), key());
        assert_eq!(
            verify(&crafted(&b, &header(&a), &claims())),
            Err(DpopError::BadSignature)
        );
    }

    #[test]
    fn claim_refusals() {
        let key = key();
        let check = |c: Value| verify(&crafted(&key, &header(&key), &c));
        let mut c = claims();
        c["htm"] = "GET".into();
        assert_eq!(check(c), Err(DpopError::WrongMethod));
        let mut c = claims();
        c["htu"] = "https://api.example.com/other".into();
        assert_eq!(check(c), Err(DpopError::WrongUrl));
        let mut c = claims();
        c["htu"] = "api.example.com/invoices".into();
        assert_eq!(check(c), Err(DpopError::BadUrl));
        let mut c = claims();
        c["iat"] = (NOW - DEFAULT_IAT_PAST_SECS - 1).into();
        assert_eq!(check(c), Err(DpopError::Stale));
        let mut c = claims();
        c["iat"] = (NOW + DEFAULT_IAT_FUTURE_SECS + 1).into();
        assert_eq!(check(c), Err(DpopError::IssuedInFuture));
        let mut c = claims();
        c["jti"] = "".into();
        assert_eq!(check(c), Err(DpopError::BadJti));
        let mut c = claims();
        c["jti"] = "x".repeat(MAX_JTI_LEN + 1).into();
        assert_eq!(check(c), Err(DpopError::BadJti));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("iat");
        assert_eq!(check(c), Err(DpopError::ClaimsJson));
        // Edges of the window are inside it.
        let mut c = claims();
        c["iat"] = (NOW - DEFAULT_IAT_PAST_SECS).into();
        assert!(check(c).is_ok());
        let mut c = claims();
        c["iat"] = (NOW + DEFAULT_IAT_FUTURE_SECS).into();
        assert!(check(c).is_ok());
    }

    #[test]
    fn ath_is_required_and_checked_when_a_token_is_presented() {
        let key = key();
        let request = ProofRequest::new("POST", URL).access_token("tok");
        let v = DpopValidation::new();
        let none = sign_proof(&key, "POST", URL, NOW, "j", None, None).unwrap();
        assert_eq!(v.verify(&none, &request, NOW), Err(DpopError::MissingAth));
        let wrong = sign_proof(
            &key,
            "POST",
            URL,
            NOW,
            "j",
            Some(&access_token_hash("other")),
            None,
        )
        .unwrap();
        assert_eq!(v.verify(&wrong, &request, NOW), Err(DpopError::WrongAth));
        let right = sign_proof(
            &key,
            "POST",
            URL,
            NOW,
            "j",
            Some(&access_token_hash("tok")),
            None,
        )
        .unwrap();
        assert!(v.verify(&right, &request, NOW).is_ok());
    }

    #[test]
    fn nonces_when_required() {
        let key = key();
        let nonces = DpopNonces::new(&[1; 32], 60);
        let v = DpopValidation::new().require_nonce(nonces.clone());
        let request = ProofRequest::new("POST", URL);
        let none = sign_proof(&key, "POST", URL, NOW, "j", None, None).unwrap();
        assert_eq!(v.verify(&none, &request, NOW), Err(DpopError::UseNonce));
        let wrong = sign_proof(&key, "POST", URL, NOW, "j", None, Some("abc")).unwrap();
        assert_eq!(v.verify(&wrong, &request, NOW), Err(DpopError::UseNonce));
        let old = nonces.issue(NOW - 200);
        let stale = sign_proof(&key, "POST", URL, NOW, "j", None, Some(&old)).unwrap();
        assert_eq!(v.verify(&stale, &request, NOW), Err(DpopError::UseNonce));
        let good = sign_proof(&key, "POST", URL, NOW, "j", None, Some(&nonces.issue(NOW))).unwrap();
        assert!(v.verify(&good, &request, NOW).is_ok());
    }

    #[test]
    fn size_and_shape() {
        let v = DpopValidation::new().max_proof_len(10);
        let request = ProofRequest::new("POST", URL);
        assert!(matches!(
            v.verify(&"a".repeat(11), &request, NOW),
            Err(DpopError::TooLarge { .. })
        ));
        assert_eq!(verify("a.b"), Err(DpopError::Malformed));
        assert_eq!(verify("a.b.c.d"), Err(DpopError::Malformed));
        assert_eq!(verify("a=.b.c"), Err(DpopError::Base64));
    }

    #[test]
    fn htu_normalisation() {
        let n = |u: &str| normalize_htu(u);
        assert_eq!(n("https://a.example/x"), n("HTTPS://A.EXAMPLE:443/x?q#f"));
        assert_eq!(n("http://a.example:80/"), n("http://a.example"));
        assert_ne!(n("http://a.example:8080/"), n("http://a.example/"));
        assert_ne!(n("https://a.example/x"), n("http://a.example/x"));
        assert_eq!(n("ftp://a.example/"), None);
        assert_eq!(n("https://user@a.example/"), None);
        assert_eq!(
            n(&format!("https://a.example/{}", "x".repeat(MAX_HTU_LEN))),
            None
        );
    }
}
