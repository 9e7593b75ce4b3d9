//! The verified-token cache: a token that verified before costs a lookup, not
//! a signature check.
//!
//! - Keyed on the exact token string: a hit is an exact match of the whole
//!   token, never of a hash or a prefix.
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
//! - Hashing: the map's hasher is SipHash with a random key (std's
//!   `RandomState`) over the token's length and its last 32 bytes, which are
//!   signature bytes, unpredictable for every token the issuer signs. Equality
//!   still compares the whole token. Hashing all of a ~600-byte token was the
//!   largest cost of a cache hit.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hasher};

use dashmap::DashMap;

use crate::extract::Auth;

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) auth: Auth,
    pub(crate) exp: u64,
    pub(crate) kid: Option<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    map: DashMap<Box<str>, Entry, TailState>,
    max_entries: usize,
}

/// Builds [`TailHasher`]s keyed like std's `RandomState`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TailState(RandomState);

impl BuildHasher for TailState {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

/// SipHash over the length and the last 32 bytes of what is written.
#[derive(Debug)]
pub(crate) struct TailHasher(DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(32)..]);
        self.0.write_usize(bytes.len());
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

impl TokenCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        TokenCache {
            map: DashMap::with_hasher(TailState::default()),
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
        let valid = {
            let entry = self.map.get(token)?;
            still_valid(&entry).then(|| entry.auth.clone())
        };
        if valid.is_none() {
            self.map.remove(token);
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
        self.map.insert(token.into(), entry);
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
    fn exact_token_only() {
        let cache = TokenCache::new(8);
        cache.insert("abc.def.ghi", entry(1000), 0, 0);
        assert!(cache.get("abc.def.gh", |_| true).is_none());
        assert!(cache.get("abc.def.ghi", |_| true).is_some());
        assert!(cache.get("abc.def.ghi", |_| false).is_none());
        assert_eq!(cache.len(), 0, "a refused entry is removed");
    }
}
