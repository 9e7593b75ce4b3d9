//! [`Guard`]: the handle a host keeps, and the maker of per-route layers.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use m2m_core::{ScopeError, ScopeRequirement};

use crate::challenge::{Rejection, Responder};
use crate::extract::Auth;
use crate::layer::RequireScopesLayer;
use crate::metadata::{ProtectedResourceMetadata, RouteScopes};
use crate::policy::ScopePolicy;
use crate::resource::ResourceUri;
use crate::verifier::{Revocations, Verifier};

/// Authenticates Bearer access tokens and makes per-route layers.
///
/// Made by [`Guard::builder`]. Cheap to clone; every clone and every layer
/// made from it share the keys, the cache and the revocations. The
/// background tasks (key refresh, revocation feed) stop when the last clone
/// and the last layer are dropped.
///
/// ```
/// use m2m_core::{Algorithm, JwkSet, SigningKey};
/// use m2m_guard::Guard;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
///     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
///     .build()
///     .await?;
/// let read = guard.require(["invoices:read"]);
/// let write = guard.require_any(["invoices:write", "admin"]);
/// assert!(guard.try_require(["not a scope"]).is_err());
/// assert_eq!(guard.key_count(), 1);
/// assert!(guard.check_token("not.a.token").is_err());
/// # let _ = (read, write); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Guard {
    verifier: Arc<Verifier>,
    responder: Arc<Responder>,
    resource: Option<ResourceUri>,
    route_scopes: Arc<RouteScopes>,
}

impl Guard {
    pub(crate) fn new(
        verifier: Verifier,
        responder: Responder,
        resource: Option<ResourceUri>,
    ) -> Self {
        Guard {
            verifier: Arc::new(verifier),
            responder: Arc::new(responder),
            resource,
            route_scopes: Arc::default(),
        }
    }

    /// A layer that requires a valid token with every one of `scopes`.
    ///
    /// # Panics
    ///
    /// If a scope is not valid scope syntax (a bug in the route table); use
    /// [`Guard::try_require`] for scopes that come from configuration.
    pub fn require<I, S>(&self, scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.try_require(scopes) {
            Ok(layer) => layer,
            Err(e) => panic!("invalid scope in Guard::require: {e}"),
        }
    }

