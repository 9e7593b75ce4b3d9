//! Client ID Metadata Documents: a real https server on 127.0.0.1 (a test
//! CA made with the openssl CLI, trusted as an extra root) serves the
//! documents, answering exactly what each test wrote, byte for byte, and
//! counting requests per path. SSRF refusals, document rules, caching and
//! the full authorize → code → token → refresh flow.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_issuer::ClientMetadataPolicy;
use m2m_issuer::consent::DevConsent;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestServer, claims_of, expect_oauth_error};

const CALLBACK: &str = "https://agent.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const MCP: &str = "https://mcp.example.com/mcp";

/// What the document server answers on one path.
#[derive(Clone)]
pub(crate) struct Reply {
    raw: Vec<u8>,
    delay: Duration,
}

impl Reply {
    pub(crate) fn raw(head: &str, body: &[u8]) -> Reply {
        let mut raw = head.replace('\n', "\r\n").into_bytes();
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        Reply {
            raw,
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn with_headers(content_type: &str, extra: &str, body: &[u8]) -> Reply {
        Reply::raw(
            &format!(
                "HTTP/1.1 200 OK\nContent-Type: {content_type}\nContent-Length: {}\nConnection: close\n{extra}",
                body.len()
            ),
            body,
        )
    }

    pub(crate) fn json(document: &Value) -> Reply {
        Reply::with_headers("application/json", "", document.to_string().as_bytes())
    }
}

/// A TLS server (shared with the `private_key_jwt` tests) that answers each path with its [`Reply`] and counts requests.
pub(crate) struct DocumentServer {
    port: u16,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    pub(crate) ca_pem: Vec<u8>,
}

/// A CA and a certificate for 127.0.0.1, ::1 and localhost signed by it.
fn test_pki(dir: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI");
        assert!(status.status.success(), "openssl {args:?}: {status:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=m2m test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("pem");
    (read("ca.pem"), read("leaf.pem"), read("leaf.key"))
}

impl DocumentServer {
    pub(crate) async fn start() -> DocumentServer {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca_pem, leaf_pem, key_pem) = test_pki(dir.path());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&leaf_pem)
            .collect::<Result<_, _>>()
            .expect("leaf");
        let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, h) = (Arc::clone(&replies), Arc::clone(&hits));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, replies, hits) = (acceptor.clone(), Arc::clone(&r), Arc::clone(&h));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split(' ').nth(1).unwrap_or_default().to_owned();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let reply = replies.lock().unwrap().get(&path).cloned();
                    let reply = reply.unwrap_or_else(|| {
                        Reply::raw(
                            "HTTP/1.1 404 Not Found\nContent-Length: 0\nConnection: close\n",
                            b"",
                        )
                    });
                    tokio::time::sleep(reply.delay).await;
                    let _ = tls.write_all(&reply.raw).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        DocumentServer {
            port,
            replies,
            hits,
            ca_pem,
        }
    }

    /// The client_id (the document URL) of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn serve(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
    }

    /// Serves a valid document for `path` (its client_id the URL), with `extra` fields.
    fn serve_document(&self, path: &str, extra: Value) -> String {
        let id = self.url(path);
        let mut document = json!({
            "client_id": id,
            "client_name": "Agent from a document",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            document[key] = value;
        }
        self.serve(path, Reply::json(&document));
        id
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn policy(documents: &DocumentServer) -> ClientMetadataPolicy {
    ClientMetadataPolicy::new()
        .audience(MCP)
        .extra_root_pem(documents.ca_pem.clone())
        .timeout(Duration::from_millis(800))
}

/// An issuer whose policy lets the document server's loopback address through.
async fn issuer(documents: &DocumentServer) -> TestServer {
    let policy = policy(documents)
        .allow_network("127.0.0.0/8".parse().unwrap())
        .allow_network("::1".parse().unwrap());
    issuer_with(policy).await
}

async fn issuer_with(policy: ClientMetadataPolicy) -> TestServer {
    let mut server = TestServer::start_with(|b| {
        b.consent(Arc::new(DevConsent::new("dev_user", "org_1")))
            .scopes_supported(["invoices:read", "invoices:write"])
            .client_metadata_documents(policy)
    })
    .await;
    // The bootstrap admin is made only in an empty store: before any
    // document client registers.
    server.admin_credentials().await;
    server
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ))
}

