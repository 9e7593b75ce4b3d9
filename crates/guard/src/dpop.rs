//! DPoP (RFC 9449) at the resource: [`DpopConfig`] turns it on in a guard,
//! [`DpopReplayCache`] remembers the proofs seen.
//!
//! A token whose claims carry `cnf.jkt` is accepted only as
//! `Authorization: DPoP <token>` with exactly one `DPoP` header holding a
//! proof that m2m-core's [`DpopValidation`] accepts for this request (`typ`,
//! asymmetric `alg`, public `jwk`, signature, `htm` = the request's method,
//! `htu` = the request's URL, `iat` window, `ath` = the token's hash, nonce
//! when configured), whose key's thumbprint is the token's `cnf.jkt`, and
//! whose `jti` this guard has not seen within the window. The
//! verified-token cache still saves the token's signature check; the proof
//! is checked on every request.
//!
//! The request's URL is the configured base URL (scheme, host, port and any
//! path prefix the guard is mounted under) followed by the request's path:
//! a guard behind a proxy or a nested router cannot know its external URL
//! from the request alone. [`DpopConfig::from_host`] takes the host from the
//! `Host` header (or the request URI's authority) with a configured scheme
//! instead, for a guard serving several host names behind a proxy that
//! passes `Host` through unchanged.
//!
//! Several replicas: each guard's replay cache is its own. A proof replayed
//! to another replica within the `iat` window is accepted there, unless the
//! guard requires nonces ([`DpopConfig::nonces`]) with a short slot, which
//! bounds the replay to the nonce's life; a proof can only ever be replayed
//! with the same token, to the same method and URL.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use http::{HeaderMap, Method, Uri, header};
use m2m_core::{Algorithm, DpopError, DpopNonces, DpopValidation, ProofRequest};

/// The default number of proofs a [`DpopReplayCache`] remembers.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP_HEADER: &str = "dpop";
/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// Why a proof was refused as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// A proof with this key and `jti` was accepted within the window.
    Replayed,
    /// The cache is full of live entries: the proof is refused rather than
    /// accepted unremembered (fail closed).
    Full,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Replayed => f.write_str("the DPoP proof was used before"),
            ReplayError::Full => f.write_str("too many DPoP proofs in flight; retry shortly"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// The proofs seen within the `iat` window, by key thumbprint and `jti`
/// (hashed, so an entry is 40 bytes whatever the `jti`), bounded.
///
/// Each process has its own: see the module docs for several replicas. A
/// full cache of live entries refuses new proofs ([`ReplayError::Full`])
/// rather than forgetting one; only proofs that passed every other check
/// are remembered, so only holders of valid tokens and keys can fill it.
///
/// ```
/// use m2m_guard::{DpopReplayCache, ReplayError};
/// let cache = DpopReplayCache::new(1000, 65);
/// assert_eq!(cache.check_and_insert("jkt", "jti-1", 100), Ok(()));
/// assert_eq!(cache.check_and_insert("jkt", "jti-1", 120), Err(ReplayError::Replayed));
/// assert_eq!(cache.check_and_insert("other-key", "jti-1", 120), Ok(()));
/// assert_eq!(cache.check_and_insert("jkt", "jti-1", 200), Ok(()), "past the window");
/// ```
pub struct DpopReplayCache {
    seen: DashMap<[u8; 32], u64>,
    capacity: usize,
    window: u64,
    last_sweep: AtomicU64,
}

impl fmt::Debug for DpopReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopReplayCache")
            .field("len", &self.seen.len())
            .field("capacity", &self.capacity)
            .field("window", &self.window)
            .finish()
    }
}

impl DpopReplayCache {
    /// A cache of at most `capacity` proofs, each remembered `window_secs`
    /// (use [`DpopValidation::replay_window_secs`]: the whole `iat` window).
    pub fn new(capacity: usize, window_secs: u64) -> Self {
        DpopReplayCache {
            seen: DashMap::new(),
            capacity: capacity.max(1),
            window: window_secs,
            last_sweep: AtomicU64::new(0),
        }
    }

    /// Records the proof `(jkt, jti)` seen at `now`, or refuses it if it was
    /// seen within the window. Atomic: of two concurrent identical proofs,
    /// exactly one is accepted.
    pub fn check_and_insert(&self, jkt: &str, jti: &str, now: u64) -> Result<(), ReplayError> {
        let key = entry_key(jkt, jti);
        if self.seen.len() >= self.capacity {
            self.sweep(now);
            if self.seen.len() >= self.capacity && !self.seen.contains_key(&key) {
                return Err(ReplayError::Full);
            }
        }
        let until = now.saturating_add(self.window);
        match self.seen.entry(key) {
            Entry::Occupied(mut seen) => {
                if *seen.get() > now {
                    return Err(ReplayError::Replayed);
                }
                seen.insert(until);
            }
            Entry::Vacant(free) => {
                free.insert(until);
            }
        }
        Ok(())
    }

