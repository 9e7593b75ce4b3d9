//! [`RequireScopesLayer`]: made by [`Guard::require`](crate::Guard::require),
//! [`Guard::require_any`](crate::Guard::require_any),
//! [`Guard::authenticate`](crate::Guard::authenticate) and
//! [`Guard::optional`](crate::Guard::optional).

use std::sync::Arc;

use tower::Layer;

use crate::guard::{Guard, Policy};
use crate::service::RequireScopes;

/// A tower Layer that authenticates the Bearer token and checks the route's scopes.
///
/// Meant for axum's `route_layer`, so an unknown path stays 404.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireScopesLayer {
    guard: Guard,
    policy: Arc<Policy>,
}

impl RequireScopesLayer {
    pub(crate) fn new(guard: Guard, policy: Policy) -> Self {
        RequireScopesLayer {
            guard,
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> RequireScopes<S> {
        RequireScopes::new(inner, self.guard.clone(), Arc::clone(&self.policy))
    }
}
