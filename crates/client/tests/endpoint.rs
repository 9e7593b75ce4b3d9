//! A fake token endpoint: a real HTTP server on 127.0.0.1:0, counting the
//! requests it gets and answering each with the test's script.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
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

/// The running endpoint. Dropping it stops the server.
pub(crate) struct Endpoint {
    pub(crate) url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Serves `script(n)` to the n-th request (0-based).
    pub(crate) async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let counter = requests.clone();
        let app = Router::new().route(
            "/oauth/token",
            post(move || {
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
            task,
        }
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
