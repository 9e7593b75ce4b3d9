//! [`GuardBuilder`], which makes a [`Guard`], and [`BuildError`], why it could not.
//!
//! Build-time errors (a bad setting, a bad key, an unreachable issuer at
//! start) are kept apart from per-request refusals: they come from
//! [`GuardBuilder::build`] only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use m2m_core::{Algorithm, JwkSet, KeyError, Validation};
use url::Url;

use crate::challenge::{Challenge, Rejection, RejectionHook, Responder};
use crate::dpop::{Dpop, DpopConfig};
use crate::fetch::Fetcher;
use crate::guard::Guard;
use crate::resource::{InvalidResource, ResourceUri, is_loopback};
use crate::verifier::{
    self, Clock, Feed, InProcessKeys, KeyStore, Parts, Remote, RemoteTimings, Revocations, Tasks,
    TokenCache, Verifier,
};

/// The default capacity of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;
/// The default limit on a JWKS or revocation-feed response, in bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The default number of revocation-feed pages read back to back in one poll.
pub const DEFAULT_REVOCATION_PAGES_PER_POLL: usize = 100;

/// The guard could not be built.
///
/// ```
/// use m2m_guard::{BuildError, Guard};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = Guard::builder("https://auth.example.com", "https://api.example.com")
///     .build()
///     .await
///     .unwrap_err();
/// assert_eq!(err, BuildError::NoKeySource);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// No key source was given (`jwks_url`, `jwk_set` or `in_process`).
    NoKeySource,
    /// A URL does not parse or is not http(s).
    InvalidUrl(String),
    /// An `https://` URL was given, but the crate was built without its `rustls` feature.
    TlsUnavailable(String),
    /// The HTTP client could not be made.
    Http(String),
    /// The first JWKS fetch failed (opt into [`GuardBuilder::lazy_start`] to start anyway).
    FirstFetch(String),
    /// The first read of the revocation feed failed (opt into
    /// [`GuardBuilder::lazy_start`] to start anyway).
    FirstFeedPoll(String),
    /// The static JWK Set is unusable: two different keys share a `kid`, or
    /// it lists keys and none of them can be used (the error is the first
    /// key's reason). A set with some usable keys loads them and logs the
    /// others.
    InvalidKeys(KeyError),
    /// A setting is out of range.
    InvalidConfig(&'static str),
    /// A remote source or the revocation feed needs a running tokio runtime.
    NoRuntime,
    /// The [resource](GuardBuilder::resource) URI is not one a resource
    /// server can have.
    InvalidResource(InvalidResource),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoKeySource => {
                f.write_str("no key source: call jwks_url, jwk_set or in_process")
            }
            BuildError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            BuildError::TlsUnavailable(url) => write!(
                f,
                "{url} needs https, but m2m-guard was built without its `rustls` feature"
            ),
            BuildError::Http(why) => write!(f, "the HTTP client could not be made: {why}"),
            BuildError::FirstFetch(why) => write!(f, "the first JWKS fetch failed: {why}"),
            BuildError::FirstFeedPoll(why) => {
                write!(f, "the first read of the revocation feed failed: {why}")
            }
            BuildError::InvalidKeys(e) => write!(f, "the JWK Set is unusable: {e}"),
            BuildError::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            BuildError::NoRuntime => f.write_str("a tokio runtime is required"),
            BuildError::InvalidResource(e) => write!(f, "invalid resource URI: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<KeyError> for BuildError {
    fn from(e: KeyError) -> Self {
        BuildError::InvalidKeys(e)
    }
}

impl Guard {
    /// Starts a guard that accepts tokens from `issuer` meant for `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> GuardBuilder {
        GuardBuilder::new(issuer, audience)
    }
}

enum Source {
    Url(String),
    JwkSet(JwkSet),
    InProcess(InProcessKeys),
}

