//! [`RequireScopesLayer`]: made by [`Guard::require`](crate::Guard::require),
//! [`Guard::require_any`](crate::Guard::require_any),
//! [`Guard::authenticate`](crate::Guard::authenticate),
//! [`Guard::optional`](crate::Guard::optional) and, with a policy of your
//! own, [`Guard::authorize`](crate::Guard::authorize).

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::service::RequireScopes;
use super::shared::Shared;
use crate::challenge::Responder;
use crate::delegation::DelegationLimit;
use crate::policy::ScopePolicy;
use crate::verifier::Verifier;

/// A tower Layer that authenticates the Bearer token and applies the
/// route's [`Policy`](crate::Policy) (by default a [`ScopePolicy`]).
///
/// Meant for axum's `route_layer`, so an unknown path stays 404. Cloning it,
/// and making services with it, shares one policy value.
///
/// ```
/// use axum::{Router, routing::get};
/// use m2m_guard::Auth;
/// # use m2m_core::{Algorithm, JwkSet, SigningKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = SigningKey::generate(Algorithm::EdDSA)?;
/// # let guard = m2m_guard::Guard::builder("https://auth.example.com", "https://api.example.com")
/// #     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] }).build().await?;
/// let app: Router = Router::new()
///     .route("/invoices", get(|auth: Auth| async move { auth.client_id().to_string() }))
///     .route_layer(guard.require(["invoices:read"]))
///     .route("/health", get(|| async { "ok" })); // added after: public
/// # let _ = app; Ok(()) }
/// ```
#[must_use]
pub struct RequireScopesLayer<P = ScopePolicy> {
    shared: Arc<Shared<P>>,
    delegation: DelegationLimit,
}

impl<P> RequireScopesLayer<P> {
    pub(crate) fn new(verifier: Arc<Verifier>, responder: Arc<Responder>, policy: P) -> Self {
        RequireScopesLayer {
            shared: Arc::new(Shared {
                verifier,
                responder,
                policy,
            }),
            delegation: DelegationLimit::default(),
        }
    }

    /// Refuses delegated tokens: a token with an `act` claim (RFC 8693
    /// §4.1, obtained by token exchange, an agent acting for its subject) is
    /// answered 403 `insufficient_scope` with `error_description="delegated
    /// tokens are not accepted here"`. The same as
    /// [`max_delegation_depth(0)`](RequireScopesLayer::max_delegation_depth),
    /// for routes only the subject itself may call (changing its own
    /// credentials, granting access).
    ///
    /// The check runs on every request after the token is verified (from the
    /// cache or not) and before the layer's policy is asked: the policy
    /// never sees a token the route refuses for its chain.
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::post};
    /// use m2m_core::*;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = SigningKey::generate(Algorithm::ES256)?;
    /// # let now = now_unix();
    /// # let mut claims = AccessTokenClaims {
    /// #     iss: "https://auth.example.com".into(), sub: "m2m_user".into(), client_id: "m2m_agent".into(),
    /// #     aud: Audience::from("https://api.example.com"), iat: now, nbf: None, exp: now + 60,
    /// #     jti: "t1".into(), scope: "keys:write".parse()?, oid: None, uid: None, cnf: None,
    /// #     act: None, may_act: None,
    /// # };
    /// # let direct = sign(&key, &claims)?;
    /// # claims.act = Some(Actor::client("m2m_agent"));
    /// # let delegated = sign(&key, &claims)?;
    /// # let guard = m2m_guard::Guard::builder("https://auth.example.com", "https://api.example.com")
    /// #     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] }).build().await?;
    /// let app: Router = Router::new()
    ///     .route("/keys", post(|| async { "rotated" }))
    ///     .route_layer(guard.require(["keys:write"]).direct_only());
    ///
    /// let call = |token: &str| {
    ///     http::Request::post("/keys")
    ///         .header("authorization", format!("Bearer {token}"))
    ///         .body(Body::empty())
    ///         .unwrap()
    /// };
    /// assert_eq!(app.clone().oneshot(call(&direct)).await?.status(), 200);
    /// let refused = app.oneshot(call(&delegated)).await?;
    /// assert_eq!(refused.status(), 403);
    /// assert_eq!(
    ///     refused.headers()["www-authenticate"],
    ///     concat!(
    ///         r#"Bearer realm="api", error="insufficient_scope", "#,
    ///         r#"error_description="delegated tokens are not accepted here""#,
    ///     )
    /// );
    /// # Ok(()) }
    /// ```
    pub fn direct_only(self) -> Self {
        self.max_delegation_depth(0)
    }

    /// Refuses tokens delegated through more than `max` actors: a token
    /// whose `act` chain (RFC 8693 §4.1) names more is answered 403
    /// `insufficient_scope` with `error_description="delegation depth N
    /// exceeds M"`. A direct token has depth 0; an agent acting for a user
    /// has depth 1; a second agent acting through the first, depth 2.
    /// `max_delegation_depth(0)` is [`direct_only`](RequireScopesLayer::direct_only).
    /// Called twice, the smaller limit holds. Checked like `direct_only`, on
    /// every request, cached token or not.
    ///
    /// ```
    /// # use m2m_core::{Algorithm, JwkSet, SigningKey};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = SigningKey::generate(Algorithm::EdDSA)?;
    /// # let guard = m2m_guard::Guard::builder("https://auth.example.com", "https://api.example.com")
    /// #     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] }).build().await?;
    /// // An agent may read invoices for its user; an agent of that agent may not.
    /// let read = guard.require(["invoices:read"]).max_delegation_depth(1);
    /// # let _ = read; Ok(()) }
    /// ```
    pub fn max_delegation_depth(mut self, max: usize) -> Self {
        self.delegation = self.delegation.at_most(max);
        self
    }
}

impl<P> Clone for RequireScopesLayer<P> {
    fn clone(&self) -> Self {
        RequireScopesLayer {
            shared: Arc::clone(&self.shared),
            delegation: self.delegation,
        }
    }
}

impl<S, P> Layer<S> for RequireScopesLayer<P> {
    type Service = RequireScopes<S, P>;

    fn layer(&self, inner: S) -> RequireScopes<S, P> {
        RequireScopes::new(inner, Arc::clone(&self.shared), self.delegation)
    }
}

impl<P> fmt::Debug for RequireScopesLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("policy", &std::any::type_name::<P>())
            .field("delegation", &self.delegation)
            .finish_non_exhaustive()
    }
}
