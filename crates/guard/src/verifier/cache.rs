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
//!   expired entries go first; if that frees less than an eighth, every
//!   eighth entry of each shard is dropped (they verify again on their next
//!   use), which keeps the shards even and the map within the size it was
//!   given up front: a full cache holds its memory flat.
//!   Inserts happen only after a signature check, so an attacker cannot fill
//!   the cache without valid tokens.
//! - Hashing: the map's hasher takes the digest's first 8 bytes as they are
//!   (SipHash over them would add nothing): SHA-256 output is uniformly
//!   distributed, and since only signed tokens are inserted an attacker
//!   cannot choose the digests of the entries to crowd one bucket.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use ring::digest::{SHA256, digest};

use crate::extract::Auth;

/// The most entries the map is sized for up front: a larger bound grows the
/// map as it fills instead.
const PRESIZE_MAX: usize = 1 << 20;

/// The most distinct kids shared between entries; past it a kid is copied
/// per entry (a key set rarely holds more than a few keys).
const INTERNED_KIDS_MAX: usize = 16;

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) auth: Auth,
    /// The kid of the key that verified the token, shared by the entries
    /// of that key.
    pub(crate) kid: Arc<str>,
}

impl Entry {
    /// The token's `exp`.
    #[inline]
    pub(crate) fn exp(&self) -> u64 {
        self.auth.claims().exp
    }
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    map: DashMap<Key, Entry, BuildHasherDefault<PrefixHasher>>,
    max_entries: usize,
    /// The kids of the entries, one allocation per kid.
    kids: Mutex<Vec<Arc<str>>>,
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
            // Sized once for the bound: growing would free every smaller
            // table on the way, memory the allocator keeps. Untouched
            // buckets cost address space, not resident memory.
            map: DashMap::with_capacity_and_hasher(
                max_entries.min(PRESIZE_MAX),
                BuildHasherDefault::default(),
            ),
            max_entries,
            kids: Mutex::new(Vec::new()),
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

    /// Caches a token `kid`'s key verified; `now` and `leeway` decide what is
    /// expired when the cache is full.
    pub(crate) fn insert(&self, token: &str, auth: Auth, kid: &str, now: u64, leeway: u64) {
        if self.max_entries == 0 {
            return;
        }
        if self.map.len() >= self.max_entries {
            self.evict(now, leeway);
        }
        let kid = self.intern(kid);
        self.map.insert(Key::of(token), Entry { auth, kid });
    }

    /// The shared copy of `kid` (a new one while there are few).
    fn intern(&self, kid: &str) -> Arc<str> {
        let mut kids = self.kids.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = kids.iter().find(|known| ***known == *kid) {
            return known.clone();
        }
        let kid: Arc<str> = kid.into();
        if kids.len() < INTERNED_KIDS_MAX {
            kids.push(kid.clone());
        }
        kid
    }

    fn evict(&self, now: u64, leeway: u64) {
        self.map.retain(|_, e| e.exp().saturating_add(leeway) > now);
        let len = self.map.len();
        // At least one slot, however small the bound.
        if len + (self.max_entries / 8).max(1) > self.max_entries {
            // Every eighth entry, so each shard loses its share: dropping
            // the first eighth would empty whole shards while the others
            // keep filling, until one outgrows its table and doubles it.
            let mut seen = 0usize;
            self.map.retain(|_, _| {
                seen += 1;
                seen % 8 != 1
            });
        }
    }

    /// Keeps only the entries whose kid `keep` accepts (after a key change).
    pub(crate) fn retain_kids(&self, keep: impl Fn(&str) -> bool) {
        self.kids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|kid| keep(kid));
        self.map.retain(|_, e| keep(&e.kid));
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(exp: u64) -> Auth {
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
        Auth::new(Arc::new(claims))
    }

    #[test]
    fn bounded_expired_first() {
        let cache = TokenCache::new(8);
        for i in 0..8 {
            cache.insert(&format!("old{i}"), auth(10), "k", 0, 0);
        }
        cache.insert("fresh", auth(1000), "k", 100, 0);
        assert_eq!(cache.len(), 1, "the expired entries went first");
        for i in 0..20 {
            cache.insert(&format!("t{i}"), auth(1000), "k", 100, 0);
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
        cache.insert(&format!("a{tail}"), auth(1000), "k", 0, 0);
        assert!(cache.get(&format!("b{tail}"), |_| true).is_none());
        cache.insert(&format!("b{tail}"), auth(1000), "k", 0, 0);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn same_signature_different_tokens_are_different_entries() {
        let cache = TokenCache::new(8);
        cache.insert("h1.p1.sig", auth(1000), "k", 0, 0);
        assert!(cache.get("h2.p2.sig", |_| true).is_none());
        assert!(cache.get("sig", |_| true).is_none());
    }

    #[test]
    fn one_byte_changed_anywhere_misses() {
        // Header, payload and signature each have bytes changed in turn.
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtMm0ifQ.c2lnbmF0dXJlLWJ5dGVz";
        let cache = TokenCache::new(4);
        cache.insert(token, auth(1000), "k", 0, 0);
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
        assert!(
            cache.get(token, |_| true).is_some(),
            "the token itself hits"
        );
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
        cache.insert("abc.def.ghi", auth(1000), "k", 0, 0);
        assert!(cache.get("abc.def.gh", |_| true).is_none());
        assert!(cache.get("abc.def.ghi", |_| true).is_some());
        assert!(cache.get("abc.def.ghi", |_| false).is_none());
        assert_eq!(cache.len(), 0, "a refused entry is removed");
    }

    #[test]
    fn entries_share_their_kid_and_a_key_change_drops_them() {
        let cache = TokenCache::new(8);
        cache.insert("a.b.c", auth(1000), "k1", 0, 0);
        cache.insert("a.b.d", auth(1000), "k1", 0, 0);
        cache.insert("a.b.e", auth(1000), "k2", 0, 0);
        let kid = |token: &str| cache.map.get(&Key::of(token)).expect("cached").kid.clone();
        assert!(Arc::ptr_eq(&kid("a.b.c"), &kid("a.b.d")));
        assert_eq!(&*kid("a.b.e"), "k2");
        cache.retain_kids(|kid| kid == "k2");
        assert_eq!(cache.len(), 1);
        assert!(cache.get("a.b.e", |_| true).is_some());
        assert_eq!(cache.kids.lock().expect("kids").len(), 1, "k1 is forgotten");
    }

    #[test]
    fn a_bound_under_eight_holds() {
        for max in 1..8 {
            let cache = TokenCache::new(max);
            for i in 0..20 {
                cache.insert(&format!("t{i}"), auth(1000), "k", 100, 0);
                assert!(
                    cache.len() <= max,
                    "{} entries in a cache of {max}",
                    cache.len()
                );
            }
            assert!(
                cache.get("t19", |_| true).is_some(),
                "the newest entry is kept"
            );
        }
    }

    #[test]
    fn a_full_cache_loses_every_eighth_entry() {
        let cache = TokenCache::new(8_000);
        for i in 0..8_000 {
            cache.insert(&format!("t{i}"), auth(1000), "k", 100, 0);
        }
        cache.insert("one more", auth(1000), "k", 100, 0);
        assert_eq!(cache.len(), 8_000 - 1_000 + 1);
    }
}
