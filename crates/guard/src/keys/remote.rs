//! The remote JWKS source.
//!
//! - Fetched at build; a failed first fetch fails the build unless the user
//!   opted into a lazy start, in which case the guard starts with no keys and
//!   retries in the background.
//! - Refreshed in the background after the response's `Cache-Control: max-age`,
//!   clamped to `[min, max]` (default 30 s to 1 h; 5 min when absent).
//! - On a failed fetch the keys it has are kept, and the next try comes after an
//!   exponential backoff (default 1 s doubling to 5 min).
//! - An unknown `kid` triggers a re-fetch as a single flight: one tokio mutex,
//!   taken only on this slow path, serializes the re-fetches; a request that
//!   waited while another fetched only re-reads the keys; and at most one
//!   re-fetch per cooldown (default 30 s) happens, so a flood of forged kids
//!   cannot force fetches.
//! - The response body is bounded (default 1 MiB) and so is the time (default 10 s).

use std::sync::Weak;
use std::time::{Duration, Instant};

use http::HeaderMap;
use m2m_core::{JwkSet, KeySet};
use tokio::task::AbortHandle;

use super::KeyStore;
use crate::fetch::{FetchError, Fetcher};

/// The timings of the remote source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoteTimings {
    pub(crate) cooldown: Duration,
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
    pub(crate) default_refresh: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
}

impl Default for RemoteTimings {
    fn default() -> Self {
        RemoteTimings {
            cooldown: Duration::from_secs(30),
            min_refresh: Duration::from_secs(30),
            max_refresh: Duration::from_secs(3600),
            default_refresh: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Remote {
    url: url::Url,
    fetcher: Fetcher,
    timings: RemoteTimings,
    /// Held while fetching; holds the time of the last unknown-kid re-fetch.
    flight: tokio::sync::Mutex<Option<Instant>>,
}

impl Remote {
    pub(crate) fn new(url: url::Url, fetcher: Fetcher, timings: RemoteTimings) -> Self {
        Remote {
            url,
            fetcher,
            timings,
            flight: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn timings(&self) -> &RemoteTimings {
        &self.timings
    }
}

impl KeyStore {
    /// Fetches the JWKS and replaces the keys; returns when to refresh next.
    async fn fetch_now(&self, remote: &Remote) -> Result<Duration, FetchError> {
        let (headers, body) = remote.fetcher.get(remote.url.clone()).await?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| FetchError(format!("the JWKS is not a JWK Set: {e}")))?;
        let keys = KeySet::from_jwk_set(&set)
            .map_err(|e| FetchError(format!("the JWKS has an unusable key: {e}")))?;
        let count = keys.len();
        self.replace(keys);
        tracing::debug!(target: "m2m_guard", keys = count, "JWKS fetched");
        Ok(next_refresh(&headers, &remote.timings))
    }

    /// One fetch under the single-flight lock (the background refresh and the first fetch).
    pub(crate) async fn fetch_locked(&self) -> Result<Duration, FetchError> {
        let Some(remote) = &self.remote else {
            return Err(FetchError("no remote key source".into()));
        };
        let _flight = remote.flight.lock().await;
        self.fetch_now(remote).await
    }

    /// The slow path of a request whose token names a `kid` we do not know:
    /// re-fetch once per cooldown, as a single flight. `seen` is the generation
    /// under which the kid was unknown. Returns whether the kid is known now.
    pub(crate) async fn refresh_for_kid(&self, kid: &str, seen: u64) -> bool {
        let Some(remote) = &self.remote else {
            return self.contains(kid);
        };
        {
            let mut last = remote.flight.lock().await;
            // Someone changed the keys since we looked: just look again.
            if self.generation() == seen && !self.contains(kid) {
                let now = Instant::now();
                if last.is_none_or(|at| now.duration_since(at) >= remote.timings.cooldown) {
                    *last = Some(now);
                    if let Err(e) = self.fetch_now(remote).await {
                        tracing::warn!(target: "m2m_guard", error = %e, "JWKS re-fetch failed; keeping the keys we have");
                    }
                }
            }
        }
        self.contains(kid)
    }
}

/// When to refresh after a response: its `max-age`, clamped; the default if absent.
pub(crate) fn next_refresh(headers: &HeaderMap, timings: &RemoteTimings) -> Duration {
    let max_age = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next();
    max_age
        .map_or(timings.default_refresh, Duration::from_secs)
        .clamp(
            timings.min_refresh,
            timings.max_refresh.max(timings.min_refresh),
        )
}

/// Starts the background refresh. It holds only a `Weak` to the store, and
/// the guard aborts it when dropped.
pub(crate) fn spawn_refresh(store: Weak<KeyStore>, first_delay: Duration) -> AbortHandle {
    tokio::spawn(async move {
        let mut delay = first_delay;
        let mut backoff = None;
        loop {
            tokio::time::sleep(delay).await;
            let Some(store) = store.upgrade() else {
                return;
            };
            let Some(timings) = store.remote_ref().map(|r| *r.timings()) else {
                return;
            };
            match store.fetch_locked().await {
                Ok(next) => {
                    delay = next;
                    backoff = None;
                }
                Err(e) => {
                    let wait = backoff.map_or(timings.backoff_initial, |b: Duration| {
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
    })
    .abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CACHE_CONTROL, value.parse().unwrap());
        h
    }

    #[test]
    fn max_age_is_clamped() {
        let t = RemoteTimings::default();
        assert_eq!(
            next_refresh(&HeaderMap::new(), &t),
            Duration::from_secs(300)
        );
        assert_eq!(
            next_refresh(&with("public, max-age=600"), &t),
            Duration::from_secs(600)
        );
        assert_eq!(
            next_refresh(&with("max-age=1"), &t),
            Duration::from_secs(30)
        );
        assert_eq!(
            next_refresh(&with("max-age=999999"), &t),
            Duration::from_secs(3600)
        );
        assert_eq!(
            next_refresh(&with("max-age=x"), &t),
            Duration::from_secs(300)
        );
    }
}
