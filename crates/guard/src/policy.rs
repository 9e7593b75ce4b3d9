//! What a layer asks of a request once its token is judged: the [`Policy`].
//!
//! The guard's own rules are [`ScopePolicy`] values, made by
//! [`Guard::require`](crate::Guard::require),
//! [`Guard::require_any`](crate::Guard::require_any),
//! [`Guard::authenticate`](crate::Guard::authenticate) and
//! [`Guard::optional`](crate::Guard::optional). A host brings its own rule
//! with [`Guard::authorize`](crate::Guard::authorize): any type implementing
//! [`Policy`], or a closure `Fn(Option<&Auth>, &Request<B>) -> Result<(), Rejection>`
//! (the model is tower-http's `ValidateRequest`).
//!
//! A policy only authorizes: the token was verified before it is asked, a
//! malformed `Authorization` header was refused before, and its refusal is
//! answered like every other, by [`challenge`](crate::challenge()).

use std::fmt;

use http::Request;
use m2m_core::ScopeRequirement;

use crate::challenge::Rejection;
use crate::extract::Auth;

/// Decides whether a request may go on, given its verified token (`None`:
/// the request carried none).
///
/// One value serves every request of a layer at once, so `authorize` takes
/// `&self`; keep any state behind your own synchronization. It runs on the
/// request path: it should not block.
///
/// Implemented for every `Fn(Option<&Auth>, &Request<B>) -> Result<(), Rejection>`;
/// a closure needs its argument types written out, as here:
///
/// ```
/// use axum::{Router, body::Body, routing::post};
/// use http::Request;
/// use m2m_core::*;
/// use m2m_guard::{Auth, Guard, Rejection};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = SigningKey::generate(Algorithm::ES256)?;
/// # let now = now_unix();
/// # let claims = AccessTokenClaims {
/// #     iss: "https://auth.example.com".into(), sub: "m2m_1".into(), client_id: "m2m_1".into(),
/// #     aud: Audience::from("https://api.example.com"), iat: now, nbf: None, exp: now + 60,
/// #     jti: "t1".into(), scope: "tools:search".parse()?, oid: None, uid: None, cnf: None, act: None, may_act: None,
/// # };
/// # let token = sign(&key, &claims)?;
/// # let guard = Guard::builder("https://auth.example.com", "https://api.example.com")
/// #     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
/// #     .build()
/// #     .await?;
/// // An MCP server: each tool (named in a header here) needs its own scope.
/// let per_tool = |auth: Option<&Auth>, request: &Request<Body>| {
///     let auth = auth.ok_or(Rejection::MissingToken)?;
///     let tool = request
///         .headers()
///         .get("mcp-tool")
///         .and_then(|v| v.to_str().ok())
///         .unwrap_or("none");
///     let needed = ScopeRequirement::all_of([format!("tools:{tool}")])
///         .map_err(|_| Rejection::MalformedHeader)?;
///     if needed.is_met_by(auth.scopes()) {
///         Ok(())
///     } else {
///         Err(Rejection::InsufficientScope(needed))
///     }
/// };
/// let app: Router = Router::new()
///     .route("/mcp", post(|| async { "ok" }))
///     .route_layer(guard.authorize(per_tool));
///
/// // `token` carries the scope `tools:search`.
/// let call = |tool: &str| {
///     Request::post("/mcp")
///         .header("authorization", format!("Bearer {token}"))
///         .header("mcp-tool", tool)
///         .body(Body::empty())
///         .unwrap()
/// };
/// assert_eq!(app.clone().oneshot(call("search")).await?.status(), 200);
/// assert_eq!(app.oneshot(call("delete")).await?.status(), 403);
/// # Ok(()) }
/// ```
pub trait Policy<B> {
    /// `Ok(())` lets the request through (with its [`Auth`] in the
    /// extensions, if it had a token); `Err` refuses it with that rejection
    /// (401 for [`Rejection::MissingToken`], 403 for
    /// [`Rejection::InsufficientScope`], ...).
    fn authorize(&self, auth: Option<&Auth>, request: &Request<B>) -> Result<(), Rejection>;

    /// The scopes `request` needs, when the policy can tell before a token
    /// is shown: a guard with a [resource](crate::GuardBuilder::resource)
    /// names them in the `scope` of its 401 to a request without a token,
    /// so that an MCP client asks for them at once. Asked only then.
    /// Default: none (the 401 names no scope).
    fn required_scopes(&self, request: &Request<B>) -> Option<ScopeRequirement> {
        let _ = request;
        None
    }
}

impl<B, F> Policy<B> for F
where
    F: Fn(Option<&Auth>, &Request<B>) -> Result<(), Rejection>,
{
    #[inline]
    fn authorize(&self, auth: Option<&Auth>, request: &Request<B>) -> Result<(), Rejection> {
        self(auth, request)
    }
}

/// The guard's own policies: a valid token with scopes, any valid token, or
/// none at all. Made by [`Guard::require`](crate::Guard::require) and its
/// siblings; the default policy type of the layer.
///
/// ```
/// use m2m_guard::{RequireScopesLayer, ScopePolicy};
/// # use m2m_core::{Algorithm, JwkSet, SigningKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = SigningKey::generate(Algorithm::EdDSA)?;
/// # let guard = m2m_guard::Guard::builder("https://auth.example.com", "https://api.example.com")
/// #     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] }).build().await?;
/// let read: RequireScopesLayer<ScopePolicy> = guard.require(["invoices:read"]);
/// let any: RequireScopesLayer = guard.authenticate(); // the same type
/// # let _ = (read, any); Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScopePolicy(Rule);

#[derive(Clone, PartialEq, Eq)]
enum Rule {
    /// A valid token, any scopes.
    Authenticate,
    /// A valid token with these scopes.
    Require(ScopeRequirement),
    /// No token, or a valid one.
    Optional,
}

impl ScopePolicy {
    /// The scopes this policy requires, if it requires any.
    pub(crate) fn requirement(&self) -> Option<&ScopeRequirement> {
        match &self.0 {
            Rule::Require(requirement) => Some(requirement),
            Rule::Authenticate | Rule::Optional => None,
        }
    }

    pub(crate) fn require(requirement: ScopeRequirement) -> Self {
        ScopePolicy(Rule::Require(requirement))
    }

    pub(crate) fn authenticate() -> Self {
        ScopePolicy(Rule::Authenticate)
    }

    pub(crate) fn optional() -> Self {
        ScopePolicy(Rule::Optional)
    }
}

impl<B> Policy<B> for ScopePolicy {
    #[inline]
    fn authorize(&self, auth: Option<&Auth>, _request: &Request<B>) -> Result<(), Rejection> {
        match (&self.0, auth) {
            (Rule::Optional, _) => Ok(()),
            (_, None) => Err(Rejection::MissingToken),
            (Rule::Authenticate, Some(_)) => Ok(()),
            (Rule::Require(requirement), Some(auth)) => {
                if requirement.is_met_by(auth.scopes()) {
                    Ok(())
                } else {
                    Err(Rejection::InsufficientScope(requirement.clone()))
                }
            }
        }
    }

    fn required_scopes(&self, _request: &Request<B>) -> Option<ScopeRequirement> {
        self.requirement().cloned()
    }
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::Authenticate => f.write_str("ScopePolicy::Authenticate"),
            Rule::Require(requirement) => f
                .debug_tuple("ScopePolicy::Require")
                .field(requirement)
                .finish(),
            Rule::Optional => f.write_str("ScopePolicy::Optional"),
        }
    }
}
