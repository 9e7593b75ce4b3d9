//! Revocations: tokens (by `jti`) and clients (their tokens issued at or
//! before a time) that the guard refuses although their signature is good.
//!
//! Two ways in, both off until used:
//!
//! - the issuer's feed, `GET /oauth/revocations?since=CURSOR` (contract
//!   section 6), polled every interval by
//!   [`GuardBuilder::revocation_feed`](crate::GuardBuilder::revocation_feed);
//! - an issuer in the same process pushing into a [`Revocations`] handle.
//!
//! The request path reads them with no call out: while nothing was ever
//! revoked it checks one atomic flag; after that, two map lookups.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use dashmap::DashMap;
use m2m_core::{AccessTokenClaims, RevocationFeed};

use super::cache::TokenCache;

/// Revoked tokens and clients, shared by the guards built with it.
///
/// Cloning gives another handle to the same set.
///
/// ```
/// use m2m_guard::Revocations;
/// let revocations = Revocations::new();
/// revocations.revoke_jti("jti-1", 1_700_003_600);
/// revocations.revoke_client("m2m_abc", 1_700_000_000);
/// assert!(revocations.is_jti_revoked("jti-1"));
/// assert!(revocations.is_client_revoked("m2m_abc", 1_699_999_999));
/// assert!(!revocations.is_client_revoked("m2m_abc", 1_700_000_001));
/// ```
#[derive(Clone, Default)]
pub struct Revocations {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    active: AtomicBool,
    jtis: DashMap<Box<str>, u64>,
    clients: DashMap<Box<str>, u64>,
    caches: Mutex<Vec<Weak<TokenCache>>>,
}

impl Revocations {
    /// Nothing revoked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the token with this `jti`; `exp` is its expiry, after which the
    /// entry can be forgotten.
    pub fn revoke_jti(&self, jti: impl Into<String>, exp: u64) {
        let jti: String = jti.into();
        self.inner.jtis.insert(jti.as_str().into(), exp);
        self.inner.active.store(true, Ordering::Release);
        self.purge(|claims| claims.jti == jti);
    }

    /// Refuses every token of `client_id` issued at or before `at` (seconds
    /// since the epoch).
    pub fn revoke_client(&self, client_id: impl Into<String>, at: u64) {
        let client_id: String = client_id.into();
        self.inner
            .clients
            .entry(client_id.as_str().into())
            .and_modify(|old| *old = (*old).max(at))
            .or_insert(at);
        self.inner.active.store(true, Ordering::Release);
        self.purge(|claims| claims.client_id.as_str() == client_id && claims.iat <= at);
    }

    /// Applies one page of the issuer's feed.
    pub fn apply(&self, feed: &RevocationFeed) {
        for token in &feed.revoked_jtis {
            self.revoke_jti(token.jti.as_str(), token.exp);
        }
        for client in &feed.revoked_clients {
            self.revoke_client(client.client_id.as_str(), client.revoked_at);
        }
    }

    /// Whether the token with this `jti` is revoked.
    pub fn is_jti_revoked(&self, jti: &str) -> bool {
        self.inner.active.load(Ordering::Acquire) && self.inner.jtis.contains_key(jti)
    }

    /// Whether a token of `client_id` issued at `iat` is revoked.
    pub fn is_client_revoked(&self, client_id: &str, iat: u64) -> bool {
        self.inner.active.load(Ordering::Acquire)
            && self
                .inner
                .clients
                .get(client_id)
                .is_some_and(|at| iat <= *at)
    }

    /// Whether these claims are revoked, by `jti` or by client.
    #[inline]
    pub fn is_revoked(&self, claims: &AccessTokenClaims) -> bool {
        self.inner.active.load(Ordering::Acquire)
            && (self.is_jti_revoked(&claims.jti)
                || self.is_client_revoked(claims.client_id.as_str(), claims.iat))
    }

    /// Forgets revoked `jti`s whose tokens expired before `before`.
    pub fn prune(&self, before: u64) {
        self.inner.jtis.retain(|_, exp| *exp >= before);
    }

    /// How many `jti`s and clients are revoked.
    pub fn len(&self) -> (usize, usize) {
        (self.inner.jtis.len(), self.inner.clients.len())
    }

    pub(crate) fn register_cache(&self, cache: &Arc<TokenCache>) {
        if let Ok(mut caches) = self.inner.caches.lock() {
            caches.retain(|c| c.strong_count() > 0);
            caches.push(Arc::downgrade(cache));
        }
    }

    fn purge(&self, revoked: impl Fn(&AccessTokenClaims) -> bool) {
        let caches: Vec<Arc<TokenCache>> = match self.inner.caches.lock() {
            Ok(caches) => caches.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        for cache in caches {
            cache.remove_where(|entry| revoked(entry.auth.claims()));
        }
    }
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (jtis, clients) = self.len();
        f.debug_struct("Revocations")
            .field("jtis", &jtis)
            .field("clients", &clients)
            .finish()
    }
}
