//! The issuer as the `m2m` binary, with a guard and a machine client.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::world::API_AUDIENCE;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// target/debug/m2m, next to this test's own executable (built by
/// `cargo test --workspace`; built here if it is missing).
fn m2m_binary() -> std::path::PathBuf {
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

/// Waits, at most a minute, for the ready file and a 200 from `/healthz` at
/// the address it names; fails with the server's log.
async fn wait_ready(
    serve: &mut Serve,
    http: &reqwest::Client,
    ready_file: &Path,
    log: &Path,
) -> String {
    let timeout = Duration::from_secs(60);
    let deadline = Instant::now() + timeout;
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    let mut endpoint = None;
    loop {
        if let Ok(Some(status)) = serve.0.try_wait() {
            panic!(
                "m2m serve exited early ({status}); its log:\n{}",
                log_text()
            );
        }
        if endpoint.is_none() {
            endpoint = std::fs::read_to_string(ready_file)
                .ok()
                .map(|line| line.trim_end().to_owned());
        }
        if let Some(endpoint) = &endpoint
            && let Ok(response) = http.get(format!("{endpoint}/healthz")).send().await
            && response.status() == 200
        {
            return endpoint.clone();
        }
        assert!(
            Instant::now() < deadline,
            "m2m serve was not ready within {timeout:?} (ready file: {endpoint:?}); its log:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_m2m_binary_issues_tokens_a_guard_accepts() {
    let dir = std::env::temp_dir().join(format!(
        "m2m-e2e-{:x}",
        u64::from_le_bytes(m2m_core::random_bytes().expect("random"))
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let admin_file = dir.join("admin.json");
    let ready_file = dir.join("m2m.ready");
    let log = dir.join("server.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut command = Command::new(m2m_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("M2M_") {
            command.env_remove(key);
        }
    }
    // Port 0: the server binds a port of its own and names it in the ready file.
    let mut serve = Serve(
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--ready-file", &ready_file.display().to_string()])
            .args([
                "--database",
                &format!("sqlite://{}?mode=rwc", dir.join("m2m.db").display()),
            ])
            .args(["--bootstrap-admin-file", &admin_file.display().to_string()])
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("spawn m2m serve"),
    );
    let http = reqwest::Client::new();
    let endpoint = wait_ready(&mut serve, &http, &ready_file, &log).await;

    let admin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&admin_file).expect("admin file"))
            .expect("json");
    let admin_tokens = m2m_client::TokenSource::builder(
        format!("{endpoint}/oauth/token"),
        admin["client_id"].as_str().expect("id"),
        admin["client_secret"].as_str().expect("secret"),
    )
    .scope("m2m:admin")
    .build()
    .expect("admin source");
    let created: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!("{endpoint}/admin/clients"))
            .header("authorization", admin_tokens.token().await.expect("admin token").authorization())
            .header("content-type", "application/json")
            .body(serde_json::json!({"name":"bin","kind":"service","audiences":[API_AUDIENCE],"scopes":["reports:read"]}).to_string())
            .send()
            .await
            .expect("create")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("json");

    let guard = m2m_guard::Guard::builder(endpoint.as_str(), API_AUDIENCE)
        .jwks_url(format!("{endpoint}/.well-known/jwks.json"))
        .build()
        .await
        .expect("guard over the binary's JWKS");
    let client = m2m_client::TokenSource::builder(
        format!("{endpoint}/oauth/token"),
        created["client_id"].as_str().expect("id"),
        created["client_secret"].as_str().expect("secret"),
    )
    .build()
    .expect("source");
    let token = client.token().await.expect("token");
    let auth = guard
        .check_token(token.secret())
        .expect("the guard accepts the binary's token");
    assert_eq!(
        auth.client_id().as_str(),
        created["client_id"].as_str().expect("id")
    );
    assert!(guard.check_token("not.a.token").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