    /// Drops expired entries, at most once a second.
    fn sweep(&self, now: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if last >= now
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.seen.retain(|_, until| *until > now);
    }

    /// How many proofs are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

fn entry_key(jkt: &str, jti: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(jkt.len() as u64).to_be_bytes());
    ctx.update(jkt.as_bytes());
    ctx.update(jti.as_bytes());
    let digest = ctx.finish();
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// Where the guard's external URL comes from.
#[derive(Debug, Clone)]
enum Origin {
    /// A fixed base URL (scheme, authority, optional path prefix), no trailing `/`.
    Base(String),
    /// The request's `Host` (or URI authority), with this scheme.
    Host(&'static str),
}

/// DPoP at a guard: where the request's URL comes from, the proof checks,
/// nonces, and the replay cache. Given to
/// [`GuardBuilder::dpop`](crate::GuardBuilder::dpop).
///
/// ```
/// use m2m_core::Algorithm;
/// use m2m_guard::DpopConfig;
/// let config = DpopConfig::new("https://api.example.com")
///     .iat_window(60, 5)
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .nonces(&[7u8; 32], 300)
///     .replay_capacity(50_000);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DpopConfig {
    origin: Origin,
    validation: DpopValidation,
    replay_capacity: usize,
}

impl DpopConfig {
    /// The guard's external base URL: scheme, host, port if not the
    /// default, and the path prefix it is mounted under if any
    /// (`https://api.example.com`, `https://example.com/api`). The request's
    /// path is appended to it to make the URL a proof's `htu` must name.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base: String = base_url.into();
        DpopConfig {
            origin: Origin::Base(base.trim_end_matches('/').to_owned()),
            validation: DpopValidation::new(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
        }
    }

    /// The request's URL is `scheme://` + its `Host` header (or its URI's
    /// authority) + its path. Only behind a proxy that sets `Host` to the
    /// name the client used; `scheme` is `"https"` or `"http"`.
    pub fn from_host(scheme: &'static str) -> Self {
        DpopConfig {
            origin: Origin::Host(scheme),
            ..DpopConfig::new("")
        }
    }

    /// How old and how far ahead a proof's `iat` may be, in seconds (default
    /// 60 and 5). The replay cache remembers each proof this long.
    pub fn iat_window(mut self, past_secs: u64, future_secs: u64) -> Self {
        self.validation = self.validation.iat_window(past_secs, future_secs);
        self
    }

    /// The proof algorithms accepted (default ES256, EdDSA, RS256).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.validation = self.validation.algorithms(algorithms);
        self
    }

    /// Requires server nonces (RFC 9449 §9): stateless, the HMAC of a time
    /// slot of `slot_secs` under `secret`, so replicas sharing the secret
    /// agree. A proof without a current nonce gets 401 `use_dpop_nonce` and
    /// a `DPoP-Nonce` header.
    pub fn nonces(mut self, secret: &[u8], slot_secs: u64) -> Self {
        self.validation = self
            .validation
            .require_nonce(DpopNonces::new(secret, slot_secs));
        self
    }

    /// How many proofs the replay cache remembers (default [`DEFAULT_REPLAY_CAPACITY`]).
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }
}

/// Why a DPoP presentation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopRejection {
    /// The proof is missing, repeated, or fails a check.
    Proof(DpopError),
    /// The proof's key is not the one the token is bound to.
    WrongKey,
    /// The proof was seen before, or the replay cache is full.
    Replay(ReplayError),
    /// The token is DPoP-bound and this guard was built without
    /// [`GuardBuilder::dpop`](crate::GuardBuilder::dpop): it cannot check
    /// the binding, so it refuses the token.
    NotAccepted,
}

impl DpopRejection {
    /// A short, stable reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DpopRejection::Proof(e) => e.reason(),
            DpopRejection::WrongKey => "wrong_dpop_key",
            DpopRejection::Replay(ReplayError::Replayed) => "dpop_replayed",
            DpopRejection::Replay(ReplayError::Full) => "dpop_replay_cache_full",
            DpopRejection::NotAccepted => "dpop_not_accepted",
        }
    }
}

