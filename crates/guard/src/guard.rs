//! [`Guard`] and its [`GuardBuilder`]: the verifier configuration, the key
//! source, the cache and the revocations, shared by every layer made from it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, header};
use m2m_core::{
    Algorithm, JwkSet, KeyError, KeySet, ScopeError, ScopeRequirement, Validation, VerifyError,
};
use tokio::task::AbortHandle;

use crate::cache::{Entry, TokenCache};
use crate::challenge::{Challenge, Rejection, challenge};
use crate::extract::Auth;
use crate::fetch::{Fetcher, parse_url};
use crate::future::Refresh;
use crate::keys::remote::{Remote, RemoteTimings, spawn_refresh};
use crate::keys::{InProcessKeys, KeyStore};
use crate::layer::RequireScopesLayer;
use crate::revocation::{Revocations, spawn_poll};

/// A clock: seconds since the Unix epoch.
pub(crate) type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Makes the response for a refused request, from the rejection and its
/// default challenge.
type RejectionHook = Arc<dyn Fn(&Rejection, Challenge) -> Response<Bytes> + Send + Sync>;

/// The default capacity of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;
/// The default limit on a JWKS or revocation-feed response, in bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What a layer asks of a request.
#[derive(Debug)]
pub(crate) enum Policy {
    /// A valid token, any scopes.
    Authenticate,
    /// A valid token with these scopes.
    Require(ScopeRequirement),
    /// No token, or a valid one.
    Optional,
}

/// The outcome of checking a request without waiting.
#[derive(Debug)]
pub(crate) enum Check {
    Pass(Auth),
    Anonymous,
    Reject(Rejection),
    UnknownKid { kid: String, generation: u64 },
}