async fn authorize(
    server: &TestServer,
    client_id: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let challenge = challenge();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let query = serde_urlencoded::to_string(&params).expect("query");
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .expect("authorize")
}

/// The redirect's query parameters, asserting a 302 to the callback.
fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302, "expected a redirect");
    let location = response.headers()["location"].to_str().expect("ascii");
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, CALLBACK);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    params.into_iter().collect()
}

/// Asserts a 400 `invalid_client` page whose description contains `why`.
async fn refused(response: reqwest::Response, why: &str) {
    assert!(
        response.headers().get("location").is_none(),
        "never a redirect"
    );
    let (_, body) = expect_oauth_error(response, 400, "invalid_client").await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(why), "{why:?} in {description:?}");
}

async fn token(server: &TestServer, form: &[(&str, &str)]) -> reqwest::Response {
    server
        .http
        .post(server.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("token")
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_document_client_authorizes_exchanges_and_refreshes_and_is_an_ordinary_client() {
    let documents = DocumentServer::start().await;
    let id = documents.serve_document("/client.json", json!({"scope": "invoices:read other:x"}));
    let mut server = issuer(&documents).await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    // The token endpoint does not fetch: unknown before its first authorize.
    let early = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", "m2mc_x"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    expect_oauth_error(early, 401, "invalid_client").await;
    assert_eq!(documents.hits("/client.json"), 0);

    let redirect = redirect_params(
        &authorize(
            &server,
            &id,
            &[("scope", "invoices:read"), ("resource", MCP)],
        )
        .await,
    );
    assert_eq!(documents.hits("/client.json"), 1);
    let code = redirect
        .get("code")
        .unwrap_or_else(|| panic!("{redirect:?}"));
    let tokens = ok_json(
        token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await,
    )
    .await;
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["uid"], "dev_user");
    assert_eq!(claims["scope"], "invoices:read");
    let refreshed = ok_json(
        token(
            &server,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &id),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;
    assert!(refreshed["access_token"].is_string());

    // The document's scope narrowed the policy's: invoices:write is refused.
    let wider = authorize(&server, &id, &[("scope", "invoices:write")]).await;
    assert_eq!(redirect_params(&wider)["error"], "invalid_scope");

    // The admin API sees it like any other client.
    let path = format!("/admin/clients/{}", url_encode(&id));
    let (status, shown) = server.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["kind"], "user");
    assert_eq!(shown["token_endpoint_auth_method"], "none");
    assert_eq!(shown["name"], "Agent from a document");
    assert_eq!(shown["redirect_uris"], json!([CALLBACK]));
    assert!(
        shown["metadata"]["client_id_metadata_document"]["fetched_at"].is_u64(),
        "{shown}"
    );
    let (status, grants) = server
        .admin(reqwest::Method::GET, &format!("{path}/grants"), None)
        .await;
    assert_eq!(status, 200, "{grants}");

    server.issuer.flush_audit().await;
    let (_, audit) = server
        .admin(
            reqwest::Method::GET,
            "/admin/audit?kind=client.metadata_document.registered",
            None,
        )
        .await;
    let events = audit["events"]
        .as_array()
        .or(audit["items"].as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(events.len(), 1, "{audit}");
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_admin_disabled_document_client_stays_disabled_after_refetches() {
    let documents = DocumentServer::start().await;
    let id = documents.serve_document("/client.json", json!({}));
    let mut server = issuer(&documents).await;
    assert_eq!(authorize(&server, &id, &[]).await.status(), 302);
    let path = format!("/admin/clients/{}", url_encode(&id));
    let (status, body) = server
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let response = authorize(&server, &id, &[]).await;
    expect_oauth_error(response, 400, "invalid_request").await;

    // A changed document after expiry updates the record, not `enabled`.
    documents.serve_document("/client.json", json!({"client_name": "Renamed"}));
    server.advance(301);
    let response = authorize(&server, &id, &[]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
    assert_eq!(documents.hits("/client.json"), 2);
    let (_, shown) = server.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(shown["name"], "Renamed");
    assert_eq!(shown["enabled"], false);
}

#[tokio::test]
async fn the_cache_keeps_a_document_for_its_max_age_and_a_refusal_for_30_seconds() {
    let documents = DocumentServer::start().await;
    let id = documents.url("/cached.json");
    let mut document = json!({"client_id": id, "redirect_uris": [CALLBACK]});
    documents.serve(
        "/cached.json",
        Reply::with_headers(
            "application/json",
            "Cache-Control: max-age=120\n",
            document.to_string().as_bytes(),
        ),
    );
    let server = issuer(&documents).await;
    assert_eq!(authorize(&server, &id, &[]).await.status(), 302);
    assert_eq!(authorize(&server, &id, &[]).await.status(), 302);
    server.advance(119);
    assert_eq!(authorize(&server, &id, &[]).await.status(), 302);
    assert_eq!(
        documents.hits("/cached.json"),
        1,
        "within max-age: no refetch"
    );
    server.advance(2);
    assert_eq!(authorize(&server, &id, &[]).await.status(), 302);
    assert_eq!(
        documents.hits("/cached.json"),
        2,
        "after max-age: refetched"
    );

    // A refusal is remembered for 30 s, then the URL is tried again.
    let bad = documents.url("/bad.json");
    documents.serve(
        "/bad.json",
        Reply::with_headers("text/html", "", b"<html></html>"),
    );
    refused(authorize(&server, &bad, &[]).await, "not JSON").await;
    refused(authorize(&server, &bad, &[]).await, "not JSON").await;
    assert_eq!(documents.hits("/bad.json"), 1, "negative cache");
    server.advance(31);
    document["client_id"] = json!(bad);
    documents.serve("/bad.json", Reply::json(&document));
    assert_eq!(authorize(&server, &bad, &[]).await.status(), 302);
    assert_eq!(documents.hits("/bad.json"), 2);
}

#[tokio::test]
async fn concurrent_first_uses_fetch_once() {
    let documents = DocumentServer::start().await;
    let id = documents.url("/slowish.json");
    let document = json!({"client_id": id, "redirect_uris": [CALLBACK]});
    let mut reply = Reply::json(&document);
    reply.delay = Duration::from_millis(200);
    documents.serve("/slowish.json", reply);
    let server = Arc::new(issuer(&documents).await);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (server, id) = (Arc::clone(&server), id.clone());
        tasks.push(tokio::spawn(async move {
            authorize(&server, &id, &[]).await.status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 302);
    }
    assert_eq!(documents.hits("/slowish.json"), 1, "single flight");
}

#[tokio::test]
async fn reserved_addresses_are_refused_without_the_allow_list_and_nothing_is_requested() {
    let documents = DocumentServer::start().await;
    documents.serve_document("/client.json", json!({}));
    let server = issuer_with(policy(&documents)).await;
    let port = documents.port;
    let cases = [
        (format!("https://127.0.0.1:{port}/client.json"), "loopback"),
        (format!("https://localhost:{port}/client.json"), "loopback"),
        (format!("https://[::1]:{port}/client.json"), "loopback"),
        (
            format!("https://[::ffff:7f00:1]:{port}/client.json"),
            "loopback",
        ),
        ("https://10.0.0.1/client.json".to_owned(), "private"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "cloud metadata",
        ),
        (
            "https://[fd00:ec2::254]/latest".to_owned(),
            "cloud metadata",
        ),
        ("https://0.0.0.0/client.json".to_owned(), "unspecified"),
        ("https://[::]/client.json".to_owned(), "unspecified"),
        (
            "https://100.64.1.1/client.json".to_owned(),
            "carrier-grade NAT",
        ),
    ];
    for (id, why) in &cases {
        refused(authorize(&server, id, &[]).await, why).await;
    }
    assert_eq!(
        documents.hits("/client.json"),
        0,
        "no request reached the server"
    );

    let rules = [
        (format!("http://127.0.0.1:{port}/client.json"), "https"),
        ("https://127.1/client.json".to_owned(), "canonical"),
        (format!("https://127.0.0.1:{port}/"), "path"),
        (
            format!("https://u:p@127.0.0.1:{port}/client.json"),
            "user name",
        ),
        (
            format!("https://127.0.0.1:{port}/a/../client.json"),
            ". or ..",
        ),
        (
            format!("https://127.0.0.1:{port}/{}", "a".repeat(250)),
            "256",
        ),
    ];
    for (id, why) in &rules {
        refused(authorize(&server, id, &[]).await, why).await;
    }
    assert_eq!(documents.hits("/client.json"), 0);
}

#[tokio::test]
async fn hosts_outside_the_policy_patterns_are_refused_before_any_fetch() {
    let documents = DocumentServer::start().await;
    let id = documents.serve_document("/client.json", json!({}));
    let server = issuer_with(
        policy(&documents)
            .allow_network("127.0.0.0/8".parse().unwrap())
            .host("*.agents.example"),
    )
    .await;
    refused(authorize(&server, &id, &[]).await, "host is not one").await;
    assert_eq!(documents.hits("/client.json"), 0);
}

#[tokio::test]
async fn bad_answers_and_bad_documents_are_refused_with_a_reason() {
    let documents = DocumentServer::start().await;
    let server = issuer(&documents).await;
    let target = documents.url("/target.json");
    documents.serve_document("/target.json", json!({}));
    documents.serve(
        "/redirect.json",
        Reply::raw(
            &format!(
                "HTTP/1.1 302 Found\nLocation: {target}\nContent-Length: 0\nConnection: close\n"
            ),
            b"",
        ),
    );
    refused(
        authorize(&server, &documents.url("/redirect.json"), &[]).await,
        "redirects are not followed",
    )
    .await;
    assert_eq!(documents.hits("/redirect.json"), 1);
    assert_eq!(
        documents.hits("/target.json"),
        0,
        "the redirect target got nothing"
    );

    let big = documents.url("/big.json");
    let padding = "x".repeat(6 * 1024);
    documents.serve(
        "/big.json",
        Reply::json(&json!({"client_id": big, "redirect_uris": [CALLBACK], "pad": padding})),
    );
    refused(
        authorize(&server, &big, &[]).await,
        "larger than 5120 bytes",
    )
    .await;

    // No Content-Length, a body that streams on until the connection closes.
    let endless = documents.url("/endless.json");
    let body = format!(
        "{{\"client_id\":\"{endless}\",\"pad\":\"{}\"}}",
        "y".repeat(20 * 1024)
    );
    documents.serve(
        "/endless.json",
        Reply::raw(
            "HTTP/1.1 200 OK\nContent-Type: application/json\nConnection: close\n",
            body.as_bytes(),
        ),
    );
    refused(
        authorize(&server, &endless, &[]).await,
        "larger than 5120 bytes",
    )
    .await;

    // A Content-Length that lies low: the JSON is cut short.
    let short = documents.url("/short.json");
    let doc = json!({"client_id": short, "redirect_uris": [CALLBACK]}).to_string();
    documents.serve("/short.json", Reply::raw("HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 20\nConnection: close\n", doc.as_bytes()));
    refused(authorize(&server, &short, &[]).await, "not a JSON object").await;

    // A Content-Length that lies high: the body never completes.
    let long = documents.url("/long.json");
    let doc = json!({"client_id": long, "redirect_uris": [CALLBACK]}).to_string();
    documents.serve("/long.json", Reply::raw("HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 4000\nConnection: close\n", doc.as_bytes()));
    refused(authorize(&server, &long, &[]).await, "could not be fetched").await;

    let slow = documents.url("/slow.json");
    let mut reply = Reply::json(&json!({"client_id": slow, "redirect_uris": [CALLBACK]}));
    reply.delay = Duration::from_secs(3);
    documents.serve("/slow.json", reply);
    let started = std::time::Instant::now();
    refused(
        authorize(&server, &slow, &[]).await,
        "no complete answer within",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout held"
    );

    refused(
        authorize(&server, &documents.url("/missing.json"), &[]).await,
        "404",
    )
    .await;

    let html = documents.url("/html.json");
    documents.serve(
        "/html.json",
        Reply::with_headers(
            "text/html",
            "",
            json!({"client_id": html, "redirect_uris": [CALLBACK]})
                .to_string()
                .as_bytes(),
        ),
    );
    refused(authorize(&server, &html, &[]).await, "not JSON").await;

    let not_json = documents.url("/garbage.json");
    documents.serve(
        "/garbage.json",
        Reply::with_headers("application/json", "", b"{not json"),
    );
    refused(
        authorize(&server, &not_json, &[]).await,
        "not a JSON object",
    )
    .await;

    // client_id lookalikes: each document is served at the URL it does not name.
    let base = documents.url("/look.json");
    for (n, lookalike) in [
        format!("{base}/"),
        base.replace("/look.json", "/LOOK.json"),
        format!("{base}?x=1"),
        base.replace("127.0.0.1", "localhost"),
        base.replace("https", "http"),
    ]
    .iter()
    .enumerate()
    {
        let path = format!("/look{n}.json");
        documents.serve(
            &path,
            Reply::json(&json!({"client_id": lookalike, "redirect_uris": [CALLBACK]})),
        );
        refused(
            authorize(&server, &documents.url(&path), &[]).await,
            "client_id is not exactly the URL",
        )
        .await;
        assert_eq!(documents.hits(&path), 1);
    }

    let cases: [(&str, Value, &str); 8] = [
        (
            "/secret-basic.json",
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "must be none",
        ),
        (
            "/jwt.json",
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "not supported yet",
        ),
        (
            "/with-secret.json",
            json!({"client_secret": "s3cret"}),
            "client secret",
        ),
        (
            "/no-uris.json",
            json!({"redirect_uris": []}),
            "redirect_uris",
        ),
        (
            "/bad-uri.json",
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uri",
        ),
        (
            "/grants.json",
            json!({"grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            "/responses.json",
            json!({"response_types": ["token"]}),
            "response_types",
        ),
        ("/scope.json", json!({"scope": 42}), "scope"),
    ];
    for (path, extra, why) in cases {
        let id = documents.serve_document(path, extra);
        refused(authorize(&server, &id, &[]).await, why).await;
        refused(authorize(&server, &id, &[]).await, why).await;
        assert_eq!(documents.hits(path), 1, "{path}: refusals are cached");
    }

    // A redirect_uri the document does not list: a page, no redirect.
    let id = documents.serve_document("/ok.json", json!({}));
    let challenge = challenge();
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", "https://evil.example.com/cb"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}?{query}", server.url("/oauth/authorize")))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("location").is_none());
    expect_oauth_error(response, 400, "invalid_request").await;

    // A scope beyond the policy: invalid_scope, back to the client.
    let response = authorize(&server, &id, &[("scope", "admin:all")]).await;
    assert_eq!(redirect_params(&response)["error"], "invalid_scope");
}

#[tokio::test]
async fn off_by_default_and_needs_a_consent_handler() {
    let server = TestServer::start().await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata
            .get("client_id_metadata_document_supported")
            .is_none()
    );
    let store: Arc<dyn m2m_issuer::store::Store> = Arc::new(m2m_issuer::store::MemoryStore::new());
    let error = TestServer::start_on(store, |b| {
        b.client_metadata_documents(ClientMetadataPolicy::new())
    })
    .await
    .err()
    .expect("refused");
    assert!(error.to_string().contains("consent handler"), "{error}");
}
