//! A SIGKILL in the middle of client creations and token requests loses
//! nothing that was acknowledged.
//!
//! The kill comes after a number of acknowledged creations, not after a
//! time: how fast this machine creates clients changes nothing but how long
//! the test takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Creations acknowledged (201 with the new client's secret) before the kill.
const ACKNOWLEDGED_BEFORE_KILL: usize = 20;
/// Workers creating clients and asking tokens for them, side by side.
const WORKERS: usize = 2;
/// Requests per worker at most, a bound on the loop should the kill never come.
const MAX_CREATIONS_PER_WORKER: usize = 2_000;
/// How long the server gets to acknowledge ACKNOWLEDGED_BEFORE_KILL creations.
const TIMEOUT: Duration = Duration::from_secs(60);

fn admin_token(endpoint: &str, client_id: &str, secret: &str) -> String {
    let (status, body) = token(endpoint, client_id, secret);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// What the workers saw.
#[derive(Default)]
struct Seen {
    /// Clients whose creation was acknowledged: (client_id, client_secret).
    acknowledged: Vec<(String, String)>,
    /// Token requests for acknowledged clients answered 200 with a token.
    tokens: usize,
    /// Token requests that the kill cut off (no answer after the kill).
    tokens_cut: usize,
    /// Workers that stopped because the server was gone after the kill.
    stopped_by_kill: usize,
    /// Anything else: an error status, a bad body, or no answer before the kill.
    failures: Vec<String>,
}

/// Creates clients and gets a token for each until the server is gone.
fn worker(worker: usize, endpoint: &str, admin: &str, killed: &AtomicBool, seen: &Mutex<Seen>) {
    let record = |update: &dyn Fn(&mut Seen)| update(&mut seen.lock().expect("seen"));
    let auth = format!("Bearer {admin}");
    for n in 0..MAX_CREATIONS_PER_WORKER {
        let body =
            format!(r#"{{"name":"w{worker}-{n}","kind":"org","org_id":"o","scopes":["a:b"]}}"#);
        let created = http(
            "POST",
            &format!("{endpoint}/admin/clients"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
        // Read the flag after the answer: set before the kill, it is true for
        // every request the kill could have cut.
        let after_kill = killed.load(Ordering::SeqCst);
        let (id, secret) = match created {
            Err(_) if after_kill => return record(&|s| s.stopped_by_kill += 1),
            Err(e) => return record(&|s| s.failures.push(format!("create: no answer: {e}"))),
            Ok((201, _, reply)) => match serde_json::from_str::<Value>(&reply) {
                Ok(json) => (
                    json["client_id"].as_str().expect("client_id").to_owned(),
                    json["client_secret"]
                        .as_str()
                        .expect("client_secret")
                        .to_owned(),
                ),
                // A body cut short by the kill acknowledged nothing.
                Err(_) if after_kill => return record(&|s| s.stopped_by_kill += 1),
                Err(e) => {
                    return record(&|s| s.failures.push(format!("create: {e}: {reply}")));
                }
            },
            Ok((status, _, reply)) => {
                return record(&|s| s.failures.push(format!("create: {status} {reply}")));
            }
        };
        record(&|s| s.acknowledged.push((id.clone(), secret.clone())));

        // Token traffic at the same time: an acknowledged client gets its token.
        let form = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .expect("form");
        let answer = http(
            "POST",
            &format!("{endpoint}/oauth/token"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &form,
        );
        let after_kill = killed.load(Ordering::SeqCst);
        match answer {
            Ok((200, _, reply))
                if serde_json::from_str::<Value>(&reply)
                    .is_ok_and(|json| json["access_token"].is_string()) =>
            {
                record(&|s| s.tokens += 1);
            }
            Err(_) if after_kill => {
                return record(&|s| {
                    s.tokens_cut += 1;
                    s.stopped_by_kill += 1;
                });
            }
            Ok((200, _, _)) if after_kill => {
                return record(&|s| {
                    s.tokens_cut += 1;
                    s.stopped_by_kill += 1;
                });
            }
            Err(e) => {
                return record(&|s| {
                    s.failures.push(format!("token for {id}: no answer: {e}"));
                });
            }
            Ok((status, _, reply)) => {
                return record(&|s| s.failures.push(format!("token for {id}: {status} {reply}")));
            }
        }
    }
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

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            let endpoint = server.endpoint.clone();
            let admin = admin.clone();
            let seen = Arc::clone(&seen);
            let killed = Arc::clone(&killed);
            std::thread::spawn(move || worker(n, &endpoint, &admin, &killed, &seen))
        })
        .collect();

    // Kill once enough creations are acknowledged, while the workers go on.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (acknowledged, failures) = {
            let seen = seen.lock().expect("seen");
            (seen.acknowledged.len(), seen.failures.clone())
        };
        assert!(
            failures.is_empty(),
            "before the kill: {failures:#?}\nserver log:\n{}",
            server.log_text()
        );
        if acknowledged >= ACKNOWLEDGED_BEFORE_KILL {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {acknowledged} of {ACKNOWLEDGED_BEFORE_KILL} creations acknowledged within {TIMEOUT:?}; server log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.store(true, Ordering::SeqCst);
    server.kill9();
    for worker in workers {
        worker.join().expect("worker panicked");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert!(seen.failures.is_empty(), "{:#?}", seen.failures);
    assert_eq!(
        seen.stopped_by_kill, WORKERS,
        "every worker was still sending when the server was killed"
    );
    let acknowledged = seen.acknowledged;
    assert!(acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL);
    assert_eq!(
        seen.tokens + seen.tokens_cut,
        acknowledged.len(),
        "every acknowledged client got its token, or the kill cut the request"
    );
    assert!(seen.tokens_cut <= WORKERS);

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
        assert!(
            body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
            "client {id} acknowledged before the kill got no token after the restart: {body}"
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
