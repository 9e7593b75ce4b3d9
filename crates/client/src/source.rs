//! The token source: fetch, cache, refresh before expiry, single flight.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::backoff::{self, Backoff};
use crate::dpop::{DpopHeaders, DpopKey};
use crate::error::Error;
use crate::exchange::{ACCESS_TOKEN_TYPE, Exchange, SubjectToken, TOKEN_EXCHANGE_GRANT};

/// The largest token response read, in bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// The longest life a token is taken to have, whatever its `expires_in`
/// says: an issuer's number is not trusted to fit an [`Instant`], and a token
/// kept longer than a day is a token never refreshed.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// An access token and when it expires. `Debug` does not print the token.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    /// `token_type` was `DPoP`: the token is bound to the source's [`DpopKey`].
    dpop: bool,
    expires_at: Instant,
    /// When a new one is fetched: the refresh margin before `expires_at`.
    refresh_at: Instant,
    scope: Option<Arc<str>>,
}

impl AccessToken {
    /// The token itself.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// The `Authorization` header value: `Bearer <token>`, or `DPoP <token>`
    /// for a DPoP-bound token (which also needs a `DPoP` proof header: use
    /// [`DpopKey::headers`] or [`TokenSource::dpop_headers`]).
    pub fn authorization(&self) -> String {
        let scheme = if self.dpop { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.value)
    }

    /// Whether the issuer bound the token to the source's DPoP key
    /// (`token_type: DPoP`, RFC 9449 §5).
    pub fn is_dpop(&self) -> bool {
        self.dpop
    }

    /// When the token expires: by the issuer's `expires_in`, counted from
    /// when the request was sent, and at most a day away.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// The scopes granted, as the issuer reported them.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("dpop", &self.dpop)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenSource`].
#[must_use]
pub struct TokenSourceBuilder {
    token_endpoint: String,
    client_id: String,
    auth: ClientAuth,
    scope: Option<String>,
    resources: Vec<String>,
    /// Set for a token-exchange source (RFC 8693).
    exchange: Option<Exchange>,
    /// An actor token or audiences asked for without a subject token: an
    /// error at build.
    orphan_exchange_parts: bool,
    refresh_before: Duration,
    timeout: Duration,
    backoff: Backoff,
    dpop: Option<DpopKey>,
}

/// How the source proves the client's identity at the token endpoint.
enum ClientAuth {
    /// A client secret, in HTTP Basic (`client_secret_basic`) or in the body
    /// (`client_secret_post`).
    Secret {
        secret: Zeroizing<String>,
        basic: bool,
    },
    /// A JWT signed with the client's private key (RFC 7523 §2.2), fresh for
    /// every request: `iss` = `sub` = the client id, `aud` = the token
    /// endpoint URL, a random `jti`, `exp` shortly after `iat`.
    PrivateKeyJwt {
        key: Box<m2m_core::SigningKey>,
        lifetime: Duration,
    },
}

/// How long a `private_key_jwt` assertion lives (the issuer accepts at most
/// five minutes by default; one minute covers clock skew and a slow network).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("exchange", &self.exchange)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl TokenSourceBuilder {
    /// Makes this a token-exchange source (RFC 8693 §2.1): instead of the
    /// client's own token (client credentials), it asks for a token to act
    /// for the subject of `subject`, a user's or an organization's access
    /// token. The client authenticates as before (its secret or its key) and
    /// is the actor: the token issued names the subject in `sub`, `uid`,
    /// `oid`, and this client in `client_id` and `act`.
    ///
    /// The request carries `grant_type` [`TOKEN_EXCHANGE_GRANT`],
    /// `subject_token`, `subject_token_type` and `requested_token_type`
    /// [`ACCESS_TOKEN_TYPE`], with [`scope`](TokenSourceBuilder::scope),
    /// [`resource`](TokenSourceBuilder::resource),
    /// [`audience`](TokenSourceBuilder::audience) and
    /// [`actor_token`](TokenSourceBuilder::actor_token) when set; the
    /// answer must say `issued_token_type` [`ACCESS_TOKEN_TYPE`]. The token
    /// is cached and refreshed before it expires like any other (the issuer
    /// never makes it outlive the subject token); the subject token is read
    /// afresh for every exchange. See [`TokenSource::token_exchange`].
    pub fn subject_token(mut self, subject: impl Into<SubjectToken>) -> Self {
        let subject = subject.into();
        match &mut self.exchange {
            Some(exchange) => exchange.subject = subject,
            None => {
                self.exchange = Some(Exchange {
                    subject,
                    actor: None,
                    audiences: Vec::new(),
                })
            }
        }
        self
    }

