//! The master key and what is derived from it: the secret pepper and the
//! AES-256-GCM key that seals private signing keys before they reach a store.
//!
//! One 32-byte master key feeds HKDF-SHA-256 (RFC 5869) with two distinct
//! `info` labels, so the two derived keys are independent. A sealed key is
//! `version (1 byte) || nonce (12 random bytes) || ciphertext || tag`, with
//! the key's `kid` as associated data: a blob moved to another kid, or opened
//! under another master key, fails to open.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use zeroize::Zeroizing;

const SALT: &[u8] = b"m2m-auth hkdf salt v1";
const PEPPER_INFO: &[u8] = b"m2m-auth secret pepper v1";
const KEY_ENCRYPTION_INFO: &[u8] = b"m2m-auth key encryption v1";
const VERSION: u8 = 1;

/// HKDF output length for the pepper.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// Seals and opens private signing keys. Cloning shares the key.
#[derive(Clone)]
pub(crate) struct KeyCrypt {
    key: std::sync::Arc<LessSafeKey>,
}

impl fmt::Debug for KeyCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyCrypt(<redacted>)")
    }
}

/// A sealed blob could not be opened (wrong master key, wrong kid, or damaged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFailed;

/// Derives the secret pepper and the key-encryption key from the master key.
pub(crate) fn derive(master: &[u8; 32]) -> (Zeroizing<[u8; 32]>, KeyCrypt) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(master);
    let mut pepper = Zeroizing::new([0u8; 32]);
    // Expanding to 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
    prk.expand(&[PEPPER_INFO], Len32)
        .and_then(|okm| okm.fill(pepper.as_mut()))
        .expect("HKDF-SHA-256 expands to 32 bytes");
    let okm = prk
        .expand(&[KEY_ENCRYPTION_INFO], &AES_256_GCM)
        .expect("HKDF-SHA-256 expands to an AES-256 key");
    let key = LessSafeKey::new(UnboundKey::from(okm));
    (
        pepper,
        KeyCrypt {
            key: std::sync::Arc::new(key),
        },
    )
}

impl KeyCrypt {
    /// Seals a PKCS#8 private key for `kid`.
    pub(crate) fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<Vec<u8>, crate::IssuerError> {
        let nonce_bytes: [u8; NONCE_LEN] = m2m_core::random_bytes()?;
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + pkcs8.len() + 16);
        blob.push(VERSION);
        blob.extend_from_slice(&nonce_bytes);
        let mut sealed = pkcs8.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| crate::IssuerError::Config("AES-GCM sealing failed".into()))?;
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Opens a blob sealed for `kid`.
    pub(crate) fn open(&self, kid: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
        let (&version, rest) = blob.split_first().ok_or(OpenFailed)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(OpenFailed);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenFailed)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| OpenFailed)?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_master_key_and_kid() {
        let (pepper_a, a) = derive(&[7; 32]);
        let (pepper_b, b) = derive(&[8; 32]);
        assert_ne!(*pepper_a, *pepper_b);
        let (pepper_a2, _) = derive(&[7; 32]);
        assert_eq!(*pepper_a, *pepper_a2, "derivation is deterministic");

        let blob = a.seal("kid-1", b"private key bytes").unwrap();
        assert!(!blob.windows(7).any(|w| w == b"private"), "no clear text");
        assert_eq!(&*a.open("kid-1", &blob).unwrap(), b"private key bytes");
        assert_eq!(b.open("kid-1", &blob), Err(OpenFailed), "other master key");
        assert_eq!(a.open("kid-2", &blob), Err(OpenFailed), "other kid");
        let mut damaged = blob.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(a.open("kid-1", &damaged), Err(OpenFailed), "damaged tag");
        assert_eq!(a.open("kid-1", &[]), Err(OpenFailed));
        assert_eq!(a.open("kid-1", &[1, 2, 3]), Err(OpenFailed));
        assert_ne!(
            a.seal("kid-1", b"x").unwrap(),
            a.seal("kid-1", b"x").unwrap(),
            "a fresh nonce each time"
        );
    }
}
