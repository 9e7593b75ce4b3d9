//! The HTTP side of the admin commands: get an admin token with the admin
//! client's credentials, then call the admin API with it.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, StatusCode};
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

/// An HTTP client for the CLI. TLS uses rustls with ring, set per client.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
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
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("HTTP client setup")
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

/// Trades client credentials for a token at `/oauth/token`; returns the JSON response.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
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
    let response = http
        .post(url(endpoint, "/oauth/token"))
        .header("authorization", basic_auth(client_id, client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let json: Value = response
        .json_value()
        .await
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

/// Reads a JSON body; reqwest's `json` feature is not needed for this alone.
trait JsonValue {
    async fn json_value(self) -> Result<Value>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value> {
        let bytes = self.bytes().await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A logged-in admin session.
#[derive(Debug)]
pub(crate) struct Admin {
    http: reqwest::Client,
    endpoint: String,
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
        let http = http_client()?;
        let response = fetch_token(
            &http,
            endpoint,
            &credentials.client_id,
            &credentials.client_secret,
            Some("m2m:admin"),
            None,
        )
        .await?;
        let token = response["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("the token response has no access_token"))?
            .to_owned();
        Ok(Admin {
            http,
            endpoint: endpoint.to_owned(),
            token,
        })
    }

    /// Calls the admin API; a non-2xx answer is an error naming its `error`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), url(&self.endpoint, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.endpoint))?;
        let status = response.status();
        let json = response.json_value().await.unwrap_or(Value::Null);
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
