//! The OpenAPI 3.1 description of every route of [`super::router`] (the
//! `openapi` feature), assembled here and nowhere else.
//!
//! Each route has one operation below: a `#[utoipa::path]` on a
//! description-only function named after its handler (the handlers keep no
//! OpenAPI attribute, so the hot path compiles the same with or without the
//! feature), and each body one `ToSchema` type with the JSON the handler
//! writes: the admin views of `admin::views`, the contract's error object,
//! the OAuth responses. Request bodies that the handlers read with
//! `deny_unknown_fields` are described with `additionalProperties: false`.
//!
//! The document is deterministic (no `servers`: every path is relative to
//! where the issuer is mounted) so that the copy committed as
//! `docs/openapi.json` can be compared with it byte for byte.
//!
//! To describe a new route: add a function with `#[utoipa::path(...)]`
//! (method, path, tag, parameters, every status it answers with its body
//! type, and `security(("admin_token" = ["m2m:admin"]))` for an admin
//! route) next to the others, and list it in `paths(...)` of [`IssuerApi`].

// The types below describe JSON bodies: they are read by the derives, never built.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::openapi::link::Link;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

/// The OpenAPI document of the issuer's HTTP surface as JSON (no
/// `servers`: paths are relative to where the issuer is mounted).
pub(crate) fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(IssuerApi::openapi()).unwrap_or_default();
    camel_case_links(&mut document);
    document
}

/// utoipa 5 writes a Link object's members in snake case
/// (`operation_id`); OpenAPI spells them `operationId`, `operationRef`,
/// `requestBody`.
fn camel_case_links(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "m2m-auth issuer",
        description = "Machine-to-machine OAuth 2.0 issuer: the token, authorization, \
            introspection, revocation and registration endpoints, RFC 8414 metadata, the JWKS, \
            the revocation feed, and the admin API (Bearer token with scope `m2m:admin`). \
            Paths are relative to where the issuer is mounted."
    ),
    paths(
        token,
        authorize,
        introspect,
        revoke,
        register,
        revocations,
        jwks,
        metadata,
        create_client,
        list_clients,
        show_client,
        update_client,
        delete_client,
        add_secret,
        remove_secret,
        add_client_key,
        remove_client_key,
        add_federated_credential,
        list_federated_credentials,
        remove_federated_credential,
        list_grants,
        revoke_grant,
        list_keys,
        rotate_key,
        revoke_key,
        list_audit,
        show_org_quota,
        put_org_quota,
        clear_org_quota,
    ),
    modifiers(&SecuritySchemes, &ClientLinks),
    tags(
        (name = "oauth", description = "OAuth 2.0 endpoints (contract section 6)"),
        (name = "admin", description = "The admin API (contract section 7)"),
    )
)]
struct IssuerApi;

/// The security schemes: the admin Bearer token, and the client
/// authentication of the token, introspection and revocation endpoints
/// (`client_secret_post` and `private_key_jwt` are form fields).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of this issuer with scope `m2m:admin` and the \
                         issuer URL as audience.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic (RFC 6749 §2.3.1): the client id and secret. \
                         client_secret_post and private_key_jwt send form fields instead.",
                    ))
                    .build(),
            ),
        );
    }
}

/// OpenAPI links from a created client to the operations on it, so that a
/// stateful test reads, patches, rotates and deletes what it created.
struct ClientLinks;

impl Modify for ClientLinks {
    fn modify(&self, api: &mut openapi::OpenApi) {
        let Some(item) = api.paths.paths.get_mut("/admin/clients") else {
            return;
        };
        let Some(post) = item.post.as_mut() else {
            return;
        };
        let Some(RefOr::T(created)) = post.responses.responses.get_mut("201") else {
            return;
        };
        for (name, operation_id) in [
            ("ShowClient", "show_client"),
            ("UpdateClient", "update_client"),
            ("AddSecret", "add_secret"),
            ("ListGrants", "list_grants"),
            ("ListFederatedCredentials", "list_federated_credentials"),
            ("DeleteClient", "delete_client"),
        ] {
            let link = Link::builder()
                .operation_id(operation_id)
                .parameter("client_id", "$response.body#/client_id")
                .build();
            created.links.insert(name.to_owned(), RefOr::T(link));
        }
        let link = Link::builder()
            .operation_id("remove_secret")
            .parameter("client_id", "$response.body#/client_id")
            .parameter("secret_id", "$response.body#/secret_id")
            .build();
        created
            .links
            .insert("RemoveSecret".to_owned(), RefOr::T(link));
        // A federated credential and a client key: add, then remove.
        for (path, link_name, operation_id, parameter, pointer) in [
            (
                "/admin/clients/{client_id}/federated-credentials",
                "RemoveFederatedCredential",
                "remove_federated_credential",
                "id",
                "$response.body#/id",
            ),
            (
                "/admin/clients/{client_id}/jwks",
                "RemoveClientKey",
                "remove_client_key",
                "kid",
                "$response.body#/kid",
            ),
        ] {
            let Some(RefOr::T(added)) = api
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|post| post.responses.responses.get_mut("201"))
            else {
                continue;
            };
            let link = Link::builder()
                .operation_id(operation_id)
                .parameter("client_id", "$request.path.client_id")
                .parameter(parameter, pointer)
                .build();
            added.links.insert(link_name.to_owned(), RefOr::T(link));
        }
    }
}

