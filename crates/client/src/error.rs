//! What can go wrong getting a token.

use std::fmt;

/// A token could not be had. `Clone`, so that every caller waiting on one
/// failed request gets its error.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The builder's settings are unusable (bad URL, https without the `rustls` feature).
    Config(String),
    /// The token endpoint could not be reached or did not answer in time.
    Transport(String),
    /// The issuer refused: the RFC 6749 §5.2 `error` code and description.
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`, e.g. `invalid_client`, `invalid_scope`, `slow_down`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// The issuer answered something that is not a token response.
    InvalidResponse(String),
    /// A token-exchange source could not get the subject or actor token it
    /// trades (its own source failed): that source's error.
    Subject(Box<Error>),
    /// DPoP was asked for and cannot be had: the issuer returned a `Bearer`
    /// token instead of a DPoP-bound one, or a Bearer token was given where a
    /// DPoP-bound one is needed.
    Dpop(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(why) => write!(f, "token source misconfigured: {why}"),
            Error::Transport(why) => write!(f, "token endpoint unreachable: {why}"),
            Error::Refused {
                status,
                error,
                description: Some(description),
            } => write!(f, "token request refused ({status} {error}): {description}"),
            Error::Refused { status, error, .. } => {
                write!(f, "token request refused ({status} {error})")
            }
            Error::InvalidResponse(why) => write!(f, "invalid token response: {why}"),
            Error::Subject(why) => write!(f, "no token to exchange: {why}"),
            Error::Dpop(why) => write!(f, "DPoP: {why}"),
        }
    }
}

impl std::error::Error for Error {}
