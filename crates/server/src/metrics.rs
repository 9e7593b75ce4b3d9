//! Prometheus metrics, kept in atomics and rendered in the text format:
//! token issuance counts and latency, token endpoint failures by status and
//! RFC 6749 error code, and rejections of guarded (admin) routes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The error codes a token endpoint refusal is labelled with: the `error`
/// of its JSON body when it is one of these (RFC 6749 section 5.2, RFC 8707,
/// throttling), else `other`. A fixed list, so no request text reaches a label.
const TOKEN_ERRORS: [&str; 9] = [
    "invalid_request",
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_grant",
    "slow_down",
    "server_error",
];

/// The largest error body read for its code; token error bodies are far smaller.
const ERROR_BODY_LIMIT: u64 = 16 * 1024;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The server's metrics.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    tokens_issued: AtomicU64,
    token_latency_buckets: [AtomicU64; BUCKETS.len()],
    token_latency_count: AtomicU64,
    token_latency_sum_micros: AtomicU64,
    /// Token endpoint failures by status code and OAuth error code (one of
    /// [`TOKEN_ERRORS`] or `other`).
    token_failures: Mutex<BTreeMap<(u16, &'static str), u64>>,
    /// Rejections on guarded routes, by status (401 or 403).
    guard_rejections: Mutex<BTreeMap<u16, u64>>,
    /// Requests by route template, then status. A request bumps its
    /// counter under the read lock, with no allocation; only the first
    /// request of a (route, status) pair takes the write lock to add it.
    requests: RwLock<BTreeMap<String, BTreeMap<u16, AtomicU64>>>,
    /// The issuer, for its count of exceeded token quota windows.
    issuer: std::sync::OnceLock<m2m_issuer::Issuer>,
}

impl Metrics {
    /// Metrics that also report `issuer`'s exceeded quota windows.
    pub(crate) fn for_issuer(issuer: &m2m_issuer::Issuer) -> Self {
        let metrics = Metrics::default();
        let _ = metrics.issuer.set(issuer.clone());
        metrics
    }

    fn observe_token(&self, status: StatusCode, error: Option<&'static str>, seconds: f64) {
        if status.is_success() {
            self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        } else if let Ok(mut failures) = self.token_failures.lock() {
            *failures
                .entry((status.as_u16(), error.unwrap_or("other")))
                .or_default() += 1;
        }
        for (bucket, bound) in self.token_latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.token_latency_count.fetch_add(1, Ordering::Relaxed);
        self.token_latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP m2m_tokens_issued_total Access tokens issued.");
        let _ = writeln!(out, "# TYPE m2m_tokens_issued_total counter");
        let _ = writeln!(
            out,
            "m2m_tokens_issued_total {}",
            self.tokens_issued.load(Ordering::Relaxed)
        );

        let _ = writeln!(
            out,
            "# HELP m2m_token_request_duration_seconds Token endpoint latency."
        );
        let _ = writeln!(out, "# TYPE m2m_token_request_duration_seconds histogram");
        for (bucket, bound) in self.token_latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "m2m_token_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.token_latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "m2m_token_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "m2m_token_request_duration_seconds_sum {}",
            self.token_latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "m2m_token_request_duration_seconds_count {count}");

        let _ = writeln!(
            out,
            "# HELP m2m_token_failures_total Failed token requests, by status and OAuth error code."
        );
        let _ = writeln!(out, "# TYPE m2m_token_failures_total counter");
        let failures: Vec<((u16, &str), u64)> = self
            .token_failures
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
        for ((status, reason), n) in failures {
            let _ = writeln!(
                out,
                "m2m_token_failures_total{{status=\"{status}\",reason=\"{reason}\"}} {n}"
            );
        }

        let _ = writeln!(
            out,
            "# HELP m2m_quota_windows_exceeded_total Token quota windows (per client or \
             organization, per minute, hour or day) this replica saw exceeded first."
        );
        let _ = writeln!(out, "# TYPE m2m_quota_windows_exceeded_total counter");
        let _ = writeln!(
            out,
            "m2m_quota_windows_exceeded_total {}",
            self.issuer
                .get()
                .map_or(0, m2m_issuer::Issuer::quota_windows_exceeded)
        );

        let _ = writeln!(
            out,
            "# HELP m2m_guard_rejections_total Requests refused by the guard on protected routes."
        );
        let _ = writeln!(out, "# TYPE m2m_guard_rejections_total counter");
        for (status, n) in snapshot(&self.guard_rejections) {
            let _ = writeln!(out, "m2m_guard_rejections_total{{status=\"{status}\"}} {n}");
        }

