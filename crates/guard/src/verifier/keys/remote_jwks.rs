//! [`RemoteJwks`]: the remote JWKS source of a guard, on its own, for code
//! that verifies JWTs signed by keys published at a URL but is not a guard
//! (the issuer checking a `private_key_jwt` client's assertion against its
//! `jwks_uri`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use m2m_core::KeySet;

use super::{KeyStore, Remote, RemoteTimings};
use crate::fetch::{FetchError, Fetcher};
use crate::verifier::cache::TokenCache;

/// A JWK Set fetched from a URL on first use and kept, with the same rules
/// as a guard's JWKS URL: the [`Fetcher`] given (its SSRF address policy,
/// https requirement, size and time limits) does every fetch; a fetch is a
/// single flight; the keys are fresh for the response's `Cache-Control:
/// max-age` clamped to 30 s – 1 h (5 min when absent) and re-fetched on the
/// first use after that; an unknown `kid` re-fetches at most once per
/// cooldown (30 s by default), so a flood of made-up kids cannot force
/// fetches; a failed re-fetch keeps the keys held (and waits a cooldown
/// before the next try). Unlike a guard's source it runs no background
/// task: a key set nobody uses costs nothing.
///
/// ```
/// # #[cfg(feature = "rustls")] {
/// use m2m_guard::RemoteJwks;
/// use m2m_guard::fetch::Fetcher;
/// use m2m_guard::net::AddressPolicy;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let fetcher = Fetcher::builder()
///     .https_only(true)
///     .address_policy(AddressPolicy::public_only())
///     .build()?;
/// let jwks = RemoteJwks::new("https://127.0.0.1/jwks.json".parse()?, fetcher);
/// // A loopback address is refused by the policy: no keys, an error.
/// assert!(jwks.keys().await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # }
/// ```
pub struct RemoteJwks {
    store: KeyStore,
    /// Until when the keys held need no fetch; `None` before the first success.
    fresh_until: Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// The key set published at `url`, fetched with `fetcher`, with the
    /// default timings. Nothing is fetched until [`RemoteJwks::keys`].
    pub fn new(url: url::Url, fetcher: Fetcher) -> Self {
        Self::with_cooldown(url, fetcher, RemoteTimings::default().cooldown)
    }

    /// Like [`RemoteJwks::new`], with another unknown-kid cooldown.
    pub fn with_cooldown(url: url::Url, fetcher: Fetcher, cooldown: Duration) -> Self {
        let timings = RemoteTimings {
            cooldown,
            ..RemoteTimings::default()
        };
        RemoteJwks {
            store: KeyStore::remote(
                Remote::new(url, fetcher, timings),
                Arc::new(TokenCache::new(0)),
            ),
            fresh_until: Mutex::new(None),
        }
    }

    fn fresh(&self, now: Instant) -> Option<bool> {
        let until = *self
            .fresh_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.map(|until| now < until)
    }

    fn set_fresh_until(&self, until: Instant) {
        *self
            .fresh_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
    }

    fn current(&self) -> Arc<KeySet> {
        self.store.shared.keys.load_full()
    }

    /// The keys: those held while fresh, else fetched now (one fetch for
    /// all callers). Fails only when no fetch ever succeeded.
    pub async fn keys(&self) -> Result<Arc<KeySet>, FetchError> {
        if self.fresh(Instant::now()) == Some(true) {
            return Ok(self.current());
        }
        let Some(remote) = &self.store.remote else {
            return Err(FetchError::Failed("no remote key source".into()));
        };
        let _flight = remote.flight().await;
        // Another caller may have fetched while this one waited.
        let now = Instant::now();
        let held = self.fresh(now);
        if held == Some(true) {
            return Ok(self.current());
        }
        match self.store.fetch_now(remote).await {
            Ok(next) => {
                self.set_fresh_until(Instant::now() + next);
                Ok(self.current())
            }
            Err(e) if held.is_some() => {
                tracing::warn!(target: "m2m_guard", error = %e, "JWKS re-fetch failed; keeping the keys we have");
                self.set_fresh_until(now + remote.timings().cooldown);
                Ok(self.current())
            }
            Err(e) => Err(e),
        }
    }

    /// The keys, after a re-fetch if none has `kid` (at most one per
    /// cooldown, single flight): for a JWT whose `kid` the held keys lack
    /// (its signer may have rotated).
    pub async fn keys_for_kid(&self, kid: &str) -> Result<Arc<KeySet>, FetchError> {
        let keys = self.keys().await?;
        if keys.contains(kid) {
            return Ok(keys);
        }
        let (generation, _) = self.store.snapshot();
        self.store.refresh_for_kid(kid, generation).await;
        Ok(self.current())
    }
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("keys", &self.store.len())
            .finish_non_exhaustive()
    }
}
