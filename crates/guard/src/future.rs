//! [`ResponseFuture`]: a hand-written state machine, no boxing on the usual
//! paths. Only a request whose token names an unknown `kid` (the rare slow
//! path, rate limited by the cooldown) allocates, to wait for the re-fetch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::body::ResponseBody;
use crate::guard::{Check, Guard, Policy};

pub(crate) type Refresh = Pin<Box<dyn Future<Output = bool> + Send>>;

pin_project! {
    /// The response future of [`RequireScopes`](crate::RequireScopes).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Inner { #[pin] fut: S::Future },
        Rejected { response: Option<Response<Bytes>> },
        Refreshing { slow: Box<Slow<S, ReqBody>> },
    }
}

/// What the slow path keeps while the keys are re-fetched.
struct Slow<S, ReqBody> {
    refresh: Refresh,
    request: Option<Request<ReqBody>>,
    service: S,
    guard: Guard,
    policy: Arc<Policy>,
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn inner(fut: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { fut },
        }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn refreshing(
        refresh: Refresh,
        request: Request<ReqBody>,
        service: S,
        guard: Guard,
        policy: Arc<Policy>,
    ) -> Self {
        ResponseFuture {
            state: State::Refreshing {
                slow: Box::new(Slow {
                    refresh,
                    request: Some(request),
                    service,
                    guard,
                    policy,
                }),
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
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
                StateProj::Refreshing { slow } => {
                    ready!(slow.refresh.as_mut().poll(cx));
                    let mut request = slow
                        .request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    // Checked again, now without a re-fetch: a kid still
                    // unknown is refused.
                    let next =
                        match slow
                            .guard
                            .check_request(request.headers(), &slow.policy, false)
                        {
                            Check::Pass(auth) => {
                                request.extensions_mut().insert(auth);
                                State::Inner {
                                    fut: slow.service.call(request),
                                }
                            }
                            Check::Anonymous => State::Inner {
                                fut: slow.service.call(request),
                            },
                            Check::Reject(rejection) => State::Rejected {
                                response: Some(slow.guard.reject(&rejection)),
                            },
                            Check::UnknownKid { .. } => State::Rejected {
                                response: Some(slow.guard.reject(&crate::Rejection::InvalidToken(
                                    m2m_core::VerifyError::UnknownKid(String::new()),
                                ))),
                            },
                        };
                    this.state.set(next);
                }
            }
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
            State::Refreshing { .. } => "refreshing keys",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
