//! The Rust `oauth2` crate's client-credentials exchange against the router,
//! with Basic and with post, over a small reqwest adapter.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse, Scope, TokenResponse, TokenUrl,
};

use crate::common::TestServer;

#[derive(Debug)]
struct AdapterError(String);

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdapterError {}

async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, AdapterError> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| AdapterError(e.to_string()))?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AdapterError(e.to_string()))?;
    out.body(bytes.to_vec())
        .map_err(|e| AdapterError(e.to_string()))
}

#[tokio::test]
async fn oauth2_crate_client_credentials_with_basic_and_post() {
    let mut server = TestServer::start().await;
    let (id, secret) = server
        .org_client(&["invoices:read", "invoices:write"])
        .await;
    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
            .set_auth_type(auth_type.clone());
        let http = server.http.clone();
        let adapter = move |request: HttpRequest| send(http.clone(), request);
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("invoices:read".into()))
            .request_async(&adapter)
            .await
            .unwrap_or_else(|e| panic!("{auth_type:?}: {e:?}"));
        let claims = server
            .verify(token.access_token().secret(), &server.base)
            .await
            .unwrap();
        assert!(claims.has_scope("invoices:read") && !claims.has_scope("invoices:write"));
        assert_eq!(
            token.expires_in(),
            Some(std::time::Duration::from_secs(3600))
        );

        let bad = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new("m2ms_wrong".into()))
            .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
            .set_auth_type(auth_type.clone());
        let error = bad
            .exchange_client_credentials()
            .request_async(&adapter)
            .await
            .unwrap_err();
        match error {
            oauth2::RequestTokenError::ServerResponse(response) => {
                assert_eq!(
                    *response.error(),
                    oauth2::basic::BasicErrorResponseType::InvalidClient
                );
            }
            other => panic!("expected invalid_client, got {other:?}"),
        }
    }
}