        let _ = writeln!(
            out,
            "# HELP m2m_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE m2m_http_requests_total counter");
        if let Ok(requests) = self.requests.read() {
            for (route, statuses) in requests.iter() {
                let route = route.replace(['"', '\\', '\n'], "_");
                for (status, n) in statuses {
                    let _ = writeln!(
                        out,
                        "m2m_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                        n.load(Ordering::Relaxed)
                    );
                }
            }
        }
        out
    }

    /// Counts a request to `route` (a template) answered `status`.
    fn count_request(&self, route: &str, status: u16) {
        if let Ok(requests) = self.requests.read()
            && let Some(n) = requests.get(route).and_then(|s| s.get(&status))
        {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Ok(mut requests) = self.requests.write() {
            requests
                .entry(route.to_owned())
                .or_default()
                .entry(status)
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn bump(map: &Mutex<BTreeMap<u16, u64>>, key: u16) {
    if let Ok(mut map) = map.lock() {
        *map.entry(key).or_default() += 1;
    }
}

fn snapshot(map: &Mutex<BTreeMap<u16, u64>>) -> Vec<(u16, u64)> {
    map.lock()
        .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
        .unwrap_or_default()
}

/// Middleware that records every request.
pub(crate) async fn record(
    State(metrics): State<Arc<Metrics>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    // A clone of the template is a reference count, not a copy.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let path = request.uri().path();
    let token_endpoint = path.ends_with("/oauth/token");
    let admin = path.starts_with("/admin/");
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    if token_endpoint {
        let seconds = started.elapsed().as_secs_f64();
        let mut error = None;
        if !status.is_success() {
            let read;
            (response, read) = error_code(response).await;
            error = read;
        }
        metrics.observe_token(status, error, seconds);
    }
    if admin && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        bump(&metrics.guard_rejections, status.as_u16());
    }
    // Route templates, not raw paths, so the label set stays bounded.
    metrics.count_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status.as_u16(),
    );
    response
}

/// The OAuth error code of a failed token response, read from its JSON body
/// (`{"error": ..}`) and kept only if it is one of [`TOKEN_ERRORS`]. The
/// body is put back as it was; one of unknown or large size is not read.
async fn error_code(response: Response) -> (Response, Option<&'static str>) {
    use axum::body::HttpBody as _;
    let (parts, body) = response.into_parts();
    let small = body
        .size_hint()
        .exact()
        .is_some_and(|len| len <= ERROR_BODY_LIMIT);
    if !small {
        return (Response::from_parts(parts, body), None);
    }
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT as usize).await else {
        // Cannot happen for a body of known small size; answer it empty.
        return (Response::from_parts(parts, Body::empty()), None);
    };
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|body| {
            let error = body.get("error")?.as_str()?.to_owned();
            TOKEN_ERRORS.into_iter().find(|known| *known == error)
        });
    (Response::from_parts(parts, Body::from(bytes)), code)
}

/// `GET /metrics`.
pub(crate) async fn serve(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower_service::Service as _;

    async fn call(app: &Router, path: &str) -> StatusCode {
        let request = Request::get(path).body(Body::empty()).expect("request");
        // A Router is always ready.
        app.clone()
            .call(request)
            .await
            .expect("infallible")
            .status()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        let metrics = Arc::new(Metrics::default());
        let app = Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .route("/gone", get(|| async { StatusCode::GONE }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&metrics),
                record,
            ));
        for path in ["/items/1", "/items/2", "/items/3", "/gone", "/nowhere"] {
            call(&app, path).await;
        }
        assert_eq!(call(&app, "/gone").await, StatusCode::GONE);
        let text = metrics.render();
        for line in [
            "m2m_http_requests_total{route=\"/items/{id}\",status=\"200\"} 3",
            "m2m_http_requests_total{route=\"/gone\",status=\"410\"} 2",
            "m2m_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        assert_eq!(
            text.matches("m2m_http_requests_total{").count(),
            3,
            "{text}"
        );
    }

    #[tokio::test]
    async fn token_and_admin_paths_are_still_told_apart() {
        let metrics = Arc::new(Metrics::default());
        let app = Router::new()
            .route("/oauth/token", get(|| async { "ok" }))
            .route("/admin/clients", get(|| async { StatusCode::UNAUTHORIZED }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&metrics),
                record,
            ));
        call(&app, "/oauth/token").await;
        call(&app, "/admin/clients").await;
        let text = metrics.render();
        assert!(text.contains("m2m_tokens_issued_total 1\n"), "{text}");
        assert!(
            text.contains("m2m_token_request_duration_seconds_count 1\n"),
            "{text}"
        );
        assert!(
            text.contains("m2m_guard_rejections_total{status=\"401\"} 1\n"),
            "{text}"
        );
    }
}
