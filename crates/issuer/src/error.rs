//! [`IssuerError`]: what building an issuer, or one of its public
//! operations (bootstrap, key rotation and revocation, the periodic tick),
//! can fail with.

use std::fmt;

use crate::store::StoreError;

/// Building or running an [`Issuer`](crate::Issuer) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum IssuerError {
    /// The builder was given a setting that cannot work.
    Config(String),
    /// The store failed.
    Store(StoreError),
    /// A stored signing key could not be decrypted: most likely the master
    /// key differs from the one the key was sealed with.
    KeyDecryption {
        /// The key that could not be opened.
        kid: String,
    },
    /// A signing key could not be generated or loaded.
    Key(m2m_core::KeyError),
    /// The operating system's random generator failed.
    Randomness,
    /// The key ring kept changing under a rotation or revocation (other
    /// replicas rotating at the same moment); try again.
    KeyRingBusy,
    /// No key with this kid is in the key ring.
    UnknownKey(String),
    /// No key signs now (the key ring is empty or every key is waiting).
    NoSigningKey,
    /// A token came out larger than verifiers accept (registration rules
    /// make this impossible for registered clients).
    TokenTooLarge {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerError::Config(what) => write!(f, "invalid issuer configuration: {what}"),
            IssuerError::Store(error) => write!(f, "{error}"),
            IssuerError::KeyDecryption { kid } => write!(
                f,
                "cannot decrypt stored signing key {kid}: the master key is not the one it was sealed with"
            ),
            IssuerError::Key(error) => write!(f, "signing key error: {error}"),
            IssuerError::Randomness => {
                f.write_str("the operating system's random generator failed")
            }
            IssuerError::KeyRingBusy => {
                f.write_str("the key ring kept changing under the operation; try again")
            }
            IssuerError::UnknownKey(kid) => write!(f, "no signing key has the kid {kid:?}"),
            IssuerError::NoSigningKey => f.write_str("no signing key is current"),
            IssuerError::TokenTooLarge { len } => write!(
                f,
                "a token of {len} bytes would exceed the verifiers' size limit"
            ),
        }
    }
}

impl std::error::Error for IssuerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IssuerError::Store(error) => Some(error),
            IssuerError::Key(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for IssuerError {
    fn from(error: StoreError) -> Self {
        IssuerError::Store(error)
    }
}

impl From<m2m_core::KeyError> for IssuerError {
    fn from(error: m2m_core::KeyError) -> Self {
        IssuerError::Key(error)
    }
}

impl From<m2m_core::RandomnessUnavailable> for IssuerError {
    fn from(_: m2m_core::RandomnessUnavailable) -> Self {
        IssuerError::Randomness
    }
}
