//! End to end with the real parts: m2m-client with a DPoP key, the real
//! m2m-issuer router on 127.0.0.1 over a SQLite file, and the real m2m-guard
//! fetching the issuer's JWKS over HTTP. The client authenticates with
//! `private_key_jwt`: no secret and no bearer token anywhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use m2m_client::{DpopKey, Error, TokenSource};
use m2m_core::{Algorithm, SigningKey};
use m2m_guard::{Auth, DpopConfig, Guard};
use m2m_issuer::Issuer;
use m2m_store_sql::SqliteStore;
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The issuer, served on 127.0.0.1 under `/auth`, over a fresh SQLite file.
struct Served {
    issuer: Issuer,
    /// Requests to the token endpoint so far.
    token_requests: Arc<AtomicUsize>,
    /// `http://127.0.0.1:PORT/auth`.
    base: String,
    /// `private_key_jwt` clients are registered through the admin API with this token.
    admin_token: String,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    async fn start(nonces: bool) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("m2m.db")).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/auth", listener.local_addr().unwrap());
        let mut builder = Issuer::builder_with_shared_store(&base, store).master_key([9; 32]);
        if nonces {
            builder = builder.dpop_nonce([5u8; 32], 300);
        }
        let issuer = builder.build().await.unwrap();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let counter = token_requests.clone();
        let app = Router::new()
            .nest("/auth", issuer.router())
            .merge(issuer.well_known_router())
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    if request.uri().path() == "/auth/oauth/token" {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request)
                },
            ));
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let (id, secret) = issuer.bootstrap_admin().await.unwrap().unwrap();
        let admin = TokenSource::builder(
            format!("{base}/oauth/token"),
            id.to_string(),
            secret.expose(),
        )
        .build()
        .unwrap();
        let admin_token = admin.token().await.unwrap().secret().to_owned();
        Served {
            issuer,
            token_requests,
            base,
            admin_token,
            _dir: dir,
            task,
        }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// A `private_key_jwt` client with `key`'s public JWK and these extra fields.
    async fn key_client(&self, key: &SigningKey, extra: Value) -> String {
        let mut body = json!({
            "name": "dpop agent",
            "kind": "org",
            "org_id": "org_1",
            "scopes": ["invoices:read"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.public_jwk()]},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = http::Request::post(format!("{}/admin/clients", self.base))
            .header("authorization", format!("Bearer {}", self.admin_token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = http.request(request).await.unwrap();
        let status = response.status();
        let created: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        assert_eq!(status, 201, "{created}");
        created["client_id"].as_str().unwrap().to_owned()
    }

    /// A source for a new `private_key_jwt` client, its tokens bound to `dpop`.
    async fn source(&self, dpop: &DpopKey) -> TokenSource {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let id = self.key_client(&key, json!({})).await;
        TokenSource::private_key_jwt(self.token_endpoint(), id, key)
            .dpop(dpop.clone())
            .build()
            .unwrap()
    }
}

/// A route behind the real guard, which fetches the issuer's JWKS over HTTP.
struct Resource {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Resource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Resource {
    async fn start(served: &Served, nonces: bool) -> Resource {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = DpopConfig::new(&base);
        if nonces {
            config = config.nonces(&[7u8; 32], 300);
        }
        let guard = Guard::builder(served.issuer.issuer_url(), served.issuer.issuer_url())
            .jwks_url(format!("{}/.well-known/jwks.json", served.base))
            .dpop(config)
            .build()
            .await
            .unwrap();
        let app = Router::new()
            .route(
                "/invoices",
                get(|auth: Auth| async move { auth.dpop_jkt().unwrap_or("unbound").to_owned() }),
            )
            .route_layer(guard.require(["invoices:read"]));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Resource {
            url: format!("{base}/invoices"),
            task,
        }
    }
}

/// `send_dpop` through hyper, counting the sends.
async fn call(
    tokens: &TokenSource,
    url: &str,
    sends: &AtomicUsize,
) -> Result<(StatusCode, String), BoxError> {
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = tokens
        .send_dpop("GET", url, |headers| {
            sends.fetch_add(1, Ordering::SeqCst);
            let http = http.clone();
            async move {
                let mut request = http::Request::get(url).body(Empty::<Bytes>::new())?;
                headers.apply(request.headers_mut());
                Ok::<_, BoxError>(http.request(request).await?)
            }
        })
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The claims of a token, unverified (the guard verifies; this reads `cnf`).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_secretless_client_gets_a_bound_token_the_guard_accepts() {
    let served = Served::start(false).await;
    let resource = Resource::start(&served, false).await;
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let dpop = DpopKey::generate(alg).unwrap();
        let tokens = served.source(&dpop).await;
        let token = tokens.token().await.unwrap();
        assert!(token.is_dpop(), "token_type DPoP");
        assert_eq!(claims(token.secret())["cnf"]["jkt"], dpop.thumbprint());

        let sends = AtomicUsize::new(0);
        let (status, body) = call(&tokens, &resource.url, &sends).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, dpop.thumbprint());
        assert_eq!(sends.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_bound_token_with_another_keys_proof_is_refused_by_the_guard() {
    let served = Served::start(false).await;
    let resource = Resource::start(&served, false).await;
    let dpop = DpopKey::generate(Algorithm::ES256).unwrap();
    let tokens = served.source(&dpop).await;
    let token = tokens.token().await.unwrap();

    // At the guard: the token is bound to `dpop`, the proof is the thief's.
    let thief = DpopKey::generate(Algorithm::ES256).unwrap();
    let headers = thief.headers("GET", &resource.url, &token).unwrap();
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = http::Request::get(&resource.url)
        .body(Empty::<Bytes>::new())
        .unwrap();
    headers.apply(request.headers_mut());
    let response = http.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = format!("{:?}", response.headers().get_all("www-authenticate"));
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");

    // As Bearer, or replayed: refused too.
    let mut request = http::Request::get(&resource.url)
        .body(Empty::<Bytes>::new())
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token.secret()).parse().unwrap(),
    );
    assert_eq!(
        http.request(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let headers = dpop.headers("GET", &resource.url, &token).unwrap();
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let mut request = http::Request::get(&resource.url)
            .body(Empty::<Bytes>::new())
            .unwrap();
        headers.apply(request.headers_mut());
        assert_eq!(http.request(request).await.unwrap().status(), expected);
    }
}

#[tokio::test]
async fn nonces_at_the_issuer_and_at_the_guard_are_each_retried_once() {
    let served = Served::start(true).await;
    let resource = Resource::start(&served, true).await;
    let dpop = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let tokens = served.source(&dpop).await;
    let before = served.token_requests.load(Ordering::SeqCst);
    let token = tokens.token().await.unwrap();
    assert!(token.is_dpop());
    assert_eq!(claims(token.secret())["cnf"]["jkt"], dpop.thumbprint());
    assert_eq!(
        served.token_requests.load(Ordering::SeqCst) - before,
        2,
        "one use_dpop_nonce, one retry with a new proof and a new assertion"
    );

    let sends = AtomicUsize::new(0);
    let (status, body) = call(&tokens, &resource.url, &sends).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        sends.load(Ordering::SeqCst),
        2,
        "one use_dpop_nonce, one retry"
    );
    let (status, _) = call(&tokens, &resource.url, &sends).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sends.load(Ordering::SeqCst),
        3,
        "the guard's nonce is remembered"
    );
    // The issuer's nonce too: a new token in one request.
    tokens.invalidate();
    assert!(tokens.token().await.unwrap().is_dpop());
    assert_eq!(served.token_requests.load(Ordering::SeqCst) - before, 3);
}

#[tokio::test]
async fn a_client_that_requires_dpop_gets_no_bearer_token() {
    let served = Served::start(false).await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let id = served
        .key_client(&key, json!({"dpop_bound_access_tokens": true}))
        .await;
    let refused = TokenSource::private_key_jwt(served.token_endpoint(), id, key)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Refused { status: 400, error, .. } if error == "invalid_dpop_proof"),
        "{refused:?}"
    );
}
