//! Where the verifier's keys come from, and the snapshot readers load.
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
//!
//! Every source loads a JWK Set leniently (RFC 7517 §5): a key this verifier
//! does not understand (another curve such as P-384, another `kty`, a `use`
//! other than `sig`, a malformed entry) is skipped with a warning naming its
//! `kid` and the reason, logged once while the set of skipped keys stays the
//! same; the keys beside it load. Only two different keys under one `kid`
//! make a set unusable, and then the keys held are kept.

mod on_demand;
mod remote;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use m2m_core::{JwkSet, KeyError, KeySet, SkippedKey, VerifyingKey};
use tokio::task::AbortHandle;

use super::cache::TokenCache;
use crate::fetch::FetchError;
pub use on_demand::RemoteJwks;
pub(crate) use remote::{Remote, RemoteTimings};

/// The current keys, a generation number that grows with every change, and
/// the keys skipped by the last load.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    keys: ArcSwap<KeySet>,
    generation: AtomicU64,
    skipped: Mutex<Vec<SkippedKey>>,
}

impl Shared {
    fn store(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Replaces the keys with those of `set` this verifier understands; the
    /// others, with the entries a fetch could not read (`unreadable`), are
    /// skipped and logged. Returns how many keys loaded; on error (two
    /// different keys with one `kid`) the keys are left as they were.
    fn load(&self, set: &JwkSet, mut unreadable: Vec<SkippedKey>) -> Result<usize, KeyError> {
        let keys = KeySet::from_jwk_set(set)?;
        unreadable.extend(keys.skipped().iter().cloned());
        self.report_skipped(unreadable);
        let count = keys.len();
        self.store(keys);
        Ok(count)
    }

    /// Warns about each skipped key not skipped by the previous load, so an
    /// unchanged JWKS does not repeat the warning on every refresh.
    fn report_skipped(&self, skipped: Vec<SkippedKey>) {
        let mut last = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
        for key in skipped.iter().filter(|key| !last.contains(key)) {
            tracing::warn!(
                target: "m2m_guard",
                kid = key.kid.as_deref().unwrap_or("(none)"),
                reason = %key.reason,
                "skipped a key of the JWK Set that this verifier cannot use"
            );
        }
        *last = skipped;
    }

    /// Why the first skipped key of the last load was skipped.
    fn first_skipped(&self) -> Option<KeyError> {
        let last = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
        last.first().map(|key| key.reason.clone())
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

    /// Replaces the keys with those of a JWK Set (as published by the
    /// issuer). Keys this verifier cannot use (another curve, another type,
    /// not for signatures, malformed) are skipped and logged once, and the
    /// others load. The only error is two different keys with one `kid`;
    /// then the keys are left as they were.
    pub fn set_jwk_set(&self, set: &JwkSet) -> Result<(), KeyError> {
        self.shared.load(set, Vec::new())?;
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

/// The verifier's keys: the snapshot, and the remote source when there is one.
#[derive(Debug)]
pub(crate) struct KeyStore {
    shared: Arc<Shared>,
    remote: Option<Remote>,
    cache: Arc<TokenCache>,
}

impl KeyStore {
    /// A static JWK Set: keys it cannot use are skipped, but a set that
    /// lists keys and none usable is a configuration error.
    pub(crate) fn fixed(set: &JwkSet, cache: Arc<TokenCache>) -> Result<Self, KeyError> {
        let shared = Arc::new(Shared::default());
        if shared.load(set, Vec::new())? == 0
            && let Some(reason) = shared.first_skipped()
        {
            return Err(reason);
        }
        Ok(KeyStore {
            shared,
            remote: None,
            cache,
        })
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

    fn contains(&self, kid: &str) -> bool {
        self.shared.keys.load().contains(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.keys.load().len()
    }

    /// Whether an unknown `kid` may be worth a re-fetch: only a remote source
    /// can learn new keys on demand.
    pub(crate) fn can_refetch(&self) -> bool {
        self.remote.is_some()
    }

    /// The number of successful key changes so far.
    fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Fetches the JWKS and replaces the keys (call under the flight lock),
    /// dropping cached tokens whose key left; returns when to refresh next.
    async fn fetch_now(&self, remote: &Remote) -> Result<Duration, FetchError> {
        let fetched = remote.fetch().await?;
        let count = self
            .shared
            .load(&fetched.set, fetched.skipped)
            .map_err(|e| FetchError::Failed(format!("the JWKS is unusable: {e}")))?;
        let current = self.shared.keys.load();
        self.cache.retain_kids(|kid| current.contains(kid));
        tracing::debug!(target: "m2m_guard", keys = count, "JWKS fetched");
        Ok(fetched.next)
    }

    /// One fetch under the single-flight lock (the first fetch and the
    /// background refresh).
    pub(crate) async fn fetch_locked(&self) -> Result<Duration, FetchError> {
        let Some(remote) = &self.remote else {
            return Err(FetchError::Failed("no remote key source".into()));
        };
        let _flight = remote.flight().await;
        self.fetch_now(remote).await
    }

    /// The slow path of a request whose token names a `kid` we do not know:
    /// re-fetch once per cooldown, as a single flight. `seen` is the
    /// generation under which the kid was unknown.
    pub(crate) async fn refresh_for_kid(&self, kid: &str, seen: u64) {
        let Some(remote) = &self.remote else {
            return;
        };
        let mut last = remote.flight().await;
        // Someone changed the keys since we looked: just look again.
        if self.generation() != seen || self.contains(kid) {
            return;
        }
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < remote.timings().cooldown) {
            return;
        }
        *last = Some(now);
        if let Err(e) = self.fetch_now(remote).await {
            tracing::warn!(target: "m2m_guard", error = %e, "JWKS re-fetch failed; keeping the keys we have");
        }
    }

    /// Starts the background refresh of a remote source, first after
    /// `first_delay`. The task holds only a `Weak` to the store and ends when
    /// the store goes; its owner aborts it sooner.
    pub(crate) fn spawn_refresh(self: &Arc<Self>, first_delay: Duration) -> Option<AbortHandle> {
        let timings = *self.remote.as_ref()?.timings();
        let store: Weak<KeyStore> = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut delay = first_delay;
            let mut backoff: Option<Duration> = None;
            loop {
                tokio::time::sleep(delay).await;
                let Some(store) = store.upgrade() else {
                    return;
                };
                match store.fetch_locked().await {
                    Ok(next) => {
                        delay = next;
                        backoff = None;
                    }
                    Err(e) => {
                        let wait = backoff.map_or(timings.backoff_initial, |b| {
                            (b * 2).min(timings.backoff_max)
                        });
                        tracing::warn!(
                            target: "m2m_guard",
                            error = %e,
                            retry_in_ms = wait.as_millis() as u64,
                            "JWKS refresh failed; keeping the keys we have"
                        );
                        backoff = Some(wait);
                        delay = wait;
                    }
                }
            }
        });
        Some(task.abort_handle())
    }
}
