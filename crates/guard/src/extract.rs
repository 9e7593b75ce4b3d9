//! Reading the verified claims in a handler.
//!
//! The guard puts an [`Auth`] into the request's extensions. In axum, take it
//! as an extractor: `Auth` on a guarded route, `Option<Auth>` on a route open
//! to anonymous and authenticated callers alike (guarded by
//! [`Guard::optional`](crate::Guard::optional)). Outside axum, read it with
//! `request.extensions().get::<Auth>()`.

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use m2m_core::{AccessTokenClaims, Actor, ClientId, OrgId, ScopeSet, UserId};

use crate::challenge::{Rejection, challenge};

/// The verified claims of the request's access token.
///
/// Cheap to clone (an `Arc`); dereferences to [`AccessTokenClaims`]. Take it
/// as an axum extractor (`Auth` on a guarded route, `Option<Auth>` on one
/// under [`Guard::optional`](crate::Guard::optional)), or outside axum read
/// it with `request.extensions().get::<Auth>()`.
///
/// ```
/// use axum_core::response::IntoResponse;
/// use m2m_guard::Auth;
///
/// async fn list_invoices(auth: Auth) -> impl IntoResponse {
///     let org = auth.org_id().map(|o| o.as_str().to_owned()).unwrap_or_default();
///     format!("invoices of {org}, for {}", auth.client_id())
/// }
///
/// async fn landing(auth: Option<Auth>) -> String {
///     match auth {
///         Some(auth) => format!("hello {}", auth.client_id()),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Auth(Arc<AccessTokenClaims>);

/// The name contract section 9 uses for the same extractor.
pub type Claims = Auth;

impl Auth {
    pub(crate) fn new(claims: Arc<AccessTokenClaims>) -> Self {
        Auth(claims)
    }

    /// All the claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }

    /// The machine client (`client_id`).
    pub fn client_id(&self) -> &ClientId {
        &self.0.client_id
    }

    /// The organization (`oid`), if any.
    pub fn org_id(&self) -> Option<&OrgId> {
        self.0.oid.as_ref()
    }

    /// The user (`uid`), for user-level clients.
    pub fn user_id(&self) -> Option<&UserId> {
        self.0.uid.as_ref()
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.has_scope(scope)
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scope
    }

    /// The current actor: the outermost `act` (RFC 8693 §4.1) of a token
    /// obtained by token exchange, the party calling on the subject's
    /// behalf; `None` for a direct token. The subject stays in
    /// [`sub`](AccessTokenClaims::sub), [`user_id`](Auth::user_id) and
    /// [`org_id`](Auth::org_id); [`client_id`](Auth::client_id) is the
    /// actor's client.
    ///
    /// ```
    /// use m2m_guard::Auth;
    ///
    /// async fn invoices(auth: Auth) -> String {
    ///     match auth.actor() {
    ///         Some(actor) => format!("{} acting for {}", actor.sub, auth.sub),
    ///         None => format!("{} itself", auth.sub),
    ///     }
    /// }
    /// ```
    pub fn actor(&self) -> Option<&Actor> {
        self.0.act.as_ref()
    }

    /// The actors of the delegation chain, the current (outermost) first,
    /// then the one it acts after, down to the first actor; empty for a
    /// direct token.
    ///
    /// ```
    /// use m2m_guard::Auth;
    ///
    /// async fn audit(auth: Auth) -> String {
    ///     let chain: Vec<&str> = auth.delegation_chain().map(|a| a.sub.as_str()).collect();
    ///     format!("{} via [{}]", auth.sub, chain.join(" <- "))
    /// }
    /// ```
    pub fn delegation_chain(&self) -> impl Iterator<Item = &Actor> {
        self.0.act.iter().flat_map(Actor::chain)
    }

    /// How many actors the chain names: 0 for a direct token, 1 for an
    /// agent acting for its subject, 2 for an agent acting through another.
    /// Routes cap it with
    /// [`max_delegation_depth`](crate::RequireScopesLayer::max_delegation_depth).
    pub fn delegation_depth(&self) -> usize {
        self.0.delegation_depth()
    }

    /// The shared claims.
    pub fn into_arc(self) -> Arc<AccessTokenClaims> {
        self.0
    }
}

impl Deref for Auth {
    type Target = AccessTokenClaims;
    fn deref(&self) -> &AccessTokenClaims {
        &self.0
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("client_id", &self.0.client_id)
            .field("sub", &self.0.sub)
            .field("scope", &self.0.scope)
            .field("jti", &self.0.jti)
            .field("delegation_depth", &self.0.delegation_depth())
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Auth>().cloned().ok_or(AuthRejection)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Auth>().cloned())
    }
}

/// `Auth` was asked for on a request the guard did not authenticate (the
/// route has no guard layer). Answers 401 like a missing token, so a route
/// that forgot its guard fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRejection;

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request was not authenticated by the guard")
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        tracing::warn!(
            target: "m2m_guard",
            "the Auth extractor ran on a route without the guard; answering 401"
        );
        challenge(&Rejection::MissingToken, "api", false)
            .into_response()
            .map(axum_core::body::Body::from)
    }
}
