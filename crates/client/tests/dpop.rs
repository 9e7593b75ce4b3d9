//! DPoP from the client's side, against real parts on 127.0.0.1: the real
//! m2m-guard with its DPoP config in front of an axum route, and a DPoP
//! token endpoint that checks each proof with m2m-core's `DpopValidation`
//! (and its stateless `DpopNonces`) and mints ES256 tokens bound by
//! `cnf.jkt` to the proof's key.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use m2m_client::{DpopHeaders, DpopKey, Error, TokenSource};
use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, Confirmation, DpopError, DpopNonces, DpopValidation,
    JwkSet, ProofRequest, SigningKey, now_unix, random_id, sign,
};
use m2m_guard::{Auth, DpopConfig, Guard};

const ISS: &str = "https://auth.test";
const AUD: &str = "https://api.test";

type Http = Client<HttpConnector, Empty<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// How the test token endpoint behaves.
#[derive(Clone, Copy, Default)]
struct IssuerMode {
    /// Require a current nonce in every proof.
    nonces: bool,
    /// Answer every request `use_dpop_nonce` with a new nonce.
    always_ask_nonce: bool,
    /// Ignore the proof and issue an unbound Bearer token.
    bearer: bool,
}

/// A DPoP token endpoint on 127.0.0.1. Dropping it stops the server.
struct Issuer {
    url: String,
    key: Arc<SigningKey>,
    requests: Arc<AtomicUsize>,
    /// The thumbprint of every proof accepted, in order.
    accepted: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn oauth_error(error: &str, nonce: Option<String>) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        format!(r#"{{"error":"{error}"}}"#),
    )
        .into_response();
    if let Some(nonce) = nonce {
        response
            .headers_mut()
            .insert("dpop-nonce", nonce.parse().unwrap());
    }
    response
}

