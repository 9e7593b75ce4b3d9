//! [`KeyError`]: why a key could not be made, loaded or used. Its own module,
//! so that keys and JWKs both use it without importing each other.

use std::fmt;

/// A key could not be made, loaded or used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a PKCS#8 Ed25519, P-256 or RSA (2048-8192 bit) private key.
    InvalidPrivateKey,
    /// The text is not PEM, or its label is not `PRIVATE KEY`.
    InvalidPem,
    /// A JWK's public key material is malformed or of the wrong size.
    InvalidPublicKey(&'static str),
    /// A JWK lacks a member its key type requires.
    MissingMember(&'static str),
    /// A key type (`kty`) or curve other than OKP/Ed25519, EC/P-256 and RSA.
    UnsupportedKeyType(String),
    /// An algorithm other than EdDSA, ES256 and RS256 (PS256 is verified, never signed).
    UnsupportedAlgorithm(String),
    /// A JWK's `alg` does not fit its key type.
    AlgorithmMismatch {
        /// The JWK's `alg`.
        alg: String,
        /// The JWK's `kty`.
        kty: String,
    },
    /// This build cannot generate RSA keys (enable the `rsa-keygen` feature, or import one).
    RsaGenerationUnavailable,
    /// The OS random generator or the signing operation failed.
    CryptoFailure,
    /// Two keys of a JWK Set share a `kid` but are different keys.
    DuplicateKid(String),
    /// A JWK's `use` is not `sig`.
    NotForSigning(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidPrivateKey => f.write_str(
                "not a PKCS#8 Ed25519, P-256 or RSA (2048 to 8192 bits) private key",
            ),
            KeyError::InvalidPem => f.write_str("not a PEM block labelled PRIVATE KEY"),
            KeyError::InvalidPublicKey(why) => write!(f, "invalid public key: {why}"),
            KeyError::MissingMember(name) => write!(f, "the JWK lacks the member `{name}`"),
            KeyError::UnsupportedKeyType(kty) => write!(f, "unsupported key type `{kty}`"),
            KeyError::UnsupportedAlgorithm(alg) => {
                write!(f, "unsupported algorithm `{alg}`; use EdDSA, ES256 or RS256")
            }
            KeyError::AlgorithmMismatch { alg, kty } => {
                write!(f, "algorithm `{alg}` does not fit key type `{kty}`")
            }
            KeyError::RsaGenerationUnavailable => f.write_str(
                "this build cannot generate RSA keys; enable the `rsa-keygen` feature or import a PKCS#8 key",
            ),
            KeyError::CryptoFailure => f.write_str("the cryptographic operation failed"),
            KeyError::NotForSigning(key_use) => {
                write!(f, "the key is for {key_use:?}, not for signatures")
            }
            KeyError::DuplicateKid(kid) => {
                write!(f, "two different keys share the kid {kid:?}")
            }
        }
    }
}

impl std::error::Error for KeyError {}
