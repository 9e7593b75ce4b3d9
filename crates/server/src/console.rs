//! The operator console at `/console`: a static, dependency-free web app
//! (HTML, ES modules, CSS) embedded in the binary, that talks only to this
//! server's admin API and token endpoint.
//!
//! The assets are a fixed list compiled in with `include_bytes!`: no
//! filesystem read at run time, and no path from the request reaches
//! anything but a lookup in that list. They need no authentication (they
//! hold no data); the console trades the admin client's credentials for an
//! `m2m:admin` token and keeps it in a JavaScript variable only: no cookie,
//! no storage, so no CSRF. Every answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no
//! inline code, connections to this origin only, not framable).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The Content-Security-Policy of every console answer.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console is made of; `index.html` is served at `/console`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("views.js", JS),
    asset!("chart.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The console's routes: `/console`, `/console/` and `/console/{asset}`.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{asset}", get(asset))
}

async fn index() -> Response {
    serve("index.html")
}

async fn asset(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let mut response = match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                // No versioned names: revalidate, so a new binary's console is
                // what the next load shows.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            asset.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "error": "not_found",
                "error_description": "no such console file",
            })),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_named_once_and_index_links_only_listed_ones() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(!a.body.is_empty(), "{}", a.name);
        }
        let index = std::str::from_utf8(ASSETS[0].body).expect("UTF-8");
        for part in index.split("/console/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html links {name}, which is not embedded"
            );
        }
    }

    #[test]
    fn every_file_of_the_console_folder_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        for entry in std::fs::read_dir(&dir).expect("console folder") {
            let name = entry.expect("entry").file_name();
            let name = name.to_str().expect("UTF-8 name");
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "console/{name} is not in ASSETS"
            );
        }
    }
}