// ---------------------------------------------------------------- schemas

/// The error object of every 4xx answer: `error` a code of RFC 6749 §5.2,
/// RFC 6750 §3.1, RFC 7591 §3.2.2, RFC 9449 or contract section 7.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// The error code, e.g. `invalid_request`, `invalid_client`, `not_found`.
    #[schema(pattern = "^[a-z_]+$")]
    error: String,
    /// What was wrong, for a human.
    error_description: String,
}

/// The form of `POST /oauth/token` (RFC 6749 §4.1.3, §4.4, §6; RFC 7523;
/// RFC 8693). Client authentication: HTTP Basic, or `client_id` plus
/// `client_secret` (client_secret_post), or `client_assertion`
/// (private_key_jwt), or `client_id` alone for a public client.
#[derive(Deserialize, ToSchema)]
pub(crate) struct TokenForm {
    /// `client_credentials`, `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` or
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    grant_type: String,
    /// Space-separated scopes (default: all of the client's).
    scope: Option<String>,
    /// RFC 8707 resource indicator: the audience wanted (may repeat).
    resource: Option<String>,
    /// The audience wanted (same as `resource`).
    audience: Option<String>,
    /// client_secret_post, or a public client.
    client_id: Option<String>,
    /// client_secret_post.
    client_secret: Option<String>,
    /// private_key_jwt: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: Option<String>,
    /// private_key_jwt: the signed client assertion.
    client_assertion: Option<String>,
    /// authorization_code.
    code: Option<String>,
    /// authorization_code.
    redirect_uri: Option<String>,
    /// authorization_code (PKCE, S256).
    code_verifier: Option<String>,
    /// refresh_token.
    refresh_token: Option<String>,
    /// jwt-bearer: the external identity token.
    assertion: Option<String>,
    /// token-exchange.
    subject_token: Option<String>,
    /// token-exchange.
    subject_token_type: Option<String>,
    /// token-exchange.
    actor_token: Option<String>,
    /// token-exchange.
    actor_token_type: Option<String>,
    /// token-exchange.
    requested_token_type: Option<String>,
}

/// The successful answer of the token endpoint (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenResponse {
    /// The signed JWT access token.
    access_token: String,
    /// `Bearer`, or `DPoP` for a DPoP-bound token.
    #[schema(pattern = "^(Bearer|DPoP)$")]
    token_type: String,
    /// Seconds the token is valid for.
    expires_in: u64,
    /// The scopes granted, space-separated.
    scope: String,
    /// A refresh token (user-level clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Token exchange: the type of the issued token.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<String>,
}

/// The form of `POST /oauth/introspect` and `POST /oauth/revoke`
/// (RFC 7662 §2.1, RFC 7009 §2.1), with the client's authentication.
#[derive(Deserialize, ToSchema)]
pub(crate) struct TokenParameter {
    /// The token.
    token: String,
    /// `access_token` or `refresh_token` (a hint only).
    token_type_hint: Option<String>,
    /// client_secret_post, or a public client (revocation).
    client_id: Option<String>,
    /// client_secret_post.
    client_secret: Option<String>,
    /// private_key_jwt.
    client_assertion_type: Option<String>,
    /// private_key_jwt.
    client_assertion: Option<String>,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` alone, or
/// an active token's claims.
#[derive(Serialize, ToSchema)]
pub(crate) struct Introspection {
    /// Whether the token is active.
    active: bool,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// The subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// The audience: a string or an array of strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    aud: Option<serde_json::Value>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    /// Issue time.
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    /// Not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    /// The token's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// `Bearer` or `DPoP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<String>,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cnf: Option<serde_json::Value>,
    /// The organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<String>,
    /// The user (user-level clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
}

