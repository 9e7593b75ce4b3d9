//! The libraries built next to the server: m2m-guard (without its own `rustls`
//! feature) and m2m-client, in a test binary that also links the server's
//! TLS stack and installs no process-wide crypto provider. Their HTTP clients
//! must work over plain http here, not panic for want of a provider.

use crate::harness::*;

#[test]
fn guard_and_client_work_next_to_the_servers_tls_stack() {
    let dir = TempDir::new("libraries");
    let server = Server::start(dir.path(), Options::default());
    let (admin_id, admin_secret) = admin_credentials(&server);
    let endpoint = server.endpoint.clone();

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
        m2m_guard::Guard::builder(issuer, audience)
            .jwks_url(format!("{endpoint}/.well-known/jwks.json"))
            .build()
            .await
            .expect("guard")
    });
    let auth = guard
        .check_token(token.secret())
        .expect("the token verifies");
    assert_eq!(auth.client_id().to_string(), admin_id);
}
