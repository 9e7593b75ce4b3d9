//! The issuer as the `m2m` binary, with a guard and a machine client.

use std::process::{Child, Command, Stdio};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_m2m_binary_issues_tokens_a_guard_accepts() {
    let dir = std::env::temp_dir().join(format!(
        "m2m-e2e-{:x}",
        u64::from_le_bytes(m2m_core::random_bytes().expect("random"))
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let admin_file = dir.join("admin.json");
    let _serve = Serve(
        Command::new(m2m_binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--database",
                &format!("sqlite://{}?mode=rwc", dir.join("m2m.db").display()),
            ])
            .args(["--bootstrap-admin-file", &admin_file.display().to_string()])
            .env_remove("M2M_KEY_ENCRYPTION_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn m2m serve"),
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{endpoint}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "m2m serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
