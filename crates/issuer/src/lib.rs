//! m2m-issuer: the m2m-auth authorization server as an axum Router.
//!
//! It registers machine clients, issues their credentials, and trades them
//! for short-lived signed JWT access tokens (contract sections 3-7). Build
//! an [`Issuer`] with a [`Store`](store::Store), then mount
//! [`Issuer::router`] where the issuer URL says:
//!
//! ```
//! use axum::Router;
//! use m2m_issuer::{Issuer, store::MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let issuer = Issuer::builder("https://api.example.com/auth", MemoryStore::new())
//!     .master_key([42; 32]) // keep a stable one with a persistent store
//!     .build()
//!     .await?;
//! // First start: an admin client for the admin API (credentials shown once).
//! let (admin_id, admin_secret) = issuer.bootstrap_admin().await?.expect("empty store");
//! assert!(admin_secret.expose().starts_with("m2ms_"));
//!
//! let app: Router = Router::new()
//!     .nest("/auth", issuer.router())
//!     .merge(issuer.well_known_router()); // RFC 8414 §3 path at the root
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = (app, admin_id);
//! # Ok::<(), m2m_issuer::IssuerError>(())
//! # }).unwrap();
//! ```
//!
//! Serve with `into_make_service_with_connect_info::<SocketAddr>()` so that
//! failed authentication is also throttled per source address; without it
//! only the per-client limit applies. Behind a reverse proxy, name it with
//! [`IssuerBuilder::trusted_proxies`] so that the address it forwards is the
//! source, not the proxy's own. Only failures are throttled: a valid
//! credential is answered normally whatever others sent.
//!
//! The long-form guide (endpoints, error mapping, who may introspect what,
//! throttling, key rotation timeline, caching bounds) is `docs/issuer.md` in
//! the repository.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod consent;
mod domain;
mod error;
mod http;
mod issuer;
pub mod store;

pub use domain::audit::TokenAudit;
pub use domain::client_metadata::ClientMetadataPolicy;
pub use domain::dynamic_registration::RegistrationPolicy;
pub use domain::federation::{DEFAULT_FEDERATED_MAX_LIFETIME_SECS, FederationPolicy};
pub use domain::keys::{KeyRevocation, Rotation};
pub use domain::private_key_jwt::ClientJwksPolicy;
pub use domain::quota::{MAX_QUOTA, MAX_QUOTA_LEASE, QuotaConfig, QuotaLimits, QuotaMode};
pub use domain::secret_use::LAST_USED_GRANULARITY_SECS;
pub use domain::throttle::ThrottleConfig;
pub use error::IssuerError;
pub use issuer::{ADMIN_SCOPE, DEFAULT_AUDIT_RETENTION, Issuer, IssuerBuilder};

/// The OpenAPI 3.1 description of every route of [`Issuer::router`], as
/// JSON (feature `openapi`): paths relative to the mount, no `servers`, the
/// same document on every call.
#[cfg(feature = "openapi")]
pub fn openapi() -> serde_json::Value {
    http::openapi::document()
}
pub use m2m_guard::net::{Cidr, InvalidCidr};