    /// For a token-exchange source: sends `actor` as `actor_token` (with
    /// `actor_token_type` [`ACCESS_TOKEN_TYPE`]), a token identifying the
    /// actor (RFC 8693 §2.1), when the issuer asks for one. A build error
    /// without [`subject_token`](TokenSourceBuilder::subject_token).
    pub fn actor_token(mut self, actor: impl Into<SubjectToken>) -> Self {
        match &mut self.exchange {
            Some(exchange) => exchange.actor = Some(actor.into()),
            None => self.orphan_exchange_parts = true,
        }
        self
    }

    /// For a token-exchange source: asks for a token for this audience
    /// (RFC 8693 §2.1 `audience`, a logical name of the target service);
    /// may repeat. [`resource`](TokenSourceBuilder::resource) names it by
    /// URI instead. A build error without
    /// [`subject_token`](TokenSourceBuilder::subject_token).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        match &mut self.exchange {
            Some(exchange) => exchange.audiences.push(audience.into()),
            None => self.orphan_exchange_parts = true,
        }
        self
    }

    /// Asks for these scopes (space-delimited). Default: the client's own.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Asks for a token meant for this resource (RFC 8707); may repeat.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Fetches a new token this long before the current one expires (default
    /// 60 s), but never earlier than half-way through its life: a margin as
    /// long as the token's life would otherwise mean a fetch on every call.
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// Gives up on a token request after this long (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After a failed request, waits `first` before the next one may go
    /// out, doubling the wait for each failure in a row up to `max` (default
    /// 1 s, doubling to 30 s; no jitter). A `429` or `503` with
    /// `Retry-After: <seconds>` makes the wait at least that long (at most
    /// five minutes). Until then, [`TokenSource::token`] answers at once with
    /// the last error, or with the cached token while it has not expired.
    ///
    /// ```
    /// use std::time::Duration;
    /// use m2m_client::TokenSource;
    ///
    /// let tokens = TokenSource::builder("http://127.0.0.1:8080/oauth/token", "m2m_id", "secret")
    ///     .retry_backoff(Duration::from_millis(500), Duration::from_secs(10))
    ///     .build()?;
    /// # let _ = tokens;
    /// # Ok::<(), m2m_client::Error>(())
    /// ```
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = Backoff { first, max };
        self
    }

    /// Sends the credentials in the body (`client_secret_post`) instead of
    /// HTTP Basic (`client_secret_basic`, the default).
    ///
    /// No effect on a source built with [`TokenSource::private_key_jwt`].
    pub fn client_secret_post(mut self) -> Self {
        if let ClientAuth::Secret { basic, .. } = &mut self.auth {
            *basic = false;
        }
        self
    }

    /// Asks for DPoP-bound tokens (RFC 9449): every token request carries a
    /// fresh proof signed by `key` (a new `jti`, `iat` now, `htm` `POST`,
    /// `htu` the token endpoint), and the token the issuer returns is bound
    /// to it (`cnf.jkt`), useless without the key. An issuer that answers
    /// `400 use_dpop_nonce` with a `DPoP-Nonce` header gets the request once
    /// more with that nonce; the latest nonce of each origin is remembered
    /// for the next proofs. A `Bearer` answer is an [`Error::Dpop`]: the
    /// source never falls back to an unbound token.
    ///
    /// Resource requests then need a proof each: [`TokenSource::dpop_headers`]
    /// or [`TokenSource::send_dpop`].
    ///
    /// ```
    /// use m2m_client::{DpopKey, TokenSource};
    /// use m2m_core::{Algorithm, SigningKey};
    ///
    /// // No secret: the client authenticates with its own key (private_key_jwt),
    /// // and its tokens are bound to a second key that never leaves memory.
    /// let client_key = SigningKey::generate(Algorithm::ES256)?;
    /// let tokens = TokenSource::private_key_jwt("http://127.0.0.1:8080/oauth/token", "m2m_id", client_key)
    ///     .dpop(DpopKey::generate(Algorithm::EdDSA)?)
    ///     .build()?;
    /// assert!(tokens.dpop_key().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Builds the source. Nothing is fetched until the first [`TokenSource::token`].
    pub fn build(self) -> Result<TokenSource, Error> {
        if self.orphan_exchange_parts {
            return Err(Error::Config(
                "actor_token and audience are for a token exchange: set subject_token first".into(),
            ));
        }
        let https = self.token_endpoint.starts_with("https://");
        if !https && !self.token_endpoint.starts_with("http://") {
            return Err(Error::Config(format!(
                "the token endpoint must be an http(s) URL, got {:?}",
                self.token_endpoint
            )));
        }
        let endpoint: Uri = self.token_endpoint.parse().map_err(|e| {
            Error::Config(format!(
                "the token endpoint {:?} is not a valid URL: {e}",
                self.token_endpoint
            ))
        })?;
        let http = http_client(https, self.timeout)?;
        Ok(TokenSource {
            inner: Arc::new(Inner {
                http,
                endpoint,
                settings: self,
                state: Mutex::new(State::default()),
                refresh: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

type HttpClient = Client<Connector, Full<Bytes>>;

/// hyper-util's client with a connector of its own: nothing here depends on,
/// or changes, how other HTTP clients in the same binary are configured.
#[cfg(feature = "rustls")]
fn http_client(_https: bool, timeout: Duration) -> Result<HttpClient, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeout));
    // The https connector hands plain http URLs to this one.
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(client_with(connector))
}

#[cfg(not(feature = "rustls"))]
fn http_client(https: bool, timeout: Duration) -> Result<HttpClient, Error> {
    if https {
        return Err(Error::Config(
            "https token endpoints need the `rustls` feature of m2m-client".into(),
        ));
    }
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeout));
    Ok(client_with(http))
}

