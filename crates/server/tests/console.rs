//! The operator console's HTTP side: `m2m serve` serves its embedded files
//! at /console without authentication, each with a strict CSP and the other
//! security headers; nothing else is served under /console, and nothing it
//! serves loads anything from another origin. (The console's behaviour in a
//! browser is tests/console/.)

use std::collections::BTreeSet;

use crate::harness::{Options, Server, TempDir, http};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The one absolute URL allowed in the files: the SVG namespace name, which
/// is an identifier, never fetched.
const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

/// A header's value in a raw response head (names case-insensitive).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn assert_security_headers(path: &str, head: &str) {
    assert_eq!(header(head, "content-security-policy"), Some(CSP), "{path}");
    assert_eq!(
        header(head, "x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(
        header(head, "referrer-policy"),
        Some("no-referrer"),
        "{path}"
    );
    assert_eq!(header(head, "x-frame-options"), Some("DENY"), "{path}");
    assert!(header(head, "set-cookie").is_none(), "{path}: no cookie");
}

/// The console files a file refers to: `/console/NAME` in HTML, `"./NAME"`
/// imports in JavaScript.
fn references(body: &str) -> Vec<String> {
    let mut names = Vec::new();
    for marker in ["/console/", "\"./"] {
        for part in body.split(marker).skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            if name.contains('.') {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn the_console_is_served_without_auth_with_a_strict_csp_and_no_third_party_url() {
    let dir = TempDir::new("console");
    let server = Server::start(dir.path(), Options::default());

    for path in ["/console", "/console/"] {
        let (status, head, body) =
            http("GET", &format!("{}{path}", server.endpoint), &[], "").expect("GET");
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(
            header(&head, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&head, "cache-control"), Some("no-cache"));
        assert_security_headers(path, &head);
        assert!(body.contains("<script type=\"module\" src=\"/console/app.js\">"));
    }

    // Every file the page loads, and every module those import, is served
    // with its type and the headers; none names another origin.
    let mut seen = BTreeSet::new();
    let mut todo = vec!["index.html".to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let path = format!("/console/{name}");
        let (status, head, body) =
            http("GET", &format!("{}{path}", server.endpoint), &[], "").expect("GET");
        assert_eq!(status, 200, "{path} is referenced but not served: {head}");
        assert_security_headers(&path, &head);
        let expected = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{path}: unexpected file type {other:?}"),
        };
        assert_eq!(header(&head, "content-type"), Some(expected), "{path}");
        let stripped = body.replace(SVG_NAMESPACE, "");
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(
                !stripped.contains(scheme),
                "{path} names another origin ({scheme})"
            );
        }
        // The CSP forbids inline code; the files must not need it.
        if name.ends_with(".html") {
            assert!(!body.contains("<style"), "{path}: inline style");
            assert!(!body.contains(" style="), "{path}: inline style attribute");
            assert!(!body.contains(" onclick="), "{path}: inline handler");
            assert_eq!(
                body.matches("<script").count(),
                body.matches("<script type=\"module\" src=").count(),
                "{path}: inline script"
            );
        }
        if name.ends_with(".js") {
            assert!(!body.contains("innerHTML"), "{path}: innerHTML");
            assert!(!body.contains("eval("), "{path}: eval");
        }
        todo.extend(references(&body));
    }
    assert!(
        [
            "app.js", "api.js", "dom.js", "views.js", "chart.js", "app.css"
        ]
        .iter()
        .all(|n| seen.contains(*n)),
        "{seen:?}"
    );
}

#[test]
fn nothing_else_is_served_under_console() {
    let dir = TempDir::new("console-404");
    let server = Server::start(dir.path(), Options::default());
    for path in [
        "/console/nope.js",
        "/console/..%2fCargo.toml",
        "/console/%2e%2e%2fsrc%2fmain.rs",
        "/console/index.html%00",
        "/console/app.js/x",
    ] {
        let (status, head, body) =
            http("GET", &format!("{}{path}", server.endpoint), &[], "").expect("GET");
        assert_eq!(status, 404, "{path}: {head}\n{body}");
        if path != "/console/app.js/x" {
            let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(json["error"], "not_found", "{path}");
            assert!(json["error_description"].is_string(), "{path}");
            assert_security_headers(path, &head);
        }
    }
    // The console is read-only.
    let (status, _, _) = http(
        "POST",
        &format!("{}/console/app.js", server.endpoint),
        &[],
        "",
    )
    .expect("POST");
    assert_eq!(status, 405);
}
