//! The small HTTP client that fetches the JWKS and the revocation feed:
//! plain http always, https with the `rustls` feature; bounded in time and size.
//!
//! It is hyper-util's client with its own connector, so nothing here depends
//! on, or changes, how other HTTP clients in the same binary are configured.
//! It never follows redirects.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

use crate::guard::BuildError;

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

/// A fetch failed; the text is for logs (it never holds a token).
#[derive(Debug)]
pub(crate) struct FetchError(pub(crate) String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An HTTP GET client with a timeout and a response-size limit.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: Client<Connector, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, BuildError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        #[cfg(feature = "rustls")]
        let connector = {
            // The https connector hands plain http URLs to this one.
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config()?)
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
            timeout,
            max_bytes,
        })
    }

    /// GETs `url`; a non-2xx status, a timeout or a body over the limit is an error.
    pub(crate) async fn get(&self, url: Url) -> Result<(HeaderMap, Bytes), FetchError> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| FetchError(format!("invalid URL {url}: {e}")))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| FetchError(format!("invalid request: {e}")))?;
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| FetchError(format!("timed out after {:?}", self.timeout)))?
    }

    async fn send(&self, request: Request<Empty<Bytes>>) -> Result<(HeaderMap, Bytes), FetchError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError(format!("request failed: {}", chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError(format!("status {status}")));
        }
        let too_large = || FetchError(format!("response is larger than {} bytes", self.max_bytes));
        let content_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if content_length.is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, self.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    too_large()
                } else {
                    FetchError(format!("reading the body failed: {}", chain(e.as_ref())))
                }
            })?
            .to_bytes();
        Ok((parts.headers, body))
    }
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

/// Checks that the URL is http, or https with the `rustls` feature.
pub(crate) fn parse_url(url: &str) -> Result<Url, BuildError> {
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

/// A rustls client configuration with the ring provider and the platform's
/// root certificates, made for this client only: no process-wide provider is
/// installed.
#[cfg(feature = "rustls")]
fn tls_config() -> Result<rustls::ClientConfig, BuildError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store cannot parse is skipped.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