fn client_with(connector: Connector) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// An error and its causes, outermost first: hyper-util's own text alone
/// ("client error (Connect)") does not say what went wrong.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Access tokens of a client (client credentials) or exchanged for a
/// subject's (token exchange), cached and refreshed. Cheap to clone; clones
/// share the cache.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    /// The token endpoint, parsed once at build.
    endpoint: Uri,
    settings: TokenSourceBuilder,
    /// Never held across an await.
    state: Mutex<State>,
    /// Held while a request is in flight, so concurrent callers share it,
    /// whether it succeeds or fails.
    refresh: tokio::sync::Mutex<()>,
}

/// The cached token and how the last requests went.
#[derive(Default)]
struct State {
    current: Option<AccessToken>,
    /// Requests finished so far: a caller that waited for the in-flight one
    /// sees by this that it finished.
    attempts: u64,
    /// Set while the last request failed.
    failure: Option<Failure>,
}

struct Failure {
    error: Error,
    /// Failures in a row, this one included.
    streak: u32,
    /// No request goes out before this.
    retry_at: Instant,
}

impl State {
    /// The cached token, if the refresh margin has not been reached.
    fn fresh(&self, now: Instant) -> Option<AccessToken> {
        self.current
            .as_ref()
            .filter(|t| now < t.refresh_at)
            .cloned()
    }

    /// The cached token, if it has not expired.
    fn unexpired(&self, now: Instant) -> Option<AccessToken> {
        self.current
            .as_ref()
            .filter(|t| now < t.expires_at)
            .cloned()
    }

    /// What a caller gets instead of a request of its own: the last failure
    /// if one finished while it waited (`seen` is the attempt count before),
    /// or if the next request must wait; the cached token over the error
    /// while that token is still valid.
    fn shared_failure(&self, seen: u64, now: Instant) -> Option<Result<AccessToken, Error>> {
        let failure = self.failure.as_ref()?;
        if self.attempts == seen && now >= failure.retry_at {
            return None;
        }
        Some(self.unexpired(now).ok_or_else(|| failure.error.clone()))
    }
}

