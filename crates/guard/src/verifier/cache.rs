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
//! - In front of the map, a small hot tier (1,024 slots) keyed by the token
//!   text itself: a token that hits the map is copied into its slot (chosen
//!   by SipHash with a random key over the token's length and last 32
//!   bytes, which are signature bytes), and its next hits compare the whole
//!   token there, byte for byte, without computing the digest. The digest
//!   of a 620-byte token is most of what a hit costs; a few agents with hot
//!   tokens are the common case; and 1,024 copies of a token are about
//!   1 MiB. A hot entry is checked exactly as a map entry is (`exp`, kid,
//!   revocation) on every hit, and a key change clears the slots of the
//!   keys that left.
//! - Hashing: the map's hasher takes the digest's first 8 bytes as they are
//!   (SipHash over them would add nothing): SHA-256 output is uniformly
//!   distributed, and since only signed tokens are inserted an attacker
//!   cannot choose the digests of the entries to crowd one bucket.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use dashmap::DashMap;
use ring::digest::{SHA256, digest};

use crate::extract::Auth;

/// The most entries the map is sized for up front: a larger bound grows the
/// map as it fills instead.
const PRESIZE_MAX: usize = 1 << 20;

/// The most distinct kids shared between entries; past it a kid is copied
/// per entry (a key set rarely holds more than a few keys).
const INTERNED_KIDS_MAX: usize = 16;

/// Slots of the hot tier (a power of two).
const HOT_SLOTS: usize = 1024;

/// A token of the hot tier, with a copy of its map entry.
#[derive(Debug)]
struct Hot {
    token: Box<str>,
    entry: Entry,
}

#[derive(Debug, Clone)]
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
    /// The hot tier: [`HOT_SLOTS`] slots keyed by the token text.
    hot: Box<[RwLock<Option<Hot>>]>,
    /// Picks a token's hot slot.
    hot_hasher: RandomState,
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
            hot: (0..HOT_SLOTS).map(|_| RwLock::new(None)).collect(),
            hot_hasher: RandomState::new(),
        }
    }

    /// The hot slot of `token`.
    #[inline]
    fn hot_slot(&self, token: &str) -> &RwLock<Option<Hot>> {
        let bytes = token.as_bytes();
        let mut hasher = self.hot_hasher.build_hasher();
        hasher.write(&bytes[bytes.len().saturating_sub(32)..]);
        hasher.write_usize(bytes.len());
        // HOT_SLOTS is a power of two; the truncation keeps the low bits.
        &self.hot[(hasher.finish() as usize) & (HOT_SLOTS - 1)]
    }

    /// The cached claims of `token` if `still_valid` accepts its entry; an
    /// entry it refuses is removed.
    #[inline]
    pub(crate) fn get(&self, token: &str, still_valid: impl Fn(&Entry) -> bool) -> Option<Auth> {
        if self.max_entries == 0 {
            return None;
        }
        let slot = self.hot_slot(token);
        let hot = {
            let hot = slot.read().unwrap_or_else(PoisonError::into_inner);
            match &*hot {
                Some(hot) if *hot.token == *token => {
                    Some(still_valid(&hot.entry).then(|| hot.entry.auth.clone()))
                }
                _ => None,
            }
        };
        match hot {
            Some(Some(auth)) => return Some(auth),
            Some(None) => {
                // Refused: out of the hot tier, and the map decides below.
                let mut hot = slot.write().unwrap_or_else(PoisonError::into_inner);
                if hot.as_ref().is_some_and(|hot| *hot.token == *token) {
                    *hot = None;
                }
            }
            None => {}
        }
        let key = Key::of(token);
        let valid = {
            let entry = self.map.get(&key)?;
            still_valid(&entry).then(|| entry.clone())
        };
        let Some(entry) = valid else {
            self.map.remove(&key);
            return None;
        };
        let auth = entry.auth.clone();
        *slot.write().unwrap_or_else(PoisonError::into_inner) = Some(Hot {
            token: token.into(),
            entry,
        });
        Some(auth)
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
        for slot in &self.hot {
            let mut hot = slot.write().unwrap_or_else(PoisonError::into_inner);
            if hot.as_ref().is_some_and(|hot| !keep(&hot.entry.kid)) {
                *hot = None;
            }
        }
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

    /// A token of the hot tier's shape: 600 bytes, the last 86 its "signature".
    fn hot_token(tag: &str) -> String {
        format!("{}.{}{tag}", "h".repeat(500), "s".repeat(99 - tag.len()))
    }

    #[test]
    fn a_second_hit_comes_from_the_hot_tier_and_matches_the_whole_token() {
        let cache = TokenCache::new(100);
        let token = hot_token("1");
        cache.insert(&token, auth(1000), "k", 0, 0);
        assert!(cache.get(&token, |_| true).is_some(), "map hit");
        let slot = cache.hot_slot(&token).read().unwrap();
        assert_eq!(
            slot.as_ref().map(|hot| &*hot.token),
            Some(token.as_str()),
            "promoted"
        );
        drop(slot);
        assert!(cache.get(&token, |_| true).is_some(), "hot hit");
        // Same length and last 32 bytes (so the same slot), another token.
        let mut lookalike = token.clone().into_bytes();
        lookalike[0] = b'x';
        let lookalike = String::from_utf8(lookalike).unwrap();
        assert!(std::ptr::eq(
            cache.hot_slot(&token),
            cache.hot_slot(&lookalike)
        ));
        assert!(
            cache.get(&lookalike, |_| true).is_none(),
            "the hot tier compares every byte"
        );
        let mut last = token.clone();
        last.pop();
        last.push('2');
        assert!(cache.get(&last, |_| true).is_none());
    }

    #[test]
    fn a_refused_hot_entry_leaves_both_tiers() {
        let cache = TokenCache::new(100);
        let token = hot_token("1");
        cache.insert(&token, auth(1000), "k", 0, 0);
        assert!(cache.get(&token, |_| true).is_some());
        let calls = std::cell::Cell::new(0);
        assert!(
            cache
                .get(&token, |_| {
                    calls.set(calls.get() + 1);
                    false
                })
                .is_none()
        );
        assert_eq!(calls.get(), 2, "judged in the hot tier, then in the map");
        assert!(cache.hot_slot(&token).read().unwrap().is_none());
        assert_eq!(cache.len(), 0);
        assert!(cache.get(&token, |_| true).is_none(), "gone for good");
    }

    #[test]
    fn a_key_change_empties_the_hot_slots_of_its_keys() {
        let cache = TokenCache::new(100);
        let (old, kept) = (hot_token("1"), hot_token("2"));
        cache.insert(&old, auth(1000), "old", 0, 0);
        cache.insert(&kept, auth(1000), "kept", 0, 0);
        assert!(cache.get(&old, |_| true).is_some());
        assert!(cache.get(&kept, |_| true).is_some());
        cache.retain_kids(|kid| kid == "kept");
        assert!(cache.hot_slot(&old).read().unwrap().is_none());
        assert!(cache.get(&old, |_| true).is_none());
        assert!(cache.get(&kept, |_| true).is_some());
    }

    #[test]
    fn a_disabled_cache_has_no_hot_tier() {
        let cache = TokenCache::new(0);
        let token = hot_token("1");
        cache.insert(&token, auth(1000), "k", 0, 0);
        assert!(cache.get(&token, |_| true).is_none());
        assert!(cache.get(&token, |_| true).is_none());
    }
}
