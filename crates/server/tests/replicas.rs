//! Two `m2m serve` processes on one PostgreSQL database behave as one issuer.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A fresh schema in the CI PostgreSQL, or `None` (with a note) when
/// `M2M_TEST_POSTGRES_URL` is unset. When it is set, failures are failures.
fn fresh_schema() -> Option<(String, String)> {
    let Ok(base) = std::env::var("M2M_TEST_POSTGRES_URL") else {
        eprintln!("skipped: M2M_TEST_POSTGRES_URL not set");
        return None;
    };
    let nonce: u64 = u64::from_le_bytes(m2m_core::random_bytes().expect("randomness"));
    let schema = format!("m2m_replicas_{nonce:x}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("M2M_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    Some((url, schema))
}

fn drop_schema(schema: &str) {
    if let Ok(base) = std::env::var("M2M_TEST_POSTGRES_URL") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            use sqlx::Connection as _;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {within:?}");
}

fn kids(endpoint: &str) -> Vec<String> {
    let (_, body) = ureq_get(&format!("{endpoint}/.well-known/jwks.json")).expect("jwks");
    let jwks: Value = serde_json::from_str(&body).expect("jwks json");
    jwks["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn header_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let json: Value = serde_json::from_slice(&bytes).expect("json");
    json["kid"].as_str().expect("kid").to_owned()
}

#[test]
fn two_replicas_share_clients_keys_and_revocations() {
    let Some((url, schema)) = fresh_schema() else {
        return;
    };
    let dir = TempDir::new("replicas");
    let key = ("M2M_KEY_ENCRYPTION_KEY".to_owned(), "5a".repeat(32));
    // Short timings so rotation is observable in a test: JWKS max-age 1 s,
    // prepublish 2 s, key reload every 1 s.
    let fast = vec![
        "--jwks-max-age".to_owned(),
        "1".to_owned(),
        "--key-prepublish".to_owned(),
        "2".to_owned(),
        "--key-refresh-interval".to_owned(),
        "1".to_owned(),
        "--issuer".to_owned(),
        "http://m2m.test".to_owned(),
    ];
    let a = Server::start(
        dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key.clone()],
            args: fast.clone(),
            log_name: Some("a.log".into()),
        },
    );
    let b_dir = TempDir::new("replicas-b");
    let b = Server::start(
        b_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key],
            args: fast,
            log_name: Some("b.log".into()),
        },
    );
    assert!(
        !b.admin_file.exists(),
        "B found a bootstrapped database and wrote no admin file"
    );

    // A client created through A gets tokens from B.
    let created = a.cli_json(&[
        "client", "create", "--name", "x", "--kind", "org", "--org-id", "o", "--scope", "s:r",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (status, body) = token(&b.endpoint, &id, &secret);
    assert_eq!(status, 200, "{body}");
    let before_rotation = body["access_token"].as_str().expect("token").to_owned();

    // A key rotated through A is published by B, then used by B.
    let old_kid = header_kid(&before_rotation);
    a.cli_json(&["key", "rotate", "--json"]);
    eventually("B publishes the new key", Duration::from_secs(10), || {
        kids(&b.endpoint).len() == 2
    });
    eventually("B signs with the new key", Duration::from_secs(15), || {
        let (status, body) = token(&b.endpoint, &id, &secret);
        status == 200
            && body["access_token"]
                .as_str()
                .is_some_and(|t| header_kid(t) != old_kid)
    });

    // A revocation through A shows in B's feed.
    let jti = a.cli_json(&["verify", &before_rotation, "--audience", "http://m2m.test"])["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let form = serde_urlencoded::to_string([
        ("token", before_rotation.as_str()),
        ("client_id", &id),
        ("client_secret", &secret),
    ])
    .expect("form");
    let (status, _, _) = http(
        "POST",
        &format!("{}/oauth/revoke", a.endpoint),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .expect("revoke");
    assert_eq!(status, 200);
    let (status, feed) = ureq_get(&format!("{}/oauth/revocations", b.endpoint)).expect("feed");
    assert_eq!(status, 200);
    assert!(
        feed.contains(&jti),
        "B's feed lacks the revoked jti: {feed}"
    );

    drop(a);
    drop(b);
    drop_schema(&schema);
}
