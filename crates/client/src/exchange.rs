//! Token exchange (RFC 8693): the tokens a source trades, and the names of
//! the grant on the wire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::source::TokenSource;

/// `grant_type` of a token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type of an OAuth access token (RFC 8693 §3): the
/// `subject_token_type` and `actor_token_type` sent, the
/// `requested_token_type` asked for and the `issued_token_type` required.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

type Fetch = Pin<Box<dyn Future<Output = Result<String, Error>> + Send>>;

/// An access token a token-exchange source trades: the subject's (the user
/// or organization the agent acts for) or the actor's. Read afresh for
/// every exchange, so a source or a closure can hand over a renewed token.
///
/// Made from a string (a token handed to the agent), another
/// [`TokenSource`] (cached and refreshed on its own), or a closure.
/// `Debug` never prints a token.
///
/// ```
/// use m2m_client::{Error, SubjectToken, TokenSource};
///
/// // A token the agent was given for its user:
/// let given = SubjectToken::from("eyJhbGciOi...");
///
/// // A token of the organization's own client, cached and refreshed:
/// let org = TokenSource::builder("http://127.0.0.1:8080/oauth/token", "m2m_org", "secret")
///     .scope("invoices:read")
///     .build()?;
/// let from_org = SubjectToken::from(org);
///
/// // Whatever the host keeps the user's session in:
/// let from_session = SubjectToken::from_fn(|| async {
///     std::env::var("USER_ACCESS_TOKEN").map_err(|e| Error::Config(e.to_string()))
/// });
/// # let _ = (given, from_org, from_session);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct SubjectToken(Kind);

#[derive(Clone)]
enum Kind {
    Static(Arc<Zeroizing<String>>),
    Source(TokenSource),
    Fn(Arc<dyn Fn() -> Fetch + Send + Sync>),
}

impl SubjectToken {
    /// A fixed token: the exchange fails once it expires (the issuer answers
    /// `invalid_grant`).
    pub fn from_static(token: impl Into<String>) -> Self {
        SubjectToken(Kind::Static(Arc::new(Zeroizing::new(token.into()))))
    }

    /// The current token of another source (its cache and refresh apply).
    /// When the issuer refuses the exchange with `invalid_request` (RFC 8693
    /// §2.2.2's answer to a subject token that expired, was revoked or is
    /// unacceptable) or `invalid_grant`, that source's token is dropped, so
    /// the next exchange uses a new one.
    pub fn from_source(source: TokenSource) -> Self {
        SubjectToken(Kind::Source(source))
    }

    /// The token `fetch` returns, called for every exchange. Its error is
    /// the source's, as [`Error::Subject`].
    pub fn from_fn<F, Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, Error>> + Send + 'static,
    {
        SubjectToken(Kind::Fn(Arc::new(move || Box::pin(fetch()) as Fetch)))
    }

    /// The token now. Boxed: a source may be exchanging itself.
    pub(crate) fn get(&self) -> Fetch {
        let kind = self.0.clone();
        Box::pin(async move {
            let token = match kind {
                Kind::Static(token) => Ok(token.as_str().to_owned()),
                Kind::Source(source) => source.token().await.map(|t| t.secret().to_owned()),
                Kind::Fn(fetch) => fetch().await,
            };
            match token {
                Ok(token) if token.is_empty() => Err(Error::Subject(Box::new(
                    Error::InvalidResponse("the token is empty".into()),
                ))),
                Ok(token) => Ok(token),
                Err(e) => Err(Error::Subject(Box::new(e))),
            }
        })
    }

    /// The issuer refused this token: a source drops it.
    pub(crate) fn refused(&self) {
        if let Kind::Source(source) = &self.0 {
            source.invalidate();
        }
    }
}

impl From<String> for SubjectToken {
    fn from(token: String) -> Self {
        SubjectToken::from_static(token)
    }
}

impl From<&str> for SubjectToken {
    fn from(token: &str) -> Self {
        SubjectToken::from_static(token)
    }
}

impl From<TokenSource> for SubjectToken {
    fn from(source: TokenSource) -> Self {
        SubjectToken::from_source(source)
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Static(_) => f.write_str("SubjectToken::Static(..)"),
            Kind::Source(source) => f.debug_tuple("SubjectToken::Source").field(source).finish(),
            Kind::Fn(_) => f.write_str("SubjectToken::Fn(..)"),
        }
    }
}

/// What a token-exchange source sends besides its client authentication.
#[derive(Clone, Debug)]
pub(crate) struct Exchange {
    pub(crate) subject: SubjectToken,
    pub(crate) actor: Option<SubjectToken>,
    pub(crate) audiences: Vec<String>,
}
