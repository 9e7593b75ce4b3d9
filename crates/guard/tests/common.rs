//! A tiny issuer on 127.0.0.1 (JWKS and revocation feed, with counters and
//! switches), token helpers, and a guarded axum app.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, JwkSet, Revocation, RevocationFeed, RevokedToken,
    SigningKey, now_unix, sign,
};
use m2m_guard::{Auth, Guard};
use tower::ServiceExt;

pub(crate) const ISS: &str = "https://auth.test";
pub(crate) const AUD: &str = "https://api.test";

/// The longest any test waits for something that should happen at once.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// One request to the fake feed, as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct FeedRequest {
    /// The `since` it carried.
    pub(crate) since: Option<String>,
    /// The status answered.
    pub(crate) status: StatusCode,
    /// How many entries the page held.
    pub(crate) entries: usize,
    /// When it arrived.
    pub(crate) at: Instant,
}

struct IssuerState {
    jwks: Mutex<serde_json::Value>,
    fetches: AtomicUsize,
    jwks_served: AtomicUsize,
    down: AtomicBool,
    feed_down: AtomicBool,
    max_age: Mutex<Option<u64>>,
    delay_ms: AtomicUsize,
    revoked: Mutex<Vec<Revocation>>,
    page_size: AtomicUsize,
    feed_log: Mutex<Vec<FeedRequest>>,
}

impl Default for IssuerState {
    fn default() -> Self {
        IssuerState {
            jwks: Mutex::new(serde_json::json!({"keys": []})),
            fetches: AtomicUsize::new(0),
            jwks_served: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            feed_down: AtomicBool::new(false),
            max_age: Mutex::new(None),
            delay_ms: AtomicUsize::new(0),
            revoked: Mutex::new(Vec::new()),
            // The issuer's own page size.
            page_size: AtomicUsize::new(1000),
            feed_log: Mutex::new(Vec::new()),
        }
    }
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
    state.jwks_served.fetch_add(1, Ordering::SeqCst);
    response
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<String>,
}

/// The feed as the issuer serves it: the cursor is the number of entries
/// read; a cursor that is not a number, or beyond the head, is 400.
async fn feed(
    State(state): State<Arc<IssuerState>>,
    Query(since): Query<Since>,
) -> axum::response::Response {
    let (status, page) = feed_page(&state, since.since.as_deref());
    state.feed_log.lock().unwrap().push(FeedRequest {
        since: since.since,
        status,
        entries: page.as_ref().map_or(0, RevocationFeed::len),
        at: Instant::now(),
    });
    match page {
        Some(page) => Json(page).into_response(),
        None => status.into_response(),
    }
}

