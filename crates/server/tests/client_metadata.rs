//! Client ID Metadata Documents through the `m2m` binary: the
//! `--client-metadata-*` flags, refused combinations at start-up, the
//! metadata field, and a document URL on a reserved address refused before
//! any request leaves the server.

use serde_json::Value;

use crate::harness::*;
use crate::startup::serve_fails;

fn get_json(url: &str) -> (u16, Value) {
    let (status, _, body) = http("GET", url, &[], "").expect("GET");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn authorize_url(endpoint: &str, client_id: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:1/callback"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("state", "s1"),
    ])
    .expect("query");
    format!("{endpoint}/oauth/authorize?{query}")
}

#[test]
fn metadata_documents_need_a_consent_step_and_their_flag() {
    let dir = TempDir::new("client-metadata-refused");
    let error = serve_fails(dir.path(), &["--client-metadata-documents"], &[]);
    assert!(error.contains("consent"), "{error}");
    let error = serve_fails(dir.path(), &["--client-metadata-scope", "a:b"], &[]);
    assert!(
        error.contains("need --client-metadata-documents"),
        "{error}"
    );
    let missing = dir.path().join("no-such-ca.pem").display().to_string();
    let error = serve_fails(
        dir.path(),
        &[
            "--dev-consent",
            "--client-metadata-documents",
            "--client-metadata-ca-file",
            &missing,
        ],
        &[],
    );
    assert!(error.contains("--client-metadata-ca-file"), "{error}");
}

#[test]
fn the_flags_turn_documents_on_and_reserved_or_foreign_hosts_are_refused() {
    let dir = TempDir::new("client-metadata");
    let server = Server::start(
        dir.path(),
        Options {
            args: [
                "--dev-consent",
                "--scopes-supported",
                "invoices:read",
                "--client-metadata-documents",
                "--client-metadata-host",
                "127.0.0.1,*.example.com",
                "--client-metadata-audience",
                "https://mcp.example.com/mcp",
            ]
            .map(str::to_owned)
            .to_vec(),
            ..Options::default()
        },
    );
    let (status, metadata) = get_json(&format!(
        "{}/.well-known/oauth-authorization-server",
        server.endpoint
    ));
    assert_eq!(status, 200);
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    // Allowed by the host policy, but loopback is reserved and not allowed
    // by --client-metadata-allow-network: refused as a page, not a redirect.
    let (status, head, body) = http(
        "GET",
        &authorize_url(&server.endpoint, "https://127.0.0.1:1/client.json"),
        &[],
        "",
    )
    .expect("authorize");
    assert_eq!(status, 400, "{head}{body}");
    assert!(!head.to_ascii_lowercase().contains("location:"), "{head}");
    let body: Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(body["error"], "invalid_client", "{body}");

    // A host outside the policy.
    let (status, body) = get_json(&authorize_url(
        &server.endpoint,
        "https://clients.example.org/client.json",
    ));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");

    // Nothing was registered by either refusal.
    let clients = server.cli_json(&["client", "list", "--json"]);
    let text = clients.to_string();
    assert!(!text.contains("client.json"), "{text}");
}
