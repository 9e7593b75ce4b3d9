//! Start-up: bootstrap on an empty database only, graceful shutdown, health
//! endpoints, and one-line errors for bad input.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::harness::*;

/// Runs `m2m serve` with `args`, expecting it to fail promptly.
pub(crate) fn serve_fails(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = m2m(dir)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let Output { status, stderr, .. } = child.wait_with_output().expect("output");
            assert!(!status.success(), "m2m serve {args:?} should fail");
            let stderr = String::from_utf8_lossy(&stderr).into_owned();
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .collect();
            assert_eq!(errors.len(), 1, "one error line expected, got:\n{stderr}");
            return errors[0].to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("m2m serve {args:?} kept running");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn bootstrap_happens_once_and_shutdown_is_graceful() {
    let dir = TempDir::new("bootstrap");
    let mut server = Server::start(dir.path(), Options::default());
    let (client_id, secret) = admin_credentials(&server);
    assert!(client_id.starts_with("m2m_"), "{client_id}");
    assert!(secret.starts_with("m2ms_"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&server.admin_file), 0o600);
        assert_eq!(mode(&dir.path().join("m2m.db.key")), 0o600);
    }
    let log = server.log_text();
    assert!(
        log.contains("m2m-admin.json"),
        "the log names the file:\n{log}"
    );
    assert!(!log.contains(&secret), "the log must never hold the secret");
    assert!(
        log.contains("M2M_KEY_ENCRYPTION_KEY"),
        "a warning about the generated key file:\n{log}"
    );

    // The admin credentials work.
    let (status, body) = token(&server.endpoint, &client_id, &secret);
    assert_eq!(status, 200, "{body}");

    let before = std::fs::read(&server.admin_file).expect("admin file");
    let modified = std::fs::metadata(&server.admin_file)
        .and_then(|m| m.modified())
        .expect("mtime");
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit status: {status}");

    let mut again = Server::start(
        dir.path(),
        Options {
            log_name: Some("second.log".into()),
            ..Options::default()
        },
    );
    assert_eq!(
        std::fs::read(&again.admin_file).expect("admin file"),
        before
    );
    assert_eq!(
        std::fs::metadata(&again.admin_file)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
    let (status, _) = token(&again.endpoint, &client_id, &secret);
    assert_eq!(
        status, 200,
        "the same admin client still works after a restart"
    );
    assert!(again.terminate().success());
}

#[test]
fn health_readiness_and_metrics() {
    let dir = TempDir::new("health");
    let server = Server::start(dir.path(), Options::default());
    assert_eq!(
        ureq_get(&format!("{}/healthz", server.endpoint))
            .expect("healthz")
            .0,
        200
    );
    assert_eq!(
        ureq_get(&format!("{}/readyz", server.endpoint))
            .expect("readyz")
            .0,
        200
    );
    let (client_id, secret) = admin_credentials(&server);
    assert_eq!(token(&server.endpoint, &client_id, &secret).0, 200);
    assert_eq!(token(&server.endpoint, &client_id, "m2ms_wrong").0, 401);
    let (status, metrics) = ureq_get(&format!("{}/metrics", server.endpoint)).expect("metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("m2m_tokens_issued_total 1"), "{metrics}");
    assert!(
        metrics.contains("m2m_token_failures_total{status=\"401\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("m2m_token_request_duration_seconds_count 2"),
        "{metrics}"
    );
    let (status, _, _) = http(
        "GET",
        &format!("{}/admin/clients", server.endpoint),
        &[],
        "",
    )
    .expect("admin");
    assert_eq!(status, 401);
    let (_, metrics) = ureq_get(&format!("{}/metrics", server.endpoint)).expect("metrics");
    assert!(
        metrics.contains("m2m_guard_rejections_total{status=\"401\"} 1"),
        "{metrics}"
    );
}

/// POSTs a token request with `form`, returning (status, error code).
fn token_refusal(endpoint: &str, form: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http(
        "POST",
        &format!("{endpoint}/oauth/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &serde_urlencoded::to_string(form).expect("form"),
    )
    .expect("token request");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    (status, body["error"].as_str().unwrap_or("?").to_owned())
}

#[test]
fn token_failures_are_counted_by_their_oauth_error_code() {
    let dir = TempDir::new("metrics-codes");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--dev-consent".into()],
            ..Options::default()
        },
    );
    let (admin, admin_secret) = admin_credentials(&server);
    let user = server.cli_json(&[
        "client",
        "create",
        "--name",
        "assistant",
        "--kind",
        "user",
        "--org-id",
        "org_7",
        "--scope",
        "notes:read",
        "--redirect-uri",
        "http://127.0.0.1:1/callback",
        "--json",
    ]);
    let (user, user_secret) = (
        user["client_id"].as_str().expect("id"),
        user["client_secret"].as_str().expect("secret"),
    );
    let admin_auth = [
        ("client_id", admin.as_str()),
        ("client_secret", admin_secret.as_str()),
    ];
    let with = |auth: &[(&'static str, &str)], extra: &[(&'static str, &'static str)]| {
        let mut form = auth.to_vec();
        form.extend_from_slice(extra);
        token_refusal(&server.endpoint, &form)
    };
    // One refusal of each kind, each checked at the wire first.
    let sent = [
        (with(&admin_auth, &[]), (400, "invalid_request")),
        (
            with(&admin_auth, &[("grant_type", "password")]),
            (400, "unsupported_grant_type"),
        ),
        (
            with(
                &admin_auth,
                &[("grant_type", "client_credentials"), ("scope", "nope:read")],
            ),
            (400, "invalid_scope"),
        ),
        (
            with(
                &admin_auth,
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "https://elsewhere.example"),
                ],
            ),
            (400, "invalid_target"),
        ),
        (
            with(
                &admin_auth,
                &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            ),
            (400, "unauthorized_client"),
        ),
        (
            with(
                &[("client_id", user), ("client_secret", user_secret)],
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", "m2mr_not-a-token"),
                ],
            ),
            (400, "invalid_grant"),
        ),
        (
            with(
                &[
                    ("client_id", admin.as_str()),
                    ("client_secret", "m2ms_wrong"),
                ],
                &[("grant_type", "client_credentials")],
            ),
            (401, "invalid_client"),
        ),
    ];
    for ((status, error), (want_status, want_error)) in &sent {
        assert_eq!(
            (*status, error.as_str()),
            (*want_status, *want_error),
            "the issuer's answer"
        );
    }
    let (status, metrics) = ureq_get(&format!("{}/metrics", server.endpoint)).expect("metrics");
    assert_eq!(status, 200);
    let failures: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("m2m_token_failures_total{"))
        .collect();
    for (_, (status, error)) in &sent {
        let line = format!("m2m_token_failures_total{{status=\"{status}\",reason=\"{error}\"}} 1");
        assert!(
            failures.contains(&line.as_str()),
            "no {line} in:\n{metrics}"
        );
    }
    assert_eq!(
        failures.len(),
        sent.len(),
        "one series per code:\n{metrics}"
    );
}