/// A failed request: its error, and the issuer's `Retry-After`, if any.
struct Failed {
    error: Error,
    retry_after: Option<Duration>,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed {
            error,
            retry_after: None,
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
    scope: Option<String>,
    #[serde(default)]
    issued_token_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    error_description: Option<String>,
}

impl TokenSource {
    /// A source for `client_id`/`client_secret` at `token_endpoint`.
    pub fn builder(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> TokenSourceBuilder {
        Self::with_auth(
            token_endpoint.into(),
            client_id.into(),
            ClientAuth::Secret {
                secret: Zeroizing::new(client_secret.into()),
                basic: true,
            },
        )
    }

    /// A source for a `private_key_jwt` client (RFC 7523 §2.2): no secret,
    /// each token request carries a fresh assertion signed with `key`, whose
    /// public half (with the same `kid`) is registered with the client.
    ///
    /// ```
    /// use m2m_client::TokenSource;
    /// use m2m_core::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// // Register key.public_jwk() as the client's `jwks`, then:
    /// let tokens = TokenSource::private_key_jwt("http://127.0.0.1:8080/oauth/token", "m2m_id", key)
    ///     .scope("invoices:read")
    ///     .build()?;
    /// # let _ = tokens;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn private_key_jwt(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        key: m2m_core::SigningKey,
    ) -> TokenSourceBuilder {
        Self::with_auth(
            token_endpoint.into(),
            client_id.into(),
            ClientAuth::PrivateKeyJwt {
                key: Box::new(key),
                lifetime: ASSERTION_LIFETIME,
            },
        )
    }

    /// A token-exchange source (RFC 8693) for the client
    /// `client_id`/`client_secret`, the actor, trading `subject` (a user's
    /// or organization's access token) for a token to act for it: the same
    /// as [`builder`](TokenSource::builder) then
    /// [`subject_token`](TokenSourceBuilder::subject_token). A
    /// `private_key_jwt` client calls
    /// [`private_key_jwt`](TokenSource::private_key_jwt) then `subject_token`.
    ///
    /// ```
    /// use m2m_client::{SubjectToken, TokenSource};
    ///
    /// # fn demo(user_token: String) -> Result<(), m2m_client::Error> {
    /// // The agent's own credentials; the user's token it acts with.
    /// let tokens = TokenSource::token_exchange(
    ///     "http://127.0.0.1:8080/oauth/token",
    ///     "m2m_agent",
    ///     std::env::var("M2M_CLIENT_SECRET").unwrap_or_default(),
    ///     user_token,
    /// )
    /// .resource("https://api.example.com")
    /// .scope("invoices:read")
    /// .build()?;
    /// // tokens.token().await? is a token for the user, with `act` naming m2m_agent.
    ///
    /// // A chain: a second agent trades the first agent's exchanged token.
    /// let worker = TokenSource::token_exchange(
    ///     "http://127.0.0.1:8080/oauth/token",
    ///     "m2m_worker",
    ///     "worker-secret",
    ///     SubjectToken::from_source(tokens),
    /// )
    /// .build()?;
    /// # let _ = worker; Ok(()) }
    /// # demo("eyJ...".into()).unwrap();
    /// ```
    pub fn token_exchange(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        subject: impl Into<SubjectToken>,
    ) -> TokenSourceBuilder {
        Self::builder(token_endpoint, client_id, client_secret).subject_token(subject)
    }

    fn with_auth(
        token_endpoint: String,
        client_id: String,
        auth: ClientAuth,
    ) -> TokenSourceBuilder {
        TokenSourceBuilder {
            token_endpoint,
            client_id,
            auth,
            scope: None,
            resources: Vec::new(),
            exchange: None,
            orphan_exchange_parts: false,
            refresh_before: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            dpop: None,
        }
    }

