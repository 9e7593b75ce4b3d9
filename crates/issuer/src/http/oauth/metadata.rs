//! `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata.
//!
//! `dpop_signing_alg_values_supported` (RFC 9449 §5.1) lists the algorithms
//! a DPoP proof at the token endpoint may use.
//! `authorization_endpoint`, `code_challenge_methods_supported` (`S256`)
//! and `authorization_response_iss_parameter_supported` (RFC 9207) are
//! always there, so that MCP SDKs accept the document in every
//! configuration. What depends on a consent handler (user-level clients):
//! `grant_types_supported` adds `authorization_code` and `refresh_token`,
//! `response_types_supported` is `["code"]` (else empty), and the token and
//! revocation endpoints list `none` (public clients). `scopes_supported`
//! only when configured ([`IssuerBuilder::scopes_supported`](crate::IssuerBuilder::scopes_supported)),
//! `registration_endpoint` only when Dynamic Client Registration is on
//! ([`IssuerBuilder::dynamic_registration`](crate::IssuerBuilder::dynamic_registration)),
//! `client_id_metadata_document_supported: true` only when Client ID
//! Metadata Documents are on
//! ([`IssuerBuilder::client_metadata_documents`](crate::IssuerBuilder::client_metadata_documents)).
//!
//! Served relative to the mount (so at `https://host/auth/.well-known/...`
//! for the issuer `https://host/auth`); RFC 8414 §3 places it at
//! `https://host/.well-known/oauth-authorization-server/auth`, which
//! [`Issuer::well_known_router`](crate::Issuer::well_known_router) serves
//! when merged at the host's root.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::Issuer;
use crate::domain::exchange::TOKEN_EXCHANGE_GRANT;
use crate::domain::token::JWT_BEARER_GRANT;

/// The algorithms a client assertion may be signed with.
const ASSERTION_ALGS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];

/// The RFC 8414 §3 path for `issuer_url`, from the host's root.
pub(crate) fn well_known_path(issuer_url: &str) -> String {
    let after_scheme = issuer_url
        .split_once("://")
        .map_or(issuer_url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    format!("/.well-known/oauth-authorization-server{path}")
}

pub(crate) async fn metadata(State(issuer): State<Issuer>) -> Response {
    let base = issuer.issuer_url();
    let users = issuer.grants().enabled();
    let secret_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    // Public clients authenticate with their client_id alone at the token
    // and revocation endpoints, never at introspection.
    let with_none = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    let client_methods: &[&str] = if users { &with_none } else { &secret_methods };
    let mut body = serde_json::json!({
        "issuer": base,
        // Always: MCP SDKs require it. Without a consent handler it answers
        // every valid request with an access_denied redirect.
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "grant_types_supported": ["client_credentials", JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT],
        "token_endpoint_auth_methods_supported": client_methods,
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": client_methods,
        // private_key_jwt: what m2m-core verifies (asymmetric only).
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "response_types_supported": [],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "revocation_feed_endpoint": format!("{base}/oauth/revocations"),
        // RFC 9449 §5.1: what a DPoP proof at the token endpoint may use.
        "dpop_signing_alg_values_supported": issuer.token_endpoint().dpop().algorithm_names(),
    });
    if users {
        // User-level clients are on (a consent handler is configured).
        body["grant_types_supported"] = serde_json::json!([
            "client_credentials",
            "authorization_code",
            "refresh_token",
            JWT_BEARER_GRANT,
            TOKEN_EXCHANGE_GRANT
        ]);
        body["response_types_supported"] = serde_json::json!(["code"]);
    }
    if issuer.registration().is_some() {
        body["registration_endpoint"] = serde_json::json!(format!("{base}/oauth/register"));
    }
    if issuer.grants().metadata_documents_enabled() {
        body["client_id_metadata_document_supported"] = serde_json::json!(true);
    }
    if let Some(scopes) = issuer.scopes_supported() {
        body["scopes_supported"] = serde_json::json!(scopes);
    }
    let mut response = Json(body).into_response();
    let cache = format!("public, max-age={}", issuer.jwks_max_age());
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_path_inserts_the_well_known_segment_before_the_issuer_path() {
        assert_eq!(
            well_known_path("https://example.com/auth"),
            "/.well-known/oauth-authorization-server/auth"
        );
        assert_eq!(
            well_known_path("https://example.com"),
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            well_known_path("http://127.0.0.1:8080/a/b"),
            "/.well-known/oauth-authorization-server/a/b"
        );
    }
}
