//! [`Fetcher`]: the small HTTP client that fetches the JWKS and the
//! revocation feed, and, built with an [`AddressPolicy`], documents whose
//! URL comes from outside the operator's configuration (the issuer's Client
//! ID Metadata Documents). Plain http always, https with the `rustls`
//! feature; bounded in time and size.
//!
//! It is hyper-util's client with its own connector, so nothing here depends
//! on, or changes, how other HTTP clients in the same binary are configured.
//! It never follows redirects: a 3xx is [`FetchError::Redirect`].
//!
//! With an [`AddressPolicy`] ([`FetcherBuilder::address_policy`]) the
//! fetcher resolves host names itself, refuses the request if any address
//! of the answer is not allowed, and connects only to the addresses it
//! checked: there is no second resolution for a rebinding DNS server to
//! answer differently. An IP-literal host is checked the same way.
//!
//! ```
//! # #[cfg(feature = "rustls")] {
//! use std::time::Duration;
//! use m2m_guard::fetch::Fetcher;
//! use m2m_guard::net::AddressPolicy;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let fetcher = Fetcher::builder()
//!     .timeout(Duration::from_secs(5))
//!     .max_bytes(5 * 1024)
//!     .https_only(true)
//!     .address_policy(AddressPolicy::public_only())
//!     .build()?;
//! let refused = fetcher.get("https://127.0.0.1/client.json".parse()?).await.unwrap_err();
//! assert!(matches!(refused, m2m_guard::fetch::FetchError::Blocked(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::{Host, Url};

use crate::net::{AddressPolicy, BlockedAddress};

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector<CheckedResolver>;

/// A fetch failed. The text is for logs (it never holds a token); the
/// status of a non-2xx answer is kept, because callers treat some apart
/// (the revocation feed's 400 to a cursor the issuer refuses).
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with a status other than 2xx or 3xx.
    Status(StatusCode),
    /// The server answered with a redirect, which is never followed.
    Redirect(StatusCode),
    /// The host is, or resolves to, an address the policy refuses.
    Blocked(BlockedAddress),
    /// The URL is not one this fetcher may request (not https when
    /// https is required, or not a URL with a host).
    RefusedUrl(&'static str),
    /// The whole request took longer than the timeout.
    Timeout(Duration),
    /// The body is (or says it is) larger than the limit.
    TooLarge(usize),
    /// No usable answer: connection, TLS, or a body that is not what was expected.
    Failed(String),
}

impl FetchError {
    /// The status of a non-2xx answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            FetchError::Status(status) | FetchError::Redirect(status) => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(status) => write!(f, "status {status}"),
            FetchError::Redirect(status) => {
                write!(f, "status {status}: redirects are not followed")
            }
            FetchError::Blocked(blocked) => write!(f, "the host resolves to {blocked}"),
            FetchError::RefusedUrl(why) => f.write_str(why),
            FetchError::Timeout(after) => write!(f, "timed out after {after:?}"),
            FetchError::TooLarge(max) => write!(f, "response is larger than {max} bytes"),
            FetchError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FetchError {}

/// The HTTP client could not be made (the TLS configuration failed, or an
/// extra root certificate is not a certificate).
#[derive(Debug)]
pub struct InvalidFetcher(pub(crate) String);

impl fmt::Display for InvalidFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidFetcher {}

/// Resolves names with `getaddrinfo` and, under a policy, refuses an answer
/// holding any address the policy does not allow.
#[derive(Clone)]
pub(crate) struct CheckedResolver {
    inner: GaiResolver,
    policy: Option<Arc<AddressPolicy>>,
}

impl fmt::Debug for CheckedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedResolver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.inner.call(name);
        let policy = self.policy.clone();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = lookup.await?.collect();
            if let Some(policy) = policy {
                // Every address of the answer: the connector may try any.
                for address in &addresses {
                    policy.check(address.ip())?;
                }
            }
            Ok(addresses.into_iter())
        })
    }
}

/// Configures a [`Fetcher`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FetcherBuilder {
    timeout: Duration,
    max_bytes: usize,
    https_only: bool,
    policy: Option<AddressPolicy>,
    #[cfg(feature = "rustls")]
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for FetcherBuilder {
    fn default() -> Self {
        FetcherBuilder {
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024,
            https_only: false,
            policy: None,
            #[cfg(feature = "rustls")]
            extra_roots: Vec::new(),
        }
    }
}

impl FetcherBuilder {
    /// The limit on the whole request, name resolution and connecting
    /// included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body read (default 64 KiB): a larger `Content-Length`,
    /// or a body that streams past it, is [`FetchError::TooLarge`].
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Refuse every URL but `https` ones (default: http too).
    pub fn https_only(mut self, https_only: bool) -> Self {
        self.https_only = https_only;
        self
    }

