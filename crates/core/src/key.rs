//! Signing and verifying keys for the three algorithms m2m-auth signs with:
//! EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA, 2048 to 8192 bits); and
//! PS256 (RSASSA-PSS, RSA 2048 to 8192 bits), which it only verifies (a
//! client's assertion, a token of another issuer), for an RSA key whose JWK
//! declares `"alg": "PS256"`.
//!
//! Keys are parsed once, when they are loaded; signing and verifying a token
//! never parses a key again. The algorithm is a property of the key, never
//! of the token being checked (RFC 8725 §3.1).

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::KeyError;
use crate::jwk::{JwkSet, PublicJwk};

/// A JWS signature algorithm m2m-auth signs and verifies with.
///
/// `none`, every `HS*` and every algorithm not listed here are refused wherever a
/// token is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA on P-256 with SHA-256: the default.
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256 (RFC 7518 §3.5):
    /// verified only, for an RSA key whose JWK declares `"alg": "PS256"`
    /// (an RSA JWK without `alg` is RS256). No [`SigningKey`] signs with it.
    PS256,
}

impl Algorithm {
    /// The longest raw signature this algorithm makes, in bytes: 64 for
    /// EdDSA and ES256, 1,024 for RS256 and PS256 (an 8,192-bit key, the
    /// largest accepted).
    pub fn max_signature_len(self) -> usize {
        match self {
            Algorithm::EdDSA | Algorithm::ES256 => 64,
            Algorithm::RS256 | Algorithm::PS256 => 1024,
        }
    }

    /// The JOSE name: `EdDSA`, `ES256`, `RS256` or `PS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
        }
    }

    /// The algorithm with this JOSE name (exact, case-sensitive), if supported.
    /// `Ed25519`, RFC 9864's fully-specified name (which openid-client and
    /// oauth4webapi send for Ed25519 keys), is [`Algorithm::EdDSA`]: only
    /// an Ed25519 key verifies it either way, so no confusion is possible.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "EdDSA" | "Ed25519" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            "PS256" => Some(Algorithm::PS256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or_else(|| KeyError::UnsupportedAlgorithm(s.to_owned()))
    }
}

