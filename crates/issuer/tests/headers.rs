//! Response headers every endpoint of the issuer router sets.

use crate::common::TestServer;

/// `X-Content-Type-Options: nosniff` on a success, a JSON error that echoes
/// request text, a 404 and the 405 fallback: a browser must never sniff a
/// response of the issuer into HTML.
#[tokio::test]
async fn every_response_says_nosniff() {
    let mut server = TestServer::start().await;
    let token = server.admin_token().await;
    let (id, secret) = server.admin_credentials().await;
    let requests = [
        (200, server.http.get(server.url("/.well-known/jwks.json"))),
        (
            400,
            server
                .http
                .post(server.url("/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=<script>alert(1)</script>"),
        ),
        (
            404,
            server
                .http
                .get(server.url("/admin/clients/m2m_nope"))
                .bearer_auth(&token),
        ),
        (405, server.http.put(server.url("/oauth/token"))),
    ];
    for (status, request) in requests {
        let response = request.send().await.expect("request");
        let url = response.url().clone();
        assert_eq!(response.status().as_u16(), status, "{url}");
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap_or_default()),
            Some("nosniff"),
            "{status} from {url}"
        );
    }
    // The well-known router merged at the host's root too.
    let response = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server/auth",
            server.root
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
