//! [`DocumentCache`]: when each document URL was last fetched, and what came
//! of it: single flight per URL, bounded, failures kept briefly too.
//!
//! A success is kept for the document's `Cache-Control: max-age`, clamped
//! to [`MIN_TTL_SECS`, `MAX_TTL_SECS`] (`no-store` or `no-cache`: the
//! minimum; none: [`DEFAULT_TTL_SECS`]); a refusal for [`NEGATIVE_TTL_SECS`],
//! so one bad client_id cannot make the issuer fetch again and again. Times
//! are the issuer's clock. The record itself lives in the registry; the
//! cache only says it is current.

use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Mutex;

use super::DocumentError;
use crate::domain::error::Internal;

/// The shortest time a fetched document is trusted, in seconds.
pub(crate) const MIN_TTL_SECS: u64 = 60;
/// The longest time a fetched document is trusted, in seconds (24 h).
pub(crate) const MAX_TTL_SECS: u64 = 24 * 3600;
/// How long a document without `Cache-Control: max-age` is trusted (5 min).
pub(crate) const DEFAULT_TTL_SECS: u64 = 300;
/// How long a refusal is remembered before the URL is fetched again.
pub(crate) const NEGATIVE_TTL_SECS: u64 = 30;
/// URLs remembered at most; past it, expired entries go, then all.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// How long a document may be trusted, from its `Cache-Control` header.
pub(crate) fn ttl_from_cache_control(header: Option<&str>) -> u64 {
    let Some(header) = header else {
        return DEFAULT_TTL_SECS;
    };
    let mut ttl = None;
    for directive in header.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_TTL_SECS;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            ttl = seconds.trim_matches('"').parse::<u64>().ok();
        }
    }
    ttl.unwrap_or(DEFAULT_TTL_SECS)
        .clamp(MIN_TTL_SECS, MAX_TTL_SECS)
}

/// What the last fetch of one URL came to, until when.
#[derive(Debug, Clone)]
struct Entry {
    until: u64,
    outcome: Result<(), DocumentError>,
}

/// A fetch failed for a reason that is the document's (kept as a refusal)
/// or not (the store: kept nowhere, the next use tries again).
#[derive(Debug)]
pub(crate) enum Failure {
    Document(DocumentError),
    Internal(Internal),
}

#[derive(Debug, Default)]
pub(crate) struct DocumentCache {
    map: DashMap<String, Arc<Mutex<Option<Entry>>>>,
}

impl DocumentCache {
    /// The slot of `url`, made if new; when the map is full, expired
    /// entries go first, then everything (a slot in use lives on with its
    /// holders).
    fn slot(&self, url: &str, now: u64) -> Arc<Mutex<Option<Entry>>> {
        if let Some(slot) = self.map.get(url) {
            return Arc::clone(&slot);
        }
        if self.map.len() >= MAX_ENTRIES {
            self.map.retain(|_, slot| {
                slot.try_lock()
                    .map_or(true, |entry| entry.as_ref().is_some_and(|e| e.until > now))
            });
            if self.map.len() >= MAX_ENTRIES {
                self.map.clear();
            }
        }
        Arc::clone(&self.map.entry(url.to_owned()).or_default())
    }

    /// The outcome for `url`: the remembered one while it holds, else
    /// `fetch`'s (which returns how long a success holds). Concurrent
    /// callers for one URL wait for a single fetch.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        url: &str,
        now: u64,
        fetch: F,
    ) -> Result<(), Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, Failure>>,
    {
        let slot = self.slot(url, now);
        let mut entry = slot.lock().await;
        if let Some(current) = entry.as_ref().filter(|e| e.until > now) {
            return current.outcome.clone().map_err(Failure::Document);
        }
        match fetch().await {
            Ok(ttl) => {
                *entry = Some(Entry {
                    until: now + ttl,
                    outcome: Ok(()),
                });
                Ok(())
            }
            Err(Failure::Document(error)) => {
                *entry = Some(Entry {
                    until: now + NEGATIVE_TTL_SECS,
                    outcome: Err(error.clone()),
                });
                Err(Failure::Document(error))
            }
            Err(Failure::Internal(error)) => {
                *entry = None;
                Err(Failure::Internal(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_clamped() {
        assert_eq!(ttl_from_cache_control(None), DEFAULT_TTL_SECS);
        assert_eq!(ttl_from_cache_control(Some("max-age=3600")), 3600);
        assert_eq!(ttl_from_cache_control(Some("public, max-age=5")), 60);
        assert_eq!(ttl_from_cache_control(Some("max-age=999999999")), 86_400);
        assert_eq!(ttl_from_cache_control(Some("no-store")), 60);
        assert_eq!(ttl_from_cache_control(Some("max-age=600, no-cache")), 60);
        assert_eq!(
            ttl_from_cache_control(Some("max-age=abc")),
            DEFAULT_TTL_SECS
        );
        assert_eq!(ttl_from_cache_control(Some("MAX-AGE=120")), 120);
    }
}