/// The names in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_database_that_cannot_be_opened_leaves_no_key_file() {
    let dir = TempDir::new("unopenable");
    std::fs::write(dir.path().join("m2m.db"), "not a database\n".repeat(512)).expect("write");
    let before = listing(dir.path());
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display());
    let admin = dir.path().join("m2m-admin.json").display().to_string();
    let line = serve_fails(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--bootstrap-admin-file",
            &admin,
        ],
        &[],
    );
    assert!(line.contains("database"), "{line}");
    assert_eq!(listing(dir.path()), before, "after: {line}");
}

#[test]
fn an_admin_file_in_the_way_leaves_no_new_files() {
    let dir = TempDir::new("admin-in-the-way");
    let admin = dir.path().join("m2m-admin.json");
    std::fs::write(&admin, "{}").expect("write");
    let admin = admin.display().to_string();
    let before = listing(dir.path());
    // A database that does not exist yet: refused before it is made.
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("other.db").display()
    );
    let line = serve_fails(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--bootstrap-admin-file",
            &admin,
        ],
        &[],
    );
    assert!(line.contains("exists already"), "{line}");
    assert_eq!(listing(dir.path()), before, "after: {line}");

    // An empty database file that exists: it is opened and found empty, and
    // the key file made for it (and SQLite's side files) are removed again.
    std::fs::write(dir.path().join("empty.db"), "").expect("write");
    let before = listing(dir.path());
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("empty.db").display()
    );
    let line = serve_fails(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--bootstrap-admin-file",
            &admin,
        ],
        &[],
    );
    assert!(line.contains("exists already"), "{line}");
    assert_eq!(listing(dir.path()), before, "after: {line}");
}