    /// A layer that requires a valid token with every one of `scopes`.
    pub fn try_require<I, S>(&self, scopes: I) -> Result<RequireScopesLayer, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(self.require_scopes(ScopeRequirement::all_of(scopes)?))
    }

    /// A layer that requires a valid token with at least one of `scopes`.
    ///
    /// # Panics
    ///
    /// If a scope is not valid scope syntax; see [`Guard::try_require_any`].
    pub fn require_any<I, S>(&self, scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.try_require_any(scopes) {
            Ok(layer) => layer,
            Err(e) => panic!("invalid scope in Guard::require_any: {e}"),
        }
    }

    /// A layer that requires a valid token with at least one of `scopes`.
    pub fn try_require_any<I, S>(&self, scopes: I) -> Result<RequireScopesLayer, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(self.require_scopes(ScopeRequirement::any_of(scopes)?))
    }

    /// A layer that requires a token meeting `requirement`.
    ///
    /// Its scopes join the guard's `scopes_supported` in its
    /// [`resource_metadata`](Guard::resource_metadata), as do those of
    /// [`require`](Guard::require) and [`require_any`](Guard::require_any).
    pub fn require_scopes(&self, requirement: ScopeRequirement) -> RequireScopesLayer {
        self.route_scopes.add(&requirement);
        self.authorize(ScopePolicy::require(requirement))
    }

    /// A layer that requires a valid token, whatever its scopes.
    pub fn authenticate(&self) -> RequireScopesLayer {
        self.authorize(ScopePolicy::authenticate())
    }

    /// A layer for routes open to anonymous and authenticated callers: a
    /// request without a Bearer token passes with no claims (`Option<Auth>` is
    /// `None`); a request with one must carry a valid token.
    pub fn optional(&self) -> RequireScopesLayer {
        self.authorize(ScopePolicy::optional())
    }

    /// A layer with a rule of your own: `policy` is asked about every request
    /// once its token (if any) is verified, with the claims or `None`. A
    /// malformed `Authorization` header and an invalid token are refused
    /// before the policy is asked. See [`Policy`](crate::Policy) for a
    /// per-tool example; a closure needs its argument types written out.
    pub fn authorize<P>(&self, policy: P) -> RequireScopesLayer<P> {
        RequireScopesLayer::new(
            Arc::clone(&self.verifier),
            Arc::clone(&self.responder),
            policy,
        )
    }

    /// The canonical URI of the protected resource, when the guard was
    /// built with [`GuardBuilder::resource`](crate::GuardBuilder::resource).
    pub fn resource(&self) -> Option<&ResourceUri> {
        self.resource.as_ref()
    }

    /// The Protected Resource Metadata (RFC 9728) of the guard's resource,
    /// a tower service to mount at its
    /// [`path`](ProtectedResourceMetadata::path); `None` for a guard built
    /// without [`GuardBuilder::resource`](crate::GuardBuilder::resource).
    ///
    /// Its `authorization_servers` are the issuers the guard trusts, and its
    /// `scopes_supported` the scopes of every
    /// [`require`](Guard::require), [`require_any`](Guard::require_any) and
    /// [`require_scopes`](Guard::require_scopes) layer made so far or later
    /// (each request reads them); a policy of your own
    /// ([`authorize`](Guard::authorize)) adds none, so list its scopes with
    /// [`scopes_supported`](ProtectedResourceMetadata::scopes_supported).
    /// Both fields can be replaced.
    pub fn resource_metadata(&self) -> Option<ProtectedResourceMetadata> {
        let resource = self.resource.clone()?;
        let servers = self.verifier.validation().issuers().to_vec();
        Some(ProtectedResourceMetadata::for_guard(
            resource,
            servers,
            Arc::clone(&self.route_scopes),
        ))
    }

    /// The guard's answer to `rejection`, as its layers give it: the
    /// challenge with this guard's realm, verbosity and `resource_metadata`,
    /// through its [`on_rejection`](crate::GuardBuilder::on_rejection) hook,
    /// logged once. For checks made past the layer, in a handler, such as an
    /// MCP server's per-tool scope once it has read which tool is called.
    /// `route_scopes`, for [`Rejection::MissingToken`], are named in its
    /// `scope` when the guard has a resource.
    ///
    /// ```
    /// use m2m_core::{Algorithm, JwkSet, ScopeRequirement, SigningKey};
    /// use m2m_guard::{Guard, Rejection};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = SigningKey::generate(Algorithm::ES256)?;
    /// let guard = Guard::builder("https://auth.example.com", "https://api.example.com/mcp")
    ///     .resource("https://api.example.com/mcp")
    ///     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
    ///     .build()
    ///     .await?;
    /// let write = ScopeRequirement::all_of(["invoices:write"])?;
    /// let response = guard.reject(&Rejection::InsufficientScope(write), None);
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(
    ///     response.headers()["www-authenticate"],
    ///     concat!(
    ///         r#"Bearer realm="api", error="insufficient_scope", "#,
    ///         r#"error_description="the access token needs all of the scopes", "#,
    ///         r#"scope="invoices:write", "#,
    ///         r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#,
    ///     )
    /// );
    /// # Ok(()) }
    /// ```
    pub fn reject(
        &self,
        rejection: &Rejection,
        route_scopes: Option<&ScopeRequirement>,
    ) -> Response<Bytes> {
        self.responder.respond(rejection, route_scopes)
    }

    /// The revocations this guard refuses; an issuer in the same process can
    /// push into them.
    pub fn revocations(&self) -> &Revocations {
        self.verifier.revocations()
    }

    /// How many keys are trusted now.
    pub fn key_count(&self) -> usize {
        self.verifier.key_count()
    }

    /// How many verified tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.verifier.cached_tokens()
    }

    /// Checks a token (no `Bearer ` prefix) as a request would, with the keys
    /// there are now: for transports other than HTTP headers. It never
    /// re-fetches keys, so a token naming a `kid` the guard has not seen yet
    /// is refused as `UnknownKid` (a request through a layer would wait for
    /// one re-fetch).
    pub fn check_token(&self, token: &str) -> Result<Auth, Rejection> {
        self.verifier.verify(token)
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validation = self.verifier.validation();
        f.debug_struct("Guard")
            .field("issuers", &validation.issuers())
            .field("audiences", &validation.audiences())
            .field("realm", &self.responder.realm())
            .field("resource", &self.resource)
            .field("keys", &self.verifier.key_count())
            .field("cached_tokens", &self.verifier.cached_tokens())
            .field("revocations", self.verifier.revocations())
            .finish_non_exhaustive()
    }
}
