//! Prometheus metrics, kept in atomics and rendered in the text format:
//! token issuance counts and latency, token endpoint failures by OAuth error
//! code, and rejections of guarded (admin) routes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
    /// Token endpoint failures by status code (the OAuth error code lives in
    /// the body; the status tells 400, 401 and 429 apart).
    token_failures: Mutex<BTreeMap<u16, u64>>,
    /// Rejections on guarded routes, by status (401 or 403).
    guard_rejections: Mutex<BTreeMap<u16, u64>>,
    /// Requests by route template and status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl Metrics {
    fn observe_token(&self, status: StatusCode, seconds: f64) {
        if status.is_success() {
            self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        } else {
            bump(&self.token_failures, status.as_u16());
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
            "# HELP m2m_token_failures_total Failed token requests, by status."
        );
        let _ = writeln!(out, "# TYPE m2m_token_failures_total counter");
        for (status, n) in snapshot(&self.token_failures) {
            let reason = match status {
                400 => "invalid_request",
                401 => "invalid_client",
                429 => "slow_down",
                _ => "other",
            };
            let _ = writeln!(
                out,
                "m2m_token_failures_total{{status=\"{status}\",reason=\"{reason}\"}} {n}"
            );
        }

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
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "m2m_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    route.replace(['"', '\\', '\n'], "_")
                );
            }
        }
        out
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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    if path.ends_with("/oauth/token") {
        metrics.observe_token(status, started.elapsed().as_secs_f64());
    }
    if path.starts_with("/admin/")
        && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        bump(&metrics.guard_rejections, status.as_u16());
    }
    if let Ok(mut requests) = metrics.requests.lock() {
        // Route templates, not raw paths, so the label set stays bounded.
        *requests.entry((route, status.as_u16())).or_default() += 1;
    }
    response
}

/// `GET /metrics`.
pub(crate) async fn serve(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}
