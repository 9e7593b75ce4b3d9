//! The small HTTP client that fetches the JWKS and the revocation feed:
//! plain http always, https with the `rustls` feature; bounded in time and size.
//!
//! It is hyper-util's client with its own connector, so nothing here depends
//! on, or changes, how other HTTP clients in the same binary are configured.
//! It never follows redirects.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

/// A fetch failed. The text is for logs (it never holds a token); the
/// status of a non-2xx answer is kept, because callers treat some apart
/// (the revocation feed's 400 to a cursor the issuer refuses).
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The server answered with a status other than 2xx.
    Status(StatusCode),
    /// No usable answer: connection, TLS, timeout, size limit, or a body
    /// that is not what was expected.
    Failed(String),
}

impl FetchError {
    /// The status of a non-2xx answer.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            FetchError::Status(status) => Some(*status),
            FetchError::Failed(_) => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(status) => write!(f, "status {status}"),
            FetchError::Failed(why) => f.write_str(why),
        }
    }
}

/// The HTTP client could not be made (the TLS configuration failed).
#[derive(Debug)]
pub(crate) struct ClientError(pub(crate) String);

/// An HTTP GET client with a timeout and a response-size limit.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: Client<Connector, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, ClientError> {
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
            .map_err(|e| FetchError::Failed(format!("invalid URL {url}: {e}")))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| FetchError::Failed(format!("invalid request: {e}")))?;
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| FetchError::Failed(format!("timed out after {:?}", self.timeout)))?
    }

    async fn send(&self, request: Request<Empty<Bytes>>) -> Result<(HeaderMap, Bytes), FetchError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError::Failed(format!("request failed: {}", chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status));
        }
        let too_large =
            || FetchError::Failed(format!("response is larger than {} bytes", self.max_bytes));
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
                    FetchError::Failed(format!("reading the body failed: {}", chain(e.as_ref())))
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

/// A rustls client configuration with the ring provider and the platform's
/// root certificates, made for this client only: no process-wide provider is
/// installed.
#[cfg(feature = "rustls")]
fn tls_config() -> Result<rustls::ClientConfig, ClientError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store cannot parse is skipped.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
