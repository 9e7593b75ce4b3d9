//! An older database restored under a running guard: the guard's feed cursor
//! means nothing in the restored log, the issuer refuses it, and the guard
//! re-reads the feed from the start. It fails closed: it keeps the
//! revocations the restore forgot, and learns the ones made after the
//! restore, even those whose sequence numbers are at or below its old cursor.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use m2m_guard::{Guard, Rejection};
use serde_json::{Value, json};

const ISSUER: &str = "http://m2m.test";
const DB_FILES: [&str; 3] = ["m2m.db", "m2m.db-wal", "m2m.db-shm"];

struct Serve {
    child: Child,
    endpoint: String,
}

impl Serve {
    /// Stops the server with SIGTERM and waits (its database is then consistent on disk).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("m2m serve did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn m2m_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join(format!("m2m{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "m2m-server", "--bin", "m2m"])
            .status()
            .expect("cargo build");
        assert!(status.success());
    }
    bin
}

/// `m2m serve` on `dir/m2m.db`, port 0, a fixed issuer URL; waits for it.
async fn serve(dir: &Path, http: &reqwest::Client, run: &str) -> Serve {
    let ready = dir.join(format!("{run}.ready"));
    let log = dir.join(format!("{run}.log"));
    let _ = std::fs::remove_file(&ready);
    let log_file = std::fs::File::create(&log).expect("log");
    let mut command = Command::new(m2m_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("M2M_") {
            command.env_remove(key);
        }
    }
    let child = command
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--issuer", ISSUER])
        .args(["--ready-file", &ready.display().to_string()])
        .args([
            "--database",
            &format!("sqlite://{}?mode=rwc", dir.join("m2m.db").display()),
        ])
        .args([
            "--bootstrap-admin-file",
            &dir.join("admin.json").display().to_string(),
        ])
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("spawn m2m serve");
    let mut serve = Serve {
        child,
        endpoint: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = serve.child.try_wait() {
            panic!(
                "m2m serve exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(line) = std::fs::read_to_string(&ready) {
            let endpoint = line.trim_end().to_owned();
            if let Ok(response) = http.get(format!("{endpoint}/healthz")).send().await
                && response.status() == 200
            {
                serve.endpoint = endpoint;
                return serve;
            }
        }
        assert!(
            Instant::now() < deadline,
            "m2m serve not ready within 60 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The feed as the guard sees it: forwarded to whichever server is up, 503
/// while none is.
#[derive(Clone)]
struct Proxy {
    backend: Arc<Mutex<Option<String>>>,
    http: reqwest::Client,
}

async fn forward(State(proxy): State<Proxy>, RawQuery(query): RawQuery) -> Response {
    let Some(backend) = proxy.backend.lock().expect("backend").clone() else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut url = format!("{backend}/oauth/revocations");
    if let Some(query) = query {
        url = format!("{url}?{query}");
    }
    match proxy.http.get(url).send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn token(http: &reqwest::Client, endpoint: &str, id: &str, secret: &str) -> String {
    let body: Value = http
        .post(format!("{endpoint}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

async fn revoke(http: &reqwest::Client, endpoint: &str, id: &str, secret: &str, token: &str) {
    let response = http
        .post(format!("{endpoint}/oauth/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), 200);
}

async fn eventually_refused(guard: &Guard, tokens: &[(&str, &String)], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let waiting: Vec<&str> = tokens
            .iter()
            .filter(|(_, t)| guard.check_token(t) != Err(Rejection::Revoked))
            .map(|(name, _)| *name)
            .collect();
        if waiting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the guard still accepts {waiting:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn copy_db(from: &Path, to: &Path) {
    for name in DB_FILES {
        let _ = std::fs::remove_file(to.join(name));
        if from.join(name).exists() {
            std::fs::copy(from.join(name), to.join(name)).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_fails_closed_when_the_issuers_database_is_restored_from_a_backup() {
    let dir = std::env::temp_dir().join(format!(
        "m2m-restore-{:x}",
        u64::from_le_bytes(m2m_core::random_bytes().expect("random"))
    ));
    let backup = dir.join("backup");
    std::fs::create_dir_all(&backup).expect("dirs");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http");

    // 1. An issuer with a client and seven tokens of it.
    let first = serve(&dir, &http, "first").await;
    let admin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("admin.json")).expect("admin"))
            .expect("json");
    let (admin_id, admin_secret) = (
        admin["client_id"].as_str().expect("id"),
        admin["client_secret"].as_str().expect("secret"),
    );
    let admin_token = token(&http, &first.endpoint, admin_id, admin_secret).await;
    let created: Value = http
        .post(format!("{}/admin/clients", first.endpoint))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "x", "kind": "org", "org_id": "o", "scopes": ["a:b"]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let (id, secret) = (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let mut t = Vec::new();
    for _ in 0..7 {
        t.push(token(&http, &first.endpoint, &id, &secret).await);
    }
    let jwks: m2m_core::JwkSet = http
        .get(format!("{}/.well-known/jwks.json", first.endpoint))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");

    // 2. A guard polling the feed through the proxy.
    let proxy = Proxy {
        backend: Arc::new(Mutex::new(Some(first.endpoint.clone()))),
        http: http.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/oauth/revocations", get(forward))
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("proxy") });
    let guard = Guard::builder(ISSUER, ISSUER)
        .jwk_set(jwks)
        .revocation_feed(format!("http://{proxy_addr}/oauth/revocations"))
        .revocation_poll_interval(Duration::from_millis(200))
        .build()
        .await
        .expect("guard");
    let within = Duration::from_secs(10);
    revoke(&http, &first.endpoint, &id, &secret, &t[0]).await;
    eventually_refused(&guard, &[("t1", &t[0])], within).await;

    // 3. A backup now: its log holds one entry.
    first.stop();
    copy_db(&dir, &backup);

    // 4. Life goes on: two more revocations, and the guard's cursor moves past them.
    let second = serve(&dir, &http, "second").await;
    *proxy.backend.lock().expect("backend") = Some(second.endpoint.clone());
    revoke(&http, &second.endpoint, &id, &secret, &t[1]).await;
    revoke(&http, &second.endpoint, &id, &secret, &t[2]).await;
    eventually_refused(&guard, &[("t2", &t[1]), ("t3", &t[2])], within).await;

    // 5. The restore, while the guard is cut off from the feed: the restored
    //    log grows past the guard's cursor with other revocations.
    *proxy.backend.lock().expect("backend") = None;
    second.stop();
    copy_db(&backup, &dir);
    let restored = serve(&dir, &http, "restored").await;
    for token in &t[3..6] {
        revoke(&http, &restored.endpoint, &id, &secret, token).await;
    }
    *proxy.backend.lock().expect("backend") = Some(restored.endpoint.clone());

    // 6. The guard's cursor is refused; it reads from the start, keeps what
    //    the restore forgot, and learns every revocation made since.
    eventually_refused(
        &guard,
        &[
            ("t4, at a sequence number below the old cursor", &t[3]),
            ("t5, at the old cursor's sequence number", &t[4]),
            ("t6, past the old cursor", &t[5]),
        ],
        within,
    )
    .await;
    for (name, token) in [
        ("t1", &t[0]),
        ("t2 (forgotten by the restore)", &t[1]),
        ("t3 (forgotten by the restore)", &t[2]),
    ] {
        assert_eq!(
            guard.check_token(token),
            Err(Rejection::Revoked),
            "{name} must stay refused"
        );
    }
    assert!(guard.check_token(&t[6]).is_ok(), "t7 was never revoked");
    drop(restored);
    let _ = std::fs::remove_dir_all(&dir);
}