/// A Dynamic Client Registration answer (RFC 7591 §3.2.1).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Registered {
    /// The new client's id.
    client_id: String,
    /// When it was registered, seconds since the epoch.
    client_id_issued_at: u64,
    /// Its name.
    client_name: String,
    /// Its redirect URIs.
    redirect_uris: Vec<String>,
    /// Its grant types.
    grant_types: Vec<String>,
    /// Its response types.
    response_types: Vec<String>,
    /// How it authenticates at the token endpoint.
    token_endpoint_auth_method: String,
    /// Its scopes, space-separated.
    scope: String,
    /// Whether its access tokens are DPoP-bound.
    dpop_bound_access_tokens: bool,
    /// A confidential client's secret (shown this once).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    /// `0`: the secret never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<u64>,
}

/// RFC 7591 client metadata (the body of `POST /oauth/register`).
#[derive(Deserialize, ToSchema)]
pub(crate) struct RegistrationRequest {
    /// A name for the client.
    client_name: Option<String>,
    /// Redirect URIs (authorization code clients).
    redirect_uris: Option<Vec<String>>,
    /// Grant types wanted.
    grant_types: Option<Vec<String>>,
    /// Response types wanted.
    response_types: Option<Vec<String>>,
    /// `none` (public) or a secret method.
    token_endpoint_auth_method: Option<String>,
    /// Scopes wanted, space-separated.
    scope: Option<String>,
}

/// One published JWK (RFC 7517): public members only.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct Jwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    kty: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    /// Algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    /// `sig`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    /// Curve (EC, OKP).
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    /// Public x coordinate (EC, OKP).
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// Public y coordinate (EC).
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// RSA exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

/// A JWK Set (RFC 7517 §5).
#[derive(Serialize, ToSchema)]
pub(crate) struct JwkSet {
    /// The keys.
    keys: Vec<Jwk>,
}

/// RFC 8414 authorization server metadata (members beyond these may appear).
#[derive(Serialize, ToSchema)]
pub(crate) struct ServerMetadata {
    /// The issuer URL.
    issuer: String,
    /// The authorization endpoint.
    authorization_endpoint: String,
    /// The token endpoint.
    token_endpoint: String,
    /// The JWKS.
    jwks_uri: String,
    /// The introspection endpoint.
    introspection_endpoint: String,
    /// The revocation endpoint.
    revocation_endpoint: String,
    /// The revocation feed (m2m-auth).
    revocation_feed_endpoint: String,
    /// Grant types.
    grant_types_supported: Vec<String>,
    /// Response types (`["code"]` with user-level clients, else empty).
    response_types_supported: Vec<String>,
    /// Token endpoint client authentication methods.
    token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE methods (`S256`).
    code_challenge_methods_supported: Vec<String>,
    /// DPoP proof algorithms (RFC 9449 §5.1).
    dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 9207.
    authorization_response_iss_parameter_supported: bool,
    /// Only when Dynamic Client Registration is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    /// Only when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes_supported: Option<Vec<String>>,
}

/// A revoked token in the feed.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokedToken {
    /// The token's `jti`.
    jti: String,
    /// Its expiry (the entry is dropped after it).
    exp: u64,
}

/// A revoked client in the feed: its tokens issued at or before
/// `revoked_at` are refused.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokedClient {
    /// The client.
    client_id: String,
    /// When, seconds since the epoch.
    revoked_at: u64,
    /// Until when the entry matters.
    exp: u64,
}

/// A revoked signing key in the feed.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokedKey {
    /// The key's `kid`.
    kid: String,
    /// When, seconds since the epoch.
    revoked_at: u64,
    /// Until when the entry matters.
    exp: u64,
}

/// A page of the revocation feed (contract section 6).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationFeed {
    /// Revoked tokens.
    revoked_jtis: Vec<RevokedToken>,
    /// Revoked clients.
    revoked_clients: Vec<RevokedClient>,
    /// Revoked signing keys (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revoked_keys: Vec<RevokedKey>,
    /// Pass back as `since` for newer entries.
    cursor: String,
}

/// A client kind.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// Acts for one organization.
    Org,
    /// Acts for one user of one organization.
    User,
    /// An internal service.
    Service,
}

