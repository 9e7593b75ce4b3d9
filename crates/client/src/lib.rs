//! m2m-client: access tokens for machine clients.
//!
//! A [`TokenSource`] trades client credentials for an access token at an
//! OAuth 2.0 token endpoint (RFC 6749 §4.4), keeps it, and fetches a new one
//! shortly before it expires. Concurrent callers share one request: when the
//! token needs refreshing, the first caller fetches and the others wait for
//! its result.
//!
//! ```no_run
//! # async fn demo() -> Result<(), m2m_client::Error> {
//! use m2m_client::TokenSource;
//!
//! let tokens = TokenSource::builder(
//!     "https://auth.example.com/oauth/token",
//!     "m2m_k3p7x2mq9v4a8d1f6h0j5n2r7t",
//!     std::env::var("M2M_CLIENT_SECRET").unwrap_or_default(),
//! )
//! .scope("invoices:read")
//! .build()?;
//!
//! let token = tokens.token().await?;
//! let response = reqwest::Client::new()
//!     .get("https://api.example.com/invoices")
//!     .header("authorization", token.authorization())
//!     .send()
//!     .await;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod source;

pub use error::Error;
pub use source::{AccessToken, TokenSource, TokenSourceBuilder};
