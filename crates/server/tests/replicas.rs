//! Two `m2m serve` processes on one PostgreSQL database behave as one issuer.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A fresh schema in the CI PostgreSQL, or `None` (with a note) when
/// `M2M_TEST_POSTGRES_URL` is unset. When it is set, failures are failures.
pub(crate) fn fresh_schema() -> Option<(String, String)> {
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

pub(crate) fn drop_schema(schema: &str) {
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

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

fn introspect_active(endpoint: &str, admin: &(String, String), token: &str) -> bool {
    let form = serde_urlencoded::to_string([
        ("token", token),
        ("client_id", admin.0.as_str()),
        ("client_secret", admin.1.as_str()),
    ])
    .expect("form");
    let (status, _, body) = http(
        "POST",
        &format!("{endpoint}/oauth/introspect"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .expect("introspect");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).expect("json")["active"] == true
}

/// A client disabled through replica A: replica B may still mint from its
/// cached record for up to its cache TTL, and every such token is covered by
/// the revocation A wrote (the feed's `revoked_at` covers the window), so a
/// guard polling either feed refuses it, and so does B's introspection.
#[test]
fn tokens_a_replica_mints_from_a_stale_cache_cannot_outlive_a_disable() {
    let Some((url, schema)) = fresh_schema() else {
        return;
    };
    let key = ("M2M_KEY_ENCRYPTION_KEY".to_owned(), "6b".repeat(32));
    let issuer = vec!["--issuer".to_owned(), "http://m2m.test".to_owned()];
    let a_dir = TempDir::new("stale-a");
    let a = Server::start(
        a_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key.clone()],
            args: issuer.clone(),
            log_name: Some("a.log".into()),
        },
    );
    let b_dir = TempDir::new("stale-b");
    let b = Server::start(
        b_dir.path(),
        Options {
            database: Some(url.clone()),
            env: vec![key],
            args: issuer,
            log_name: Some("b.log".into()),
        },
    );
    let admin = admin_credentials(&a);
    let created = a.cli_json(&[
        "client", "create", "--name", "x", "--kind", "org", "--org-id", "o", "--scope", "s:r",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (status, _) = token(&b.endpoint, &id, &secret); // B caches the client
    assert_eq!(status, 200);

    a.cli_json(&["client", "update", &id, "--disable", "--json"]);
    // Right after the change, B may mint from its cache: collect what it gives.
    let mut minted = Vec::new();
    for _ in 0..5 {
        let (status, body) = token(&b.endpoint, &id, &secret);
        if status == 200 {
            minted.push(body["access_token"].as_str().expect("token").to_owned());
        }
    }
    for endpoint in [&a.endpoint, &b.endpoint] {
        let (_, feed) = ureq_get(&format!("{endpoint}/oauth/revocations")).expect("feed");
        let feed: Value = serde_json::from_str(&feed).expect("feed json");
        let revoked_at = feed["revoked_clients"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["client_id"] == id.as_str()))
            .and_then(|e| e["revoked_at"].as_u64())
            .unwrap_or_else(|| panic!("no client entry in {feed}"));
        for token in &minted {
            let iat = claims_of(token)["iat"].as_u64().expect("iat");
            assert!(
                iat <= revoked_at,
                "B minted at {iat}, after the revocation's {revoked_at}: a feed-polling guard would accept it"
            );
        }
    }
    for token in &minted {
        assert!(
            !introspect_active(&b.endpoint, &admin, token),
            "B's introspection"
        );
        assert!(
            !introspect_active(&a.endpoint, &admin, token),
            "A's introspection"
        );
    }
    // Past B's 2 s cache B reads the store and mints nothing more.
    eventually("B stops minting", Duration::from_secs(10), || {
        token(&b.endpoint, &id, &secret).0 == 401
    });
    eprintln!(
        "B minted {} token(s) from its cache after the disable, all covered",
        minted.len()
    );
    drop(a);
    drop(b);
    drop_schema(&schema);
}
