//! m2m-client: access tokens for machine clients.
//!
//! A [`TokenSource`] trades client credentials for an access token at an
//! OAuth 2.0 token endpoint (RFC 6749 §4.4), keeps it, and fetches a new one
//! shortly before it expires. Concurrent callers share one request: when the
//! token needs refreshing, the first caller fetches and the others wait for
//! its result, success or error.
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
//! // Send it with any HTTP client, as `Authorization: Bearer <token>`.
//! let authorization: String = token.authorization();
//! # let _ = authorization;
//! # Ok(())
//! # }
//! ```
//!
//! ## Token exchange: an agent acting for a user or an organization
//!
//! [`TokenSource::token_exchange`] (or
//! [`TokenSourceBuilder::subject_token`] on any source) trades a subject's
//! access token for one that lets this client act for it (RFC 8693): the
//! issued token names the subject in `sub`/`uid`/`oid` and this client in
//! `act`. The subject token is a string, another [`TokenSource`], or a
//! closure ([`SubjectToken`]); the exchanged token is cached and refreshed
//! like any other.
//!
//! ```no_run
//! # async fn demo(user_token: String) -> Result<(), m2m_client::Error> {
//! use m2m_client::TokenSource;
//!
//! let for_user = TokenSource::token_exchange(
//!     "https://auth.example.com/oauth/token",
//!     "m2m_agent",
//!     std::env::var("M2M_CLIENT_SECRET").unwrap_or_default(),
//!     user_token,
//! )
//! .resource("https://api.example.com")
//! .scope("invoices:read")
//! .build()?;
//! let authorization = for_user.token().await?.authorization();
//! # let _ = authorization;
//! # Ok(())
//! # }
//! ```
//!
//! ## Lifetimes and failures
//!
//! - The issuer's `expires_in` is taken at most as a day (300 s when
//!   absent); [`AccessToken::expires_at`] never overflows.
//! - [`TokenSourceBuilder::refresh_before`] (60 s) is held to half the
//!   token's life, so a short-lived token is still reused.
//! - After a failed request, the next waits for a backoff
//!   ([`TokenSourceBuilder::retry_backoff`]: 1 s, doubling to 30 s), or
//!   longer if a `429`/`503` says `Retry-After: <seconds>` (up to five
//!   minutes). Meanwhile [`TokenSource::token`] answers at once: with the
//!   cached token while it has not expired, else with the last error.
//! - Token quotas: the cache is what keeps a client inside an issuer's
//!   quota (one request per token lifetime, not one per call, however many
//!   tasks share the source). When a token response's `RateLimit` header
//!   (draft-ietf-httpapi-ratelimit-headers) says a quota has nothing left
//!   (`r=0`), the next refresh waits until that window ends (`t`), while
//!   the cached token still has a quarter of the refresh margin; a `429
//!   slow_down` with `Retry-After` is backed off as above.
//!
//! ```
//! use std::time::Duration;
//! use m2m_client::TokenSource;
//!
//! let tokens = TokenSource::builder("http://127.0.0.1:8080/oauth/token", "m2m_id", "secret")
//!     // Refresh 5 min early (or half-way, for tokens shorter than 10 min).
//!     .refresh_before(Duration::from_secs(300))
//!     .retry_backoff(Duration::from_millis(250), Duration::from_secs(5))
//!     .timeout(Duration::from_secs(3))
//!     .build()?;
//! # let _ = tokens;
//! # Ok::<(), m2m_client::Error>(())
//! ```
//!
//! ## DPoP (RFC 9449)
//!
//! [`TokenSourceBuilder::dpop`] asks for tokens bound to a [`DpopKey`]: each
//! token request carries a fresh proof, the issuer answers `token_type:
//! DPoP` (a `Bearer` answer is an [`Error::Dpop`], never used), and each
//! resource request needs a proof of its own, from
//! [`TokenSource::dpop_headers`] or [`TokenSource::send_dpop`] (which also
//! answers a `use_dpop_nonce` challenge with one retry). A copied token is
//! useless without the key, which never leaves memory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use m2m_client::{DpopKey, TokenSource};
//! use m2m_core::{Algorithm, SigningKey};
//!
//! let client_key = SigningKey::generate(Algorithm::ES256)?; // registered with the client
//! let tokens = TokenSource::private_key_jwt("http://127.0.0.1:8080/oauth/token", "m2m_id", client_key)
//!     .dpop(DpopKey::generate(Algorithm::EdDSA)?)
//!     .build()?;
//! let headers = tokens.dpop_headers("GET", "http://127.0.0.1:3000/invoices").await?;
//! let mut request = http::Request::get("http://127.0.0.1:3000/invoices").body(())?;
//! headers.apply(request.headers_mut());
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! - `rustls` (off by default): https token endpoints, with rustls on the
//!   ring provider configured for this client only; no process-wide crypto
//!   provider is installed, and no other HTTP client in the binary is
//!   affected. Without it, an `https://` endpoint is an [`Error::Config`] at
//!   build.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod dpop;
mod error;
mod exchange;
mod source;

pub use dpop::{DPOP_HEADER, DPOP_NONCE_HEADER, DpopHeaders, DpopKey};
pub use error::Error;
pub use exchange::{ACCESS_TOKEN_TYPE, SubjectToken, TOKEN_EXCHANGE_GRANT};
pub use source::{AccessToken, TokenSource, TokenSourceBuilder};
