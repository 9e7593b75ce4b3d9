//! m2m-guard: a tower Layer that authenticates Bearer JWT access tokens and
//! authorizes each route by scope (contract section 9).
//!
//! Build one [`Guard`] from the verifier configuration (issuer, audiences,
//! leeway, algorithms) and a key source (a JWKS URL, a static JWK Set, or
//! [`InProcessKeys`] pushed by an issuer in the same process). Then put
//! [`Guard::require`] (all of the scopes), [`Guard::require_any`] (one of
//! them), [`Guard::authenticate`] (any valid token) or [`Guard::optional`]
//! (anonymous or valid) on each route with axum's `route_layer`, so an unknown
//! path stays 404; or bring a rule of your own, a [`Policy`] (a closure will
//! do), with [`Guard::authorize`]. Handlers read the verified claims with the
//! [`Auth`] extractor (or `Option<Auth>`).
//!
//! Refusals are responses, never errors (RFC 6750 §3): 401 with
//! `WWW-Authenticate: Bearer realm="api"` for a missing token, 401 with
//! `error="invalid_token"` for a bad, expired or revoked one, 403 with
//! `error="insufficient_scope", scope="..."` for missing scopes, each with a
//! JSON body `{"error","error_description"}`. [`challenge()`] is the one
//! function that maps a [`Rejection`] to that answer.
//!
//! Delegated tokens (RFC 8693 token exchange: an agent acting for a user or
//! an organization, its chain of actors in `act`) pass like any other
//! unless a route says otherwise: [`RequireScopesLayer::direct_only`]
//! refuses them, [`RequireScopesLayer::max_delegation_depth`] caps the
//! chain, each with a 403 `insufficient_scope` naming why; [`Auth::actor`],
//! [`Auth::delegation_chain`] and [`Auth::delegation_depth`] read it.
//!
//! ```
//! use axum::{Router, routing::get, body::Body};
//! use m2m_core::*;
//! use m2m_guard::{Auth, Guard};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The issuer's key and a token it signed (normally from m2m-issuer).
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let now = now_unix();
//! let claims = AccessTokenClaims {
//!     iss: "https://auth.example.com".into(),
//!     sub: "m2m_1".into(),
//!     client_id: "m2m_1".into(),
//!     aud: Audience::from("https://api.example.com"),
//!     iat: now, nbf: Some(now), exp: now + 3600,
//!     jti: "t1".into(),
//!     scope: "invoices:read".parse()?,
//!     oid: Some("org_1".into()),
//!     uid: None,
//!     cnf: None,
//!     act: None,
//!     may_act: None,
//! };
//! let token = sign(&key, &claims)?;
//!
//! // The API: one guard, a layer per route.
//! let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
//!     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
//!     .build()
//!     .await?;
//! let app = Router::new()
//!     .route("/invoices", get(|auth: Auth| async move { auth.client_id().to_string() }))
//!     .route_layer(guard.require(["invoices:read"]));
//!
//! let request = |auth: Option<String>| {
//!     let mut builder = http::Request::get("/invoices");
//!     if let Some(auth) = auth {
//!         builder = builder.header("authorization", auth);
//!     }
//!     builder.body(Body::empty()).unwrap()
//! };
//! let ok = app.clone().oneshot(request(Some(format!("Bearer {token}")))).await?;
//! assert_eq!(ok.status(), 200);
//! let missing = app.oneshot(request(None)).await?;
//! assert_eq!(missing.status(), 401);
//! assert_eq!(missing.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # Ok(()) }
//! ```
//!
//! ## MCP servers: Protected Resource Metadata
//!
//! [`GuardBuilder::resource`] makes the guard the resource server of one
//! URI, as the MCP authorization specification asks: tokens must carry its
//! canonical form ([`ResourceUri`], RFC 8707 §2) in `aud`; every 401 and
//! 403 ends with `resource_metadata="<absolute URL>"` (RFC 9728 §5.1); a
//! 401 for a missing token names the route's scopes in `scope="..."`; and
//! [`Guard::resource_metadata`] is a tower service serving the
//! [`ProtectedResourceMetadata`] document at
//! `/.well-known/oauth-protected-resource` followed by the resource's path.
//! [`challenge_with`] decides every challenge; [`Guard::reject`] answers a
//! check made in a handler (a per-tool scope) the same way.
//!
//! ## Keys
//!
//! From a JWKS URL (fetched at build, refreshed by `Cache-Control: max-age`,
//! re-fetched on an unknown `kid` at most once per cooldown, single flight;
//! the keys held are kept while the issuer is down), a static JWK Set, or
//! [`InProcessKeys`]. A key the guard cannot use (a P-384 key, a key not for
//! signatures, a malformed entry) is skipped with one warning naming its
//! `kid` and the reason, never fatal to the set: the keys beside it load.
//! [`RemoteJwks`] is that JWKS-URL source on its own, for code that is not a
//! guard (an issuer checking client assertions against a `jwks_uri`).
//!
//! ## Revocations
//!
//! [`Revocations`] holds m2m-core's [`Revocation`](m2m_core::Revocation)s:
//! a token by `jti`, a client's tokens issued at or before a time, and every
//! token of a signing key (refused even while a stale JWKS still lists the
//! key). They come from the issuer's feed
//! ([`GuardBuilder::revocation_feed`]) or from an issuer in the same process
//! pushing into the handle. The feed is read to its end at build, so a fresh
//! guard never accepts a token revoked before it started; then each poll
//! reads pages back to back while they bring entries (at most
//! [`DEFAULT_REVOCATION_PAGES_PER_POLL`] by default). A 400 to the cursor
//! (the issuer never issued it, say after a database restore) makes the
//! guard re-read from the start at once, keeping what it holds. After every
//! poll, entries whose tokens have all expired are pruned; an in-process
//! owner calls [`Revocations::prune`] itself.
//!
//! The request path pays one atomic load while nothing is revoked, and one
//! map lookup per kind of revocation held otherwise. Revoking never scans
//! the verified-token cache: a cache hit checks revocation like a new token.
//!
//! ## How it is built
//!
//! Dependencies run one way, from the layer down to the verifier:
//!
//! - the layer (`RequireScopesLayer`, `RequireScopes`, `ResponseFuture`,
//!   `ResponseBody`) reads the Bearer header, asks the verifier, then the
//!   route's [`Policy`], and answers refusals through [`challenge()`];
//! - the verifier is the only code that judges a token: it owns the
//!   validation, the accepted algorithms, the keys ([`InProcessKeys`] or a
//!   JWKS URL), the verified-token cache, the [`Revocations`] and the clock;
//! - [`GuardBuilder`] puts them together; [`Guard`] is the handle that makes
//!   layers;
//! - [`Auth`] is the axum extractor for the verified claims.
//!
//! ## Features
//!
//! - `rustls` (off by default): fetch the JWKS and the revocation feed over
//!   https, with rustls on the ring provider configured for this client only
//!   (no process-wide crypto provider is installed). The guard's HTTP client
//!   is hyper-util's with a connector of its own (hyper-rustls with this
//!   feature), so it changes nothing for the other HTTP clients in the binary.
//!   Off by default: a guard fed in-process, or over http on a private
//!   network, needs no TLS stack. An `https://` URL without the feature is a
//!   clear [`BuildError::TlsUnavailable`] at build, never a silent downgrade.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bearer;
mod builder;
mod challenge;
mod delegation;
mod dpop;
mod extract;
pub mod fetch;
mod guard;
mod layer;
mod metadata;
pub mod net;
mod policy;
mod resource;
mod verifier;

pub use builder::{
    BuildError, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REVOCATION_PAGES_PER_POLL, GuardBuilder,
};
pub use challenge::{Challenge, ChallengeParams, Rejection, challenge, challenge_with};
pub use dpop::{
    DEFAULT_REPLAY_CAPACITY, DPOP_HEADER, DPOP_NONCE_HEADER, DpopConfig, DpopRejection,
    DpopReplayCache, ReplayError,
};
pub use extract::{Auth, AuthRejection, Claims};
pub use guard::Guard;
pub use layer::{RequireScopes, RequireScopesLayer, ResponseBody, ResponseFuture};
pub use metadata::{DEFAULT_METADATA_MAX_AGE, ProtectedResourceMetadata};
pub use policy::{Policy, ScopePolicy};
pub use resource::{InvalidResource, MAX_RESOURCE_LEN, ResourceUri, WELL_KNOWN_PATH};
pub use verifier::{InProcessKeys, RemoteJwks, Revocations};