/// What a quota does once exceeded.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// Refuse with 429.
    Enforce,
    /// Issue anyway, and record it.
    LogOnly,
}

/// A token quota override (contract section 14): absent members fall back.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"per_minute": 60, "per_hour": 1000, "mode": "enforce"}))]
#[serde(deny_unknown_fields)]
pub(crate) struct Quota {
    /// Tokens per clock minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    per_minute: Option<u64>,
    /// Tokens per clock hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    per_hour: Option<u64>,
    /// Tokens per UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    per_day: Option<u64>,
    /// Enforce or only log.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    mode: Option<Mode>,
}

/// A client's token-exchange policy (contract section 13).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenExchange {
    /// Whose tokens it may exchange: client ids or `org:<org_id>`.
    subjects: Vec<String>,
    /// The audiences an exchanged token may have (default: the client's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    audiences: Option<Vec<String>>,
    /// The deepest `act` chain (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    max_depth: Option<u8>,
}

/// A secret's id and dates (never the secret or its hash).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Secret {
    /// The secret's id.
    secret_id: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339, or `null`: never.
    #[schema(required = true)]
    expires_at: Option<String>,
    /// RFC 3339 (coarse), or `null`: never used.
    #[schema(required = true)]
    last_used_at: Option<String>,
}

/// A client as the admin API shows it (no secret, no hash).
#[derive(Serialize, ToSchema)]
pub(crate) struct Client {
    /// Its id (`m2m_...`).
    client_id: String,
    /// Its name.
    name: String,
    /// Its kind.
    kind: Kind,
    /// Its organization.
    #[schema(required = true)]
    org_id: Option<String>,
    /// Its user (user-level clients).
    #[schema(required = true)]
    user_id: Option<String>,
    /// The scopes it may get.
    scopes: Vec<String>,
    /// The audiences it may get tokens for.
    audiences: Vec<String>,
    /// Access token lifetime.
    token_ttl_seconds: u64,
    /// Redirect URIs (user-level clients).
    redirect_uris: Vec<String>,
    /// How it authenticates.
    token_endpoint_auth_method: String,
    /// private_key_jwt: its registered keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jwks: Option<JwkSet>,
    /// private_key_jwt: where its keys are fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jwks_uri: Option<String>,
    /// Whether its access tokens must be DPoP-bound.
    dpop_bound_access_tokens: bool,
    /// Its token-exchange policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token_exchange: Option<TokenExchange>,
    /// Its quota override.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    quota: Option<Quota>,
    /// Free-form metadata.
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// Whether it may get tokens.
    enabled: bool,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
    /// Its live secrets (`GET` of one client only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    secrets: Option<Vec<Secret>>,
}

/// A client just created: the view plus, for a confidential client, its
/// first secret (shown this once).
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedClient {
    #[serde(flatten)]
    client: Client,
    /// The secret (absent for a client that has none: public, private_key_jwt).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<String>,
    /// The secret's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    secret_id: Option<String>,
}

/// A page of clients.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientPage {
    /// The clients.
    items: Vec<Client>,
    /// The next page's cursor, `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The body of `POST /admin/clients`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "invoices-agent", "kind": "service", "scopes": ["invoices:read"], "audiences": ["https://api.example.com"]}))]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClient {
    /// A name.
    name: String,
    /// `org`, `user` or `service`.
    kind: Kind,
    /// The organization (`org` and `user` clients).
    #[schema(nullable = false)]
    org_id: Option<String>,
    /// The user (`user` clients).
    #[schema(nullable = false)]
    user_id: Option<String>,
    /// The scopes it may get.
    scopes: Vec<String>,
    /// The audiences (required for `service`).
    #[schema(nullable = false)]
    audiences: Option<Vec<String>>,
    /// Access token lifetime (60 to 86400).
    #[schema(nullable = false, minimum = 60, maximum = 86400)]
    token_ttl_seconds: Option<u64>,
    /// Redirect URIs (`user` clients).
    #[schema(nullable = false)]
    redirect_uris: Option<Vec<String>>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    #[schema(nullable = false)]
    token_endpoint_auth_method: Option<String>,
    /// private_key_jwt: a JWK Set.
    #[schema(nullable = false, value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// private_key_jwt: an https URL of a JWK Set.
    #[schema(nullable = false)]
    jwks_uri: Option<String>,
    /// Require DPoP-bound tokens.
    #[schema(nullable = false)]
    dpop_bound_access_tokens: Option<bool>,
    /// A token-exchange policy.
    #[schema(nullable = false)]
    token_exchange: Option<TokenExchange>,
    /// A quota override.
    quota: Option<Quota>,
    /// Free-form metadata (an object).
    #[schema(nullable = false, value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}