impl Issuer {
    async fn start(mode: IssuerMode) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
        let key = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let seen_jti = Arc::new(Mutex::new(HashSet::new()));
        let nonces = DpopNonces::new(&[9u8; 32], 300);
        let mut validation = DpopValidation::new();
        if mode.nonces {
            validation = validation.require_nonce(nonces.clone());
        }
        let state = (
            url.clone(),
            key.clone(),
            requests.clone(),
            accepted.clone(),
            seen_jti,
        );
        let app = Router::new().route(
            "/oauth/token",
            post(move |headers: HeaderMap| {
                let (url, key, requests, accepted, seen_jti) = state.clone();
                let validation = validation.clone();
                let nonces = nonces.clone();
                async move {
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let now = now_unix();
                    let jkt = if mode.bearer {
                        None
                    } else {
                        let proofs: Vec<_> = headers.get_all("dpop").iter().collect();
                        let [proof] = proofs[..] else {
                            return oauth_error("invalid_dpop_proof", None);
                        };
                        if mode.always_ask_nonce {
                            return oauth_error("use_dpop_nonce", Some(format!("again-{n}")));
                        }
                        let request = ProofRequest::new("POST", &url);
                        let verified =
                            match validation.verify(proof.to_str().unwrap(), &request, now) {
                                Ok(v) => v,
                                Err(DpopError::UseNonce) => {
                                    return oauth_error("use_dpop_nonce", Some(nonces.issue(now)));
                                }
                                Err(_) => return oauth_error("invalid_dpop_proof", None),
                            };
                        if !seen_jti.lock().unwrap().insert(verified.jti.clone()) {
                            return oauth_error("invalid_dpop_proof", None);
                        }
                        accepted.lock().unwrap().push(verified.jkt.clone());
                        Some(verified.jkt)
                    };
                    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
                    let claims = AccessTokenClaims {
                        iss: ISS.into(),
                        sub: "m2m_client".into(),
                        client_id: "m2m_client".into(),
                        aud: Audience::from(AUD),
                        exp: now + 600,
                        nbf: None,
                        iat: now,
                        jti: random_id("").unwrap(),
                        scope: "invoices:read".parse().unwrap(),
                        oid: None,
                        uid: None,
                        cnf: jkt.map(Confirmation::jkt),
                        act: None,
                        may_act: None,
                    };
                    let token = sign(&key, &claims).unwrap();
                    (
                        [("content-type", "application/json")],
                        format!(
                            r#"{{"access_token":"{token}","token_type":"{token_type}","expires_in":600}}"#
                        ),
                    )
                        .into_response()
                }
            }),
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Issuer {
            url,
            key,
            requests,
            accepted,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn source(&self, key: &DpopKey) -> TokenSource {
        TokenSource::builder(&self.url, "m2m_client", "secret")
            .dpop(key.clone())
            .build()
            .unwrap()
    }
}

/// An axum route behind the real m2m-guard with DPoP on, on 127.0.0.1: it
/// answers the thumbprint the request was bound to.
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
    async fn start(issuer: &Issuer, nonces: bool) -> Resource {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = DpopConfig::new(&base);
        if nonces {
            config = config.nonces(&[7u8; 32], 300);
        }
        let guard = Guard::builder(ISS, AUD)
            .jwk_set(JwkSet {
                keys: vec![issuer.key.public_jwk().clone()],
            })
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

/// Status, headers and body of a GET to `url` with these headers.
async fn get_with(
    http: &Http,
    url: &str,
    headers: impl FnOnce(&mut HeaderMap),
) -> (StatusCode, HeaderMap, String) {
    let mut request = http::Request::get(url).body(Empty::new()).unwrap();
    headers(request.headers_mut());
    let response = http.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// `send_dpop` through hyper, counting the sends.
async fn send_counted(
    tokens: &TokenSource,
    url: &str,
    sends: &AtomicUsize,
) -> Result<(StatusCode, String), BoxError> {
    let http = http();
    let response = tokens
        .send_dpop("GET", url, |headers: DpopHeaders| {
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

fn error_of(headers: &HeaderMap) -> String {
    headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn a_bound_token_from_a_dpop_issuer_passes_the_guard() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let issuer = Issuer::start(IssuerMode::default()).await;
        let resource = Resource::start(&issuer, false).await;
        let key = DpopKey::generate(alg).unwrap();
        let tokens = issuer.source(&key);

        let token = tokens.token().await.unwrap();
        assert!(token.is_dpop());
        assert!(token.authorization().starts_with("DPoP "));
        assert!(!format!("{token:?}").contains(token.secret()));
        assert_eq!(
            *issuer.accepted.lock().unwrap(),
            vec![key.thumbprint().to_owned()]
        );

        let sends = AtomicUsize::new(0);
        let (status, body) = send_counted(&tokens, &resource.url, &sends).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, key.thumbprint(), "bound to the client's key");
        assert_eq!(sends.load(Ordering::SeqCst), 1);
        // The token is cached: a second call needs no token request.
        let (status, _) = send_counted(&tokens, &resource.url, &sends).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(issuer.requests(), 1);
    }
}

#[tokio::test]
async fn the_issuers_nonce_is_retried_once_then_remembered() {
    let issuer = Issuer::start(IssuerMode {
        nonces: true,
        ..IssuerMode::default()
    })
    .await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let tokens = issuer.source(&key);
    let token = tokens.token().await.unwrap();
    assert!(token.is_dpop());
    assert_eq!(issuer.requests(), 2, "one use_dpop_nonce, one retry");
    // The next token request carries the remembered nonce at once.
    tokens.invalidate();
    tokens.token().await.unwrap();
    assert_eq!(issuer.requests(), 3);
    assert_eq!(issuer.accepted.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_issuer_that_keeps_asking_for_a_nonce_gets_two_requests() {
    let issuer = Issuer::start(IssuerMode {
        always_ask_nonce: true,
        ..IssuerMode::default()
    })
    .await;
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let error = issuer.source(&key).token().await.unwrap_err();
    assert!(
        matches!(&error, Error::Refused { status: 400, error, .. } if error == "use_dpop_nonce"),
        "{error:?}"
    );
    assert_eq!(issuer.requests(), 2);
}

#[tokio::test]
async fn a_bearer_answer_to_a_dpop_request_is_refused() {
    let issuer = Issuer::start(IssuerMode {
        bearer: true,
        ..IssuerMode::default()
    })
    .await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let error = issuer.source(&key).token().await.unwrap_err();
    let Error::Dpop(why) = &error else {
        panic!("{error:?}");
    };
    assert!(
        why.contains("\"Bearer\"") && why.contains("not used"),
        "{why}"
    );

    // Without .dpop(..), the same Bearer token is fine, and DpopKey refuses
    // to dress it up as DPoP.
    let plain = TokenSource::builder(&issuer.url, "m2m_client", "secret")
        .build()
        .unwrap();
    let token = plain.token().await.unwrap();
    assert!(!token.is_dpop());
    assert!(token.authorization().starts_with("Bearer "));
    assert!(matches!(
        key.headers("GET", "http://127.0.0.1/x", &token),
        Err(Error::Dpop(_))
    ));
    assert!(matches!(
        plain.dpop_headers("GET", "http://127.0.0.1/x").await,
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn the_guards_nonce_challenge_is_answered_once_then_remembered() {
    let issuer = Issuer::start(IssuerMode::default()).await;
    let resource = Resource::start(&issuer, true).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let tokens = issuer.source(&key);

    // By hand: the first proof has no nonce, the guard says use_dpop_nonce.
    let http = http();
    let headers = tokens.dpop_headers("GET", &resource.url).await.unwrap();
    let (status, answer, _) = get_with(&http, &resource.url, |h| headers.apply(h)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&answer).contains("use_dpop_nonce"), "{answer:?}");
    assert!(key.nonce_challenge(&resource.url, 401, &answer));
    let headers = tokens.dpop_headers("GET", &resource.url).await.unwrap();
    let (status, _, body) = get_with(&http, &resource.url, |h| headers.apply(h)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // send_dpop on a fresh key: one challenge, one retry; then no challenge.
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let tokens = issuer.source(&key);
    let sends = AtomicUsize::new(0);
    let (status, body) = send_counted(&tokens, &resource.url, &sends).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, key.thumbprint());
    assert_eq!(sends.load(Ordering::SeqCst), 2);
    let (status, _) = send_counted(&tokens, &resource.url, &sends).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sends.load(Ordering::SeqCst), 3, "the nonce was remembered");
}

#[tokio::test]
async fn a_resource_that_keeps_challenging_is_asked_twice_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/invoices", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/invoices",
        get(|| async {
            (
                StatusCode::UNAUTHORIZED,
                [
                    ("www-authenticate", r#"DPoP error="use_dpop_nonce""#),
                    ("dpop-nonce", "always-another"),
                ],
            )
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let issuer = Issuer::start(IssuerMode::default()).await;
    let tokens = issuer.source(&DpopKey::generate(Algorithm::ES256).unwrap());
    let sends = AtomicUsize::new(0);
    let (status, _) = send_counted(&tokens, &url, &sends).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sends.load(Ordering::SeqCst), 2);
    server.abort();
}

#[tokio::test]
async fn a_stolen_token_is_useless_without_the_key() {
    let issuer = Issuer::start(IssuerMode::default()).await;
    let resource = Resource::start(&issuer, false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let tokens = issuer.source(&key);
    let token = tokens.token().await.unwrap();
    let http = http();

    // The thief's own key signs a perfect proof for the stolen token.
    let thief = DpopKey::generate(Algorithm::ES256).unwrap();
    let stolen = thief.headers("GET", &resource.url, &token).unwrap();
    let (status, answer, _) = get_with(&http, &resource.url, |h| stolen.apply(h)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error_of(&answer).contains("invalid_dpop_proof"),
        "{answer:?}"
    );

    // As a Bearer token, without a proof.
    let bearer = format!("Bearer {}", token.secret());
    let (status, answer, _) = get_with(&http, &resource.url, |h| {
        h.insert("authorization", bearer.parse().unwrap());
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&answer).contains("invalid_token"), "{answer:?}");

    // A genuine proof for another URL, or another method.
    let other = format!("{}/../other", resource.url);
    for (method, url) in [("GET", other.as_str()), ("POST", resource.url.as_str())] {
        let headers = key.headers(method, url, &token).unwrap();
        let (status, answer, _) = get_with(&http, &resource.url, |h| headers.apply(h)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
        assert!(
            error_of(&answer).contains("invalid_dpop_proof"),
            "{answer:?}"
        );
    }

    // A genuine proof, replayed.
    let headers = key.headers("GET", &resource.url, &token).unwrap();
    let (status, _, _) = get_with(&http, &resource.url, |h| headers.apply(h)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer, _) = get_with(&http, &resource.url, |h| headers.apply(h)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error_of(&answer).contains("invalid_dpop_proof"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_proof() {
    let issuer = Issuer::start(IssuerMode {
        nonces: true,
        ..IssuerMode::default()
    })
    .await;
    let resource = Resource::start(&issuer, true).await;
    let tokens = issuer.source(&DpopKey::generate(Algorithm::EdDSA).unwrap());
    let sends = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (tokens, url, sends) = (tokens.clone(), resource.url.clone(), sends.clone());
        tasks.spawn(async move { send_counted(&tokens, &url, &sends).await.unwrap().0 });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    // One token for all 16 (single flight, after one nonce retry).
    assert_eq!(issuer.requests(), 2);
    assert!(sends.load(Ordering::SeqCst) <= 32);
}

#[tokio::test]
async fn use_dpop_nonce_without_a_usable_nonce_is_not_retried() {
    use crate::endpoint::{Answer, Endpoint};
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    for nonce in [None, Some("has space"), Some("quote\"d")] {
        let endpoint = Endpoint::start(move |_| {
            let answer = Answer::error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
            match nonce {
                Some(nonce) => answer.header("dpop-nonce", nonce),
                None => answer,
            }
        })
        .await;
        let error = TokenSource::builder(&endpoint.url, "id", "secret")
            .dpop(key.clone())
            .build()
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Refused { status: 400, error, .. } if error == "use_dpop_nonce"),
            "{error:?}"
        );
        assert_eq!(endpoint.requests(), 1, "{nonce:?}");
    }
    // A 401 (not the token endpoint's 400) with a nonce is not a nonce challenge either.
    let endpoint = Endpoint::start(|_| {
        Answer::error(StatusCode::UNAUTHORIZED, "invalid_client").header("dpop-nonce", "n-1")
    })
    .await;
    let tokens = TokenSource::builder(&endpoint.url, "id", "secret")
        .dpop(key.clone())
        .build()
        .unwrap();
    assert!(tokens.token().await.is_err());
    assert_eq!(endpoint.requests(), 1);
}
