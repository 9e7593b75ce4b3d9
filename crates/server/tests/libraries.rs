//! The libraries next to the server's TLS stack: m2m-guard and m2m-client in
//! a test binary that also links rustls (with ring, as the server does) and
//! installs no process-wide crypto provider. Their HTTP clients must work over
//! plain http, must not panic for want of a provider when handed an https
//! URL, and must not install a process-wide provider themselves (a guard
//! dropped into someone else's app does not choose its crypto).
//!
//! Which guard this links depends on the build: `cargo test -p m2m-server`
//! links m2m-guard without its `rustls` feature (an https URL is a build
//! error); the workspace build with `--all-features`, which CI runs, links it
//! with the feature (an https URL is fetched with the guard's own TLS
//! configuration). m2m-client always has its `rustls` feature here, because
//! the server enables it. The test checks what holds in both builds and
//! prints which guard it ran with; the guard's build without `rustls` is
//! covered only where the first command runs.

use crate::harness::*;

#[test]
fn guard_and_client_work_next_to_the_servers_tls_stack() {
    let dir = TempDir::new("libraries");
    let server = Server::start(dir.path(), Options::default());
    let (admin_id, admin_secret) = admin_credentials(&server);
    let endpoint = server.endpoint.clone();
    // https to a port where nothing listens: the handshake is never reached,
    // but each library must set up its TLS client to get that far.
    let closed = ClosedPort::new();
    let https = format!("https://127.0.0.1:{}", closed.port);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = runtime.block_on(async {
        m2m_client::TokenSource::builder(
            format!("{endpoint}/oauth/token"),
            &admin_id,
            &admin_secret,
        )
        .scope("m2m:admin")
        .build()
        .expect("token source")
        .token()
        .await
        .expect("token")
    });
    let claims = server.cli_json(&["verify", token.secret()]);
    let issuer = claims["iss"].as_str().expect("iss").to_owned();
    let audience = match &claims["aud"] {
        serde_json::Value::Array(audiences) => audiences[0].as_str().expect("aud").to_owned(),
        other => other.as_str().expect("aud").to_owned(),
    };

    let guard = runtime.block_on(async {
        m2m_guard::Guard::builder(issuer.as_str(), audience.as_str())
            .jwks_url(format!("{endpoint}/.well-known/jwks.json"))
            .build()
            .await
            .expect("guard")
    });
    let auth = guard
        .check_token(token.secret())
        .expect("the token verifies");
    assert_eq!(auth.client_id().to_string(), admin_id);

    // https: an error either way (no TLS in this build, or nobody there),
    // never a panic.
    let guard_https = runtime.block_on(async {
        m2m_guard::Guard::builder(issuer.as_str(), audience.as_str())
            .jwks_url(format!("{https}/.well-known/jwks.json"))
            .build()
            .await
    });
    let refusal = guard_https.expect_err("no JWKS can be fetched from a closed port");
    eprintln!("the guard with an https JWKS URL in this build: {refusal}");
    let client_https = runtime.block_on(async {
        m2m_client::TokenSource::builder(format!("{https}/oauth/token"), &admin_id, &admin_secret)
            .build()
            .expect("an https token source (m2m-client has rustls here)")
            .token()
            .await
    });
    assert!(client_https.is_err(), "no token comes from a closed port");

    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "m2m-guard or m2m-client installed a process-wide crypto provider"
    );
}