/// Configures a [`Guard`].
///
/// ```
/// # async fn run() -> Result<(), m2m_guard::BuildError> {
/// use std::time::Duration;
/// use m2m_core::Algorithm;
/// use m2m_guard::Guard;
///
/// let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
///     .audience("https://api.example.org")
///     .leeway(30)
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .jwks_url("https://auth.example.com/.well-known/jwks.json")
///     .unknown_kid_cooldown(Duration::from_secs(30))
///     .revocation_feed("https://auth.example.com/oauth/revocations")
///     .realm("invoices")
///     .build()
///     .await?;
/// # let _ = guard; Ok(()) }
/// ```
#[must_use]
pub struct GuardBuilder {
    validation: Validation,
    algorithms: Option<Vec<Algorithm>>,
    source: Option<Source>,
    timings: RemoteTimings,
    fetch_timeout: Duration,
    max_response_bytes: usize,
    lazy_start: bool,
    cache_capacity: usize,
    revocations: Option<Revocations>,
    feed_url: Option<String>,
    feed_interval: Duration,
    feed_pages: usize,
    clock: Option<Clock>,
    realm: String,
    verbose: bool,
    on_rejection: Option<RejectionHook>,
    resource: Option<String>,
    dpop: Option<DpopConfig>,
}

impl GuardBuilder {
    fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        GuardBuilder {
            validation: Validation::new(issuer, audience),
            algorithms: None,
            source: None,
            timings: RemoteTimings::default(),
            fetch_timeout: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            lazy_start: false,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            revocations: None,
            feed_url: None,
            feed_interval: Duration::from_secs(30),
            feed_pages: DEFAULT_REVOCATION_PAGES_PER_POLL,
            clock: None,
            realm: "api".to_owned(),
            verbose: false,
            on_rejection: None,
            resource: None,
            dpop: None,
        }
    }

    /// Also accepts tokens meant for `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.validation = self.validation.also_audience(audience);
        self
    }

    /// Makes the guard the resource server of `uri` (RFC 9728, the MCP
    /// authorization specification): tokens must carry its canonical form
    /// in `aud` (RFC 8707 §2), every 401 and 403 names its metadata URL in
    /// `resource_metadata`, a 401 to a request without a token names the
    /// route's scopes in `scope`, and [`Guard::resource_metadata`] serves
    /// its Protected Resource Metadata.
    ///
    /// Pass the URI clients use to reach the resource, as published: for
    /// an MCP server, the URL of its endpoint (`https://mcp.example.com/mcp`).
    /// It is put in canonical form ([`ResourceUri`]): scheme and host in
    /// lower case, no default port, no trailing slash for the root. It must
    /// be `https` (or `http` on a loopback host), with no fragment, query or
    /// userinfo; else [`build`](GuardBuilder::build) fails with
    /// [`BuildError::InvalidResource`]. The canonical URI is accepted as an
    /// audience besides those of [`Guard::builder`] and
    /// [`audience`](GuardBuilder::audience): pass the same URI there, or
    /// any other audience the API also answers to.
    ///
    /// ```
    /// # async fn run(keys: m2m_core::JwkSet) -> Result<(), m2m_guard::BuildError> {
    /// use m2m_guard::{BuildError, Guard, InvalidResource};
    ///
    /// let guard = Guard::builder("https://auth.example.com", "https://mcp.example.com/mcp")
    ///     .resource("https://MCP.example.com:443/mcp")
    ///     .jwk_set(keys.clone())
    ///     .build()
    ///     .await?;
    /// assert_eq!(guard.resource().unwrap().as_str(), "https://mcp.example.com/mcp");
    ///
    /// let err = Guard::builder("https://auth.example.com", "https://mcp.example.com/mcp")
    ///     .resource("https://mcp.example.com/mcp#tools")
    ///     .jwk_set(keys)
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err, BuildError::InvalidResource(InvalidResource::Fragment));
    /// # Ok(()) }
    /// ```
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resource = Some(uri.into());
        self
    }

    /// Accepts a token whatever its `aud`.
    ///
    /// Only for an authorization server checking its own tokens, for
    /// introspection or revocation (RFC 7662 §2.2), which answers for every
    /// audience. Never for a resource server: an API must check that it is
    /// the token's audience (RFC 8707 §2, RFC 9068 §4), or a token issued
    /// for another API passes. Issuer, signature, times and revocation are
    /// still checked.
    ///
    /// ```
    /// # async fn run(keys: m2m_core::JwkSet) -> Result<(), m2m_guard::BuildError> {
    /// use m2m_guard::Guard;
    /// // The issuer's own introspection endpoint: audience is not its business.
    /// let own_tokens = Guard::builder("https://auth.example.com", "https://auth.example.com")
    ///     .any_audience()
    ///     .jwk_set(keys)
    ///     .build()
    ///     .await?;
    /// # let _ = own_tokens; Ok(()) }
    /// ```
    pub fn any_audience(mut self) -> Self {
        self.validation = self.validation.any_audience();
        self
    }

    /// Also accepts tokens from `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.validation = self.validation.also_issuer(issuer);
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds (default 60).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation = self.validation.leeway(seconds);
        self
    }

    /// The longest token accepted, in bytes (default 8 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.validation = self.validation.max_token_len(bytes);
        self
    }

    /// Accepts only tokens verified by keys of these algorithms (default: all
    /// three). The algorithm always comes from the key, never from the token.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Keys from a JWKS URL (http; https with the `rustls` feature). Keys of
    /// the set that the guard cannot use (a P-384 key, say) are skipped with
    /// one warning each, and the others load.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Keys from a fixed JWK Set. Keys it cannot use are skipped and logged.
    pub fn jwk_set(mut self, set: impl Into<JwkSet>) -> Self {
        self.source = Some(Source::JwkSet(set.into()));
        self
    }

    /// Keys that an issuer in the same process pushes.
    pub fn in_process(mut self, keys: &InProcessKeys) -> Self {
        self.source = Some(Source::InProcess(keys.clone()));
        self
    }

    /// The least time between two re-fetches for unknown kids (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: impl Into<Duration>) -> Self {
        self.timings.cooldown = cooldown.into();
        self
    }

    /// The bounds that the JWKS response's `max-age` is clamped to (default 30 s and 1 h).
    pub fn refresh_bounds(mut self, min: impl Into<Duration>, max: impl Into<Duration>) -> Self {
        self.timings.min_refresh = min.into();
        self.timings.max_refresh = max.into();
        self
    }

    /// The refresh interval when the JWKS response has no `max-age` (default 5 min).
    pub fn default_refresh(mut self, interval: impl Into<Duration>) -> Self {
        self.timings.default_refresh = interval.into();
        self
    }

    /// The wait after a failed refresh, doubling up to `max` (default 1 s to 5 min).
    pub fn retry_backoff(mut self, initial: impl Into<Duration>, max: impl Into<Duration>) -> Self {
        self.timings.backoff_initial = initial.into();
        self.timings.backoff_max = max.into();
        self
    }

    /// The time limit of one JWKS or feed request (default 10 s).
    pub fn fetch_timeout(mut self, timeout: impl Into<Duration>) -> Self {
        self.fetch_timeout = timeout.into();
        self
    }

    /// The size limit of a JWKS or feed response (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Starts even if the first JWKS fetch or the first read of the
    /// revocation feed fails: with no keys or no revocations, retrying in
    /// the background (default: the build fails). A lazy guard may accept a
    /// token revoked before it started, until its first successful poll.
    pub fn lazy_start(mut self, lazy: bool) -> Self {
        self.lazy_start = lazy;
        self
    }

    /// The capacity of the verified-token cache (default 100,000; 0 turns it off).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Shares a revocation set (for an issuer in the same process).
    pub fn revocations(mut self, revocations: &Revocations) -> Self {
        self.revocations = Some(revocations.clone());
        self
    }

    /// Polls the issuer's revocation feed (`GET URL?since=CURSOR`), off by
    /// default. [`build`](GuardBuilder::build) reads it to its end first;
    /// then every poll reads pages back to back while they bring entries (see
    /// [`revocation_pages_per_poll`](GuardBuilder::revocation_pages_per_poll)).
    /// A 400 answer to the cursor (one the issuer never issued, say after a
    /// database restore) makes the guard re-read the feed from the start at
    /// once, keeping the revocations it has. After each poll, revocations
    /// whose tokens have all expired are forgotten.
    pub fn revocation_feed(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// How often the revocation feed is polled (default 30 s).
    pub fn revocation_poll_interval(mut self, interval: impl Into<Duration>) -> Self {
        self.feed_interval = interval.into();
        self
    }

    /// The most feed pages one poll reads back to back (default
    /// [`DEFAULT_REVOCATION_PAGES_PER_POLL`]); a longer backlog is read on at
    /// the next polls. The first read, at build, has no such limit.
    pub fn revocation_pages_per_poll(mut self, pages: usize) -> Self {
        self.feed_pages = pages;
        self
    }

    /// The clock, in seconds since the Unix epoch (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Gives the precise verification error in `error_description` (default:
    /// only "expired", "revoked" or "invalid").
    pub fn verbose_errors(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Makes the response for a refused request yourself. The hook gets the
    /// rejection and the default [`Challenge`]; keep its status and header with
    /// [`Challenge::response_with_body`].
    pub fn on_rejection(
        mut self,
        hook: impl Fn(&Rejection, Challenge) -> Response<Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.on_rejection = Some(Arc::new(hook));
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449): a token with `cnf.jkt` passes
    /// only as `Authorization: DPoP <token>` with a valid `DPoP` proof of its
    /// key for the request, and every challenge offers `DPoP algs="..."`
    /// beside Bearer. Without this, a DPoP-bound token is refused
    /// (`invalid_token`): the guard could not check its binding. See
    /// [`DpopConfig`] for the request URL, nonces and replicas.
    pub fn dpop(mut self, config: DpopConfig) -> Self {
        self.dpop = Some(config);
        self
    }

    /// Builds the guard; with a JWKS URL, fetches the keys first.
    pub async fn build(mut self) -> Result<Guard, BuildError> {
        if self.algorithms.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::InvalidConfig("the algorithm list is empty"));
        }
        if self.timings.min_refresh.is_zero() || self.feed_interval.is_zero() {
            return Err(BuildError::InvalidConfig("intervals must be above zero"));
        }
        let resource = self
            .resource
            .as_deref()
            .map(ResourceUri::parse)
            .transpose()
            .map_err(BuildError::InvalidResource)?;
        if let Some(resource) = &resource {
            for audience in resource.audiences() {
                if !self.validation.audiences().contains(&audience) {
                    self.validation = self.validation.also_audience(audience);
                }
            }
        }
        if self.feed_pages == 0 {
            return Err(BuildError::InvalidConfig(
                "revocation_pages_per_poll must be above zero",
            ));
        }
        let needs_runtime = self.feed_url.is_some() || matches!(self.source, Some(Source::Url(_)));
        if needs_runtime && tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let fetcher = if needs_runtime {
            let fetcher = Fetcher::new(self.fetch_timeout, self.max_response_bytes)
                .map_err(|e| BuildError::Http(e.0))?;
            Some(fetcher)
        } else {
            None
        };
        let feed_url = self.feed_url.as_deref().map(parse_url).transpose()?;
        if let Some(url) = &feed_url {
            warn_if_cleartext("revocation feed", url);
        }

        let cache = Arc::new(TokenCache::new(self.cache_capacity));
        // Dropped on an early return, which stops what was started.
        let mut tasks = Tasks::default();
        let keys = match self.source.ok_or(BuildError::NoKeySource)? {
            Source::JwkSet(set) => Arc::new(KeyStore::fixed(&set, Arc::clone(&cache))?),
            Source::InProcess(keys) => Arc::new(KeyStore::in_process(&keys, Arc::clone(&cache))),
            Source::Url(url) => {
                let url = parse_url(&url)?;
                warn_if_cleartext("JWKS", &url);
                let fetcher = fetcher.clone().ok_or(BuildError::NoRuntime)?;
                let remote = Remote::new(url, fetcher, self.timings);
                let store = Arc::new(KeyStore::remote(remote, Arc::clone(&cache)));
                let first_delay = match store.fetch_locked().await {
                    Ok(next) => next,
                    Err(e) if self.lazy_start => {
                        tracing::warn!(target: "m2m_guard", error = %e, "first JWKS fetch failed; starting with no keys");
                        self.timings.backoff_initial
                    }
                    Err(e) => return Err(BuildError::FirstFetch(e.to_string())),
                };
                if let Some(task) = store.spawn_refresh(first_delay) {
                    tasks.push(task);
                }
                store
            }
        };

        let clock: Clock = self.clock.unwrap_or_else(verifier::system_clock);
        let revocations = self.revocations.unwrap_or_default();
        if let (Some(url), Some(fetcher)) = (feed_url, fetcher) {
            let leeway = self.validation.leeway_secs();
            let mut feed = Feed::new(url, fetcher, revocations.clone());
            // Read to the end before the guard exists, as the keys are.
            match feed.drain(None).await {
                Ok(_) => {}
                Err(e) if self.lazy_start => {
                    tracing::warn!(target: "m2m_guard", error = %e, "first revocation feed read failed; starting without its revocations");
                }
                Err(e) => return Err(BuildError::FirstFeedPoll(e.to_string())),
            }
            revocations.prune(clock().saturating_sub(leeway));
            tasks.push(feed.spawn(
                self.feed_interval,
                self.feed_pages,
                Arc::clone(&clock),
                leeway,
            ));
        }

        let dpop = self.dpop.map(Dpop::new);
        let mut responder = Responder::new(
            &self.realm,
            self.verbose,
            resource.as_ref().map(ResourceUri::metadata_url),
            self.on_rejection,
        );
        if let Some(dpop) = &dpop {
            responder = responder.with_dpop(dpop.algs());
        }
        let verifier = Verifier::new(Parts {
            validation: self.validation,
            algorithms: self.algorithms,
            keys,
            cache,
            revocations,
            clock,
            dpop,
            tasks,
        });
        Ok(Guard::new(verifier, responder, resource))
    }
}

