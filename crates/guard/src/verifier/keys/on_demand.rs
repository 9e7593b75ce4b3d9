//! [`RemoteJwks`]: a remote JWK Set fetched when asked, for a caller that
//! verifies tokens of many issuers and cannot keep a background task per
//! issuer (the issuer's workload identity federation).
//!
//! It reuses the remote source of the guard's own verifier (`remote`): the
//! same fetcher (bounded in size and time, SSRF-safe under an
//! [`AddressPolicy`](crate::net::AddressPolicy)), the same lenient JWK Set
//! parsing, the same `Cache-Control: max-age` clamped to bounds, the same
//! single flight, and the same cooldown on an unknown `kid`, so a flood of
//! forged kids cannot force fetches. What differs is when it fetches: on the
//! first [`RemoteJwks::keys`], and again once the set is older than its
//! `max-age`, or on an unknown `kid` at most once per cooldown. A failed
//! refresh keeps the keys it has (and retries on the next call after the
//! cooldown).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use m2m_core::KeySet;

use super::remote::{Remote, RemoteTimings};
use crate::fetch::{FetchError, Fetcher};

/// Keys held and when they are due for a refresh.
struct Held {
    keys: Arc<KeySet>,
    due: Instant,
}

/// A JWK Set at a URL, fetched on demand and cached by its `Cache-Control`.
///
/// ```
/// # #[cfg(feature = "rustls")] {
/// use m2m_guard::RemoteJwks;
/// use m2m_guard::fetch::Fetcher;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let jwks = RemoteJwks::new(
///     "https://127.0.0.1:9/jwks.json".parse()?,
///     Fetcher::builder().https_only(true).build()?,
/// );
/// assert!(jwks.keys().await.is_err(), "nothing listens there");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # }
/// ```
pub struct RemoteJwks {
    remote: Remote,
    held: ArcSwapOption<Held>,
    /// When the last failed fetch happened, so failures are not retried on
    /// every call (guarded by the single-flight lock's holder).
    failed_at: arc_swap::ArcSwapOption<Instant>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field(
                "keys",
                &self.held.load().as_ref().map_or(0, |held| held.keys.len()),
            )
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// The JWK Set at `url`, fetched with `fetcher`, refreshed after its
    /// `max-age` clamped to 30 s – 1 h (5 min without one), with a 30 s
    /// cooldown between unknown-`kid` re-fetches.
    pub fn new(url: url::Url, fetcher: Fetcher) -> Self {
        Self::with_cooldown(url, fetcher, RemoteTimings::default().cooldown)
    }

    /// Like [`RemoteJwks::new`], with another cooldown between re-fetches
    /// for an unknown `kid` (and between retries of a failed fetch).
    pub fn with_cooldown(url: url::Url, fetcher: Fetcher, cooldown: Duration) -> Self {
        let timings = RemoteTimings {
            cooldown,
            ..RemoteTimings::default()
        };
        RemoteJwks {
            remote: Remote::new(url, fetcher, timings),
            held: ArcSwapOption::empty(),
            failed_at: ArcSwapOption::empty(),
        }
    }

    /// The keys: the held ones while fresh, else fetched (one fetch at a
    /// time). A failed refresh returns the keys held, if any.
    pub async fn keys(&self) -> Result<Arc<KeySet>, FetchError> {
        if let Some(held) = self.held.load_full()
            && held.due > Instant::now()
        {
            return Ok(Arc::clone(&held.keys));
        }
        let mut last_refetch = self.remote.flight().await;
        // Someone else fetched while we waited.
        if let Some(held) = self.held.load_full()
            && held.due > Instant::now()
        {
            return Ok(Arc::clone(&held.keys));
        }
        let result = self.fetch_now().await;
        if result.is_ok() {
            *last_refetch = Some(Instant::now());
        }
        self.or_held(result)
    }

    /// The keys, re-fetched first if none of them has `kid` and the last
    /// re-fetch is older than the cooldown (single flight).
    pub async fn keys_for_kid(&self, kid: &str) -> Result<Arc<KeySet>, FetchError> {
        let keys = self.keys().await?;
        if keys.get(kid).is_some() {
            return Ok(keys);
        }
        let mut last = self.remote.flight().await;
        if let Some(held) = self.held.load_full()
            && held.keys.get(kid).is_some()
        {
            return Ok(Arc::clone(&held.keys));
        }
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.remote.timings().cooldown) {
            return Ok(keys);
        }
        *last = Some(now);
        let result = self.fetch_now().await;
        self.or_held(result)
    }

    /// Fetches and stores the set (call under the flight lock). After a
    /// failure, further fetches wait for the cooldown.
    async fn fetch_now(&self) -> Result<Arc<KeySet>, FetchError> {
        let now = Instant::now();
        if let Some(at) = self.failed_at.load_full()
            && now.duration_since(*at) < self.remote.timings().cooldown
        {
            return Err(FetchError::Failed(
                "the last fetch of the JWKS failed; waiting before the next".into(),
            ));
        }
        let fetched = match self.remote.fetch().await {
            Ok(fetched) => fetched,
            Err(e) => {
                self.failed_at.store(Some(Arc::new(now)));
                return Err(e);
            }
        };
        let keys = match KeySet::from_jwk_set(&fetched.set) {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                self.failed_at.store(Some(Arc::new(now)));
                return Err(FetchError::Failed(format!("the JWKS is unusable: {e}")));
            }
        };
        self.failed_at.store(None);
        self.held.store(Some(Arc::new(Held {
            keys: Arc::clone(&keys),
            due: now + fetched.next,
        })));
        Ok(keys)
    }

    /// A failed fetch falls back on the keys held.
    fn or_held(&self, result: Result<Arc<KeySet>, FetchError>) -> Result<Arc<KeySet>, FetchError> {
        match result {
            Ok(keys) => Ok(keys),
            Err(e) => match self.held.load_full() {
                Some(held) => {
                    tracing::warn!(target: "m2m_guard", error = %e, "JWKS refresh failed; keeping the keys we have");
                    Ok(Arc::clone(&held.keys))
                }
                None => Err(e),
            },
        }
    }
}
