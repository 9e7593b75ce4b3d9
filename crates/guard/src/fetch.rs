//! The small HTTP client that fetches the JWKS and the revocation feed:
//! plain http always, https with the `rustls` feature; bounded in time and size.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use crate::guard::BuildError;

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
    client: reqwest::Client,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, BuildError> {
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        #[cfg(feature = "rustls")]
        let builder = builder.tls_backend_preconfigured(tls_config()?);
        let client = builder
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Fetcher { client, max_bytes })
    }

    /// GETs `url`; a non-2xx status, a timeout or a body over the limit is an error.
    pub(crate) async fn get(&self, url: reqwest::Url) -> Result<(HeaderMap, Bytes), FetchError> {
        let mut response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError(format!("request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError(format!("status {status}")));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(FetchError(format!(
                "response is larger than {} bytes",
                self.max_bytes
            )));
        }
        let headers = response.headers().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError(format!("reading the body failed: {e}")))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError(format!(
                    "response is larger than {} bytes",
                    self.max_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((headers, body.freeze()))
    }
}

/// Checks that the URL is http, or https with the `rustls` feature.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, BuildError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| BuildError::InvalidUrl(format!("{url}: {e}")))?;
    match parsed.scheme() {
        "http" => Ok(parsed),
        "https" if cfg!(feature = "rustls") => Ok(parsed),
        "https" => Err(BuildError::TlsUnavailable(url.to_owned())),
        other => Err(BuildError::InvalidUrl(format!(
            "{url}: scheme {other:?} is not http or https"
        ))),
    }
}

/// A rustls client configuration with the ring provider, made for this client
/// only: no process-wide provider is installed.
#[cfg(feature = "rustls")]
fn tls_config() -> Result<rustls::ClientConfig, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_no_client_auth();
    Ok(config)
}
