//! The admin CLI against a running server: every command of contract section 8.

use crate::harness::*;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn admin_commands_token_and_verify() {
    let dir = TempDir::new("cli");
    let server = Server::start(dir.path(), Options::default());

    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "billing agent",
        "--kind",
        "org",
        "--org-id",
        "org_42",
        "--scope",
        "invoices:read",
        "--scope",
        "invoices:write",
        "--json",
    ]);
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert!(client_id.starts_with("m2m_"));
    assert_eq!(created["kind"], "org");
    assert_eq!(created["org_id"], "org_42");

    // People get tables.
    let table = stdout(&server.cli(&["client", "list"]));
    assert!(table.starts_with("CLIENT_ID"), "{table}");
    assert!(
        table.contains(&client_id) && table.contains("billing agent"),
        "{table}"
    );
    let listed = server.cli_json(&["client", "list", "--org-id", "org_42", "--json"]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let shown = server.cli_json(&["client", "show", &client_id, "--json"]);
    assert_eq!(shown["name"], "billing agent");
    assert!(
        shown.get("client_secret").is_none(),
        "a secret is shown only once"
    );

    // token prints the bare token; verify prints its claims and exits 0.
    let output = server.cli(&[
        "token",
        "--client-id",
        &client_id,
        "--client-secret",
        &secret,
        "--scope",
        "invoices:read",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let access = stdout(&output).trim().to_owned();
    assert_eq!(access.matches('.').count(), 2, "{access}");
    let claims = server.cli_json(&["verify", &access]);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["oid"], "org_42");
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(claims["iss"], server.endpoint.as_str());
    // `verify -` reads the token from standard input, out of `ps` and history.
    let from_stdin = verify_stdin(&server, &format!("{access}\n"));
    assert!(
        from_stdin.status.success(),
        "{}",
        String::from_utf8_lossy(&from_stdin.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&from_stdin.stdout).expect("claims");
    assert_eq!(claims["client_id"], client_id.as_str());
    let empty = verify_stdin(&server, "");
    assert_eq!(empty.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("no token on standard input"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );

    // A tampered token: exit 1 and a reason.
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    let output = server.cli(&["verify", &tampered]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid token"));
    // Another audience than the token's.
    let output = server.cli(&["verify", &access, "--audience", "https://elsewhere"]);
    assert_eq!(output.status.code(), Some(1));

    // A second secret works; removing it makes exactly it fail.
    let added = server.cli_json(&["secret", "add", &client_id, "--json"]);
    let second = added["client_secret"].as_str().expect("secret").to_owned();
    let second_id = added["secret_id"].as_str().expect("id").to_owned();
    assert_eq!(token(&server.endpoint, &client_id, &second).0, 200);
    let output = server.cli(&["secret", "remove", &client_id, &second_id]);
    assert!(output.status.success());
    assert_eq!(token(&server.endpoint, &client_id, &second).0, 401);
    assert_eq!(token(&server.endpoint, &client_id, &secret).0, 200);

    // Disable, enable, delete.
    let updated = server.cli_json(&["client", "update", &client_id, "--disable", "--json"]);
    assert_eq!(updated["enabled"], false);
    assert_eq!(token(&server.endpoint, &client_id, &secret).0, 401);
    server.cli_json(&[
        "client", "update", &client_id, "--enable", "--name", "renamed", "--json",
    ]);
    assert_eq!(token(&server.endpoint, &client_id, &secret).0, 200);
    let output = server.cli(&["client", "delete", &client_id]);
    assert!(output.status.success());
    assert_eq!(token(&server.endpoint, &client_id, &secret).0, 401);
    let output = server.cli(&["client", "show", &client_id]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("404"));

    // Key rotation answers with the new key, published at once and signing
    // only after the prepublication time (one hour by default).
    let kids_before = jwks_kids(&server.endpoint);
    assert_eq!(kids_before.len(), 1, "{kids_before:?}");
    let now = unix_now();
    let rotated = server.cli_json(&["key", "rotate", "--json"]);
    let kid = rotated["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid: {rotated}"));
    assert_eq!(
        rotated["superseded"],
        serde_json::Value::Null,
        "no key was waiting to sign: {rotated}"
    );
    assert!(
        !kids_before.iter().any(|k| k == kid),
        "a new kid: {rotated}"
    );
    let signs_from = rotated["signs_from_unix"]
        .as_u64()
        .unwrap_or_else(|| panic!("no signs_from_unix: {rotated}"));
    assert!(
        (now + 3_000..=now + 4_200).contains(&signs_from),
        "signs about an hour from now ({now}): {rotated}"
    );
    let stamp = rotated["signs_from"]
        .as_str()
        .unwrap_or_else(|| panic!("no signs_from: {rotated}"));
    assert!(
        stamp.len() >= 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'),
        "signs_from is an RFC 3339 time: {rotated}"
    );
    let kids_after = jwks_kids(&server.endpoint);
    assert!(
        kids_after.iter().any(|k| k == kid) && kids_after.contains(&kids_before[0]),
        "the JWKS publishes the new key beside the current one: {kids_after:?}"
    );
    // Until then, tokens are still signed by the current key.
    let (admin_id, admin_secret) = admin_credentials(&server);
    let (status, body) = token(&server.endpoint, &admin_id, &admin_secret);
    assert_eq!(status, 200, "{body}");
    let header = body["access_token"]
        .as_str()
        .and_then(|t| t.split('.').next())
        .expect("token");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
            .expect("base64"),
    )
    .expect("header JSON");
    assert_eq!(header["kid"], kids_before[0].as_str());
    // A second rotation before that key signs replaces it, and says so.
    let output = server.cli(&["key", "rotate"]);
    assert!(output.status.success());
    let table = stdout(&output);
    assert!(
        table.starts_with("FIELD") && table.contains("kid"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line == format!("superseded pending key {kid}")),
        "{table}"
    );
    let second_kid = table
        .lines()
        .find_map(|line| line.strip_prefix("kid"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no kid row: {table}"))
        .to_owned();
    let third = server.cli_json(&["key", "rotate", "--json"]);
    assert_eq!(third["superseded"], second_kid.as_str(), "{third}");
}

fn jwks_kids(endpoint: &str) -> Vec<String> {
    let (status, body) = ureq_get(&format!("{endpoint}/.well-known/jwks.json")).expect("jwks");
    assert_eq!(status, 200, "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).expect("jwks JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn clear_errors_without_a_server_or_admin_file() {
    let dir = TempDir::new("cli-errors");
    let nobody = ClosedPort::new();
    let nowhere = format!("http://127.0.0.1:{}", nobody.port);
    let output = m2m(dir.path())
        .args(["--endpoint", &nowhere, "client", "list"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot read the admin file"),
        "{stderr}"
    );
    let output = m2m(dir.path())
        .args(["--endpoint", &nowhere])
        .args(["token", "--client-id", "m2m_x", "--client-secret", "m2ms_y"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach"));
}

/// The value of the `field:` line of a `field: value` table.
fn table_field(table: &str, field: &str) -> Option<String> {
    table
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.trim().to_owned())
}

#[test]
fn client_tables_show_redirect_uris_and_the_secret_id() {
    let dir = TempDir::new("cli-tables");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--dev-consent".into()],
            ..Options::default()
        },
    );
    let redirect = "http://127.0.0.1:1/callback";
    let output = server.cli(&[
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
        redirect,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = stdout(&output);
    assert_eq!(
        table_field(&table, "redirect_uris").as_deref(),
        Some(redirect),
        "{table}"
    );
    let client_id = table_field(&table, "client_id").expect("client_id");
    let secret_id = table_field(&table, "secret_id")
        .unwrap_or_else(|| panic!("client create shows the secret's id:\n{table}"));
    let shown = server.cli_json(&["client", "show", &client_id, "--json"]);
    assert_eq!(shown["redirect_uris"][0], redirect, "{shown}");
    assert_eq!(
        shown["secrets"][0]["secret_id"],
        secret_id.as_str(),
        "{shown}"
    );

    let table = stdout(&server.cli(&["client", "show", &client_id]));
    assert_eq!(
        table_field(&table, "redirect_uris").as_deref(),
        Some(redirect),
        "{table}"
    );

    // The id shown is the one `secret remove` takes.
    let output = server.cli(&["secret", "remove", &client_id, &secret_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = server.cli_json(&["client", "show", &client_id, "--json"]);
    assert_eq!(
        shown["secrets"].as_array().map(Vec::len),
        Some(0),
        "{shown}"
    );

    // Without secrets it can be made public.
    let table = stdout(&server.cli(&[
        "client",
        "update",
        &client_id,
        "--token-endpoint-auth-method",
        "none",
    ]));
    assert_eq!(
        table_field(&table, "token_endpoint_auth_method").as_deref(),
        Some("none"),
        "{table}"
    );

    // A public client is created without a secret.
    let output = server.cli(&[
        "client",
        "create",
        "--name",
        "desktop agent",
        "--kind",
        "user",
        "--org-id",
        "org_7",
        "--scope",
        "notes:read",
        "--redirect-uri",
        redirect,
        "--token-endpoint-auth-method",
        "none",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = stdout(&output);
    assert_eq!(
        table_field(&table, "token_endpoint_auth_method").as_deref(),
        Some("none"),
        "{table}"
    );
    assert!(table_field(&table, "client_secret").is_none(), "{table}");
    assert!(table.contains("a public client: no secret"), "{table}");

    // Only user clients may be public.
    let output = server.cli(&[
        "client",
        "create",
        "--name",
        "svc",
        "--kind",
        "service",
        "--audience",
        "https://api.example.com",
        "--scope",
        "notes:read",
        "--token-endpoint-auth-method",
        "none",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kind user"), "{stderr}");
}

/// `m2m verify -` against `server`, with `input` on its standard input.
fn verify_stdin(server: &Server, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let dir = server.admin_file.parent().expect("dir");
    let mut child = m2m(dir)
        .args(["--endpoint", &server.endpoint, "verify", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn m2m verify -");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write the token");
    child.wait_with_output().expect("m2m verify -")
}

#[test]
fn verify_warns_about_a_plain_http_jwks_from_another_host() {
    let dir = TempDir::new("verify-http");
    let closed = ClosedPort::new();
    let run = |host: &str| {
        let jwks = format!("http://{host}:{}/.well-known/jwks.json", closed.port);
        let output = m2m(dir.path())
            .args(["verify", "--issuer", "https://auth.test", "--jwks", &jwks])
            .arg("a.b.c")
            .output()
            .expect("run m2m verify");
        assert_eq!(output.status.code(), Some(1), "nothing listens there");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // 0.0.0.0 is not a loopback address (connecting to it reaches this
    // machine on Linux, so the refusal comes at once).
    let stderr = run("0.0.0.0");
    assert_eq!(
        stderr
            .matches("warning: the JWKS is fetched over plain http")
            .count(),
        1,
        "{stderr}"
    );
    for host in ["127.0.0.1", "localhost"] {
        let stderr = run(host);
        assert!(!stderr.contains("warning"), "{host}: {stderr}");
    }
}

#[test]
fn audit_lists_events_with_filters_as_a_table_and_json() {
    let dir = TempDir::new("cli-audit");
    let server = Server::start(dir.path(), Options::default());
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "svc",
        "--kind",
        "service",
        "--scope",
        "a:b",
        "--audience",
        "https://api.test",
        "--json",
    ]);
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();
    let page = server.cli_json(&[
        "audit",
        "--client-id",
        &client_id,
        "--kind",
        "client.created",
        "--json",
    ]);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["client_id"], client_id.as_str(), "{page}");
    let output = server.cli(&["audit", "--limit", "5"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = stdout(&output);
    assert!(table.starts_with("AT"), "{table}");
    assert!(
        table.contains("client.created") && table.contains(&client_id),
        "{table}"
    );
    // --until is exclusive and takes the same RFC 3339 times as --since.
    let created_at = |until: &str| {
        let page = server.cli_json(&[
            "audit",
            "--client-id",
            &client_id,
            "--kind",
            "client.created",
            "--until",
            until,
            "--json",
        ]);
        page["items"].as_array().expect("items").len()
    };
    assert_eq!(created_at("2000-01-01T00:00:00Z"), 0, "nothing before 2000");
    assert_eq!(
        created_at("2999-01-01T00:00:00+01:00"),
        1,
        "the event is before 2999"
    );
    let at = items[0]["at"].as_str().expect("at");
    assert_eq!(created_at(at), 0, "--until is exclusive");
    for flag in ["--since", "--until"] {
        let bad = server.cli(&["audit", flag, "yesterday"]);
        assert!(!bad.status.success(), "a bad {flag} is refused");
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(stderr.contains(&flag[2..]), "{flag}: {stderr}");
    }
}

#[test]
fn sigterm_keeps_the_current_minute_of_token_aggregates() {
    let dir = TempDir::new("cli-audit-sigterm");
    let mut server = Server::start(
        dir.path(),
        Options {
            args: vec!["--issuer".into(), "http://auth.test".into()],
            ..Options::default()
        },
    );
    let (id, secret) = admin_credentials(&server);
    for _ in 0..3 {
        assert_eq!(token(&server.endpoint, &id, &secret).0, 200);
    }
    assert!(server.terminate().success());
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--issuer".into(), "http://auth.test".into()],
            ..Options::default()
        },
    );
    // This listing's own login is one more token of the admin client.
    let page = server.cli_json(&["audit", "--kind", "tokens.issued", "--json"]);
    let total: u64 = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["client_id"] == id.as_str())
        .map(|e| e["detail"]["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        total, 4,
        "the 3 tokens before SIGTERM and the listing's: {page}"
    );
}

/// `m2m client federation add|list|remove` against the admin API.
#[test]
fn client_federation_add_list_remove() {
    let dir = TempDir::new("cli-federation");
    let server = Server::start(dir.path(), Options::default());
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "deployer",
        "--kind",
        "service",
        "--scope",
        "deploy",
        "--audience",
        "https://api.example.com",
        "--json",
    ]);
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();

    let gh = server.cli_json(&[
        "client",
        "federation",
        "add",
        &client_id,
        "--issuer",
        "https://token.actions.githubusercontent.com",
        "--subject",
        "repo:acme/app:ref:refs/heads/*",
        "--claim",
        "repository=acme/app",
        "--claim",
        "ref=refs/heads/main",
        "--json",
    ]);
    let gh_id = gh["id"].as_str().expect("id").to_owned();
    assert_eq!(gh["audience"], server.endpoint.as_str());
    assert_eq!(gh["claims"]["ref"], "refs/heads/main");

    let jwks_file = dir.path().join("cluster-jwks.json");
    let key = m2m_core::SigningKey::generate(m2m_core::Algorithm::ES256).expect("key");
    std::fs::write(
        &jwks_file,
        serde_json::json!({"keys": [key.public_jwk()]}).to_string(),
    )
    .expect("write jwks");
    let k8s = server.cli_json(&[
        "client",
        "federation",
        "add",
        &client_id,
        "--issuer",
        "https://kubernetes.default.svc.cluster.local",
        "--subject",
        "system:serviceaccount:ci:deployer",
        "--audience",
        "m2m-auth",
        "--claim",
        "/kubernetes.io/namespace=ci",
        "--jwks-file",
        jwks_file.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(k8s["jwks"]["keys"][0]["kid"], key.kid());

    let table = stdout(&server.cli(&["client", "federation", "list", &client_id]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&gh_id) && table.contains("discovery"),
        "{table}"
    );
    assert!(
        table.contains("inline") && table.contains("m2m-auth"),
        "{table}"
    );

    let output = server.cli(&["client", "federation", "remove", &client_id, &gh_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = server.cli_json(&["client", "federation", "list", &client_id, "--json"]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    // Removing it again, or a bad claim flag, fails with a message.
    let output = server.cli(&["client", "federation", "remove", &client_id, &gh_id]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("404"));
    let output = server.cli(&[
        "client",
        "federation",
        "add",
        &client_id,
        "--issuer",
        "https://x",
        "--subject",
        "s",
        "--claim",
        "no-equals",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("NAME=VALUE"));
    let output = server.cli(&[
        "client",
        "federation",
        "add",
        &client_id,
        "--issuer",
        "https://x",
        "--subject",
        "*",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("422"));
}

/// `m2m client create --token-endpoint-auth-method private_key_jwt
/// --jwks-file` and `m2m client key add|list|remove`: a key rotation from
/// the command line, each key proven by getting a token with it.
#[test]
fn client_key_add_list_remove_rotates_a_private_key_jwt_client() {
    let dir = TempDir::new("cli-client-keys");
    let server = Server::start(dir.path(), Options::default());
    let old = m2m_core::SigningKey::generate(m2m_core::Algorithm::ES256).expect("key");
    let new = m2m_core::SigningKey::generate(m2m_core::Algorithm::EdDSA).expect("key");
    let jwks_file = dir.path().join("client-jwks.json");
    std::fs::write(
        &jwks_file,
        serde_json::json!({"keys": [old.public_jwk()]}).to_string(),
    )
    .expect("write jwks");
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "keyed",
        "--kind",
        "org",
        "--org-id",
        "org_1",
        "--scope",
        "invoices:read",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-file",
        jwks_file.to_str().expect("path"),
        "--json",
    ]);
    assert!(created.get("client_secret").is_none(), "{created}");
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();

    let token_endpoint = format!("{}/oauth/token", server.endpoint);
    let gets_token = |key: &m2m_core::SigningKey| {
        let source = m2m_client::TokenSource::private_key_jwt(
            token_endpoint.as_str(),
            client_id.as_str(),
            m2m_core::SigningKey::from_pkcs8_der(key.pkcs8_der()).expect("key copy"),
        )
        .build()
        .expect("source");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(source.token())
            .is_ok()
    };
    assert!(gets_token(&old));
    assert!(!gets_token(&new), "a key not yet added gets no token");

    let new_file = dir.path().join("new-jwk.json");
    std::fs::write(
        &new_file,
        serde_json::to_string(new.public_jwk()).expect("json"),
    )
    .expect("write jwk");
    let added = server.cli_json(&[
        "client",
        "key",
        "add",
        &client_id,
        "--jwk-file",
        new_file.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(added["kid"], new.kid());
    let table = stdout(&server.cli(&["client", "key", "list", &client_id]));
    assert!(table.starts_with("KID"), "{table}");
    assert!(
        table.contains(old.kid()) && table.contains(new.kid()),
        "{table}"
    );
    assert!(gets_token(&new));

    let output = server.cli(&["client", "key", "remove", &client_id, old.kid()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!gets_token(&old), "a removed key gets no token");
    assert!(gets_token(&new));
    let listed = server.cli_json(&["client", "key", "list", &client_id, "--json"]);
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "{listed}");
    // The last key stays; an unknown kid is a 404.
    let output = server.cli(&["client", "key", "remove", &client_id, new.kid()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("422"));
    let output = server.cli(&["client", "key", "remove", &client_id, "no-such-kid"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("404"));
}

/// `m2m client create|update --quota-*` and `update --no-quota` set, replace
/// and remove a client's quota override; a bad one is the server's 422.
#[test]
fn client_quota_flags_set_replace_and_remove_the_override() {
    let dir = TempDir::new("cli-client-quota");
    let server = Server::start(dir.path(), Options::default());
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "batch",
        "--kind",
        "org",
        "--org-id",
        "org_quota",
        "--scope",
        "read",
        "--quota-per-minute",
        "5",
        "--quota-mode",
        "log_only",
        "--json",
    ]);
    assert_eq!(
        created["quota"],
        serde_json::json!({"per_minute": 5, "mode": "log_only"})
    );
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();

    let updated = server.cli_json(&[
        "client",
        "update",
        &client_id,
        "--quota-per-hour",
        "7",
        "--quota-per-day",
        "9",
        "--json",
    ]);
    assert_eq!(
        updated["quota"],
        serde_json::json!({"per_hour": 7, "per_day": 9})
    );

    let refused = server.cli(&["client", "update", &client_id, "--quota-per-minute", "0"]);
    assert!(!refused.status.success());
    let shown = server.cli_json(&["client", "show", &client_id, "--json"]);
    assert_eq!(
        shown["quota"],
        serde_json::json!({"per_hour": 7, "per_day": 9})
    );

    let table = stdout(&server.cli(&["client", "show", &client_id]));
    assert!(table.contains("quota"), "{table}");

    let removed = server.cli_json(&["client", "update", &client_id, "--no-quota", "--json"]);
    assert!(removed.get("quota").is_none(), "{removed}");
    let conflicting = server.cli(&[
        "client",
        "update",
        &client_id,
        "--no-quota",
        "--quota-per-day",
        "3",
    ]);
    assert!(!conflicting.status.success());
}

/// `m2m org quota set|show|clear` against the admin API.
#[test]
fn org_quota_set_show_clear() {
    let dir = TempDir::new("cli-org-quota");
    let server = Server::start(dir.path(), Options::default());
    let set = server.cli_json(&[
        "org",
        "quota",
        "set",
        "org_cli",
        "--per-minute",
        "50",
        "--per-day",
        "9000",
        "--mode",
        "log_only",
        "--json",
    ]);
    assert_eq!(
        set,
        serde_json::json!({"per_minute": 50, "per_day": 9000, "mode": "log_only"})
    );
    let shown = server.cli_json(&["org", "quota", "show", "org_cli", "--json"]);
    assert_eq!(shown, set);
    let table = stdout(&server.cli(&["org", "quota", "show", "org_cli"]));
    assert!(table.contains("per_minute: 50"), "{table}");
    assert!(table.contains("mode: log_only"), "{table}");
    // Replaced as a whole.
    let replaced = server.cli_json(&[
        "org",
        "quota",
        "set",
        "org_cli",
        "--per-hour",
        "7",
        "--json",
    ]);
    assert_eq!(replaced, serde_json::json!({"per_hour": 7}));
    // Refused by the server: nothing changes.
    let refused = server.cli(&["org", "quota", "set", "org_cli", "--per-hour", "0"]);
    assert!(!refused.status.success());
    let shown = server.cli_json(&["org", "quota", "show", "org_cli", "--json"]);
    assert_eq!(shown, serde_json::json!({"per_hour": 7}));
    let cleared = server.cli(&["org", "quota", "clear", "org_cli"]);
    assert!(cleared.status.success(), "{cleared:?}");
    let missing = server.cli(&["org", "quota", "show", "org_cli"]);
    assert!(!missing.status.success());
    let again = server.cli(&["org", "quota", "clear", "org_cli"]);
    assert!(!again.status.success());
}