#[test]
fn bad_database_url() {
    let dir = TempDir::new("badurl");
    let line = serve_fails(
        dir.path(),
        &["--database", "mysql://nowhere/x", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(line.contains("database"), "{line}");
}

#[test]
fn busy_port() {
    let dir = TempDir::new("busy");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display());
    let line = serve_fails(
        dir.path(),
        &["--listen", &format!("127.0.0.1:{port}"), "--database", &db],
        &[],
    );
    assert!(line.contains(&port.to_string()), "{line}");
}

#[test]
fn wrong_encryption_key() {
    let dir = TempDir::new("wrongkey");
    let key_a = "11".repeat(32);
    let key_b = "22".repeat(32);
    let mut server = Server::start(
        dir.path(),
        Options {
            env: vec![("M2M_KEY_ENCRYPTION_KEY".into(), key_a)],
            ..Options::default()
        },
    );
    assert!(server.terminate().success());
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display());
    let line = serve_fails(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--database", &db],
        &[("M2M_KEY_ENCRYPTION_KEY", &key_b)],
    );
    assert!(line.to_lowercase().contains("key"), "{line}");
    let line = serve_fails(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--database", &db],
        &[("M2M_KEY_ENCRYPTION_KEY", "not-a-key")],
    );
    assert!(line.contains("M2M_KEY_ENCRYPTION_KEY"), "{line}");
}

#[test]
fn unreadable_config() {
    let dir = TempDir::new("config");
    let missing = dir.path().join("missing.toml");
    let line = serve_fails(
        dir.path(),
        &["--config", &missing.display().to_string()],
        &[],
    );
    assert!(line.contains("config"), "{line}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = [1, 2\n").expect("write");
    let line = serve_fails(dir.path(), &["--config", &bad.display().to_string()], &[]);
    assert!(line.contains("bad.toml"), "{line}");
}

#[test]
fn port_zero_is_reported_in_the_ready_file() {
    // Through the M2M_* variables, as a service manager would set them.
    let dir = TempDir::new("ready");
    let ready_file = dir.path().join("m2m.ready");
    let log = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = m2m(dir.path())
        .arg("serve")
        .env("M2M_LISTEN", "127.0.0.1:0")
        .env("M2M_READY_FILE", &ready_file)
        .env(
            "M2M_DATABASE",
            format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display()),
        )
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("spawn m2m serve");
    let mut server = Server {
        child,
        endpoint: String::new(),
        admin_file: dir.path().join("m2m-admin.json"),
        log,
    };
    let endpoint = server.wait_ready(&ready_file);
    let port: u16 = endpoint
        .strip_prefix("http://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("the ready file holds {endpoint:?}"));
    assert_ne!(port, 0);
    assert_eq!(
        std::fs::read_to_string(&ready_file).expect("ready file"),
        format!("{endpoint}\n"),
        "one line, the URL"
    );

    // The default issuer is the bound address, not `:0`.
    let (status, body) = ureq_get(&format!(
        "{endpoint}/.well-known/oauth-authorization-server"
    ))
    .expect("metadata");
    assert_eq!(status, 200, "{body}");
    let metadata: serde_json::Value = serde_json::from_str(&body).expect("metadata JSON");
    assert_eq!(metadata["issuer"], endpoint.as_str());
    server.endpoint = endpoint;
    let (client_id, secret) = admin_credentials(&server);
    let (status, body) = token(&server.endpoint, &client_id, &secret);
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().expect("token");
    assert_eq!(
        server.cli_json(&["verify", access])["iss"],
        server.endpoint.as_str()
    );

    assert!(server.terminate().success());
    assert!(
        !ready_file.exists(),
        "the ready file is removed when the server stops"
    );
}

/// A failed token request for `client_id` forwarded for `client`.
fn forwarded_failure(endpoint: &str, client_id: &str, client: &str) -> (u16, String) {
    let body = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", "m2ms_wrong"),
    ])
    .expect("form");
    let (status, head, _) = http(
        "POST",
        &format!("{endpoint}/oauth/token"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
        ],
        &body,
    )
    .expect("token request");
    (status, head)
}

