//! A tiny issuer on 127.0.0.1 (JWKS and revocation feed, with counters and
//! switches), token helpers, and a guarded axum app.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, RevocationFeed, RevokedToken, SigningKey,
    now_unix, sign,
};
use m2m_guard::{Auth, Guard};
use tower::ServiceExt;

pub(crate) const ISS: &str = "https://auth.test";
pub(crate) const AUD: &str = "https://api.test";

#[derive(Default)]
struct IssuerState {
    jwks: Mutex<JwkSet>,
    fetches: AtomicUsize,
    down: AtomicBool,
    max_age: Mutex<Option<u64>>,
    delay_ms: AtomicUsize,
    revoked: Mutex<Vec<RevokedToken>>,
    polls: AtomicUsize,
}

/// A JWKS and revocation-feed server on 127.0.0.1.
pub(crate) struct Issuer {
    addr: SocketAddr,
    state: Arc<IssuerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> axum::response::Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let set = state.jwks.lock().unwrap().clone();
    let max_age = *state.max_age.lock().unwrap();
    let mut response = Json(set).into_response();
    if let Some(max_age) = max_age {
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            format!("public, max-age={max_age}").parse().unwrap(),
        );
    }
    response
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<usize>,
}

async fn feed(
    State(state): State<Arc<IssuerState>>,
    Query(since): Query<Since>,
) -> axum::response::Response {
    state.polls.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let revoked = state.revoked.lock().unwrap().clone();
    let from = since.since.unwrap_or(0).min(revoked.len());
    Json(RevocationFeed {
        revoked_jtis: revoked[from..].to_vec(),
        revoked_clients: Vec::new(),
        revoked_keys: Vec::new(),
        cursor: revoked.len().to_string(),
    })
    .into_response()
}

impl Issuer {
    pub(crate) async fn start(keys: &[&SigningKey]) -> Issuer {
        let state = Arc::new(IssuerState::default());
        let issuer_router = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/oauth/revocations", get(feed))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, issuer_router).await;
        });
        let issuer = Issuer { addr, state, task };
        issuer.set_keys(keys);
        issuer
    }

    pub(crate) fn jwks_url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub(crate) fn feed_url(&self) -> String {
        format!("http://{}/oauth/revocations", self.addr)
    }

    pub(crate) fn set_keys(&self, keys: &[&SigningKey]) {
        *self.state.jwks.lock().unwrap() = jwk_set(keys);
    }

    pub(crate) fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn set_max_age(&self, seconds: Option<u64>) {
        *self.state.max_age.lock().unwrap() = seconds;
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    pub(crate) fn revoke(&self, jti: &str, exp: u64) {
        self.state.revoked.lock().unwrap().push(RevokedToken {
            jti: jti.into(),
            exp,
        });
    }

    /// Waits (bounded) until `cond` holds.
    pub(crate) async fn wait_for(&self, what: &str, cond: impl Fn(&Issuer) -> bool) {
        for _ in 0..200 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

pub(crate) fn jwk_set(keys: &[&SigningKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    }
}

pub(crate) fn key() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap()
}

pub(crate) fn claims(scope: &str) -> AccessTokenClaims {
    let now = now_unix();
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "m2m_client1".into(),
        client_id: "m2m_client1".into(),
        aud: Audience::from(AUD),
        exp: now + 600,
        nbf: Some(now),
        iat: now,
        jti: m2m_core::random_id("").unwrap(),
        scope: scope.parse().unwrap(),
        oid: Some("org_1".into()),
        uid: None,
    }
}

pub(crate) fn token(key: &SigningKey, scope: &str) -> String {
    sign(key, &claims(scope)).unwrap()
}

pub(crate) fn token_with(key: &SigningKey, edit: impl FnOnce(&mut AccessTokenClaims)) -> String {
    let mut c = claims("invoices:read");
    edit(&mut c);
    sign(key, &c).unwrap()
}

/// A guard on the issuer's JWKS with short timings for tests.
pub(crate) fn builder(issuer: &Issuer) -> m2m_guard::GuardBuilder {
    Guard::builder(ISS, AUD)
        .jwks_url(issuer.jwks_url())
        .unknown_kid_cooldown(Duration::from_secs(60))
        .fetch_timeout(Duration::from_secs(2))
}

async fn whoami(auth: Auth) -> String {
    auth.client_id().to_string()
}

async fn maybe(auth: Option<Auth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |a| a.client_id().to_string())
}

/// An API with one route per kind of layer.
pub(crate) fn app(guard: &Guard) -> Router {
    Router::new()
        .route("/invoices", get(whoami))
        .route_layer(guard.require(["invoices:read"]))
        .merge(
            Router::new()
                .route("/invoices/export", get(whoami))
                .route_layer(guard.require(["invoices:read", "invoices:export"])),
        )
        .merge(
            Router::new()
                .route("/reports", get(whoami))
                .route_layer(guard.require_any(["reports:read", "admin"])),
        )
        .merge(
            Router::new()
                .route("/me", get(whoami))
                .route_layer(guard.authenticate()),
        )
        .merge(
            Router::new()
                .route("/hello", get(maybe))
                .route_layer(guard.optional()),
        )
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn challenge(&self) -> &str {
        self.headers
            .get(http::header::WWW_AUTHENTICATE)
            .map_or("", |v| v.to_str().unwrap())
    }
}

pub(crate) async fn call_raw(app: &Router, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub(crate) async fn call(app: &Router, path: &str, token: &str) -> Answer {
    call_raw(app, path, Some(&format!("Bearer {token}"))).await
}

/// Signs `claims` with a header that names no `kid`.
pub(crate) fn sign_without_kid(key: &SigningKey, claims: &AccessTokenClaims) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"alg": key.algorithm().as_str(), "typ": "at+jwt"});
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()));
    let signature = key.sign(token.as_bytes()).unwrap();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}
