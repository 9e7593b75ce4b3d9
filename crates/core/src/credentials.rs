//! Client credentials (contract section 5): generated client ids and secrets,
//! and the keyed hash under which a store keeps secrets.
//!
//! Secrets are 256 bits from the OS random generator, so no password hash is
//! needed: nobody can guess their way through 2^256 values, and a fast keyed
//! hash (HMAC-SHA-256 under a server-side pepper) keeps a stolen database from
//! being enough to check candidate secrets offline. Comparison is constant time.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::b64;
use crate::ids::ClientId;

/// The prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "m2m_";
/// The prefix of every client secret, so secret scanners can find leaked ones.
pub const CLIENT_SECRET_PREFIX: &str = "m2ms_";
/// The longest client secret accepted on input, in bytes.
pub const MAX_SECRET_LEN: usize = 256;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The OS random generator failed; nothing sensible can be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomnessUnavailable;

impl fmt::Display for RandomnessUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operating system's random generator failed")
    }
}

impl std::error::Error for RandomnessUnavailable {}

/// Fills a buffer with OS randomness.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomnessUnavailable> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomnessUnavailable)?;
    Ok(bytes)
}

/// A random identifier: `prefix` then 26 lowercase base32 characters (130 bits).
///
/// ```
/// let jti = m2m_core::random_id("")?;
/// assert_eq!(jti.len(), 26);
/// # Ok::<(), m2m_core::RandomnessUnavailable>(())
/// ```
pub fn random_id(prefix: &str) -> Result<String, RandomnessUnavailable> {
    let bytes: [u8; 26] = random_bytes()?;
    let mut id = String::with_capacity(prefix.len() + 26);
    id.push_str(prefix);
    id.extend(
        bytes
            .iter()
            .map(|b| char::from(BASE32[usize::from(b & 31)])),
    );
    Ok(id)
}

impl ClientId {
    /// A fresh client id: `m2m_` and 26 random base32 characters.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        random_id(CLIENT_ID_PREFIX).map(ClientId::new)
    }
}

/// A client secret in clear. It exists only between generation and the
/// create response, and between a request's arrival and its hash check.
/// `Debug` never prints it, and its memory is wiped on drop.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// A fresh secret: `m2ms_` and 256 bits of OS randomness in base64url.
    ///
    /// ```
    /// let secret = m2m_core::ClientSecret::generate()?;
    /// assert!(secret.expose().starts_with("m2ms_"));
    /// assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
    /// # Ok::<(), m2m_core::RandomnessUnavailable>(())
    /// ```
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        let mut text = Zeroizing::new(String::with_capacity(CLIENT_SECRET_PREFIX.len() + 43));
        text.push_str(CLIENT_SECRET_PREFIX);
        b64::encode_into(*bytes, &mut text);
        Ok(ClientSecret(text))
    }

    /// Wraps a secret received from a client.
    pub fn from_received(secret: impl Into<String>) -> Self {
        ClientSecret(Zeroizing::new(secret.into()))
    }

    /// The secret in clear: for the create response only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The stored form of a secret: HMAC-SHA-256 under the server's pepper.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Rebuilds a hash read from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretHash(bytes)
    }

    /// The hash's bytes, for a store to keep.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// Hashes and checks client secrets under a server-side pepper.
///
/// ```
/// use m2m_core::{ClientSecret, SecretHasher};
/// let hasher = SecretHasher::new(b"a pepper of at least 32 bytes.....");
/// let secret = ClientSecret::generate()?;
/// let stored = hasher.hash(secret.expose());
/// assert!(hasher.verify("m2ms_wrong", &stored) == false);
/// assert!(hasher.verify(secret.expose(), &stored));
/// # Ok::<(), m2m_core::RandomnessUnavailable>(())
/// ```
pub struct SecretHasher {
    key: hmac::Key,
}

impl SecretHasher {
    /// A hasher keyed by `pepper` (use 32 random bytes kept outside the database).
    pub fn new(pepper: &[u8]) -> Self {
        SecretHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, pepper),
        }
    }

    /// The stored form of `secret`.
    pub fn hash(&self, secret: &str) -> SecretHash {
        let tag = hmac::sign(&self.key, secret.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(tag.as_ref());
        SecretHash(bytes)
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &SecretHash) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), &stored.0).is_ok()
    }
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_have_their_shape() {
        let id = ClientId::generate().unwrap();
        assert!(id.as_str().starts_with("m2m_"));
        assert_eq!(id.as_str().len(), 4 + 26);
        assert_ne!(id, ClientId::generate().unwrap());
        let secret = ClientSecret::generate().unwrap();
        assert_eq!(secret.expose().len(), 5 + 43);
        assert_ne!(secret.expose(), ClientSecret::generate().unwrap().expose());
    }

    #[test]
    fn hash_depends_on_pepper() {
        let a = SecretHasher::new(b"pepper-a");
        let b = SecretHasher::new(b"pepper-b");
        assert_ne!(a.hash("s"), b.hash("s"));
        assert!(!b.verify("s", &a.hash("s")));
    }
}
