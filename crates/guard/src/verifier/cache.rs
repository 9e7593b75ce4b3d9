//! The verified-token cache: a token that verified before costs a lookup, not
//! a signature check.
//!
//! - Keyed on the SHA-256 digest of the whole token: a hit is an exact match
//!   of a collision-resistant digest of every byte of the token (header,
//!   payload and signature), never of a prefix, a hash of part of it, or the
//!   signature alone. A 32-byte key instead of the ~620-byte token text is
//!   most of what keeps a full cache small.
//! - An entry holds the claims (behind an `Arc`, cloned into the request's
//!   extensions), `exp` and the `kid` that verified it.
//! - On a hit the verifier re-checks `exp` (with the leeway), that the `kid`
//!   is still in the current key set, and revocation (by `jti`, client and
//!   key: one atomic load while nothing is revoked); a failed check removes
//!   the entry and sends the token down the full verification path, which
//!   names the precise error. A key refresh also drops the entries of keys
//!   that left. A revocation never scans the cache: the entry of a revoked
//!   token leaves on its next hit, or when the cache makes room.
//! - Bounded (default 100,000 entries). When an insert finds the cache full,
//!   expired entries go first; if that frees less than an eighth, an arbitrary
//!   eighth of the entries is dropped (they verify again on their next use).
//!   Inserts happen only after a signature check, so an attacker cannot fill
//!   the cache without valid tokens.
//! - Hashing: the map's hasher takes the digest's first 8 bytes as they are
//!   (SipHash over them would add nothing): SHA-256 output is uniformly
//!   distributed, and since only signed tokens are inserted an attacker
//!   cannot choose the digests of the entries to crowd one bucket.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use dashmap::DashMap;
use ring::digest::{SHA256, digest};

use crate::extract::Auth;

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) auth: Auth,
    pub(crate) exp: u64,
    pub(crate) kid: Option<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    map: DashMap<Key, Entry, BuildHasherDefault<PrefixHasher>>,
    max_entries: usize,
}

/// The SHA-256 digest of a whole token: the cache's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key([u8; 32]);

impl Key {
    /// The key of `token`.
    #[inline]
    pub(crate) fn of(token: &str) -> Self {
        let mut key = [0; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        Key(key)
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(prefix));
    }
}