impl fmt::Debug for GuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("validation", &self.validation)
            .field("algorithms", &self.algorithms)
            .field("realm", &self.realm)
            .field("cache_capacity", &self.cache_capacity)
            .field("feed_url", &self.feed_url)
            .field("resource", &self.resource)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

/// Checks that the URL is http, or https with the `rustls` feature.
/// Warns, once at build time, when keys or revocations come over plain
/// http from a host other than this machine: anyone on the path could then
/// serve their own keys, or hide revocations.
fn warn_if_cleartext(what: &str, url: &Url) {
    if url.scheme() == "http" && !is_loopback(url) {
        tracing::warn!(
            target: "m2m_guard",
            host = url.host_str().unwrap_or_default(),
            "the {what} is fetched over plain http from a host that is not loopback; use https"
        );
    }
}

fn parse_url(url: &str) -> Result<Url, BuildError> {
    let parsed = Url::parse(url).map_err(|e| BuildError::InvalidUrl(format!("{url}: {e}")))?;
    match parsed.scheme() {
        "http" => Ok(parsed),
        "https" if cfg!(feature = "rustls") => Ok(parsed),
        "https" => Err(BuildError::TlsUnavailable(url.to_owned())),
        other => Err(BuildError::InvalidUrl(format!(
            "{url}: scheme {other:?} is not http or https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://127.9.8.7/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:1/jwks",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/jwks",
            "http://[2001:db8::1]/jwks",
            "http://auth.example.com/jwks",
            "http://localhost.example.com/jwks",
            "http://0.0.0.0/jwks",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }
}
