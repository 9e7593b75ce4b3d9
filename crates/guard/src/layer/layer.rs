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
}

impl<P> RequireScopesLayer<P> {
    pub(crate) fn new(verifier: Arc<Verifier>, responder: Arc<Responder>, policy: P) -> Self {
        RequireScopesLayer {
            shared: Arc::new(Shared {
                verifier,
                responder,
                policy,
            }),
        }
    }
}

impl<P> Clone for RequireScopesLayer<P> {
    fn clone(&self) -> Self {
        RequireScopesLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, P> Layer<S> for RequireScopesLayer<P> {
    type Service = RequireScopes<S, P>;

    fn layer(&self, inner: S) -> RequireScopes<S, P> {
        RequireScopes::new(inner, Arc::clone(&self.shared))
    }
}

impl<P> fmt::Debug for RequireScopesLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("policy", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}
