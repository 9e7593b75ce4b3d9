//! The tower middleware: [`RequireScopesLayer`] makes [`RequireScopes`]
//! services, whose [`ResponseFuture`] yields a [`ResponseBody`]
//! (`RequireScopes` carries the runnable example).
//!
//! How a request goes through (`service` and `future`):
//!
//! 1. The Bearer token is read from the `Authorization` header; a malformed
//!    one is refused.
//! 2. The verifier judges the token at once, on every usual path: no
//!    allocation, no lock, no boxing. Only a token naming an unknown `kid` on
//!    a JWKS URL waits, in the future, for the single-flight re-fetch, then is
//!    judged once more.
//! 3. The layer's [`Policy`](crate::Policy) decides; the request goes on with
//!    its [`Auth`](crate::Auth) in the extensions, or the guard answers the
//!    refusal. A refusal is a response, never an error: `Error` is the inner
//!    service's, so the layer fits under axum's `Infallible` services.

mod body;
mod future;
#[allow(
    clippy::module_inception,
    reason = "the Layer half of the pair, named like the Service half, as in tower-http"
)]
mod layer;
mod service;
mod shared;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::RequireScopesLayer;
pub use service::RequireScopes;