/// The guard could not be built.
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
    /// A key of the static JWK Set is malformed or unsupported.
    InvalidKeys(KeyError),
    /// A setting is out of range.
    InvalidConfig(&'static str),
    /// A remote source or the revocation feed needs a running tokio runtime.
    NoRuntime,
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
            BuildError::InvalidKeys(e) => write!(f, "the JWK Set is unusable: {e}"),
            BuildError::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            BuildError::NoRuntime => f.write_str("a tokio runtime is required"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<KeyError> for BuildError {
    fn from(e: KeyError) -> Self {
        BuildError::InvalidKeys(e)
    }
}

/// Authenticates Bearer access tokens and makes per-route layers.
///
/// Cheap to clone; every clone and every layer made from it share the keys,
/// the cache and the revocations. The background tasks (key refresh,
/// revocation feed) stop when the last clone is dropped.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use m2m_guard::Guard;
/// let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
///     .jwks_url("https://auth.example.com/.well-known/jwks.json")
///     .build()
///     .await?;
/// let read = guard.require(["invoices:read"]);
/// # let _ = read; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    algorithms: Option<Vec<Algorithm>>,
    keys: Arc<KeyStore>,
    cache: Arc<TokenCache>,
    revocations: Revocations,
    clock: Clock,
    realm: Box<str>,
    verbose: bool,
    on_rejection: Option<RejectionHook>,
    _tasks: Tasks,
}

/// Background tasks, aborted when the guard goes.
struct Tasks(Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Guard {
    /// Starts a guard that accepts tokens from `issuer` meant for `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> GuardBuilder {
        GuardBuilder::new(issuer, audience)
    }

    /// A layer that requires a valid token with every one of `scopes`.
    ///
    /// # Panics
    ///
    /// If a scope is not valid scope syntax (a bug in the route table); use
    /// [`Guard::try_require`] for scopes that come from configuration.
    pub fn require<I, S>(&self, scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.try_require(scopes) {
            Ok(layer) => layer,
            Err(e) => panic!("invalid scope in Guard::require: {e}"),
        }
    }

    /// A layer that requires a valid token with every one of `scopes`.
    pub fn try_require<I, S>(&self, scopes: I) -> Result<RequireScopesLayer, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(self.require_scopes(ScopeRequirement::all_of(scopes)?))
    }

    /// A layer that requires a valid token with at least one of `scopes`.
    ///
    /// # Panics
    ///
    /// If a scope is not valid scope syntax; see [`Guard::try_require_any`].
    pub fn require_any<I, S>(&self, scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.try_require_any(scopes) {
            Ok(layer) => layer,
            Err(e) => panic!("invalid scope in Guard::require_any: {e}"),
        }
    }

    /// A layer that requires a valid token with at least one of `scopes`.
    pub fn try_require_any<I, S>(&self, scopes: I) -> Result<RequireScopesLayer, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(self.require_scopes(ScopeRequirement::any_of(scopes)?))
    }

    /// A layer that requires a token meeting `requirement`.
    pub fn require_scopes(&self, requirement: ScopeRequirement) -> RequireScopesLayer {
        RequireScopesLayer::new(self.clone(), Policy::Require(requirement))
    }

    /// A layer that requires a valid token, whatever its scopes.
    pub fn authenticate(&self) -> RequireScopesLayer {
        RequireScopesLayer::new(self.clone(), Policy::Authenticate)
    }

    /// A layer for routes open to anonymous and authenticated callers: a
    /// request without a Bearer token passes with no claims (`Option<Auth>` is
    /// `None`); a request with one must carry a valid token.
    pub fn optional(&self) -> RequireScopesLayer {
        RequireScopesLayer::new(self.clone(), Policy::Optional)
    }

    /// The revocations this guard refuses; an issuer in the same process can
    /// push into them.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// How many keys are trusted now.
    pub fn key_count(&self) -> usize {
        self.inner.keys.len()
    }

    /// How many verified tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// Checks a token (no `Bearer ` prefix) as a request would, without waiting
    /// for a key re-fetch: for transports other than HTTP headers.
    pub fn check_token(&self, token: &str) -> Result<Auth, Rejection> {
        match self.authenticate_token(token, false) {
            Ok(auth) => Ok(auth),
            Err(Check::Reject(rejection)) => Err(rejection),
            Err(_) => Err(Rejection::InvalidToken(VerifyError::UnknownKid(
                String::new(),
            ))),
        }
    }

    /// The response to a rejection: one tracing event with its reason (never
    /// the token), then the user's hook or the default challenge.
    pub(crate) fn reject(&self, rejection: &Rejection) -> Response<Bytes> {
        let challenge = challenge(rejection, &self.inner.realm, self.inner.verbose);
        tracing::info!(
            target: "m2m_guard",
            reason = rejection.reason(),
            status = challenge.status().as_u16(),
            "request refused"
        );
        match &self.inner.on_rejection {
            Some(hook) => hook(rejection, challenge),
            None => challenge.into_response(),
        }
    }

    pub(crate) fn refresh_for_kid(&self, kid: String, generation: u64) -> Refresh {
        let keys = Arc::clone(&self.inner.keys);
        Box::pin(async move { keys.refresh_for_kid(&kid, generation).await })
    }

    /// Checks a request's headers against `policy` without waiting.
    pub(crate) fn check_request(
        &self,
        headers: &HeaderMap,
        policy: &Policy,
        may_refetch: bool,
    ) -> Check {
        let token = match bearer_token(headers) {
            Ok(Some(token)) => token,
            Ok(None) if matches!(policy, Policy::Optional) => return Check::Anonymous,
            Ok(None) => return Check::Reject(Rejection::MissingToken),
            Err(()) => return Check::Reject(Rejection::MalformedHeader),
        };
        let auth = match self.authenticate_token(token, may_refetch) {
            Ok(auth) => auth,
            Err(check) => return check,
        };
        if let Policy::Require(requirement) = policy
            && !requirement.is_met_by(auth.scopes())
        {
            return Check::Reject(Rejection::InsufficientScope(requirement.clone()));
        }
        Check::Pass(auth)
    }

    fn authenticate_token(&self, token: &str, may_refetch: bool) -> Result<Auth, Check> {
        let inner = &*self.inner;
        let now = (inner.clock)();
        let leeway = inner.validation.leeway_secs();
        let (generation, keys) = inner.keys.snapshot();

        let hit = inner.cache.get(token, |entry| {
            entry.exp.saturating_add(leeway) > now
                && entry.kid.as_deref().is_some_and(|kid| keys.contains(kid))
                && !inner.revocations.is_revoked(entry.auth.claims())
        });
        if let Some(auth) = hit {
            return Ok(auth);
        }

        let verified = match inner.validation.verify(token, &keys, now) {
            Ok(verified) => verified,
            Err(VerifyError::UnknownKid(kid)) if may_refetch && inner.keys.can_refetch() => {
                return Err(Check::UnknownKid { kid, generation });
            }
            Err(e) => return Err(Check::Reject(Rejection::InvalidToken(e))),
        };
        if let Some(accepted) = &inner.algorithms {
            let key = match verified.kid.as_deref() {
                Some(kid) => keys.get(kid),
                None => keys.iter().next(),
            };
            if let Some(key) = key
                && !accepted.contains(&key.algorithm())
            {
                return Err(Check::Reject(Rejection::InvalidToken(
                    VerifyError::UnsupportedAlgorithm(key.algorithm().as_str().to_owned()),
                )));
            }
        }
        if inner.revocations.is_revoked(&verified.claims) {
            return Err(Check::Reject(Rejection::Revoked));
        }
        let exp = verified.claims.exp;
        let auth = Auth::new(Arc::new(verified.claims));
        if let Some(kid) = verified.kid {
            let entry = Entry {
                auth: auth.clone(),
                exp,
                kid: Some(kid.into_boxed_str()),
            };
            inner.cache.insert(token, entry, now, leeway);
        }
        Ok(auth)
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("issuers", &self.inner.validation.issuers())
            .field("audiences", &self.inner.validation.audiences())
            .field("realm", &self.inner.realm)
            .field("keys", &self.inner.keys.len())
            .field("cached_tokens", &self.inner.cache.len())
            .field("revocations", &self.inner.revocations)
            .finish_non_exhaustive()
    }
}

