//! Where the guard's keys come from, and the snapshot readers load.
//!
//! Three sources fill one snapshot, an `ArcSwap<KeySet>` that the request path
//! loads without taking a lock:
//!
//! - a remote JWKS URL ([`GuardBuilder::jwks_url`](crate::GuardBuilder::jwks_url)),
//!   fetched at build, refreshed in the background by the response's
//!   `Cache-Control: max-age` (clamped to bounds), and re-fetched on an unknown
//!   `kid` as a single flight at most once per cooldown (see `remote`);
//! - a static JWK Set ([`GuardBuilder::jwk_set`](crate::GuardBuilder::jwk_set));
//! - [`InProcessKeys`], which an issuer in the same process pushes its
//!   published keys into ([`GuardBuilder::in_process`](crate::GuardBuilder::in_process)).

pub(crate) mod remote;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use m2m_core::{JwkSet, KeyError, KeySet, VerifyingKey};

use crate::cache::TokenCache;
use remote::Remote;

/// The current keys and a generation number that grows with every change.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    keys: ArcSwap<KeySet>,
    generation: AtomicU64,
}

impl Shared {
    fn store(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Keys that an issuer in the same process pushes to its guards.
///
/// Cloning gives another handle to the same keys. Every guard built with
/// [`GuardBuilder::in_process`](crate::GuardBuilder::in_process) on a handle
/// sees a change at once.
///
/// ```
/// use m2m_core::{Algorithm, JwkSet, SigningKey};
/// use m2m_guard::InProcessKeys;
///
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let keys = InProcessKeys::new();
/// keys.set_jwk_set(&JwkSet { keys: vec![key.public_jwk().clone()] })?;
/// assert_eq!(keys.len(), 1);
/// # Ok::<(), m2m_core::KeyError>(())
/// ```
#[derive(Clone, Default)]
pub struct InProcessKeys {
    shared: Arc<Shared>,
}

impl InProcessKeys {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the keys with those of a JWK Set (as published by the issuer).
    /// On error the keys are left as they were.
    pub fn set_jwk_set(&self, set: &JwkSet) -> Result<(), KeyError> {
        self.shared.store(KeySet::from_jwk_set(set)?);
        Ok(())
    }

    /// Replaces the keys.
    pub fn set_keys(&self, keys: impl IntoIterator<Item = VerifyingKey>) {
        self.shared.store(KeySet::from_keys(keys));
    }

    /// How many keys are trusted now.
    pub fn len(&self) -> usize {
        self.shared.keys.load().len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for InProcessKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessKeys")
            .field("keys", &self.len())
            .finish()
    }
}

/// The guard's keys: the snapshot, and the remote fetcher when there is one.
#[derive(Debug)]
pub(crate) struct KeyStore {
    shared: Arc<Shared>,
    remote: Option<Remote>,
    cache: Arc<TokenCache>,
}

impl KeyStore {
    pub(crate) fn fixed(keys: KeySet, cache: Arc<TokenCache>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.store(keys);
        KeyStore {
            shared,
            remote: None,
            cache,
        }
    }

    pub(crate) fn in_process(keys: &InProcessKeys, cache: Arc<TokenCache>) -> Self {
        KeyStore {
            shared: Arc::clone(&keys.shared),
            remote: None,
            cache,
        }
    }

    pub(crate) fn remote(remote: Remote, cache: Arc<TokenCache>) -> Self {
        KeyStore {
            shared: Arc::new(Shared::default()),
            remote: Some(remote),
            cache,
        }
    }

    /// The generation, then the keys: a reader that sees generation `g` sees
    /// keys at least as new as `g`'s.
    #[inline]
    pub(crate) fn snapshot(&self) -> (u64, arc_swap::Guard<Arc<KeySet>>) {
        let generation = self.shared.generation.load(Ordering::Acquire);
        (generation, self.shared.keys.load())
    }

    #[inline]
    pub(crate) fn contains(&self, kid: &str) -> bool {
        self.shared.keys.load().contains(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.keys.load().len()
    }

    /// Whether an unknown `kid` may be worth a re-fetch.
    pub(crate) fn can_refetch(&self) -> bool {
        self.remote.is_some()
    }

    pub(crate) fn remote_ref(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// Replaces the keys and drops cached tokens whose key left.
    pub(crate) fn replace(&self, keys: KeySet) {
        self.shared.store(keys);
        let current = self.shared.keys.load();
        self.cache.retain_kids(|kid| current.contains(kid));
    }

    /// The number of successful key changes so far.
    pub(crate) fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }
}
