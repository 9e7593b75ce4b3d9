//! The token source: fetch, cache, refresh before expiry, single flight.

use std::fmt;
use std::sync::{Arc, Mutex};
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

use crate::error::Error;

/// The largest token response read, in bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// An access token and when it expires. `Debug` does not print the token.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: Instant,
    scope: Option<Arc<str>>,
}

impl AccessToken {
    /// The token itself.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// When the token expires (by the issuer's `expires_in`).
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
    client_secret: Zeroizing<String>,
    scope: Option<String>,
    resources: Vec<String>,
    refresh_before: Duration,
    timeout: Duration,
    basic_auth: bool,
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSourceBuilder {
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

    /// Fetches a new token this long before the current one expires (default 60 s).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// Gives up on a token request after this long (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the credentials in the body (`client_secret_post`) instead of
    /// HTTP Basic (`client_secret_basic`, the default).
    pub fn client_secret_post(mut self) -> Self {
        self.basic_auth = false;
        self
    }

    /// Builds the source. Nothing is fetched until the first [`TokenSource::token`].
    pub fn build(self) -> Result<TokenSource, Error> {
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
                current: Mutex::new(None),
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

/// Client-credentials tokens, cached and refreshed. Cheap to clone; clones
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
    current: Mutex<Option<AccessToken>>,
    /// Held while a request is in flight, so concurrent callers share it.
    refresh: tokio::sync::Mutex<()>,
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
        TokenSourceBuilder {
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: Zeroizing::new(client_secret.into()),
            scope: None,
            resources: Vec::new(),
            refresh_before: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            basic_auth: true,
        }
    }

    /// A valid token: the cached one, or a new one if it is missing or
    /// within the refresh margin of its expiry.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _in_flight = self.inner.refresh.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let token = self.fetch().await?;
        if let Ok(mut current) = self.inner.current.lock() {
            *current = Some(token.clone());
        }
        Ok(token)
    }

    /// Drops the cached token, so the next call fetches (e.g. after a 401).
    pub fn invalidate(&self) {
        if let Ok(mut current) = self.inner.current.lock() {
            *current = None;
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let current = self.inner.current.lock().ok()?;
        let token = current.as_ref()?;
        let margin = self.inner.settings.refresh_before;
        (Instant::now() + margin < token.expires_at).then(|| token.clone())
    }

    /// Sends the request and reads at most [`MAX_RESPONSE`] bytes of the answer.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), Error> {
        let response = self
            .inner
            .http
            .request(request)
            .await
            .map_err(|e| Error::Transport(chain(&e)))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
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
        Ok((status, bytes))
    }

    async fn fetch(&self) -> Result<AccessToken, Error> {
        let settings = &self.inner.settings;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &settings.scope {
            form.push(("scope", scope));
        }
        for resource in &settings.resources {
            form.push(("resource", resource));
        }
        if !settings.basic_auth {
            form.push(("client_id", &settings.client_id));
            form.push(("client_secret", &settings.client_secret));
        }
        let body = Zeroizing::new(
            serde_urlencoded::to_string(&form).map_err(|e| Error::Config(e.to_string()))?,
        );
        let mut request = Request::post(self.inner.endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if settings.basic_auth {
            request = request.header(
                "authorization",
                basic(&settings.client_id, &settings.client_secret),
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| Error::Config(e.to_string()))?;
        let started = Instant::now();
        // The deadline covers the whole exchange, the body included.
        let (status, bytes) = tokio::time::timeout(settings.timeout, self.send(request))
            .await
            .map_err(|_| Error::Transport(format!("no answer within {:?}", settings.timeout)))??;
        if !(200..300).contains(&status) {
            return Err(match serde_json::from_slice::<ErrorResponse>(&bytes) {
                Ok(e) => Error::Refused {
                    status,
                    error: e.error,
                    description: e.error_description,
                },
                Err(_) => Error::InvalidResponse(format!("status {status} without an OAuth error")),
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        if !parsed.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::InvalidResponse(format!(
                "token_type {:?} is not Bearer",
                parsed.token_type
            )));
        }
        // Without expires_in, assume a short life rather than forever.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300));
        Ok(AccessToken {
            value: parsed.access_token.into(),
            expires_at: started + lifetime,
            scope: parsed.scope.map(Into::into),
        })
    }
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
