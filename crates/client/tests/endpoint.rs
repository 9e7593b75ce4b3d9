//! A fake token endpoint: a real HTTP server on 127.0.0.1:0, counting the
//! requests it gets, recording their forms, and answering each with the
//! test's script.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One scripted answer.
#[derive(Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
    /// How long the endpoint takes before answering.
    pub(crate) delay: Duration,
}

impl Answer {
    /// 200 with a Bearer token living `expires_in` (the raw JSON number).
    pub(crate) fn token(access_token: &str, expires_in: &str) -> Self {
        Answer {
            status: StatusCode::OK,
            headers: vec![("content-type", "application/json".into())],
            body: format!(
                r#"{{"access_token":"{access_token}","token_type":"Bearer","expires_in":{expires_in}}}"#
            ),
            delay: Duration::ZERO,
        }
    }

    /// 200 with this JSON body.
    pub(crate) fn json(body: serde_json::Value) -> Self {
        Answer {
            status: StatusCode::OK,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// An OAuth error response.
    pub(crate) fn error(status: StatusCode, error: &str) -> Self {
        Answer {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: format!(r#"{{"error":"{error}"}}"#),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the endpoint received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
    /// The `Content-Type` header, if any.
    pub(crate) content_type: Option<String>,
    /// The `DPoP` proof header, if any.
    pub(crate) dpop: Option<String>,
    /// The form, decoded, in order.
    pub(crate) form: Vec<(String, String)>,
}

impl Recorded {
    /// Every value of `name` in the form, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of `name`; panics if absent or repeated.
    pub(crate) fn one(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [value] => value,
            other => panic!("{name}: expected one value, got {other:?} in {self:?}"),
        }
    }
}

/// The running endpoint. Dropping it stops the server.
pub(crate) struct Endpoint {
    pub(crate) url: String,
    requests: Arc<AtomicUsize>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Serves `script(n)` to the n-th request (0-based).
    pub(crate) async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let counter = requests.clone();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let record = recorded.clone();
        let app = Router::new().route(
            "/oauth/token",
            post(move |headers: HeaderMap, body: String| {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                record.lock().unwrap().push(Recorded {
                    authorization: header("authorization"),
                    content_type: header("content-type"),
                    dpop: header("dpop"),
                    form: serde_urlencoded::from_str(&body).unwrap_or_default(),
                });
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = script(n);
                async move {
                    tokio::time::sleep(answer.delay).await;
                    respond(answer)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Endpoint {
            url,
            requests,
            recorded,
            task,
        }
    }

    /// The requests received so far, as received.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(answer: Answer) -> Response {
    let mut response = (answer.status, answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
