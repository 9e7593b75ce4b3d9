//! A SIGKILL in the middle of client creations and token requests loses
//! nothing that was acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn admin_token(endpoint: &str, client_id: &str, secret: &str) -> String {
    let (status, body) = token(endpoint, client_id, secret);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

#[test]
fn sigkill_loses_no_acknowledged_client_and_keeps_the_key() {
    let dir = TempDir::new("durability");
    // A fixed issuer URL: the restarted server listens on another port.
    let issuer = Options {
        args: vec!["--issuer".into(), "http://m2m.test".into()],
        ..Options::default()
    };
    let mut server = Server::start(dir.path(), issuer.clone());
    let (admin_id, admin_secret) = admin_credentials(&server);
    let bootstrap_file = std::fs::read(&server.admin_file).expect("admin file");
    let admin = admin_token(&server.endpoint, &admin_id, &admin_secret);
    let old_token = admin.clone();
    let (_, jwks_before) =
        ureq_get(&format!("{}/.well-known/jwks.json", server.endpoint)).expect("jwks");
    let kids_before: Value = serde_json::from_str(&jwks_before).expect("jwks json");

    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..2 {
        let endpoint = server.endpoint.clone();
        let admin = admin.clone();
        let acknowledged = Arc::clone(&acknowledged);
        let stop = Arc::clone(&stop);
        workers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                n += 1;
                let body = format!(
                    r#"{{"name":"w{worker}-{n}","kind":"org","org_id":"o","scopes":["a:b"]}}"#
                );
                let auth = format!("Bearer {admin}");
                let Ok((status, _, reply)) = http(
                    "POST",
                    &format!("{endpoint}/admin/clients"),
                    &[
                        ("Authorization", &auth),
                        ("Content-Type", "application/json"),
                    ],
                    &body,
                ) else {
                    break; // the server is gone
                };
                if status == 201 {
                    let json: Value = serde_json::from_str(&reply).expect("create JSON");
                    let id = json["client_id"].as_str().expect("id").to_owned();
                    let secret = json["client_secret"].as_str().expect("secret").to_owned();
                    // Token traffic at the same time (it may die with the server).
                    let form = format!(
                        "grant_type=client_credentials&client_id={id}&client_secret={secret}"
                    );
                    let _ = http(
                        "POST",
                        &format!("{endpoint}/oauth/token"),
                        &[("Content-Type", "application/x-www-form-urlencoded")],
                        &form,
                    );
                    if let Ok(mut list) = acknowledged.lock() {
                        list.push((id, secret));
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    let acknowledged = acknowledged.lock().expect("list").clone();
    assert!(
        acknowledged.len() >= 5,
        "too few creations to mean anything: {}",
        acknowledged.len()
    );

    let restarted = Server::start(
        dir.path(),
        Options {
            log_name: Some("restart.log".into()),
            ..issuer
        },
    );
    assert_eq!(
        std::fs::read(&restarted.admin_file).expect("admin file"),
        bootstrap_file,
        "bootstrap file rewritten"
    );
    for (id, secret) in &acknowledged {
        let (status, body) = token(&restarted.endpoint, id, secret);
        assert_eq!(
            status, 200,
            "client {id} acknowledged before the kill: {body}"
        );
    }
    let (_, jwks_after) =
        ureq_get(&format!("{}/.well-known/jwks.json", restarted.endpoint)).expect("jwks");
    let kids_after: Value = serde_json::from_str(&jwks_after).expect("jwks json");
    assert_eq!(
        kids_before["keys"][0]["kid"], kids_after["keys"][0]["kid"],
        "same signing key"
    );
    // A token from before the kill verifies against the new process's JWKS.
    let claims = restarted.cli_json(&["verify", &old_token]);
    assert_eq!(claims["client_id"], admin_id.as_str());
}