/// The body of `PATCH /admin/clients/{client_id}`: each member present is
/// changed.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "invoices-agent-2", "scopes": ["invoices:read", "invoices:write"]}))]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientChanges {
    /// A new name.
    #[schema(nullable = false)]
    name: Option<String>,
    /// New scopes.
    #[schema(nullable = false)]
    scopes: Option<Vec<String>>,
    /// New audiences.
    #[schema(nullable = false)]
    audiences: Option<Vec<String>>,
    /// A new token lifetime (60 to 86400).
    #[schema(nullable = false, minimum = 60, maximum = 86400)]
    token_ttl_seconds: Option<u64>,
    /// New redirect URIs.
    #[schema(nullable = false)]
    redirect_uris: Option<Vec<String>>,
    /// A new authentication method.
    #[schema(nullable = false)]
    token_endpoint_auth_method: Option<String>,
    /// New keys (private_key_jwt).
    #[schema(nullable = false, value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// A new key URL (private_key_jwt).
    #[schema(nullable = false)]
    jwks_uri: Option<String>,
    /// Require DPoP-bound tokens or not.
    #[schema(nullable = false)]
    dpop_bound_access_tokens: Option<bool>,
    /// A new token-exchange policy; `null` removes it.
    token_exchange: Option<TokenExchange>,
    /// A new quota override; `null` removes it.
    quota: Option<Quota>,
    /// New metadata.
    #[schema(nullable = false, value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// Enable or disable the client.
    #[schema(nullable = false)]
    enabled: Option<bool>,
}

/// The body of `POST /admin/clients/{client_id}/secrets` (optional).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"expires_at": "2030-01-01T00:00:00Z"}))]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    /// RFC 3339: when the secret stops working.
    #[schema(nullable = false, format = DateTime)]
    expires_at: Option<String>,
}

/// A secret just added (shown this once).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatedSecret {
    /// The secret's id.
    secret_id: String,
    /// The secret.
    client_secret: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339 (absent: never expires).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    expires_at: Option<String>,
}

/// The body of `POST /admin/clients/{client_id}/federated-credentials`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"issuer": "https://token.actions.example.com", "subject": "repo:acme/app:ref:refs/heads/main"}))]
#[serde(deny_unknown_fields)]
pub(crate) struct NewFederatedCredential {
    /// The external issuer (https URL).
    issuer: String,
    /// The `sub` to accept, or a pattern.
    subject: String,
    /// The `aud` the external token must have (default: this issuer).
    #[schema(nullable = false)]
    audience: Option<String>,
    /// Claims the external token must carry, exactly.
    #[schema(nullable = false)]
    claims: Option<BTreeMap<String, String>>,
    /// The external issuer's keys, instead of discovery.
    #[schema(nullable = false, value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
}

/// A federated credential.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FederatedCredential {
    /// Its id.
    id: String,
    /// The client it belongs to.
    client_id: String,
    /// The external issuer.
    issuer: String,
    /// The subject or pattern.
    subject: String,
    /// The audience.
    audience: String,
    /// Required claims.
    claims: BTreeMap<String, String>,
    /// Pinned keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// RFC 3339.
    created_at: String,
}

/// A client's federated credentials.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FederatedCredentialList {
    /// The entries.
    items: Vec<FederatedCredential>,
}

/// A user's grant to a user-level client.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Grant {
    /// Its id.
    grant_id: String,
    /// The client.
    client_id: String,
    /// The user.
    user_id: String,
    /// The organization.
    org_id: String,
    /// The scopes granted.
    scopes: Vec<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339, or `null`: live.
    #[schema(required = true)]
    revoked_at: Option<String>,
}

/// A client's grants.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantList {
    /// The grants, oldest first.
    items: Vec<Grant>,
}

/// A key rotation.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotation {
    /// The new key.
    kid: String,
    /// RFC 3339: when it starts signing.
    signs_from: String,
    /// The same, seconds since the epoch.
    signs_from_unix: u64,
    /// The key it replaces, if any.
    #[schema(required = true)]
    superseded: Option<String>,
}

/// The signing keys, as `GET /admin/keys` lists them.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyList {
    /// The keys of the ring, in the order they sign.
    items: Vec<KeyView>,
}