enum KeyPairInner {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

/// A private signing key, parsed once.
///
/// Its `kid` is the RFC 7638 thumbprint of its public key. `Debug` shows the
/// kid and algorithm, never private material; the PKCS#8 copy kept for
/// encryption at rest is wiped from memory on drop.
///
/// ```
/// use m2m_core::{Algorithm, SigningKey};
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// assert_eq!(key.algorithm(), Algorithm::ES256);
/// assert_eq!(key.public_jwk().kid.as_deref(), Some(key.kid()));
/// let again = SigningKey::from_pkcs8_der(key.pkcs8_der())?;
/// assert_eq!(again.kid(), key.kid());
/// # Ok::<(), m2m_core::KeyError>(())
/// ```
pub struct SigningKey {
    inner: KeyPairInner,
    alg: Algorithm,
    kid: String,
    jwk: PublicJwk,
    /// base64url of `{"alg":..,"kid":..,"typ":"at+jwt"}`, built once.
    header_b64: String,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl SigningKey {
    /// Generates a key from OS randomness. RS256 needs the `rsa-keygen`
    /// feature (ring cannot generate RSA keys); it makes 3072-bit keys.
    /// PS256 is [`KeyError::UnsupportedAlgorithm`]: verified, never signed.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| KeyError::CryptoFailure)?
                .as_ref()
                .to_vec(),
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError::CryptoFailure)?
                    .as_ref()
                    .to_vec()
            }
            Algorithm::RS256 => generate_rsa_pkcs8()?,
            Algorithm::PS256 => return Err(KeyError::UnsupportedAlgorithm(alg.as_str().into())),
        };
        Self::from_pkcs8_der(&pkcs8)
    }

    /// Loads a PKCS#8 DER private key; the algorithm follows from the key
    /// (Ed25519 → EdDSA, P-256 → ES256, RSA → RS256).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let inner = if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            KeyPairInner::Ed25519(pair)
        } else if let Ok(pair) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        {
            KeyPairInner::Es256(pair)
        } else if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            KeyPairInner::Rs256(pair)
        } else {
            return Err(KeyError::InvalidPrivateKey);
        };
        Self::assemble(inner, Zeroizing::new(der.to_vec()), rng)
    }

    /// Loads a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(pem_text).map_err(|_| KeyError::InvalidPem)?;
        if block.tag() != "PRIVATE KEY" {
            return Err(KeyError::InvalidPem);
        }
        let der = Zeroizing::new(block.into_contents());
        Self::from_pkcs8_der(&der)
    }

    /// Builds an Ed25519 key from its 32-byte seed (the JWK `d` member, RFC 8037).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        // PKCS#8 v1 (RFC 8410 §7) for Ed25519: a fixed prefix, then the seed.
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PREFIX);
        der.extend_from_slice(seed);
        Self::from_pkcs8_der(&der)
    }

    fn assemble(
        inner: KeyPairInner,
        pkcs8: Zeroizing<Vec<u8>>,
        rng: SystemRandom,
    ) -> Result<Self, KeyError> {
        let (alg, mut jwk) = match &inner {
            KeyPairInner::Ed25519(pair) => (Algorithm::EdDSA, okp_jwk(pair.public_key().as_ref())),
            KeyPairInner::Es256(pair) => (Algorithm::ES256, ec_jwk(pair.public_key().as_ref())?),
            KeyPairInner::Rs256(pair) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                (Algorithm::RS256, rsa_jwk(&parts.n, &parts.e))
            }
        };
        let kid = jwk.thumbprint()?;
        jwk.kid = Some(kid.clone());
        jwk.alg = Some(alg.as_str().to_owned());
        jwk.key_use = Some("sig".to_owned());
        let header = serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": "at+jwt"});
        let header_b64 = b64::encode(header.to_string());
        Ok(SigningKey {
            inner,
            alg,
            kid,
            jwk,
            header_b64,
            pkcs8,
            rng,
        })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public half as a JWK, with `kid`, `alg` and `use: "sig"`.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The public half as a verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        // A JWK built from a key we hold is always valid.
        VerifyingKey::from_jwk(&self.jwk).expect("own public key is valid")
    }

    /// The private key as PKCS#8 DER, for encryption at rest. Handle with care:
    /// this is the only way private material leaves this type.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Signs `message` and returns the raw JWS signature (RFC 7518 §3.4 form for ES256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            KeyPairInner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPairInner::Es256(pair) => pair
                .sign(&self.rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::CryptoFailure),
            KeyPairInner::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::CryptoFailure)?;
                Ok(sig)
            }
        }
    }

    /// The length of this key's raw signatures, in bytes.
    pub fn signature_len(&self) -> usize {
        match &self.inner {
            KeyPairInner::Ed25519(_) | KeyPairInner::Es256(_) => 64,
            KeyPairInner::Rs256(pair) => pair.public().modulus_len(),
        }
    }

    /// The base64url JOSE header of tokens this key signs.
    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "rsa-keygen")]
fn generate_rsa_pkcs8() -> Result<Vec<u8>, KeyError> {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::{Generate, PrivateKey};
    let key = PrivateKey::try_generate().map_err(|_| KeyError::CryptoFailure)?;
    let der = key.to_pkcs8_der().map_err(|_| KeyError::CryptoFailure)?;
    Ok(der.as_bytes().to_vec())
}

#[cfg(not(feature = "rsa-keygen"))]
fn generate_rsa_pkcs8() -> Result<Vec<u8>, KeyError> {
    Err(KeyError::RsaGenerationUnavailable)
}

fn okp_jwk(public: &[u8]) -> PublicJwk {
    PublicJwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some(b64::encode(public)),
        ..empty_jwk()
    }
}

fn ec_jwk(uncompressed_point: &[u8]) -> Result<PublicJwk, KeyError> {
    match uncompressed_point {
        [0x04, rest @ ..] if rest.len() == 64 => Ok(PublicJwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64::encode(&rest[..32])),
            y: Some(b64::encode(&rest[32..])),
            ..empty_jwk()
        }),
        _ => Err(KeyError::InvalidPublicKey(
            "P-256 point is not uncompressed",
        )),
    }
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> PublicJwk {
    PublicJwk {
        kty: "RSA".into(),
        n: Some(b64::encode(n)),
        e: Some(b64::encode(e)),
        ..empty_jwk()
    }
}

