//! [`ResponseFuture`]: a hand-written state machine, no boxing on the usual
//! paths. Only a request whose token names an unknown `kid` on a JWKS URL
//! (the rare slow path, rate limited by the cooldown) allocates, to wait for
//! the re-fetch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::body::ResponseBody;
use super::shared::Shared;
use crate::bearer::{self, Scheme};
use crate::challenge::Rejection;
use crate::delegation::DelegationLimit;
use crate::dpop::DpopRejection;
use crate::extract::Auth;
use crate::policy::{Policy, ScopePolicy};
use crate::verifier::Refetch;

pin_project! {
    /// The response future of [`RequireScopes`](crate::RequireScopes).
    pub struct ResponseFuture<S, ReqBody, P = ScopePolicy>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, P>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, P>
    where
        S: Service<Request<ReqBody>>,
    {
        Inner { #[pin] fut: S::Future },
        Rejected { response: Option<Response<Bytes>> },
        Refetching { slow: Box<Slow<S, ReqBody, P>> },
    }
}

/// What the slow path keeps while the keys are re-fetched.
struct Slow<S, ReqBody, P> {
    refetch: Refetch,
    request: Option<Request<ReqBody>>,
    service: S,
    shared: Arc<Shared<P>>,
    delegation: DelegationLimit,
    scheme: Option<Scheme>,
}

impl<S, ReqBody, P> ResponseFuture<S, ReqBody, P>
where
    S: Service<Request<ReqBody>>,
    P: Policy<ReqBody>,
{
    /// The future of a request whose token, presented with `scheme`, was
    /// judged in `call`.
    pub(super) fn judged(
        shared: &Shared<P>,
        delegation: DelegationLimit,
        service: &mut S,
        request: Request<ReqBody>,
        (scheme, judged): (Option<Scheme>, Result<Option<Auth>, Rejection>),
    ) -> Self {
        ResponseFuture {
            state: proceed(shared, delegation, service, request, scheme, judged),
        }
    }

    /// The future of a request that waits for a key re-fetch.
    pub(super) fn refetching(
        refetch: Refetch,
        request: Request<ReqBody>,
        service: S,
        shared: Arc<Shared<P>>,
        delegation: DelegationLimit,
        scheme: Scheme,
    ) -> Self {
        ResponseFuture {
            state: State::Refetching {
                slow: Box::new(Slow {
                    refetch,
                    request: Some(request),
                    service,
                    shared,
                    delegation,
                    scheme: Some(scheme),
                }),
            },
        }
    }
}

/// The one place a judged request goes on: the presentation is checked
/// (Bearer or DPoP with its proof, on every request), the route's
/// delegation limit is held against the token's `act` chain, the policy decides,
/// then the inner service is called with the claims in the extensions, or
/// the refusal is answered. Both `call` and the slow path end here.
fn proceed<S, ReqBody, P>(
    shared: &Shared<P>,
    delegation: DelegationLimit,
    service: &mut S,
    mut request: Request<ReqBody>,
    scheme: Option<Scheme>,
    judged: Result<Option<Auth>, Rejection>,
) -> State<S, ReqBody, P>
where
    S: Service<Request<ReqBody>>,
    P: Policy<ReqBody>,
{
    // The token itself is read again (from the headers it was judged from)
    // only for a DPoP proof, which is bound to it (`ath`); a Bearer
    // presentation's check does not look at the token, so it is not
    // scanned a second time.
    let credential = match scheme {
        Some(Scheme::Dpop) => bearer::credential(request.headers()).ok().flatten(),
        Some(Scheme::Bearer) => Some((Scheme::Bearer, "")),
        None => None,
    };
    let allowed = judged.and_then(|auth| {
        if let (Some(auth), Some((scheme, token))) = (&auth, credential) {
            let parts = (request.headers(), request.method(), request.uri());
            shared
                .verifier
                .check_presentation(auth, scheme, token, parts)?;
        }
        if let Some(auth) = &auth {
            delegation.check(auth)?;
        }
        shared.policy.authorize(auth.as_ref(), &request)?;
        Ok(auth)
    });
    match allowed {
        Ok(auth) => {
            if let Some(auth) = auth {
                request.extensions_mut().insert(auth);
            }
            State::Inner {
                fut: service.call(request),
            }
        }
        Err(rejection) => {
            // Only a missing token's challenge names the route's scopes.
            let route_scopes = match rejection {
                Rejection::MissingToken => shared.policy.required_scopes(&request),
                _ => None,
            };
            let as_dpop = matches!(credential, Some((Scheme::Dpop, _)));
            let nonce = match &rejection {
                Rejection::Dpop(DpopRejection::Proof(m2m_core::DpopError::UseNonce)) => {
                    shared.verifier.dpop_nonce()
                }
                _ => None,
            };
            let response = shared.responder.respond_to(
                &rejection,
                route_scopes.as_ref(),
                as_dpop,
                nonce.as_deref(),
            );
            State::Rejected {
                response: Some(response),
            }
        }
    }
}

impl<S, ReqBody, ResBody, P> Future for ResponseFuture<S, ReqBody, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: Policy<ReqBody>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { fut } => {
                    let response = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
                StateProj::Refetching { slow } => {
                    let miss = ready!(slow.refetch.as_mut().poll(cx));
                    let request = slow
                        .request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let judged = slow.shared.verifier.recheck(&miss).map(Some);
                    let next = proceed(
                        &slow.shared,
                        slow.delegation,
                        &mut slow.service,
                        request,
                        slow.scheme,
                        judged,
                    );
                    this.state.set(next);
                }
            }
        }
    }
}

impl<S, ReqBody, P> fmt::Debug for ResponseFuture<S, ReqBody, P>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
            State::Refetching { .. } => "refetching keys",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
