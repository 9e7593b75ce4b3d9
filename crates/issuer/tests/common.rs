//! A test server: the issuer mounted under /auth of a host router, served on
//! 127.0.0.1:0 with connect info, and a fake clock the tests move.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use base64::Engine;
use m2m_core::{AccessTokenClaims, JwkSet, KeySet, Validation};
use m2m_issuer::store::{MemoryStore, Store};
use m2m_issuer::{Issuer, IssuerBuilder};
use serde_json::{Value, json};

pub(crate) const T0: u64 = 1_750_000_000;

/// How long [`TestServer::wait_last_used`] waits for an asynchronous write.
pub(crate) const LAST_USED_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) struct TestServer {
    pub(crate) issuer: Issuer,
    pub(crate) store: Arc<dyn Store>,
    /// The issuer URL: `http://127.0.0.1:PORT/auth`.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT`.
    pub(crate) root: String,
    pub(crate) http: reqwest::Client,
    clock: Arc<AtomicU64>,
    admin: Option<(String, String)>,
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        Self::start_with(|b| b).await
    }

    pub(crate) async fn start_with(
        configure: impl FnOnce(IssuerBuilder) -> IssuerBuilder,
    ) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Self::start_on(store, configure)
            .await
            .expect("issuer builds")
    }

    pub(crate) async fn start_on(
        store: Arc<dyn Store>,
        configure: impl FnOnce(IssuerBuilder) -> IssuerBuilder,
    ) -> Result<TestServer, m2m_issuer::IssuerError> {
        Self::start_shared(store, Arc::new(AtomicU64::new(T0)), None, configure).await
    }

    /// Another replica of `self`: the same store, clock, master key and
    /// issuer URL, served on its own port with its own caches and in-process
    /// guards (a restarted process, or a second one behind a load balancer).
    pub(crate) async fn replica(
        &self,
        configure: impl FnOnce(IssuerBuilder) -> IssuerBuilder,
    ) -> TestServer {
        let mut replica = Self::start_shared(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            Some(self.issuer.issuer_url().to_owned()),
            configure,
        )
        .await
        .expect("replica builds");
        replica.admin = self.admin.clone();
        replica
    }

    async fn start_shared(
        store: Arc<dyn Store>,
        clock: Arc<AtomicU64>,
        issuer_url: Option<String>,
        configure: impl FnOnce(IssuerBuilder) -> IssuerBuilder,
    ) -> Result<TestServer, m2m_issuer::IssuerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let root = format!("http://{addr}");
        let base = format!("{root}/auth");
        let time = Arc::clone(&clock);
        let issuer_url = issuer_url.unwrap_or_else(|| base.clone());
        let builder = Issuer::builder_with_shared_store(issuer_url, Arc::clone(&store))
            .master_key([9; 32])
            .clock(move || time.load(Ordering::SeqCst));
        let issuer = configure(builder).build().await?;
        let app = Router::new()
            .nest("/auth", issuer.router())
            .merge(issuer.well_known_router());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        Ok(TestServer {
            issuer,
            store,
            base,
            root,
            http: reqwest::Client::new(),
            clock,
            admin: None,
        })
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub(crate) fn advance(&self, seconds: u64) {
        self.clock.fetch_add(seconds, Ordering::SeqCst);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The bootstrap admin's credentials (created on first use).
    pub(crate) async fn admin_credentials(&mut self) -> (String, String) {
        if self.admin.is_none() {
            let (id, secret) = self
                .issuer
                .bootstrap_admin()
                .await
                .expect("bootstrap")
                .expect("store was empty");
            self.admin = Some((id.to_string(), secret.expose().to_owned()));
        }
        self.admin.clone().expect("set above")
    }

    /// An admin access token, fetched through /oauth/token.
    pub(crate) async fn admin_token(&mut self) -> String {
        let (id, secret) = self.admin_credentials().await;
        let response = self.token_basic(&id, &secret, &[]).await;
        assert_eq!(response.status(), 200, "admin token");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    pub(crate) async fn token_basic(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![("grant_type", "client_credentials")];
        params.extend_from_slice(form);
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&params)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn token_post(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        params.extend_from_slice(form);
        self.http
            .post(self.url("/oauth/token"))
            .form(&params)
            .send()
            .await
            .expect("request")
    }

    /// A token for `id`, asserting success.
    pub(crate) async fn token(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> String {
        let response = self.token_basic(id, secret, form).await;
        assert_eq!(response.status(), 200, "token for {id}");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// An admin API call with the bootstrap admin's token.
    pub(crate) async fn admin(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let token = self.admin_token().await;
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, json)
    }

    /// Creates a client through the admin API; returns (id, secret, body).
    pub(crate) async fn create_client(&mut self, body: Value) -> (String, String, Value) {
        let (status, created) = self
            .admin(reqwest::Method::POST, "/admin/clients", Some(body))
            .await;
        assert_eq!(status, 201, "create client: {created}");
        let id = created["client_id"].as_str().expect("client_id").to_owned();
        let secret = created["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned();
        (id, secret, created)
    }

    pub(crate) async fn org_client(&mut self, scopes: &[&str]) -> (String, String) {
        let (id, secret, _) = self
            .create_client(
                json!({"name": "org client", "kind": "org", "org_id": "org_1", "scopes": scopes}),
            )
            .await;
        (id, secret)
    }

    /// RFC 7662 introspection of `token` by the client `id`, asserting a 200.
    pub(crate) async fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let response = self
            .http
            .post(self.url("/oauth/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(response.status(), 200, "introspection");
        response.json().await.expect("introspection JSON")
    }

    /// The `last_used_at` that `GET /admin/clients/{id}` shows for the secret `secret_id`.
    pub(crate) async fn last_used_at(&mut self, id: &str, secret_id: &str) -> Option<String> {
        let (status, shown) = self
            .admin(reqwest::Method::GET, &format!("/admin/clients/{id}"), None)
            .await;
        assert_eq!(status, 200, "show client: {shown}");
        let secret = shown["secrets"]
            .as_array()
            .and_then(|secrets| secrets.iter().find(|s| s["secret_id"] == secret_id))
            .unwrap_or_else(|| panic!("no secret {secret_id} in {shown}"));
        secret["last_used_at"].as_str().map(str::to_owned)
    }

    /// Waits until the admin API shows `at` as the secret's `last_used_at`.
    /// The issuer writes it off the request path, so it lands a moment
    /// after the response; [`LAST_USED_DEADLINE`] is far more than that
    /// takes, and the failure names what was seen instead.
    pub(crate) async fn wait_last_used(&mut self, id: &str, secret_id: &str, at: u64) {
        let expected = rfc3339(at);
        let deadline = tokio::time::Instant::now() + LAST_USED_DEADLINE;
        loop {
            let seen = self.last_used_at(id, secret_id).await;
            if seen.as_deref() == Some(expected.as_str()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "last_used_at of secret {secret_id} is {seen:?}, not {expected:?}, \
                 {LAST_USED_DEADLINE:?} after it authenticated"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn jwks(&self) -> JwkSet {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json")
    }

    /// Verifies a token as a guard would: against the published JWKS.
    pub(crate) async fn verify(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<AccessTokenClaims, m2m_core::VerifyError> {
        let keys = KeySet::from_jwk_set(&self.jwks().await).expect("valid jwks");
        Validation::new(self.issuer.issuer_url(), audience)
            .verify(token, &keys, self.now())
            .map(|v| v.claims)
    }
}

/// How this issuer's in-process guards judge `token` right now (a guard
/// made with `Issuer::guard`, expecting `audience`).
pub(crate) async fn in_process_verdict(
    issuer: &Issuer,
    audience: &str,
    token: &str,
) -> Result<(), m2m_guard::Rejection> {
    let clock = issuer.clone();
    let builder = m2m_guard::Guard::builder(issuer.issuer_url(), audience)
        .clock(Arc::new(move || clock.now()));
    let guard = issuer.guard(builder).await.expect("in-process guard");
    guard.check_token(token).map(|_| ())
}

/// Seconds since the epoch as the admin API writes them (RFC 3339, UTC).
pub(crate) fn rfc3339(seconds: u64) -> String {
    let seconds = i64::try_from(seconds).expect("a test time fits");
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .expect("a test time is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// A token's claims, read without verifying (tests only).
pub(crate) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

/// The `kid` in a token's header.
pub(crate) fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let header: Value = serde_json::from_slice(&bytes).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

/// Asserts an OAuth error response and returns its headers.
pub(crate) async fn expect_oauth_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let got = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(got, status, "status for {body}");
    assert_eq!(body["error"], error, "error code in {body}");
    assert!(
        body["error_description"].is_string(),
        "error_description in {body}"
    );
    (headers, body)
}