fn empty_jwk() -> PublicJwk {
    PublicJwk {
        kty: String::new(),
        key_use: None,
        alg: None,
        kid: None,
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    }
}

enum PublicInner {
    Ed25519(UnparsedPublicKey<Vec<u8>>),
    Es256(UnparsedPublicKey<Vec<u8>>),
    Rs256(RsaPublicKeyComponents<Vec<u8>>),
    Ps256(RsaPublicKeyComponents<Vec<u8>>),
}

/// A public key checked once and ready to verify signatures.
pub struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    inner: PublicInner,
}

impl VerifyingKey {
    /// Loads a public JWK. The algorithm comes from the key: a declared `alg`
    /// must fit the key type (OKP/Ed25519: EdDSA, EC/P-256: ES256, RSA: RS256
    /// or PS256); a missing `alg` is taken from the key type (RSA: RS256).
    /// One key verifies one algorithm: an RSA key declared PS256 refuses
    /// RS256 tokens and the other way round. RSA moduli under 2048 bits (or
    /// over 8192) are refused, whichever the algorithm.
    pub fn from_jwk(jwk: &PublicJwk) -> Result<Self, KeyError> {
        let decode = |member: &Option<String>, name: &'static str| {
            let text = member.as_deref().ok_or(KeyError::MissingMember(name))?;
            b64::decode(text).ok_or(KeyError::InvalidPublicKey("member is not base64url"))
        };
        let (alg, inner) = match jwk.kty.as_str() {
            "OKP" => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(KeyError::UnsupportedKeyType(format!(
                        "OKP/{}",
                        jwk.crv.as_deref().unwrap_or("?")
                    )));
                }
                let x = decode(&jwk.x, "x")?;
                if x.len() != 32 {
                    return Err(KeyError::InvalidPublicKey("Ed25519 key is not 32 bytes"));
                }
                (
                    Algorithm::EdDSA,
                    PublicInner::Ed25519(UnparsedPublicKey::new(&signature::ED25519, x)),
                )
            }
            "EC" => {
                if jwk.crv.as_deref() != Some("P-256") {
                    return Err(KeyError::UnsupportedKeyType(format!(
                        "EC/{}",
                        jwk.crv.as_deref().unwrap_or("?")
                    )));
                }
                let x = decode(&jwk.x, "x")?;
                let y = decode(&jwk.y, "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::InvalidPublicKey(
                        "P-256 coordinate is not 32 bytes",
                    ));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (
                    Algorithm::ES256,
                    PublicInner::Es256(UnparsedPublicKey::new(
                        &signature::ECDSA_P256_SHA256_FIXED,
                        point,
                    )),
                )
            }
            "RSA" => {
                let n = decode(&jwk.n, "n")?;
                let e = decode(&jwk.e, "e")?;
                let bits = n.iter().position(|&b| b != 0).map_or(0, |first| {
                    (n.len() - first) * 8 - n[first].leading_zeros() as usize
                });
                if !(2048..=8192).contains(&bits) {
                    return Err(KeyError::InvalidPublicKey(
                        "RSA modulus must be 2048 to 8192 bits",
                    ));
                }
                let parts = RsaPublicKeyComponents { n, e };
                if jwk.alg.as_deref() == Some(Algorithm::PS256.as_str()) {
                    (Algorithm::PS256, PublicInner::Ps256(parts))
                } else {
                    (Algorithm::RS256, PublicInner::Rs256(parts))
                }
            }
            other => return Err(KeyError::UnsupportedKeyType(other.to_owned())),
        };
        if let Some(declared) = jwk.alg.as_deref()
            && declared != alg.as_str()
        {
            return Err(KeyError::AlgorithmMismatch {
                alg: declared.to_owned(),
                kty: jwk.kty.clone(),
            });
        }
        Ok(VerifyingKey {
            kid: jwk.kid.clone(),
            alg,
            inner,
        })
    }

    /// The key id, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Checks a raw signature over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.inner {
            PublicInner::Ed25519(key) | PublicInner::Es256(key) => key.verify(message, sig).is_ok(),
            PublicInner::Rs256(key) => key
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            PublicInner::Ps256(key) => key
                .verify(&signature::RSA_PSS_2048_8192_SHA256, message, sig)
                .is_ok(),
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The keys a verifier trusts, looked up by `kid`.
///
/// ```
/// use m2m_core::{Algorithm, KeySet, SigningKey};
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let keys = KeySet::from_keys([key.verifying_key()]);
/// assert!(keys.get(key.kid()).is_some());
/// # Ok::<(), m2m_core::KeyError>(())
/// ```
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    skipped: Vec<SkippedKey>,
}

