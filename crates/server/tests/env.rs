//! Each command reads only its own environment variables: a variable set for
//! one command (or for a guarded API, as the README's example does) never
//! changes what another command does.

use std::process::Output;

use serde_json::Value;

use crate::harness::*;

/// Runs `m2m ARGS` against `server` with the variables `env` set.
fn cli_env(server: &Server, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = server.admin_file.parent().expect("dir");
    m2m(dir)
        .args(["--endpoint", &server.endpoint])
        .args(["--admin-file", &server.admin_file.display().to_string()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run m2m")
}

fn json_ok(output: &Output, what: &str) -> Value {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Variables another command, or the guard example, reads.
const STRAY: &[(&str, &str)] = &[
    ("M2M_SCOPE", "stray:scope"),
    ("M2M_AUDIENCE", "https://stray.example.com"),
    ("M2M_TTL", "999"),
    ("M2M_NAME", "stray name"),
    ("M2M_ORG_ID", "org_stray"),
    ("M2M_KIND", "user"),
    ("M2M_USER_ID", "stray-user"),
    ("M2M_REDIRECT_URI", "https://stray.example.com/cb"),
    ("M2M_LIMIT", "1"),
    ("M2M_CURSOR", "stray-cursor"),
    ("M2M_EXPIRES_AT", "2000-01-01T00:00:00Z"),
    ("M2M_ISSUER", "https://stray.example.com"),
    ("M2M_JWKS", "http://127.0.0.1:9/jwks.json"),
];

fn create(server: &Server, env: &[(&str, &str)], org: &str) -> Value {
    json_ok(
        &cli_env(
            server,
            env,
            &[
                "client",
                "create",
                "--name",
                "agent",
                "--kind",
                "org",
                "--org-id",
                org,
                "--scope",
                "invoices:read",
                "--json",
            ],
        ),
        "client create",
    )
}

#[test]
fn client_update_changes_only_the_fields_given_as_flags() {
    let dir = TempDir::new("env-update");
    let server = Server::start(dir.path(), Options::default());
    let created = create(&server, &[], "org_1");
    let id = created["client_id"].as_str().expect("id");
    let before = server.cli_json(&["client", "show", id, "--json"]);
    // Once M2M_SCOPE replaced the scopes, M2M_TTL the lifetime, M2M_AUDIENCE
    // the audiences.
    json_ok(
        &cli_env(
            &server,
            STRAY,
            &["client", "update", id, "--name", "renamed", "--json"],
        ),
        "client update",
    );
    let after = server.cli_json(&["client", "show", id, "--json"]);
    assert_eq!(after["name"], "renamed");
    for field in ["scopes", "audiences", "token_ttl_seconds", "org_id", "kind"] {
        assert_eq!(after[field], before[field], "{field} changed: {after}");
    }
    // And M2M_NAME does not rename it when another field is changed.
    json_ok(
        &cli_env(
            &server,
            STRAY,
            &["client", "update", id, "--ttl", "600", "--json"],
        ),
        "client update",
    );
    let after = server.cli_json(&["client", "show", id, "--json"]);
    assert_eq!(after["name"], "renamed");
    assert_eq!(after["token_ttl_seconds"], 600);
    // With no flag there is nothing to change, whatever the environment holds.
    let output = cli_env(&server, STRAY, &["client", "update", id]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nothing to change"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn client_create_takes_nothing_from_the_environment() {
    let dir = TempDir::new("env-create");
    let server = Server::start(dir.path(), Options::default());
    let created = create(&server, STRAY, "org_1");
    let id = created["client_id"].as_str().expect("id");
    let shown = server.cli_json(&["client", "show", id, "--json"]);
    // Once M2M_SCOPE added a second scope word list, M2M_TTL the lifetime,
    // M2M_USER_ID a user.
    assert_eq!(
        shown["scopes"],
        serde_json::json!(["invoices:read"]),
        "{shown}"
    );
    assert_ne!(shown["token_ttl_seconds"], 999, "{shown}");
    assert!(shown["user_id"].is_null(), "{shown}");
    assert!(
        shown["redirect_uris"].as_array().is_none_or(Vec::is_empty),
        "{shown}"
    );
    // Required flags are not filled in from the environment either.
    let output = cli_env(&server, STRAY, &["client", "create", "--kind", "org"]);
    assert!(
        !output.status.success(),
        "created a client named by M2M_NAME"
    );
}

#[test]
fn client_list_is_not_filtered_by_the_environment() {
    let dir = TempDir::new("env-list");
    let server = Server::start(dir.path(), Options::default());
    create(&server, &[], "org_1");
    create(&server, &[], "org_2");
    let all = server.cli_json(&["client", "list", "--json"]);
    let count = all["items"].as_array().map(Vec::len).expect("items");
    assert!(count >= 3, "{all}"); // the admin and the two
    // Once M2M_ORG_ID, M2M_KIND and M2M_LIMIT silently filtered this.
    let listed = json_ok(
        &cli_env(&server, STRAY, &["client", "list", "--json"]),
        "client list",
    );
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(count),
        "{listed}"
    );
}

#[test]
fn token_and_verify_ignore_other_commands_variables() {
    let dir = TempDir::new("env-token");
    let server = Server::start(dir.path(), Options::default());
    let created = create(&server, &[], "org_1");
    let id = created["client_id"].as_str().expect("id");
    let secret = created["client_secret"].as_str().expect("secret");
    // token keeps its documented M2M_CLIENT_ID and M2M_CLIENT_SECRET...
    let mut env = STRAY.to_vec();
    env.push(("M2M_CLIENT_ID", id));
    env.push(("M2M_CLIENT_SECRET", secret));
    // ...but M2M_SCOPE and M2M_AUDIENCE (the guard example's) once asked for
    // a scope and an audience the client does not have.
    let output = cli_env(&server, &env, &["token"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let access = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // verify once took M2M_ISSUER, M2M_AUDIENCE and M2M_JWKS for its own.
    let claims = json_ok(&cli_env(&server, STRAY, &["verify", &access]), "verify");
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "invoices:read");
}

#[test]
fn secret_add_ignores_other_commands_variables() {
    let dir = TempDir::new("env-secret");
    let server = Server::start(dir.path(), Options::default());
    let created = create(&server, &[], "org_1");
    let id = created["client_id"].as_str().expect("id");
    // M2M_EXPIRES_AT once gave the new secret a date in the past.
    let added = json_ok(
        &cli_env(&server, STRAY, &["secret", "add", id, "--json"]),
        "secret add",
    );
    let second = added["client_secret"].as_str().expect("secret");
    assert_eq!(token(&server.endpoint, id, second).0, 200);
}