/// Passes on the `u64` a [`Key`] writes: the first 8 bytes of a digest.
#[derive(Debug, Default)]
pub(crate) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    /// Only [`Key`] is hashed here, and it writes one `u64`; anything else
    /// is folded in so the hasher stays total.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl TokenCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        TokenCache {
            map: DashMap::default(),
            max_entries,
        }
    }

    /// The cached claims of `token` if `still_valid` accepts its entry; an
    /// entry it refuses is removed.
    #[inline]
    pub(crate) fn get(
        &self,
        token: &str,
        still_valid: impl FnOnce(&Entry) -> bool,
    ) -> Option<Auth> {
        if self.max_entries == 0 {
            return None;
        }
        let key = Key::of(token);
        let valid = {
            let entry = self.map.get(&key)?;
            still_valid(&entry).then(|| entry.auth.clone())
        };
        if valid.is_none() {
            self.map.remove(&key);
        }
        valid
    }

    /// Caches a verified token; `now` and `leeway` decide what is expired when
    /// the cache is full.
    pub(crate) fn insert(&self, token: &str, entry: Entry, now: u64, leeway: u64) {
        if self.max_entries == 0 {
            return;
        }
        if self.map.len() >= self.max_entries {
            self.evict(now, leeway);
        }
        self.map.insert(Key::of(token), entry);
    }

    fn evict(&self, now: u64, leeway: u64) {
        self.map.retain(|_, e| e.exp.saturating_add(leeway) > now);
        let len = self.map.len();
        if len + self.max_entries / 8 > self.max_entries {
            let mut drop = (len / 8).max(1);
            self.map.retain(|_, _| {
                if drop > 0 {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Keeps only the entries whose kid `keep` accepts (after a key change).
    pub(crate) fn retain_kids(&self, keep: impl Fn(&str) -> bool) {
        self.map.retain(|_, e| e.kid.as_deref().is_none_or(&keep));
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(exp: u64) -> Entry {
        let claims = m2m_core::AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            client_id: "c".into(),
            aud: "a".into(),
            exp,
            nbf: None,
            iat: 0,
            jti: "j".into(),
            scope: m2m_core::ScopeSet::new(),
            oid: None,
            uid: None,
            cnf: None,
            act: None,
            may_act: None,
        };
        Entry {
            auth: Auth::new(Arc::new(claims)),
            exp,
            kid: Some("k".into()),
        }
    }

    #[test]
    fn bounded_expired_first() {
        let cache = TokenCache::new(8);
        for i in 0..8 {
            cache.insert(&format!("old{i}"), entry(10), 0, 0);
        }
        cache.insert("fresh", entry(1000), 100, 0);
        assert_eq!(cache.len(), 1, "the expired entries went first");
        for i in 0..20 {
            cache.insert(&format!("t{i}"), entry(1000), 100, 0);
            assert!(cache.len() <= 8);
        }
        assert!(
            cache.get("t19", |_| true).is_some(),
            "the newest entry is kept"
        );
    }

    #[test]
    fn same_tail_different_tokens_are_different_entries() {
        let cache = TokenCache::new(8);
        let tail = "x".repeat(40);
        cache.insert(&format!("a{tail}"), entry(1000), 0, 0);
        assert!(cache.get(&format!("b{tail}"), |_| true).is_none());
        cache.insert(&format!("b{tail}"), entry(1000), 0, 0);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn same_signature_different_tokens_are_different_entries() {
        let cache = TokenCache::new(8);
        cache.insert("h1.p1.sig", entry(1000), 0, 0);
        assert!(cache.get("h2.p2.sig", |_| true).is_none());
        assert!(cache.get("sig", |_| true).is_none());
    }

    #[test]
    fn one_byte_changed_anywhere_misses() {
        // Header, payload and signature each have bytes changed in turn.
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtMm0ifQ.c2lnbmF0dXJlLWJ5dGVz";
        let cache = TokenCache::new(4);
        cache.insert(token, entry(1000), 0, 0);
        for at in 0..token.len() {
            let mut bytes = token.as_bytes().to_vec();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let other = String::from_utf8(bytes).expect("ascii");
            assert!(
                cache.get(&other, |_| true).is_none(),
                "a token differing at byte {at} hit"
            );
        }
        assert!(cache.get(&token[..token.len() - 1], |_| true).is_none());
        assert!(cache.get(&format!("{token}A"), |_| true).is_none());
        assert!(cache.get(token, |_| true).is_some(), "the token itself hits");
    }

    #[test]
    fn key_is_the_digest_of_the_whole_token() {
        let a = Key::of("abc.def.ghi");
        assert_eq!(a, Key::of("abc.def.ghi"));
        assert_ne!(a, Key::of("abc.def.ghj"));
        assert_ne!(a, Key::of("abd.def.ghi"));
        // Hashing passes the digest's first 8 bytes through.
        let mut hasher = PrefixHasher::default();
        a.hash(&mut hasher);
        assert_eq!(hasher.finish().to_ne_bytes(), a.0[..8]);
    }

    #[test]
    fn exact_token_only() {
        let cache = TokenCache::new(8);
        cache.insert("abc.def.ghi", entry(1000), 0, 0);
        assert!(cache.get("abc.def.gh", |_| true).is_none());
        assert!(cache.get("abc.def.ghi", |_| true).is_some());
        assert!(cache.get("abc.def.ghi", |_| false).is_none());
        assert_eq!(cache.len(), 0, "a refused entry is removed");
    }
}
