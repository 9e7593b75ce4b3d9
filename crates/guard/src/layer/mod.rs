//! The tower middleware: [`RequireScopesLayer`] makes [`RequireScopes`]
//! services, whose [`ResponseFuture`] yields a [`ResponseBody`].
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use m2m_core::{Algorithm, JwkSet, SigningKey};
//! use m2m_guard::{Auth, Guard};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! async fn handle(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let who = request.extensions().get::<Auth>().map(|a| a.client_id().to_string());
//!     Ok(Response::new(Full::from(who.unwrap_or_default())))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
//!     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
//!     .build()
//!     .await?;
//! let mut service = ServiceBuilder::new()
//!     .layer(guard.require(["invoices:read"]))
//!     .service_fn(handle);
//!
//! // No token: the guard answers 401 itself; the handler never runs.
//! let request = Request::get("/invoices").body(Full::default())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), 401);
//! # Ok(()) }
//! ```
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
