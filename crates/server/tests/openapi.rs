//! `GET /openapi.json`: what `m2m serve` answers over real HTTP is the
//! committed `docs/openapi.json`, byte for byte, and every route of the
//! issuer's and the server's routers is one of its operations (and every
//! operation a route), so a route added without its description fails here.
//!
//! After changing the description, regenerate the file with
//! `M2M_UPDATE_OPENAPI=1 cargo test -p m2m-server --all-features --test server openapi`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{Options, Server, TempDir, http};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed_path() -> PathBuf {
    repo_root().join("docs/openapi.json")
}

/// The document `m2m serve` answers, over HTTP; checks its status and type.
fn served_document(server: &Server) -> String {
    let (status, head, body) =
        http("GET", &format!("{}/openapi.json", server.endpoint), &[], "").expect("GET");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    body
}

#[test]
fn served_openapi_json_is_the_committed_docs_openapi_json() {
    let dir = TempDir::new("openapi");
    let server = Server::start(dir.path(), Options::default());
    let served = served_document(&server);
    let document: Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document.get("servers").is_none(), "no port-dependent URL");
    assert!(!served.contains(&server.endpoint), "no port-dependent URL");
    // The same bytes on a second call.
    assert_eq!(served_document(&server), served);

    let path = committed_path();
    if std::env::var_os("M2M_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &served).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from what `m2m serve` answers at /openapi.json; \
         regenerate it with \
         `M2M_UPDATE_OPENAPI=1 cargo test -p m2m-server --all-features --test server openapi` \
         and commit it"
    );
}

/// `(METHOD, /path)` of every `.route("/path", get(..).post(..))` in a
/// router's source; `{param}` segments as written (axum's syntax is
/// OpenAPI's).
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (start, _) in source.match_indices(".route(") {
        // A literal path only (`.route(&path, ..)` of the RFC 8414 router
        // depends on the issuer URL).
        let rest = source[start + ".route(".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(len) = rest.find('"') else { continue };
        let path = &rest[..len];
        // The method router: up to the `)` closing `.route(`.
        let after = &rest[len + 1..];
        let mut depth = 1;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let methods = &after[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = methods.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !methods[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                routes.insert((method.to_ascii_uppercase(), path.to_owned()));
            }
        }
    }
    routes
}

#[test]
fn every_route_is_an_operation_of_the_document_and_every_operation_a_route() {
    let root = repo_root();
    let mut routes = BTreeSet::new();
    for file in [
        "crates/issuer/src/http/mod.rs",
        "crates/issuer/src/http/admin/mod.rs",
        "crates/server/src/serve.rs",
        "crates/server/src/console.rs",
    ] {
        let source = std::fs::read_to_string(root.join(file)).expect(file);
        let found = routes_in(&source);
        assert!(!found.is_empty(), "no route found in {file}");
        routes.extend(found);
    }
    // The parser sees what it must: a sample of each file.
    for sample in [
        ("POST", "/oauth/token"),
        ("PATCH", "/admin/clients/{client_id}"),
        ("DELETE", "/admin/orgs/{org_id}/quota"),
        ("GET", "/healthz"),
    ] {
        assert!(
            routes.contains(&(sample.0.to_owned(), sample.1.to_owned())),
            "{sample:?} not parsed from the routers: {routes:?}"
        );
    }

    let dir = TempDir::new("openapi-routes");
    let server = Server::start(dir.path(), Options::default());
    let document: Value = serde_json::from_str(&served_document(&server)).expect("JSON");
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let undescribed: Vec<_> = routes.difference(&operations).collect();
    assert!(
        undescribed.is_empty(),
        "routes without an OpenAPI operation (add a #[utoipa::path] function in \
         crates/issuer/src/http/openapi.rs, or crates/server/src/openapi.rs for the \
         server's own, and list it in paths(...)): {undescribed:?}"
    );
    let unrouted: Vec<_> = operations.difference(&routes).collect();
    assert!(
        unrouted.is_empty(),
        "operations that no router serves: {unrouted:?}"
    );
}