fn feed_page(state: &IssuerState, since: Option<&str>) -> (StatusCode, Option<RevocationFeed>) {
    if state.down.load(Ordering::SeqCst) || state.feed_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, None);
    }
    let revoked = state.revoked.lock().unwrap();
    let from = match since.map(str::parse::<usize>) {
        None => 0,
        Some(Ok(from)) if from <= revoked.len() => from,
        Some(_) => return (StatusCode::BAD_REQUEST, None),
    };
    let to = revoked
        .len()
        .min(from + state.page_size.load(Ordering::SeqCst));
    let mut page = RevocationFeed {
        cursor: to.to_string(),
        ..RevocationFeed::default()
    };
    for revocation in &revoked[from..to] {
        page.push(revocation.clone());
    }
    (StatusCode::OK, Some(page))
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
        self.set_jwks_json(serde_json::to_value(jwk_set(keys)).unwrap());
    }

    /// Serves this JSON as the JWKS, whatever it holds.
    pub(crate) fn set_jwks_json(&self, jwks: serde_json::Value) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    /// JWKS requests, answered or not.
    pub(crate) fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// JWKS requests answered 200 with the key set.
    pub(crate) fn jwks_served(&self) -> usize {
        self.state.jwks_served.load(Ordering::SeqCst)
    }

    /// Feed requests, answered or not.
    pub(crate) fn polls(&self) -> usize {
        self.state.feed_log.lock().unwrap().len()
    }

    /// Every feed request so far.
    pub(crate) fn feed_log(&self) -> Vec<FeedRequest> {
        self.state.feed_log.lock().unwrap().clone()
    }

    /// How many feed entries were served in all.
    pub(crate) fn served(&self) -> usize {
        self.feed_log().iter().map(|r| r.entries).sum()
    }

    /// Both the JWKS and the feed answer 503.
    pub(crate) fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// The feed alone answers 503.
    pub(crate) fn set_feed_down(&self, down: bool) {
        self.state.feed_down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn set_max_age(&self, seconds: Option<u64>) {
        *self.state.max_age.lock().unwrap() = seconds;
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    pub(crate) fn set_page_size(&self, entries: usize) {
        self.state.page_size.store(entries, Ordering::SeqCst);
    }

    pub(crate) fn revoke(&self, jti: &str, exp: u64) {
        self.revoke_all([RevokedToken {
            jti: jti.into(),
            exp,
        }]);
    }

    /// Appends revocations to the feed, at once.
    pub(crate) fn revoke_all<R: Into<Revocation>>(&self, revocations: impl IntoIterator<Item = R>) {
        self.state
            .revoked
            .lock()
            .unwrap()
            .extend(revocations.into_iter().map(Into::into));
    }

    /// Replaces the feed's log, as a restore from an older backup would: a
    /// cursor beyond its new head is refused with 400.
    pub(crate) fn restore_feed<R: Into<Revocation>>(
        &self,
        revocations: impl IntoIterator<Item = R>,
    ) {
        *self.state.revoked.lock().unwrap() = revocations.into_iter().map(Into::into).collect();
    }

    /// Waits (at most [`PATIENCE`]) until `cond` holds.
    pub(crate) async fn wait_for(&self, what: &str, cond: impl Fn(&Issuer) -> bool) {
        wait_until(what, || cond(self)).await;
    }
}

/// Waits (at most [`PATIENCE`], looking every 10 ms) until `cond` holds.
pub(crate) async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
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
        cnf: None,
        act: None,
        may_act: None,
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

/// What tracing wrote on the calling thread since [`LogCapture::start`].
///
/// One global subscriber for the whole test binary, installed once, writes
/// every event with its thread id into one buffer; each capture keeps only
/// its own thread's lines. A per-test `set_default` subscriber is not
/// reliable when other tests log from other threads at the same time (the
/// callsites' cached interest can miss the scoped subscriber), which made a
/// test capture nothing one run in a few.
pub(crate) struct LogCapture {
    from: usize,
    thread: u64,
}

/// The number in the first `ThreadId(N)` of `text`. The subscriber pads it
/// (`ThreadId(02)`) where `Debug` does not (`ThreadId(2)`), so lines are
/// matched by number, not by text.
fn thread_number(text: &str) -> Option<u64> {
    let start = text.find("ThreadId(")? + "ThreadId(".len();
    let end = start + text[start..].find(')')?;
    text[start..end].parse().ok()
}

#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn shared_log() -> &'static SharedLog {
    static LOG: std::sync::OnceLock<SharedLog> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = SharedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .with_thread_ids(true)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the guard tests");
        log
    })
}

impl LogCapture {
    /// Starts capturing this thread's events (run the code under test on a
    /// current-thread runtime so its tasks log on this thread too).
    pub(crate) fn start() -> Self {
        let log = shared_log();
        LogCapture {
            from: log.0.lock().unwrap().len(),
            thread: thread_number(&format!("{:?}", std::thread::current().id()))
                .expect("a thread id"),
        }
    }

    /// This thread's lines since the capture started.
    pub(crate) fn text(&self) -> String {
        let bytes = shared_log().0.lock().unwrap()[self.from..].to_vec();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| thread_number(line) == Some(self.thread))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}
