//! [`RequireScopes`]: the service the layer wraps around yours.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::shared::Shared;
use crate::bearer;
use crate::challenge::Rejection;
use crate::delegation::DelegationLimit;
use crate::policy::{Policy, ScopePolicy};
use crate::verifier::Check;

/// Authenticates the Bearer token of each request, applies the layer's
/// [`Policy`], puts the claims into the request's extensions and calls the
/// inner service; or answers 401/403 itself, never an error (`Error` is the
/// inner service's, so it fits under axum's `Infallible` services).
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use m2m_core::{Algorithm, JwkSet, SigningKey};
/// use m2m_guard::{Auth, Guard};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// async fn handle(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
///     let who = request.extensions().get::<Auth>().map(|a| a.client_id().to_string());
///     Ok(Response::new(Full::from(who.unwrap_or_default())))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
///     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
///     .build()
///     .await?;
/// let mut service = ServiceBuilder::new()
///     .layer(guard.require(["invoices:read"]))
///     .service_fn(handle);
///
/// // No token: the guard answers 401 itself; the handler never runs.
/// let request = Request::get("/invoices").body(Full::default())?;
/// let response = service.ready().await?.call(request).await?;
/// assert_eq!(response.status(), 401);
/// # Ok(()) }
/// ```
pub struct RequireScopes<S, P = ScopePolicy> {
    inner: S,
    shared: Arc<Shared<P>>,
    delegation: DelegationLimit,
}

impl<S, P> RequireScopes<S, P> {
    pub(super) fn new(inner: S, shared: Arc<Shared<P>>, delegation: DelegationLimit) -> Self {
        RequireScopes {
            inner,
            shared,
            delegation,
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

impl<S: Clone, P> Clone for RequireScopes<S, P> {
    fn clone(&self) -> Self {
        RequireScopes {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            delegation: self.delegation,
        }
    }
}

impl<S: fmt::Debug, P> fmt::Debug for RequireScopes<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("policy", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    P: Policy<ReqBody>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let judged = match bearer::credential(request.headers()) {
            Ok(None) => (None, Ok(None)),
            Err(bearer::Malformed) => (None, Err(Rejection::MalformedHeader)),
            Ok(Some((scheme, token))) => match self.shared.verifier.check(token) {
                Check::Done(judged) => (Some(scheme), judged.map(Some)),
                Check::NeedsKeys(miss) => {
                    // The call happens later, in the future: take the service
                    // that was polled ready and leave a clone in its place.
                    let clone = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, clone);
                    let refetch = self.shared.verifier.refetch(miss);
                    return ResponseFuture::refetching(
                        refetch,
                        request,
                        ready,
                        Arc::clone(&self.shared),
                        self.delegation,
                        scheme,
                    );
                }
            },
        };
        ResponseFuture::judged(
            &self.shared,
            self.delegation,
            &mut self.inner,
            request,
            judged,
        )
    }
}
