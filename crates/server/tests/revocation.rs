//! What an admin change revokes holds through `kill -9` and a restart: a
//! disabled (then re-enabled) admin, a demoted admin, a revoked token and a
//! revoked signing key stay refused by the restarted process's admin API,
//! introspection and feed.

use serde_json::Value;

use crate::harness::*;

const ISSUER: &str = "http://m2m.test";

fn start(dir: &std::path::Path) -> Server {
    Server::start(
        dir,
        Options {
            args: vec!["--issuer".into(), ISSUER.into()],
            ..Options::default()
        },
    )
}

fn access_token(endpoint: &str, id: &str, secret: &str) -> String {
    let (status, body) = token(endpoint, id, secret);
    assert_eq!(status, 200, "token for {id}: {body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The status of an admin call made with `token`.
fn admin_status(endpoint: &str, method: &str, path: &str, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let body = r#"{"name":"escalated","kind":"service","audiences":["http://m2m.test"],"scopes":["m2m:admin"]}"#;
    let (status, _, _) = http(
        method,
        &format!("{endpoint}{path}"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        if method == "POST" { body } else { "" },
    )
    .expect("admin call");
    status
}

fn introspect(endpoint: &str, admin: &(String, String), token: &str) -> Value {
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
    serde_json::from_str(&body).expect("json")
}

fn create(server: &Server, args: &[&str]) -> (String, String) {
    let mut all = vec!["client", "create", "--json"];
    all.extend_from_slice(args);
    let created = server.cli_json(&all);
    (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let json: Value = serde_json::from_slice(&bytes).expect("json");
    json["kid"].as_str().expect("kid").to_owned()
}

/// Every check the test makes, before and after the restart alike.
struct Revoked {
    reenabled_admin: String,
    demoted_admin: String,
    revoked_token: String,
}

fn assert_refused(server: &Server, admin: &(String, String), revoked: &Revoked, when: &str) {
    let endpoint = &server.endpoint;
    for (what, token) in [
        ("the re-enabled admin's old token", &revoked.reenabled_admin),
        ("the demoted admin's old token", &revoked.demoted_admin),
    ] {
        assert_eq!(
            admin_status(endpoint, "GET", "/admin/clients", token),
            401,
            "{when}: {what} lists clients"
        );
        assert_eq!(
            admin_status(endpoint, "POST", "/admin/clients", token),
            401,
            "{when}: {what} creates an admin client"
        );
    }
    for (what, token) in [
        ("re-enabled admin", &revoked.reenabled_admin),
        ("demoted admin", &revoked.demoted_admin),
        ("RFC 7009", &revoked.revoked_token),
    ] {
        assert_eq!(
            introspect(endpoint, admin, token)["active"],
            false,
            "{when}: introspection of the {what} token"
        );
    }
}

#[test]
fn revocations_hold_after_kill_9_and_a_restart() {
    let dir = TempDir::new("revocation-restart");
    let mut server = start(dir.path());
    let admin = admin_credentials(&server);

    let (b, b_secret) = create(
        &server,
        &[
            "--name",
            "b",
            "--kind",
            "service",
            "--audience",
            ISSUER,
            "--scope",
            "m2m:admin",
        ],
    );
    let (c, c_secret) = create(
        &server,
        &[
            "--name",
            "c",
            "--kind",
            "service",
            "--audience",
            ISSUER,
            "--scope",
            "m2m:admin",
            "--scope",
            "reports:read",
        ],
    );
    let (d, d_secret) = create(
        &server,
        &[
            "--name", "d", "--kind", "org", "--org-id", "o", "--scope", "a:b",
        ],
    );
    let revoked = Revoked {
        reenabled_admin: access_token(&server.endpoint, &b, &b_secret),
        demoted_admin: access_token(&server.endpoint, &c, &c_secret),
        revoked_token: access_token(&server.endpoint, &d, &d_secret),
    };
    for token in [&revoked.reenabled_admin, &revoked.demoted_admin] {
        assert_eq!(
            admin_status(&server.endpoint, "GET", "/admin/clients", token),
            200
        );
    }

    server.cli_json(&["client", "update", &b, "--disable", "--json"]);
    server.cli_json(&["client", "update", &b, "--enable", "--json"]);
    server.cli_json(&["client", "update", &c, "--scope", "reports:read", "--json"]);
    let form = serde_urlencoded::to_string([
        ("token", revoked.revoked_token.as_str()),
        ("client_id", d.as_str()),
        ("client_secret", d_secret.as_str()),
    ])
    .expect("form");
    let (status, _, _) = http(
        "POST",
        &format!("{}/oauth/revoke", server.endpoint),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .expect("revoke");
    assert_eq!(status, 200);
    assert_refused(&server, &admin, &revoked, "before the restart");

    server.kill9();
    let server = start(dir.path());
    assert_refused(&server, &admin, &revoked, "after kill -9 and a restart");

    let (_, feed) = ureq_get(&format!("{}/oauth/revocations", server.endpoint)).expect("feed");
    let feed: Value = serde_json::from_str(&feed).expect("feed json");
    let clients: Vec<&str> = feed["revoked_clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter_map(|e| e["client_id"].as_str())
        .collect();
    assert!(
        clients.contains(&b.as_str()) && clients.contains(&c.as_str()),
        "{feed}"
    );
    // Tokens issued after the revocations' window work: nothing else is refused.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let fresh = access_token(&server.endpoint, &b, &b_secret);
    assert_eq!(
        admin_status(&server.endpoint, "GET", "/admin/clients", &fresh),
        200
    );
    let demoted = access_token(&server.endpoint, &c, &c_secret);
    assert_eq!(
        admin_status(&server.endpoint, "GET", "/admin/clients", &demoted),
        403
    );
}

#[test]
fn a_revoked_key_stays_revoked_after_kill_9_and_a_restart() {
    let dir = TempDir::new("key-revocation-restart");
    let mut server = start(dir.path());
    let admin = admin_credentials(&server);
    let (d, d_secret) = create(
        &server,
        &[
            "--name", "d", "--kind", "org", "--org-id", "o", "--scope", "a:b",
        ],
    );
    let old = access_token(&server.endpoint, &d, &d_secret);
    let kid = kid_of(&old);
    let killed = server.cli_json(&["key", "revoke", &kid, "--json"]);
    assert_eq!(killed["kid"], kid.as_str(), "{killed}");
    let replacement = killed["replacement"]
        .as_str()
        .expect("replacement")
        .to_owned();
    assert_eq!(introspect(&server.endpoint, &admin, &old)["active"], false);
    let output = server.cli(&["key", "revoke", &kid]);
    assert!(!output.status.success(), "revoking it again is an error");

    server.kill9();
    let server = start(dir.path());
    assert_eq!(introspect(&server.endpoint, &admin, &old)["active"], false);
    let (_, jwks) = ureq_get(&format!("{}/.well-known/jwks.json", server.endpoint)).expect("jwks");
    assert!(
        !jwks.contains(&kid),
        "the revoked key stays out of the JWKS: {jwks}"
    );
    assert!(jwks.contains(&replacement), "{jwks}");
    let (_, feed) = ureq_get(&format!("{}/oauth/revocations", server.endpoint)).expect("feed");
    let feed: Value = serde_json::from_str(&feed).expect("feed json");
    assert_eq!(feed["revoked_keys"][0]["kid"], kid.as_str(), "{feed}");
    let fresh = access_token(&server.endpoint, &d, &d_secret);
    assert_eq!(kid_of(&fresh), replacement, "the replacement signs");
    assert_eq!(introspect(&server.endpoint, &admin, &fresh)["active"], true);
}