impl fmt::Display for DpopRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpopRejection::Proof(e) => fmt::Display::fmt(e, f),
            DpopRejection::WrongKey => {
                f.write_str("the DPoP proof is not signed by the key the token is bound to")
            }
            DpopRejection::Replay(e) => fmt::Display::fmt(e, f),
            DpopRejection::NotAccepted => {
                f.write_str("this resource does not accept DPoP-bound tokens")
            }
        }
    }
}

/// A guard's DPoP checker.
pub(crate) struct Dpop {
    origin: Origin,
    validation: DpopValidation,
    replay: DpopReplayCache,
    /// `algs="..."` for challenges, built once.
    algs: Box<str>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("origin", &self.origin)
            .field("algs", &self.algs)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

/// The `DPoP` header of a request: exactly one, or a proof error.
pub(crate) fn proof_header(headers: &HeaderMap) -> Result<&str, DpopError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let Some(value) = values.next() else {
        return Err(DpopError::MissingProof);
    };
    if values.next().is_some() {
        return Err(DpopError::BadProofHeader);
    }
    value.to_str().map_err(|_| DpopError::BadProofHeader)
}

impl Dpop {
    pub(crate) fn new(config: DpopConfig) -> Self {
        let algs = config.validation.algorithm_names().join(" ");
        let replay = DpopReplayCache::new(
            config.replay_capacity,
            config.validation.replay_window_secs(),
        );
        Dpop {
            origin: config.origin,
            validation: config.validation,
            replay,
            algs: algs.into_boxed_str(),
        }
    }

    /// The accepted algorithms, space-separated, for `algs="..."`.
    pub(crate) fn algs(&self) -> &str {
        &self.algs
    }

    /// A fresh nonce, when nonces are required.
    pub(crate) fn nonce(&self, now: u64) -> Option<String> {
        self.validation.nonces().map(|n| n.issue(now))
    }

    /// The URL a proof for this request must name in `htu`.
    fn request_url(&self, headers: &HeaderMap, uri: &Uri) -> Option<String> {
        let path = uri.path();
        match &self.origin {
            Origin::Base(base) => Some(format!("{base}{path}")),
            Origin::Host(scheme) => {
                let host = match headers.get(header::HOST) {
                    Some(host) => host.to_str().ok()?,
                    None => uri.authority()?.as_str(),
                };
                Some(format!("{scheme}://{host}{path}"))
            }
        }
    }

    /// Checks the proof of a request presenting `token`, bound to `jkt`.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        token: &str,
        jkt: &str,
        now: u64,
    ) -> Result<(), DpopRejection> {
        let proof = proof_header(headers).map_err(DpopRejection::Proof)?;
        let url = self
            .request_url(headers, uri)
            .ok_or(DpopRejection::Proof(DpopError::WrongUrl))?;
        let request = ProofRequest::new(method.as_str(), &url).access_token(token);
        let verified = self
            .validation
            .verify(proof, &request, now)
            .map_err(DpopRejection::Proof)?;
        // Thumbprints are public; still compared without an early exit.
        let same = verified.jkt.len() == jkt.len()
            && verified
                .jkt
                .bytes()
                .zip(jkt.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(DpopRejection::WrongKey);
        }
        self.replay
            .check_and_insert(&verified.jkt, &verified.jti, now)
            .map_err(DpopRejection::Replay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_fails_closed_while_full() {
        let cache = DpopReplayCache::new(2, 10);
        assert_eq!(cache.check_and_insert("k", "a", 100), Ok(()));
        assert_eq!(cache.check_and_insert("k", "b", 100), Ok(()));
        assert_eq!(
            cache.check_and_insert("k", "c", 101),
            Err(ReplayError::Full)
        );
        assert_eq!(
            cache.check_and_insert("k", "a", 101),
            Err(ReplayError::Replayed)
        );
        // Once the entries expire, a sweep frees room.
        assert_eq!(cache.check_and_insert("k", "c", 111), Ok(()));
        assert!(cache.len() <= 2);
    }

    #[test]
    fn jkt_and_jti_cannot_be_shifted_into_each_other() {
        assert_ne!(entry_key("ab", "c"), entry_key("a", "bc"));
    }

    #[test]
    fn one_dpop_header_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(proof_header(&headers), Err(DpopError::MissingProof));
        headers.append(DPOP_HEADER, "a.b.c".parse().unwrap());
        assert_eq!(proof_header(&headers), Ok("a.b.c"));
        headers.append(DPOP_HEADER, "d.e.f".parse().unwrap());
        assert_eq!(proof_header(&headers), Err(DpopError::BadProofHeader));
    }
}
