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
//! - A key of the set that is not even a JWK (a member missing or of the
//!   wrong type) is skipped like one of an unknown type (RFC 7517 §5), never
//!   fatal to the set: the keys beside it still load.

use std::time::{Duration, Instant};

use http::HeaderMap;
use m2m_core::{JwkSet, KeyError, PublicJwk, SkippedKey};
use serde::Deserialize;

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

/// A JWKS URL and how to fetch it.
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

    /// The single-flight lock; what it guards is the time of the last
    /// unknown-kid re-fetch.
    pub(crate) async fn flight(&self) -> tokio::sync::MutexGuard<'_, Option<Instant>> {
        self.flight.lock().await
    }

    /// Fetches the JWKS (call under [`Remote::flight`]); returns its JWKs,
    /// the entries that are not JWKs, and when to refresh next.
    pub(crate) async fn fetch(&self) -> Result<Fetched, FetchError> {
        let (headers, body) = self.fetcher.get(self.url.clone()).await?;
        let (set, skipped) = parse_jwks(&body)?;
        Ok(Fetched {
            set,
            skipped,
            next: next_refresh(&headers, &self.timings),
        })
    }
}

/// A fetched JWKS.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The entries that are JWKs (which may still be of a type we skip).
    pub(crate) set: JwkSet,
    /// The entries that are not.
    pub(crate) skipped: Vec<SkippedKey>,
    /// When to refresh next.
    pub(crate) next: Duration,
}

/// `{"keys": [..]}`, each entry read on its own.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// Reads a JWK Set entry by entry: one that is not a JWK is skipped, the
/// others are kept for [`m2m_core::KeySet::from_jwk_set`].
fn parse_jwks(body: &[u8]) -> Result<(JwkSet, Vec<SkippedKey>), FetchError> {
    let raw: RawSet = serde_json::from_slice(body)
        .map_err(|e| FetchError::Failed(format!("the JWKS is not a JWK Set: {e}")))?;
    let mut keys = Vec::with_capacity(raw.keys.len());
    let mut skipped = Vec::new();
    for entry in raw.keys {
        let kid = entry
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .map(|kid| kid.chars().take(64).collect());
        match serde_json::from_value::<PublicJwk>(entry) {
            Ok(jwk) => keys.push(jwk),
            Err(_) => skipped.push(SkippedKey {
                kid,
                reason: KeyError::InvalidPublicKey("not a JWK: a member is missing or mistyped"),
            }),
        }
    }
    Ok((JwkSet { keys }, skipped))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CACHE_CONTROL, value.parse().unwrap());
        h
    }

    #[test]
    fn entries_that_are_not_jwks_are_skipped_not_fatal() {
        let body = br#"{"keys":[
            {"kty":"OKP","crv":"Ed25519","kid":"good","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kid":"no-kty","crv":"P-256"},
            {"kty":5,"kid":"mistyped"},
            "not an object"
        ]}"#;
        let (set, skipped) = parse_jwks(body).unwrap();
        assert_eq!(set.keys.len(), 1);
        let kids: Vec<_> = skipped.iter().map(|s| s.kid.as_deref()).collect();
        assert_eq!(kids, [Some("no-kty"), Some("mistyped"), None]);
        assert!(parse_jwks(b"[]").is_err(), "not a JWK Set at all");
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
