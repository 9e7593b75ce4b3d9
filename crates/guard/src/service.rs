//! [`RequireScopes`]: the service the layer wraps around yours.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::guard::{Check, Guard, Policy};

/// Authenticates the Bearer token of each request, checks the route's scopes,
/// puts the claims into the request's extensions and calls the inner service;
/// or answers 401/403 itself, never an error.
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    inner: S,
    guard: Guard,
    policy: Arc<Policy>,
}

impl<S> RequireScopes<S> {
    pub(crate) fn new(inner: S, guard: Guard, policy: Arc<Policy>) -> Self {
        RequireScopes {
            inner,
            guard,
            policy,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.guard.check_request(req.headers(), &self.policy, true) {
            Check::Pass(auth) => {
                req.extensions_mut().insert(auth);
                ResponseFuture::inner(self.inner.call(req))
            }
            Check::Anonymous => ResponseFuture::inner(self.inner.call(req)),
            Check::Reject(rejection) => ResponseFuture::rejected(self.guard.reject(&rejection)),
            Check::UnknownKid { kid, generation } => {
                // The call happens later, in the future: take the service that
                // was polled ready and leave a clone in its place.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::refreshing(
                    self.guard.refresh_for_kid(kid, generation),
                    req,
                    ready,
                    self.guard.clone(),
                    Arc::clone(&self.policy),
                )
            }
        }
    }
}