/// The Bearer token of the `Authorization` header (RFC 6750 §2.1): `Ok(None)`
/// when there is none or the scheme is another, `Err` when it is malformed.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    // Header values hold no control characters but may hold bytes >= 0x80;
    // UTF-8 is checked fast, and anything not base64url fails verification.
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| ())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Ok(None);
    }
    let token = rest.trim_matches(' ');
    // Byte searches (memchr), not a char-set pattern: this runs on every request.
    let bytes = token.as_bytes();
    if bytes.is_empty() || bytes.contains(&b' ') || bytes.contains(&b'\t') {
        return Err(());
    }
    Ok(Some(token))
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
    clock: Option<Clock>,
    realm: String,
    verbose: bool,
    on_rejection: Option<RejectionHook>,
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
            clock: None,
            realm: "api".to_owned(),
            verbose: false,
            on_rejection: None,
        }
    }

    /// Also accepts tokens meant for `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.validation = self.validation.also_audience(audience);
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

    /// Keys from a JWKS URL (http; https with the `rustls` feature).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Keys from a fixed JWK Set.
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

    /// Starts even if the first JWKS fetch fails: with no keys, retrying in
    /// the background (default: the build fails).
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

    /// Polls the issuer's revocation feed (`GET URL?since=CURSOR`), off by default.
    pub fn revocation_feed(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// How often the revocation feed is polled (default 30 s).
    pub fn revocation_poll_interval(mut self, interval: impl Into<Duration>) -> Self {
        self.feed_interval = interval.into();
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

    /// Builds the guard; with a JWKS URL, fetches the keys first.
    pub async fn build(self) -> Result<Guard, BuildError> {
        if self.algorithms.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::InvalidConfig("the algorithm list is empty"));
        }
        if self.timings.min_refresh.is_zero() || self.feed_interval.is_zero() {
            return Err(BuildError::InvalidConfig("intervals must be above zero"));
        }
        let needs_runtime = self.feed_url.is_some() || matches!(self.source, Some(Source::Url(_)));
        if needs_runtime && tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let fetcher = if needs_runtime {
            Some(Fetcher::new(self.fetch_timeout, self.max_response_bytes)?)
        } else {
            None
        };
        let feed_url = self.feed_url.as_deref().map(parse_url).transpose()?;

        let cache = Arc::new(TokenCache::new(self.cache_capacity));
        let mut tasks = Vec::new();
        let keys = match self.source.ok_or(BuildError::NoKeySource)? {
            Source::JwkSet(set) => Arc::new(KeyStore::fixed(
                KeySet::from_jwk_set(&set)?,
                Arc::clone(&cache),
            )),
            Source::InProcess(keys) => Arc::new(KeyStore::in_process(&keys, Arc::clone(&cache))),
            Source::Url(url) => {
                let url = parse_url(&url)?;
                let fetcher = fetcher.clone().ok_or(BuildError::NoRuntime)?;
                let remote = Remote::new(url, fetcher, self.timings);
                let store = Arc::new(KeyStore::remote(remote, Arc::clone(&cache)));
                let first_delay = match store.fetch_locked().await {
                    Ok(next) => next,
                    Err(e) if self.lazy_start => {
                        tracing::warn!(target: "m2m_guard", error = %e, "first JWKS fetch failed; starting with no keys");
                        self.timings.backoff_initial
                    }
                    Err(e) => return Err(BuildError::FirstFetch(e.0)),
                };
                tasks.push(spawn_refresh(Arc::downgrade(&store), first_delay));
                store
            }
        };

        let clock: Clock = self.clock.unwrap_or_else(|| Arc::new(m2m_core::now_unix));
        let revocations = self.revocations.unwrap_or_default();
        revocations.register_cache(&cache);
        if let (Some(url), Some(fetcher)) = (feed_url, fetcher) {
            tasks.push(spawn_poll(
                revocations.clone(),
                fetcher,
                url,
                self.feed_interval,
                Arc::clone(&clock),
                self.validation.leeway_secs(),
            ));
        }

        Ok(Guard {
            inner: Arc::new(Inner {
                validation: self.validation,
                algorithms: self.algorithms,
                keys,
                cache,
                revocations,
                clock,
                realm: crate::challenge::header_safe(&self.realm).into_boxed_str(),
                verbose: self.verbose,
                on_rejection: self.on_rejection,
                _tasks: Tasks(tasks),
            }),
        })
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
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer_token(&headers("Bearer abc")), Ok(Some("abc")));
        assert_eq!(bearer_token(&headers("bearer abc")), Ok(Some("abc")));
        assert_eq!(bearer_token(&headers("BEARER  abc")), Ok(Some("abc")));
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwdw==")), Ok(None));
        assert_eq!(bearer_token(&headers("Bearer")), Err(()));
        assert_eq!(bearer_token(&headers("Bearer a b")), Err(()));
        let mut twice = headers("Bearer a");
        twice.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert_eq!(bearer_token(&twice), Err(()));
    }
}