/// One signing key of the rotation timeline.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyView {
    /// The key id (the JWS `kid`).
    kid: String,
    /// The JWS algorithm, e.g. `ES256`.
    alg: String,
    /// `next` (published, not yet signing), `current` (signing) or
    /// `retired` (published so its tokens verify, no longer signing);
    /// `dropped` for a key past its publication still held in the ring.
    #[schema(pattern = "^(next|current|retired|dropped)$")]
    state: String,
    /// RFC 3339: when the key was made.
    created_at: String,
    /// RFC 3339: when it starts (or started) signing.
    signs_from: String,
    /// RFC 3339: when it stops signing; null until a successor is scheduled.
    #[schema(required = true)]
    signs_until: Option<String>,
    /// RFC 3339: when it leaves the JWKS; null until a successor is scheduled.
    #[schema(required = true)]
    published_until: Option<String>,
}

/// An emergency key revocation.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyRevocation {
    /// The revoked key.
    kid: String,
    /// The key that signs now, if the revoked one was signing.
    #[schema(required = true)]
    replacement: Option<String>,
}

/// An audit event (or a `tokens.issued` aggregate).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditEvent {
    /// Its id (a cursor position).
    id: String,
    /// RFC 3339.
    at: String,
    /// E.g. `client.created`, `auth.failed`, `tokens.issued`.
    kind: String,
    /// The client it concerns.
    #[schema(required = true)]
    client_id: Option<String>,
    /// The admin who acted.
    #[schema(required = true)]
    actor: Option<String>,
    /// Kind-specific details.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

/// A page of audit events, newest first.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditPage {
    /// The events.
    items: Vec<AuditEvent>,
    /// The next page's cursor, `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

// ------------------------------------------------------------- operations

#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth", operation_id = "token",
    summary = "Trade client credentials (or a code, refresh token, assertion) for an access token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "Invalid request, grant, scope or target", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 429, description = "slow_down: throttled or over quota", body = ErrorBody),
    )
)]
fn token() {}