/// A key of a JWK Set that a [`KeySet`] could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`, if it had one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: KeyError,
}

/// Whether two JWKs carry the same public key (their `alg`, `use` and other
/// optional members aside).
fn same_material(a: &PublicJwk, b: &PublicJwk) -> bool {
    a.kty == b.kty && a.crv == b.crv && a.x == b.x && a.y == b.y && a.n == b.n && a.e == b.e
}

impl KeySet {
    /// A set of already loaded keys.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeySet {
            keys: keys.into_iter().collect(),
            skipped: Vec::new(),
        }
    }

    /// Loads the signing keys of a JWK Set that this verifier understands.
    ///
    /// As RFC 7517 §5 asks, a key it does not understand is skipped, never
    /// fatal to the set: an unknown `kty`, `crv` or `alg`, a `use` other than
    /// `sig`, missing or malformed members. The skipped keys and why are kept
    /// in [`KeySet::skipped`] so the caller can log them. Two keys with the
    /// same `kid` are one key listed twice when their material agrees (kept
    /// once), and a [`KeyError::DuplicateKid`] for the whole set when it
    /// differs: which one a token means cannot be told.
    ///
    /// ```
    /// use m2m_core::{Algorithm, JwkSet, KeySet, PublicJwk, SigningKey};
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// let p384: PublicJwk = serde_json::from_str(
    ///     r#"{"kty":"EC","crv":"P-384","kid":"other","x":"AA","y":"AA"}"#).unwrap();
    /// let set = JwkSet { keys: vec![p384, key.public_jwk().clone()] };
    /// let keys = KeySet::from_jwk_set(&set)?;
    /// assert_eq!(keys.len(), 1);
    /// assert_eq!(keys.skipped()[0].kid.as_deref(), Some("other"));
    /// # Ok::<(), m2m_core::KeyError>(())
    /// ```
    pub fn from_jwk_set(set: &JwkSet) -> Result<Self, KeyError> {
        let mut keys: Vec<VerifyingKey> = Vec::with_capacity(set.keys.len());
        let mut loaded: Vec<&PublicJwk> = Vec::with_capacity(set.keys.len());
        let mut skipped = Vec::new();
        for jwk in &set.keys {
            if let Some(other) = jwk.key_use.as_deref().filter(|u| *u != "sig") {
                skipped.push(SkippedKey {
                    kid: jwk.kid.clone(),
                    reason: KeyError::NotForSigning(other.chars().take(32).collect()),
                });
                continue;
            }
            let key = match VerifyingKey::from_jwk(jwk) {
                Ok(key) => key,
                Err(reason) => {
                    skipped.push(SkippedKey {
                        kid: jwk.kid.clone(),
                        reason,
                    });
                    continue;
                }
            };
            if let Some(kid) = jwk.kid.as_deref()
                && let Some(same_kid) = loaded.iter().find(|k| k.kid.as_deref() == Some(kid))
            {
                if same_material(same_kid, jwk) {
                    continue;
                }
                return Err(KeyError::DuplicateKid(kid.to_owned()));
            }
            loaded.push(jwk);
            keys.push(key);
        }
        Ok(KeySet { keys, skipped })
    }

    /// The keys of the JWK Set that [`KeySet::from_jwk_set`] skipped, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.get(kid).is_some()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The only key, when there is exactly one.
    pub(crate) fn single(&self) -> Option<&VerifyingKey> {
        match self.keys.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}