    /// A valid token: the cached one, or a new one if it is missing or
    /// within the refresh margin of its expiry.
    ///
    /// One request is in flight at a time, and its outcome is everyone's:
    /// callers that waited for a request that failed get its error (they do
    /// not each try in turn). After a failure, no request goes out until the
    /// backoff has passed (see [`TokenSourceBuilder::retry_backoff`]); calls
    /// meanwhile get the last error at once. While the cached token has not
    /// expired, a failed refresh returns it instead of the error.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        let seen = {
            let state = self.state();
            if let Some(token) = state.fresh(Instant::now()) {
                return Ok(token);
            }
            state.attempts
        };
        let _in_flight = self.inner.refresh.lock().await;
        {
            // Another caller may have fetched, or failed to, while this one waited.
            let state = self.state();
            let now = Instant::now();
            if let Some(token) = state.fresh(now) {
                return Ok(token);
            }
            if let Some(shared) = state.shared_failure(seen, now) {
                return shared;
            }
        }
        let result = self.fetch().await;
        let mut state = self.state();
        state.attempts += 1;
        match result {
            Ok(token) => {
                state.current = Some(token.clone());
                state.failure = None;
                Ok(token)
            }
            Err(Failed { error, retry_after }) => {
                let streak = state
                    .failure
                    .as_ref()
                    .map_or(1, |f| f.streak.saturating_add(1));
                let now = Instant::now();
                let delay = self.inner.settings.backoff.delay(streak, retry_after);
                let retry_at = now.checked_add(delay).unwrap_or(now);
                state.failure = Some(Failure {
                    error: error.clone(),
                    streak,
                    retry_at,
                });
                state.unexpired(now).ok_or(error)
            }
        }
    }

    /// Drops the cached token, so the next call fetches (e.g. after a 401).
    /// A backoff after failed requests still applies.
    pub fn invalidate(&self) {
        self.state().current = None;
    }

    /// The DPoP key given to [`TokenSourceBuilder::dpop`], if any.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.settings.dpop.as_ref()
    }

    /// The headers of one DPoP resource request to `url` with `method`: a
    /// valid token (as [`TokenSource::token`]) as `Authorization: DPoP
    /// <token>`, and `DPoP: <proof>`, a fresh proof with `ath` for this
    /// method and URL (and the origin's latest nonce). An [`Error::Config`]
    /// if the source was built without [`TokenSourceBuilder::dpop`].
    ///
    /// Make new headers for every request, a retry included: a proof is
    /// single-use. After the answer, call [`DpopKey::nonce_challenge`] (or
    /// use [`TokenSource::send_dpop`], which does both).
    ///
    /// ```no_run
    /// # async fn demo(tokens: m2m_client::TokenSource) -> Result<(), m2m_client::Error> {
    /// let url = "https://api.example.com/invoices";
    /// let headers = tokens.dpop_headers("GET", url).await?;
    /// let mut request = http::Request::get(url).body(()).expect("request");
    /// headers.apply(request.headers_mut());
    /// // ... send it with any HTTP client.
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dpop_headers(&self, method: &str, url: &str) -> Result<DpopHeaders, Error> {
        let key = self.require_dpop()?;
        let token = self.token().await?;
        key.headers(method, url, &token)
    }

    /// Sends one DPoP resource request through `send`, which gets the
    /// headers to set ([`DpopHeaders::apply`]) and returns the response. If
    /// the resource answers 401 `use_dpop_nonce` with a `DPoP-Nonce` (RFC
    /// 9449 §9), `send` is called once more with a new proof carrying that
    /// nonce; the second answer is returned whatever it is. Any
    /// `DPoP-Nonce` in an answer is remembered for the next proofs to that
    /// origin.
    ///
    /// `send` may use any HTTP client whose response converts to an
    /// [`http::Response`]; its error type must take an [`Error`].
    ///
    /// ```no_run
    /// # async fn demo(tokens: m2m_client::TokenSource) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use bytes::Bytes;
    /// use http_body_util::Empty;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    ///
    /// let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    /// let url = "http://127.0.0.1:3000/invoices";
    /// let response = tokens
    ///     .send_dpop("GET", url, |headers| {
    ///         let http = http.clone();
    ///         async move {
    ///             let mut request = http::Request::get(url).body(Empty::<Bytes>::new())?;
    ///             headers.apply(request.headers_mut());
    ///             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http.request(request).await?)
    ///         }
    ///     })
    ///     .await?;
    /// println!("{}", response.status());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_dpop<B, E, F, Fut>(
        &self,
        method: &str,
        url: &str,
        mut send: F,
    ) -> Result<http::Response<B>, E>
    where
        F: FnMut(DpopHeaders) -> Fut,
        Fut: Future<Output = Result<http::Response<B>, E>>,
        E: From<Error>,
    {
        let key = self.require_dpop()?;
        let token = self.token().await?;
        let response = send(key.headers(method, url, &token)?).await?;
        if key.nonce_challenge(url, response.status().as_u16(), response.headers()) {
            return send(key.headers(method, url, &token)?).await;
        }
        Ok(response)
    }

    fn require_dpop(&self) -> Result<&DpopKey, Error> {
        self.dpop_key().ok_or_else(|| {
            Error::Config(
                "DPoP resource requests need a source built with TokenSourceBuilder::dpop".into(),
            )
        })
    }

    /// The state lock; a panic elsewhere cannot leave it half-written, as
    /// nothing that can panic runs while it is held.
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the request and reads at most [`MAX_RESPONSE`] bytes of the
    /// answer; `Retry-After` is read on 429 and 503.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Sent, Error> {
        let response = self
            .inner
            .http
            .request(request)
            .await
            .map_err(|e| Error::Transport(chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(backoff::retry_after),
            // A token, and the issuer's quota says it was the last one of
            // its window: the next refresh waits for the window to end.
            200..300 => response
                .headers()
                .get("ratelimit")
                .and_then(backoff::quota_exhausted_for),
            _ => None,
        };
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    Error::InvalidResponse("the response is too large".into())
                } else {
                    Error::Transport(chain(e.as_ref()))
                }
            })?
            .to_bytes();
        Ok(Sent {
            status,
            retry_after,
            headers: parts.headers,
            bytes,
        })
    }

    /// A fresh `private_key_jwt` assertion for one token request.
    fn assertion(&self, key: &m2m_core::SigningKey, lifetime: Duration) -> Result<String, Error> {
        let settings = &self.inner.settings;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error::Config(format!("the system clock is before 1970: {e}")))?
            .as_secs();
        let jti = m2m_core::random_id("").map_err(|e| Error::Config(e.to_string()))?;
        let claims = serde_json::json!({
            "iss": settings.client_id,
            "sub": settings.client_id,
            "aud": settings.token_endpoint,
            "iat": now,
            "exp": now + lifetime.as_secs(),
            "jti": jti,
        });
        m2m_core::sign_assertion(key, &claims).map_err(|e| Error::Config(e.to_string()))
    }

    /// The tokens a token-exchange source trades, read once per fetch
    /// (zeroed when dropped); `None` for a client-credentials source.
    async fn traded(&self) -> Result<Option<Traded>, Error> {
        let Some(exchange) = &self.inner.settings.exchange else {
            return Ok(None);
        };
        let subject = Zeroizing::new(exchange.subject.get().await?);
        let actor = match &exchange.actor {
            Some(actor) => Some(Zeroizing::new(actor.get().await?)),
            None => None,
        };
        Ok(Some(Traded { subject, actor }))
    }

    /// The body and headers of one token request: a fresh assertion and a
    /// fresh DPoP proof each time, as both are single-use.
    fn token_request(&self, traded: Option<&Traded>) -> Result<Request<Full<Bytes>>, Error> {
        let settings = &self.inner.settings;
        let mut form: Vec<(&str, &str)> = match traded {
            Some(traded) => vec![
                ("grant_type", TOKEN_EXCHANGE_GRANT),
                ("subject_token", traded.subject.as_str()),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
            ],
            None => vec![("grant_type", "client_credentials")],
        };
        if let Some(actor) = traded.and_then(|t| t.actor.as_ref()) {
            form.push(("actor_token", actor.as_str()));
            form.push(("actor_token_type", ACCESS_TOKEN_TYPE));
        }
        if let Some(exchange) = &settings.exchange {
            for audience in &exchange.audiences {
                form.push(("audience", audience));
            }
        }
        if let Some(scope) = &settings.scope {
            form.push(("scope", scope));
        }
        for resource in &settings.resources {
            form.push(("resource", resource));
        }
        let assertion;
        match &settings.auth {
            ClientAuth::Secret { basic: true, .. } => {}
            ClientAuth::Secret {
                secret,
                basic: false,
            } => {
                form.push(("client_id", &settings.client_id));
                form.push(("client_secret", secret));
            }
            ClientAuth::PrivateKeyJwt { key, lifetime } => {
                assertion = self.assertion(key, *lifetime)?;
                form.push(("client_id", &settings.client_id));
                form.push(("client_assertion_type", m2m_core::CLIENT_ASSERTION_TYPE_JWT));
                form.push(("client_assertion", &assertion));
            }
        }
        let body = Zeroizing::new(
            serde_urlencoded::to_string(&form).map_err(|e| Error::Config(e.to_string()))?,
        );
        let mut request = Request::post(self.inner.endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let ClientAuth::Secret {
            secret,
            basic: true,
        } = &settings.auth
        {
            request = request.header("authorization", basic(&settings.client_id, secret));
        }
        if let Some(key) = &settings.dpop {
            request = request.header(
                crate::dpop::DPOP_HEADER,
                key.proof("POST", &settings.token_endpoint, None)?,
            );
        }
        request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// One token request, or two when a DPoP issuer asks for a nonce
    /// (RFC 9449 §8): the second carries it; a second `use_dpop_nonce` is
    /// the answer.
    async fn exchange(&self, traded: Option<&Traded>) -> Result<Sent, Error> {
        let settings = &self.inner.settings;
        let mut may_retry = true;
        loop {
            let sent = self.send(self.token_request(traded)?).await?;
            let Some(key) = &settings.dpop else {
                return Ok(sent);
            };
            let fresh_nonce = key.remember_nonce(&settings.token_endpoint, &sent.headers);
            let asks_nonce = sent.status == 400
                && serde_json::from_slice::<ErrorResponse>(&sent.bytes)
                    .is_ok_and(|e| e.error == "use_dpop_nonce");
            if !(may_retry && fresh_nonce && asks_nonce) {
                return Ok(sent);
            }
            may_retry = false;
        }
    }

    async fn fetch(&self) -> Result<AccessToken, Failed> {
        let settings = &self.inner.settings;
        // Before the clock starts: a subject source takes its own time.
        let traded = self.traded().await?;
        let started = Instant::now();
        // The deadline covers the whole exchange, the body (and a nonce retry) included.
        let Sent {
            status,
            retry_after,
            bytes,
            ..
        } = tokio::time::timeout(settings.timeout, self.exchange(traded.as_ref()))
            .await
            .map_err(|_| Error::Transport(format!("no answer within {:?}", settings.timeout)))??;
        if !(200..300).contains(&status) {
            let error = match serde_json::from_slice::<ErrorResponse>(&bytes) {
                Ok(e) => {
                    if matches!(e.error.as_str(), "invalid_request" | "invalid_grant")
                        && let Some(exchange) = &settings.exchange
                    {
                        // The subject (or actor) token may have expired or
                        // been revoked (RFC 8693 §2.2.2 answers that
                        // `invalid_request`; some issuers `invalid_grant`):
                        // the next exchange reads new ones.
                        exchange.subject.refused();
                        if let Some(actor) = &exchange.actor {
                            actor.refused();
                        }
                    }
                    Error::Refused {
                        status,
                        error: e.error,
                        description: e.error_description,
                    }
                }
                Err(_) => Error::InvalidResponse(format!("status {status} without an OAuth error")),
            };
            return Err(Failed { error, retry_after });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        let dpop = settings.dpop.is_some();
        if dpop && !parsed.token_type.eq_ignore_ascii_case("dpop") {
            // RFC 9449 §5: an issuer that does not bind tokens answers Bearer.
            // Using that token would quietly drop the protection asked for.
            return Err(Error::Dpop(format!(
                "a DPoP-bound token was requested, but the token endpoint returned token_type \
                 {:?}: it did not bind the token to this client's DPoP key (the issuer or this \
                 client may not have DPoP enabled); the unbound token is not used",
                parsed.token_type
            ))
            .into());
        }
        if !dpop && !parsed.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::InvalidResponse(format!(
                "token_type {:?} is not Bearer",
                parsed.token_type
            ))
            .into());
        }
        if settings.exchange.is_some()
            && parsed.issued_token_type.as_deref() != Some(ACCESS_TOKEN_TYPE)
        {
            // RFC 8693 §2.2.1: required; anything but an access token was
            // not asked for and cannot be sent to a resource.
            return Err(Error::InvalidResponse(format!(
                "issued_token_type {:?} is not {ACCESS_TOKEN_TYPE}",
                parsed.issued_token_type
            ))
            .into());
        }
        // Without expires_in, assume a short life rather than forever; with
        // one, at most a day, so that no number overflows an Instant.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300)).min(MAX_LIFETIME);
        let margin = settings.refresh_before.min(lifetime / 2);
        let expires_at = started
            .checked_add(lifetime)
            .ok_or_else(|| Error::InvalidResponse("expires_in is out of range".into()))?;
        let mut refresh_at = expires_at.checked_sub(margin).unwrap_or(started);
        // The quota is spent (`RateLimit` with `r=0`): refreshing before its
        // window ends would only be refused, so wait for it, while the
        // token still has a quarter of the margin left.
        if let Some(wait) = retry_after
            && let Some(reset_at) = started.checked_add(wait)
        {
            let latest = expires_at.checked_sub(margin / 4).unwrap_or(started);
            refresh_at = refresh_at.max(reset_at.min(latest));
        }
        Ok(AccessToken {
            value: parsed.access_token.into(),
            dpop,
            expires_at,
            refresh_at,
            scope: parsed.scope.map(Into::into),
        })
    }
}