#[utoipa::path(
    get, path = "/oauth/authorize", tag = "oauth", operation_id = "authorize",
    summary = "Authorization endpoint for user-level clients (RFC 6749 §4.1, PKCE)",
    params(
        ("response_type" = Option<String>, Query, description = "`code`"),
        ("client_id" = Option<String>, Query, description = "The client"),
        ("redirect_uri" = Option<String>, Query, description = "A registered redirect URI"),
        ("scope" = Option<String>, Query, description = "Space-separated scopes"),
        ("state" = Option<String>, Query, description = "Returned as is"),
        ("code_challenge" = Option<String>, Query, description = "PKCE challenge"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`"),
        ("resource" = Option<String>, Query, description = "RFC 8707 resource"),
    ),
    responses(
        (status = 302, description = "To the consent page, or back to the client with a code or an error"),
        (status = 400, description = "Unknown client or redirect URI, or a bad query", body = ErrorBody),
    )
)]
fn authorize() {}

#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth", operation_id = "introspect",
    summary = "Token introspection (RFC 7662)",
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "The token's state", body = Introspection),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 429, description = "slow_down", body = ErrorBody),
    )
)]
fn introspect() {}

#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth", operation_id = "revoke",
    summary = "Token revocation (RFC 7009)",
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 429, description = "slow_down", body = ErrorBody),
    )
)]
fn revoke() {}

#[utoipa::path(
    post, path = "/oauth/register", tag = "oauth", operation_id = "register",
    summary = "Dynamic Client Registration (RFC 7591); only when registration is on",
    request_body(content = RegistrationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "Invalid client metadata or redirect URI", body = ErrorBody),
        (status = 401, description = "A missing or wrong initial access token", body = ErrorBody),
        (status = 404, description = "Registration is off"),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 429, description = "slow_down", body = ErrorBody),
    )
)]
fn register() {}

#[utoipa::path(
    get, path = "/oauth/revocations", tag = "oauth", operation_id = "revocations",
    summary = "The revocation feed guards poll",
    params(("since" = Option<String>, Query, description = "A cursor from a previous page")),
    responses(
        (status = 200, description = "Revocations after `since`", body = RevocationFeed),
        (status = 400, description = "A cursor the feed never issued", body = ErrorBody),
    )
)]
fn revocations() {}

#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "oauth", operation_id = "jwks",
    summary = "The issuer's published signing keys",
    responses((status = 200, description = "The JWK Set", body = JwkSet))
)]
fn jwks() {}

#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth", operation_id = "metadata",
    summary = "RFC 8414 authorization server metadata",
    responses((status = 200, description = "The metadata", body = ServerMetadata))
)]
fn metadata() {}

#[utoipa::path(
    post, path = "/admin/clients", tag = "admin", operation_id = "create_client",
    summary = "Register a client",
    request_body(content = NewClient, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedClient),
        (status = 400, description = "Unparsable JSON", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A rule is broken", body = ErrorBody),
    )
)]
fn create_client() {}

#[utoipa::path(
    get, path = "/admin/clients", tag = "admin", operation_id = "list_clients",
    summary = "List clients",
    params(
        ("org_id" = Option<String>, Query, pattern = "^[!-~]{1,256}$", description = "Only this organization's"),
        ("kind" = Option<Kind>, Query, description = "Only this kind"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "A page of clients", body = ClientPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
    )
)]
fn list_clients() {}

#[utoipa::path(
    get, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "show_client",
    summary = "Show a client and its secrets' ids and dates",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The client", body = Client),
        (status = 400, description = "The id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
fn show_client() {}

#[utoipa::path(
    patch, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "update_client",
    summary = "Change a client",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    request_body(content = ClientChanges, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The changed client", body = Client),
        (status = 400, description = "Unparsable JSON, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A rule is broken", body = ErrorBody),
    )
)]
fn update_client() {}

#[utoipa::path(
    delete, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "delete_client",
    summary = "Delete a client (its tokens are revoked)",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
fn delete_client() {}

#[utoipa::path(
    post, path = "/admin/clients/{client_id}/secrets", tag = "admin", operation_id = "add_secret",
    summary = "Add a secret (rotation); the body is optional",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    request_body(content = Option<NewSecret>, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 201, description = "The new secret, shown this once", body = CreatedSecret),
        (status = 400, description = "Unparsable JSON, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "The client has five live secrets", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A rule is broken", body = ErrorBody),
    )
)]
fn add_secret() {}

#[utoipa::path(
    delete, path = "/admin/clients/{client_id}/secrets/{secret_id}", tag = "admin",
    operation_id = "remove_secret",
    summary = "Remove a secret",
    params(
        ("client_id" = String, Path, pattern = "^[!-~]{1,256}$"),
        ("secret_id" = String, Path, pattern = "^[!-~]{1,256}$"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client or secret", body = ErrorBody),
    )
)]
fn remove_secret() {}

#[utoipa::path(
    post, path = "/admin/clients/{client_id}/jwks", tag = "admin", operation_id = "add_client_key",
    summary = "Add a public key of a private_key_jwt client",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    request_body(content = Jwk, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 201, description = "The key as stored (kid filled in)", body = Jwk),
        (status = 400, description = "Unparsable JSON, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "Too many keys, or the kid exists", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Not a usable public key for this client", body = ErrorBody),
    )
)]
fn add_client_key() {}

#[utoipa::path(
    delete, path = "/admin/clients/{client_id}/jwks/{kid}", tag = "admin",
    operation_id = "remove_client_key",
    summary = "Remove a client's public key",
    params(
        ("client_id" = String, Path, pattern = "^[!-~]{1,256}$"),
        ("kid" = String, Path, pattern = "^[!-~]{1,256}$"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client or key", body = ErrorBody),
        (status = 409, description = "The client's last key", body = ErrorBody),
        (status = 422, description = "The client has no registered keys", body = ErrorBody),
    )
)]
fn remove_client_key() {}

#[utoipa::path(
    post, path = "/admin/clients/{client_id}/federated-credentials", tag = "admin",
    operation_id = "add_federated_credential",
    summary = "Trust an external issuer's tokens for a client",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    request_body(content = NewFederatedCredential, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 201, description = "The entry", body = FederatedCredential),
        (status = 400, description = "Unparsable JSON, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "The client has 20 entries", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A rule is broken", body = ErrorBody),
    )
)]
fn add_federated_credential() {}

#[utoipa::path(
    get, path = "/admin/clients/{client_id}/federated-credentials", tag = "admin",
    operation_id = "list_federated_credentials",
    summary = "A client's federated credentials",
    params(("client_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The entries", body = FederatedCredentialList),
        (status = 400, description = "The id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
fn list_federated_credentials() {}

#[utoipa::path(
    delete, path = "/admin/clients/{client_id}/federated-credentials/{id}", tag = "admin",
    operation_id = "remove_federated_credential",
    summary = "Remove a federated credential",
    params(
        ("client_id" = String, Path, pattern = "^[!-~]{1,256}$"),
        ("id" = String, Path, pattern = "^[!-~]{1,256}$"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client or entry", body = ErrorBody),
    )
)]
fn remove_federated_credential() {}

#[utoipa::path(
    get, path = "/admin/clients/{client_id}/grants", tag = "admin", operation_id = "list_grants",
    summary = "A user-level client's grants",
    params(
        ("client_id" = String, Path, pattern = "^[!-~]{1,256}$"),
        ("user_id" = Option<String>, Query, pattern = "^[!-~]{1,256}$", description = "Only this user's"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The grants, oldest first", body = GrantList),
        (status = 400, description = "A bad query parameter, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
fn list_grants() {}

#[utoipa::path(
    delete, path = "/admin/clients/{client_id}/grants/{grant_id}", tag = "admin",
    operation_id = "revoke_grant",
    summary = "Revoke a grant (its refresh and access tokens stop working)",
    params(
        ("client_id" = String, Path, pattern = "^[!-~]{1,256}$"),
        ("grant_id" = String, Path, pattern = "^[!-~]{1,256}$"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "An id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such client or grant", body = ErrorBody),
    )
)]
fn revoke_grant() {}

#[utoipa::path(
    get, path = "/admin/keys", tag = "admin", operation_id = "list_keys",
    summary = "The signing keys' rotation timeline",
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The keys, in the order they sign", body = KeyList),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
    )
)]
fn list_keys() {}

#[utoipa::path(
    post, path = "/admin/keys/rotate", tag = "admin", operation_id = "rotate_key",
    summary = "Rotate the signing key (the new key signs after pre-publication)",
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The rotation", body = Rotation),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
    )
)]
fn rotate_key() {}

#[utoipa::path(
    post, path = "/admin/keys/{kid}/revoke", tag = "admin", operation_id = "revoke_key",
    summary = "Revoke a signing key at once (an emergency)",
    params(("kid" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "Revoked", body = KeyRevocation),
        (status = 400, description = "The kid cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
fn revoke_key() {}

#[utoipa::path(
    get, path = "/admin/audit", tag = "admin", operation_id = "list_audit",
    summary = "Audit events and token aggregates, newest first",
    params(
        ("client_id" = Option<String>, Query, pattern = "^[!-~]{1,256}$"),
        ("kind" = Option<String>, Query, pattern = "^[a-z._]{1,64}$", description = "E.g. auth.failed"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
    )
)]
fn list_audit() {}

#[utoipa::path(
    get, path = "/admin/orgs/{org_id}/quota", tag = "admin", operation_id = "show_org_quota",
    summary = "An organization's quota override",
    params(("org_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The override", body = Quota),
        (status = 400, description = "The id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "The organization has none", body = ErrorBody),
    )
)]
fn show_org_quota() {}

#[utoipa::path(
    put, path = "/admin/orgs/{org_id}/quota", tag = "admin", operation_id = "put_org_quota",
    summary = "Set or replace an organization's quota override",
    params(("org_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    request_body(content = Quota, content_type = "application/json"),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 200, description = "The override", body = Quota),
        (status = 400, description = "Unparsable JSON, or the id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A rule is broken", body = ErrorBody),
    )
)]
fn put_org_quota() {}

#[utoipa::path(
    delete, path = "/admin/orgs/{org_id}/quota", tag = "admin", operation_id = "clear_org_quota",
    summary = "Clear an organization's quota override",
    params(("org_id" = String, Path, pattern = "^[!-~]{1,256}$")),
    security(("admin_token" = ["m2m:admin"])),
    responses(
        (status = 204, description = "Cleared"),
        (status = 400, description = "The id cannot be an id", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 403, description = "The token lacks m2m:admin", body = ErrorBody),
        (status = 404, description = "The organization had none", body = ErrorBody),
    )
)]
fn clear_org_quota() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Path and body ids: 1 to 256 printable ASCII characters, no space.
    const ID_PATTERN: &str = "^[!-~]{1,256}$";

    #[test]
    fn path_parameters_use_the_id_pattern() {
        let json = document().to_string();
        assert!(json.contains(&ID_PATTERN.replace('\\', "\\\\")));
        assert!(
            !json.contains("\"servers\""),
            "no port-dependent server URL"
        );
        assert!(
            json.contains("\"operationId\":\"show_client\""),
            "links in camel case"
        );
        assert!(!json.contains("operation_id"));
    }
}
