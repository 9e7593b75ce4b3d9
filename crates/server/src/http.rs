//! The HTTP side of the admin commands: get an admin token with the admin
//! client's credentials, then call the admin API with it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use serde_json::Value;

/// The admin file: `{"client_id","client_secret"}`.
#[derive(Deserialize)]
pub(crate) struct AdminCredentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How long one CLI request may take, the answer's body included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer the CLI reads, in bytes.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// The CLI's HTTP client: hyper-util with rustls on ring, set for this
/// client only; it does not follow redirects.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A status and the whole body of an answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Response {
    /// The body as JSON; an empty body is `null`.
    pub(crate) fn json(&self) -> Result<Value> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&self.body)?)
    }
}

impl Http {
    /// A client trusting the platform's root certificates.
    pub(crate) fn new() -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A certificate the store cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS setup")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(TIMEOUT));
        http.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Http { client })
    }

    /// Sends one request and reads the whole answer, within [`TIMEOUT`].
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Option<String>,
    ) -> Result<Response> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request
            .body(Full::new(body.map(Bytes::from).unwrap_or_default()))
            .with_context(|| format!("invalid request to {url}"))?;
        tokio::time::timeout(TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| anyhow!("no answer within {} s", TIMEOUT.as_secs()))?
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Response> {
        let response = self.client.request(request).await?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| anyhow!(e))
            .context("reading the answer")?
            .to_bytes();
        Ok(Response { status, body })
    }
}

/// Joins the endpoint and a path.
pub(crate) fn url(endpoint: &str, path: &str) -> String {
    format!("{}{}", endpoint.trim_end_matches('/'), path)
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic.
pub(crate) fn basic_auth(client_id: &str, client_secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| {
        serde_urlencoded::to_string([("", s)])
            .map(|pair| pair.trim_start_matches('=').to_owned())
            .unwrap_or_default()
    };
    let pair = format!("{}:{}", enc(client_id), enc(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Trades client credentials for a token at `/oauth/token`; returns the
/// issuer's JSON response as it is (`m2m token --json` prints it).
pub(crate) async fn fetch_token(
    http: &Http,
    endpoint: &str,
    client_id: &str,
    client_secret: &str,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Value> {
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let body = serde_urlencoded::to_string(&form)?;
    let authorization = basic_auth(client_id, client_secret);
    let response = http
        .send(
            Method::POST,
            &url(endpoint, "/oauth/token"),
            &[
                (AUTHORIZATION, &authorization),
                (CONTENT_TYPE, "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status;
    let json: Value = response
        .json()
        .with_context(|| format!("{endpoint}/oauth/token answered {status} without JSON"))?;
    if !status.is_success() {
        bail!(
            "token request refused ({status}): {}",
            describe_error(&json)
        );
    }
    Ok(json)
}

/// `error: error_description` of an OAuth or admin error body.
pub(crate) fn describe_error(json: &Value) -> String {
    match (json["error"].as_str(), json["error_description"].as_str()) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(error), None) => error.to_owned(),
        _ => json.to_string(),
    }
}

/// A logged-in admin session.
#[derive(Debug)]
pub(crate) struct Admin {
    http: Http,
    endpoint: String,
    /// `Bearer <admin token>`.
    token: String,
}

impl Admin {
    /// Reads the admin file and gets an `m2m:admin` token.
    pub(crate) async fn login(endpoint: &str, admin_file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(admin_file).with_context(|| {
            format!(
                "cannot read the admin file {} (set --admin-file or M2M_ADMIN_FILE)",
                admin_file.display()
            )
        })?;
        let credentials: AdminCredentials = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not {{\"client_id\",\"client_secret\"}} JSON",
                admin_file.display()
            )
        })?;
        // One token for this command: m2m-client does the request
        // (client_secret_basic) and checks the answer.
        let tokens = m2m_client::TokenSource::builder(
            url(endpoint, "/oauth/token"),
            credentials.client_id,
            credentials.client_secret,
        )
        .scope("m2m:admin")
        .timeout(TIMEOUT)
        .build()?;
        let token = tokens.token().await.map_err(|e| match e {
            m2m_client::Error::Transport(_) => {
                anyhow!(e).context(format!("cannot reach {endpoint}"))
            }
            e => anyhow!(e),
        })?;
        Ok(Admin {
            http: Http::new()?,
            endpoint: endpoint.to_owned(),
            token: token.authorization(),
        })
    }

    /// Calls the admin API; a non-2xx answer is an error naming its `error`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut headers = vec![(AUTHORIZATION, self.token.as_str())];
        if body.is_some() {
            headers.push((CONTENT_TYPE, "application/json"));
        }
        let response = self
            .http
            .send(
                method.clone(),
                &url(&self.endpoint, path),
                &headers,
                body.map(Value::to_string),
            )
            .await
            .with_context(|| format!("cannot reach {}", self.endpoint))?;
        let status = response.status;
        let json = response.json().unwrap_or(Value::Null);
        if status == StatusCode::NOT_FOUND && json.is_null() {
            bail!("{method} {path}: not found");
        }
        if !status.is_success() {
            bail!(
                "{method} {path} failed ({status}): {}",
                describe_error(&json)
            );
        }
        Ok(json)
    }
}