/// The subject and actor tokens of one token exchange.
struct Traded {
    subject: Zeroizing<String>,
    actor: Option<Zeroizing<String>>,
}

/// One answer of the token endpoint, its body read.
struct Sent {
    status: u16,
    retry_after: Option<Duration>,
    headers: http::HeaderMap,
    bytes: Bytes,
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic-encoded.
fn basic(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| {
        serde_urlencoded::to_string([("", s)])
            .map(|pair| pair.trim_start_matches('=').to_owned())
            .unwrap_or_default()
    };
    let pair = Zeroizing::new(format!("{}:{}", encode(client_id), encode(client_secret)));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_encodes_reserved_characters() {
        // "a:b" / "c d" → "a%3Ab:c+d"
        let header = basic("a:b", "c d");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(decoded, b"a%3Ab:c+d");
    }

    /// A token over plain http from a real listener on 127.0.0.1, through
    /// whichever connector this build has: the plain one without `rustls`
    /// (`cargo test -p m2m-client --no-default-features`), the https-or-http
    /// one with it.
    #[tokio::test]
    async fn fetches_a_token_over_plain_http() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before a full request");
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let body = r#"{"access_token":"tok-123","token_type":"Bearer","expires_in":600}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });

        let tokens = TokenSource::builder(url, "id", "s")
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let token = tokens.token().await.unwrap();
        assert_eq!(token.secret(), "tok-123");
        let request = server.await.unwrap();
        assert!(
            request.starts_with("POST /oauth/token HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("grant_type=client_credentials"),
            "{request}"
        );
    }

    #[test]
    fn https_needs_the_feature() {
        let result = TokenSource::builder("https://x/oauth/token", "id", "s").build();
        if cfg!(feature = "rustls") {
            assert!(result.is_ok());
        } else {
            assert!(matches!(result, Err(Error::Config(_))));
        }
        assert!(matches!(
            TokenSource::builder("ftp://x", "id", "s").build(),
            Err(Error::Config(_))
        ));
    }
}
