//! User-level clients through the standalone server with `--dev-consent`:
//! the authorization-code flow with PKCE, then `m2m grant list|revoke`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::harness::*;

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form")
}

fn post_token(endpoint: &str, body: &str) -> (u16, Value) {
    let (status, _, reply) = http(
        "POST",
        &format!("{endpoint}/oauth/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
    .expect("token request");
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

#[test]
fn dev_consent_code_flow_then_grant_list_and_revoke() {
    let dir = TempDir::new("grants");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--dev-consent".into()],
            ..Options::default()
        },
    );
    assert!(
        server.log_text().contains("development only"),
        "a loud warning"
    );
    let redirect = "http://127.0.0.1:1/callback";
    let created = server.cli_json(&[
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
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    // PKCE pair.
    let verifier = B64.encode(m2m_core::random_bytes::<32>().expect("random"));
    let challenge = B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let query = form(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", redirect),
        ("scope", "notes:read"),
        ("state", "s-123"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", "alice"),
    ]);
    let (status, head, _) = http(
        "GET",
        &format!("{}/oauth/authorize?{query}", server.endpoint),
        &[],
        "",
    )
    .expect("authorize");
    assert_eq!(status, 302, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .expect("Location header")
        .trim()
        .to_owned();
    assert!(location.starts_with(redirect), "{location}");
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').expect("query").1).expect("params");
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("s-123"));
    let code = get("code").expect("code");

    let (status, tokens) = post_token(
        &server.endpoint,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    );
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let claims = server.cli_json(&["verify", &access]);
    assert_eq!(claims["uid"], "alice");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["oid"], "org_7");

    // The admin sees alice's grant, and revokes it.
    let grants = server.cli_json(&["grant", "list", &id, "--user-id", "alice", "--json"]);
    let items = grants["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{grants}");
    assert_eq!(items[0]["user_id"], "alice");
    assert!(items[0]["revoked_at"].is_null());
    let grant_id = items[0]["grant_id"].as_str().expect("grant id").to_owned();
    let table = String::from_utf8_lossy(&server.cli(&["grant", "list", &id]).stdout).into_owned();
    assert!(
        table.starts_with("GRANT_ID") && table.contains(&grant_id),
        "{table}"
    );
    let output = server.cli(&["grant", "revoke", &id, &grant_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Its refresh token is dead, and its access token is in the feed.
    let (status, body) = post_token(
        &server.endpoint,
        &form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (_, feed) = ureq_get(&format!("{}/oauth/revocations", server.endpoint)).expect("feed");
    assert!(
        feed.contains(claims["jti"].as_str().expect("jti")),
        "{feed}"
    );
    let grants = server.cli_json(&["grant", "list", &id, "--json"]);
    assert!(!grants["items"][0]["revoked_at"].is_null());
}

/// The redirect of `GET /oauth/authorize?{query}`: its parameters.
fn authorize_redirect(endpoint: &str, query: &str, redirect: &str) -> Vec<(String, String)> {
    let (status, head, _) = http(
        "GET",
        &format!("{endpoint}/oauth/authorize?{query}"),
        &[],
        "",
    )
    .expect("authorize");
    assert_eq!(status, 302, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .expect("Location header")
        .trim()
        .to_owned();
    assert!(location.starts_with(redirect), "{location}");
    serde_urlencoded::from_str(location.split_once('?').expect("query").1).expect("params")
}

/// Issue 12: `--dev-consent` consents as the user a client is bound to,
/// and a `login_hint` for anyone else (lookalikes included) gets
/// `access_denied` and no code.
#[test]
fn dev_consent_keeps_a_bound_client_to_its_user() {
    let dir = TempDir::new("bound-user");
    let server = Server::start(
        dir.path(),
        Options {
            args: vec!["--dev-consent".into()],
            ..Options::default()
        },
    );
    let redirect = "http://127.0.0.1:1/callback";
    let created = server.cli_json(&[
        "client",
        "create",
        "--name",
        "alice's assistant",
        "--kind",
        "user",
        "--org-id",
        "org_7",
        "--user-id",
        "alice",
        "--scope",
        "notes:read",
        "--redirect-uri",
        redirect,
        "--json",
    ]);
    assert_eq!(created["user_id"], "alice", "{created}");
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let verifier = B64.encode(m2m_core::random_bytes::<32>().expect("random"));
    let challenge = B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let base = [
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", redirect),
        ("state", "s-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let get = |params: &[(String, String)], k: &str| {
        params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };

    for hint in ["bob", "Alice", "alice ", "\u{0430}lice"] {
        let mut query = base.to_vec();
        query.push(("login_hint", hint));
        let params = authorize_redirect(&server.endpoint, &form(&query), redirect);
        assert_eq!(
            get(&params, "error").as_deref(),
            Some("access_denied"),
            "{hint:?}: {params:?}"
        );
        assert_eq!(get(&params, "state").as_deref(), Some("s-1"));
        assert_eq!(get(&params, "code"), None, "no code for {hint:?}");
    }
    let grants = server.cli_json(&["grant", "list", &id, "--json"]);
    assert_eq!(
        grants["items"].as_array().map(Vec::len),
        Some(0),
        "{grants}"
    );

    let params = authorize_redirect(&server.endpoint, &form(&base), redirect);
    let code = get(&params, "code").expect("a code for alice");
    let (status, tokens) = post_token(
        &server.endpoint,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    );
    assert_eq!(status, 200, "{tokens}");
    let claims = server.cli_json(&["verify", tokens["access_token"].as_str().expect("access")]);
    assert_eq!(claims["uid"], "alice", "not the dev user");
}
