//! Dynamic Client Registration through the `m2m` binary: the
//! `--registration*` flags, refused combinations at start-up, and a
//! registered client the admin CLI lists and deletes.

use serde_json::{Value, json};

use crate::harness::*;
use crate::startup::serve_fails;

const CALLBACK: &str = "http://127.0.0.1:1/callback";
const TOKEN: &str = "registration-token-0123456789";

fn register(endpoint: &str, metadata: &Value, token: Option<&str>) -> (u16, String, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    let (status, head, body) = http(
        "POST",
        &format!("{endpoint}/oauth/register"),
        &headers,
        &metadata.to_string(),
    )
    .expect("register");
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[test]
fn registration_needs_its_organization_and_a_consent_step() {
    let dir = TempDir::new("registration-refused");
    let error = serve_fails(
        dir.path(),
        &["--registration", "--registration-org", "org_mcp"],
        &[],
    );
    assert!(error.contains("consent"), "{error}");
    let error = serve_fails(dir.path(), &["--registration", "--dev-consent"], &[]);
    assert!(error.contains("--registration-org"), "{error}");
    let error = serve_fails(dir.path(), &["--registration-scope", "a:b"], &[]);
    assert!(error.contains("need --registration"), "{error}");
    let short = dir.path().join("short-token");
    std::fs::write(&short, "short\n").expect("token file");
    let short = short.display().to_string();
    let error = serve_fails(
        dir.path(),
        &[
            "--registration",
            "--dev-consent",
            "--registration-org",
            "org_mcp",
            "--registration-token-file",
            &short,
        ],
        &[],
    );
    assert!(error.contains("--registration-token-file"), "{error}");
}

#[test]
fn registration_flags_set_the_policy() {
    let dir = TempDir::new("registration");
    let token_file = dir.path().join("registration-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let server = Server::start(
        dir.path(),
        Options {
            args: [
                "--dev-consent",
                "--registration",
                "--registration-org",
                "org_mcp",
                "--registration-scope",
                "notes:read notes:write",
                "--registration-audience",
                "https://mcp.example.com/mcp",
                "--registration-public-only",
                "--registration-token-file",
                &token_file.display().to_string(),
                "--registration-rate",
                "4",
            ]
            .map(str::to_owned)
            .to_vec(),
            ..Options::default()
        },
    );
    assert!(
        server
            .log_text()
            .contains("dynamic client registration is on"),
        "said at start-up: {}",
        server.log_text()
    );
    let (status, _, metadata) = {
        let (status, head, body) = http(
            "GET",
            &format!("{}/.well-known/oauth-authorization-server", server.endpoint),
            &[],
            "",
        )
        .expect("metadata");
        (
            status,
            head,
            serde_json::from_str::<Value>(&body).expect("JSON"),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{}/oauth/register", server.endpoint)
    );

    let metadata = json!({"redirect_uris": [CALLBACK], "client_name": "mcp client"});
    let (status, head, body) = register(&server.endpoint, &metadata, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );

    let (status, _, registered) = register(&server.endpoint, &metadata, Some(TOKEN));
    assert_eq!(status, 201, "{registered}");
    assert_eq!(
        registered["token_endpoint_auth_method"], "none",
        "public only"
    );
    assert_eq!(registered["scope"], "notes:read notes:write");
    let client_id = registered["client_id"].as_str().expect("client_id");

    let outside = json!({"redirect_uris": [CALLBACK], "scope": "notes:admin"});
    let (status, _, body) = register(&server.endpoint, &outside, Some(TOKEN));
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_client_metadata");

    // The admin CLI sees the registered client, marked, and deletes it.
    let listed = server.cli_json(&["client", "list", "--kind", "user", "--json"]);
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["client_id"], client_id);
    assert_eq!(items[0]["org_id"], "org_mcp");
    assert_eq!(
        items[0]["audiences"],
        json!(["https://mcp.example.com/mcp"])
    );
    assert_eq!(items[0]["metadata"]["registration"], "dynamic");
    let output = server.cli(&["client", "delete", client_id]);
    assert!(output.status.success(), "{output:?}");

    // Every request counts: the fifth this minute from 127.0.0.1 is over
    // --registration-rate 4.
    let (status, _, _) = register(&server.endpoint, &metadata, Some(TOKEN));
    assert_eq!(status, 201);
    let (status, head, body) = register(&server.endpoint, &metadata, Some(TOKEN));
    assert_eq!(status, 429, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
}