#[test]
fn behind_a_trusted_proxy_failures_count_per_forwarded_client() {
    let dir = TempDir::new("proxy");
    // As a service manager would set it: a comma-separated list.
    let mut server = Server::start(
        dir.path(),
        Options {
            env: vec![("M2M_TRUSTED_PROXY".into(), "10.0.0.0/8,127.0.0.1".into())],
            ..Options::default()
        },
    );
    // The default limit: 100 failures per address in 60 s.
    for i in 0..100 {
        let (status, _) = forwarded_failure(&server.endpoint, &format!("m2m_u{i}"), "192.0.2.1");
        assert_eq!(status, 401, "failure {i}; log:\n{}", server.log_text());
    }
    let (status, head) = forwarded_failure(&server.endpoint, "m2m_u100", "192.0.2.1");
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    let (status, _) = forwarded_failure(&server.endpoint, "m2m_u100", "192.0.2.2");
    assert_eq!(status, 401, "another forwarded client has its own budget");
    let (id, secret) = admin_credentials(&server);
    assert_eq!(token(&server.endpoint, &id, &secret).0, 200);
    assert!(
        server.log_text().contains("127.0.0.1/32"),
        "the proxies are logged"
    );
    server.terminate();

    let line = serve_fails(dir.path(), &["--trusted-proxy", "10.0.0.0/33"], &[]);
    assert!(line.contains("10.0.0.0/33"), "{line}");
}

#[cfg(unix)]
#[test]
fn database_files_are_readable_by_their_owner_only() {
    let dir = TempDir::new("db-modes");
    let mut server = Server::start(dir.path(), Options::default());
    let (client_id, secret) = admin_credentials(&server);
    let (status, body) = token(&server.endpoint, &client_id, &secret);
    assert_eq!(status, 200, "{body}");
    // The server is still running: the WAL and its index are open.
    for name in ["m2m.db", "m2m.db-wal", "m2m.db-shm"] {
        let path = dir.path().join(name);
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    assert!(server.terminate().success());
}

#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let dir = TempDir::new("no-ansi");
    let mut server = Server::start(dir.path(), Options::default());
    assert!(server.terminate().success());
    let log = server.log_text();
    assert!(log.contains("m2m serving"), "{log}");
    assert!(!log.contains('\u{1b}'), "ESC in the log:\n{log:?}");
}

#[test]
fn an_unwritable_admin_file_fails_the_start_and_leaves_no_admin_behind() {
    let dir = TempDir::new("bootstrap-fails");
    // A path under a regular file cannot be created, not even by root.
    std::fs::write(dir.path().join("blocker"), "").expect("blocker");
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("m2m.db").display());
    let bad = dir.path().join("blocker").join("m2m-admin.json");
    let error = serve_fails(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--bootstrap-admin-file",
            &bad.display().to_string(),
        ],
        &[],
    );
    assert!(
        error.contains("blocker"),
        "the error names the path: {error}"
    );

    // The next start, with a good path, bootstraps an admin that works.
    let mut server = Server::start(dir.path(), Options::default());
    let (client_id, secret) = admin_credentials(&server);
    let (status, body) = token(&server.endpoint, &client_id, &secret);
    assert_eq!(status, 200, "{body}");
    let clients = server.cli_json(&["client", "list", "--json"]);
    assert_eq!(
        clients["items"].as_array().map(Vec::len),
        Some(1),
        "one admin client only: {clients}"
    );
    assert!(server.terminate().success());
}

/// Without `--dev-consent` (a pure machine-to-machine server) the metadata
/// still names the authorization endpoint, which MCP SDKs require, and
/// `--scopes-supported` (or `M2M_SCOPES_SUPPORTED`) lists scopes.
#[test]
fn metadata_names_the_authorization_endpoint_and_the_scopes_supported() {
    let dir = TempDir::new("scopes-supported");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec![
                "--scopes-supported".into(),
                "invoices:read".into(),
                "--scopes-supported".into(),
                "invoices:write".into(),
            ],
            ..Options::default()
        },
    );
    let (status, body) = ureq_get(&format!(
        "{}/.well-known/oauth-authorization-server",
        server.endpoint
    ))
    .expect("metadata");
    assert_eq!(status, 200, "{body}");
    let metadata: serde_json::Value = serde_json::from_str(&body).expect("metadata JSON");
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{}/oauth/authorize", server.endpoint)
    );
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );

    let dir = TempDir::new("scopes-supported-env");
    let server = Server::start(
        dir.path(),
        Options {
            env: vec![("M2M_SCOPES_SUPPORTED".into(), "a:read b:write".into())],
            ..Options::default()
        },
    );
    let (_, body) = ureq_get(&format!(
        "{}/.well-known/oauth-authorization-server",
        server.endpoint
    ))
    .expect("metadata");
    let metadata: serde_json::Value = serde_json::from_str(&body).expect("metadata JSON");
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["a:read", "b:write"])
    );

    // An invalid scope stops the server at start, with the reason.
    let dir = TempDir::new("scopes-supported-bad");
    let output = m2m(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scopes-supported",
            "bad\"scope",
        ])
        .output()
        .expect("run m2m");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scopes_supported"), "{stderr}");
}