    /// Connect only to addresses `policy` allows (default: any address,
    /// for URLs the operator configured).
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Also trust the root certificates in `pem` (one or more `CERTIFICATE`
    /// blocks), besides the platform's: for a private CA, or a test's
    /// self-signed server.
    #[cfg(feature = "rustls")]
    pub fn extra_root_pem(mut self, pem: &[u8]) -> Result<Self, InvalidFetcher> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| InvalidFetcher(format!("a root certificate PEM: {e}")))?;
            self.extra_roots.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(InvalidFetcher(
                "the root certificate PEM holds no CERTIFICATE block".into(),
            ));
        }
        Ok(self)
    }

    /// Makes the client.
    pub fn build(self) -> Result<Fetcher, InvalidFetcher> {
        let resolver = CheckedResolver {
            inner: GaiResolver::new(),
            policy: self.policy.clone().map(Arc::new),
        };
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.set_connect_timeout(Some(self.timeout));
        #[cfg(feature = "rustls")]
        let connector = {
            // The https connector hands plain http URLs to this one.
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config(&self.extra_roots)?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        #[cfg(not(feature = "rustls"))]
        let connector = http;
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Fetcher {
            client,
            timeout: self.timeout,
            max_bytes: self.max_bytes,
            https_only: self.https_only,
            policy: self.policy.map(Arc::new),
        })
    }
}

/// An HTTP GET client with a timeout, a response-size limit and,
/// optionally, an [`AddressPolicy`]. Cheap to clone (connections are pooled
/// and shared).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client<Connector, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
    https_only: bool,
    policy: Option<Arc<AddressPolicy>>,
}

impl Fetcher {
    /// Starts configuring a fetcher.
    pub fn builder() -> FetcherBuilder {
        FetcherBuilder::default()
    }

    /// A fetcher for URLs the operator configured: any address, http or https.
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, InvalidFetcher> {
        Self::builder()
            .timeout(timeout)
            .max_bytes(max_bytes)
            .build()
    }

    /// The URL's host as an address, when it is an IP literal.
    fn literal_address(url: &Url) -> Option<IpAddr> {
        match url.host()? {
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            // The connector parses hosts with std's parser too.
            Host::Domain(name) => name.parse().ok(),
        }
    }

    /// GETs `url` with `Accept: application/json`, returning the headers
    /// and the body of a 2xx answer. Anything else (another status, a
    /// redirect, a refused address, a timeout, a body over the limit) is a
    /// [`FetchError`].
    pub async fn get(&self, url: Url) -> Result<(HeaderMap, Bytes), FetchError> {
        if self.https_only && url.scheme() != "https" {
            return Err(FetchError::RefusedUrl("only https URLs are fetched"));
        }
        if url.host().is_none() {
            return Err(FetchError::RefusedUrl("the URL has no host"));
        }
        if let (Some(policy), Some(address)) = (&self.policy, Self::literal_address(&url)) {
            policy.check(address).map_err(FetchError::Blocked)?;
        }
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| FetchError::Failed(format!("invalid URL {url}: {e}")))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| FetchError::Failed(format!("invalid request: {e}")))?;
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }

    async fn send(&self, request: Request<Empty<Bytes>>) -> Result<(HeaderMap, Bytes), FetchError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| match blocked_cause(&e) {
                Some(blocked) => FetchError::Blocked(blocked.clone()),
                None => FetchError::Failed(format!("request failed: {}", chain(&e))),
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect(status));
        }
        if !status.is_success() {
            return Err(FetchError::Status(status));
        }
        let content_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if content_length.is_some_and(|len| len > self.max_bytes as u64) {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, self.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    FetchError::TooLarge(self.max_bytes)
                } else {
                    FetchError::Failed(format!("reading the body failed: {}", chain(e.as_ref())))
                }
            })?
            .to_bytes();
        Ok((parts.headers, body))
    }
}

/// The policy refusal among an error's causes, if it is one.
fn blocked_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BlockedAddress> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(blocked) = current.downcast_ref::<BlockedAddress>() {
            return Some(blocked);
        }
        cause = current.source();
    }
    None
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

/// A rustls client configuration with the ring provider, the platform's
/// root certificates and `extra_roots`, made for this client only: no process-wide provider is
/// installed.
#[cfg(feature = "rustls")]
fn tls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::ClientConfig, InvalidFetcher> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store cannot parse is skipped.
        let _ = roots.add(cert);
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| InvalidFetcher(format!("an extra root certificate: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| InvalidFetcher(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
