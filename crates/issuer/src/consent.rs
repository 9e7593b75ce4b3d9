//! Consent for user-level clients: who the user is and whether they agree is
//! the host's business, answered through a [`ConsentHandler`].
//!
//! `GET /oauth/authorize` validates the request (client, redirect URI, PKCE,
//! scopes), then asks the handler set with
//! [`IssuerBuilder::consent`](crate::IssuerBuilder::consent). The handler
//! reads the host's session from the request's headers (a cookie, say) and
//! answers with a [`ConsentDecision`]. Without a handler, user-level clients
//! are off: `/oauth/authorize` still validates a request, and answers a
//! valid one with an `access_denied` redirect (RFC 6749 §4.1.2.1); the
//! metadata advertises the endpoint but not the authorization-code grant.
//!
//! [`DevConsent`] grants everything to a fixed user without asking anyone:
//! for development and tests only.

use std::fmt;

use async_trait::async_trait;
use http::HeaderMap;
use m2m_core::{ClientId, OrgId, ScopeSet, UserId};

/// An authorization request that passed validation, for the host to decide on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsentRequest {
    /// The user-level client asking for access.
    pub client_id: ClientId,
    /// The client's name, to show the user.
    pub client_name: String,
    /// The client's organization, if it is bound to one: a granted
    /// `org_id` must then be this one.
    pub client_org_id: Option<OrgId>,
    /// The user the client is bound to, if it was created with a
    /// `user_id`: the client gets tokens for this user only, so a granted
    /// `user_id` must then be exactly this one (byte for byte; `Alice` or
    /// `alice ` is another user). Granting another user is answered
    /// `access_denied` and creates no code.
    pub client_user_id: Option<UserId>,
    /// The client is a Client ID Metadata Document client: its `client_id`
    /// is the URL of its document and its name was written by whoever
    /// controls that URL, so show the user the URL's host, not just the
    /// name. It belongs to no organization (`client_org_id` is `None`).
    pub client_id_metadata_document: bool,
    /// The client registered itself (Dynamic Client Registration, RFC
    /// 7591): its `client_name` and redirect URIs are its own claims, not
    /// an operator's. A consent page should say so.
    pub self_registered: bool,
    /// The scopes asked for (all within the client's allowed scopes).
    pub scopes: ScopeSet,
    /// The resources (RFC 8707 `resource`) the tokens will be for, sorted
    /// (each one of the client's allowed audiences); empty when the request
    /// named none.
    pub resources: Vec<String>,
    /// Where the user goes back to (a registered URI, matched exactly).
    pub redirect_uri: String,
    /// The client's `state`, if it sent one.
    pub state: Option<String>,
    /// The request's headers, so the host can read its session cookie.
    pub headers: HeaderMap,
    /// The request's query parameters (`login_hint`, `prompt`, ...).
    pub query: Vec<(String, String)>,
}

impl ConsentRequest {
    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the host decided.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConsentDecision {
    /// The user is signed in and consents to `scopes` (a subset of the
    /// requested ones) for the client, acting in organization `org_id`.
    Granted {
        /// The user.
        user_id: UserId,
        /// The user's organization.
        org_id: OrgId,
        /// The consented scopes.
        scopes: ScopeSet,
    },
    /// The user refused: the client gets `error=access_denied`.
    Denied,
    /// Send the browser here first (the host's login or consent page), which
    /// comes back to the same authorize URL when done.
    Redirect(String),
}

/// The host's consent hook. Implement it in real deployments.
///
/// ```
/// use async_trait::async_trait;
/// use m2m_core::{OrgId, UserId};
/// use m2m_issuer::consent::{ConsentDecision, ConsentHandler, ConsentRequest};
///
/// #[derive(Debug)]
/// struct MySessions;
///
/// #[async_trait]
/// impl ConsentHandler for MySessions {
///     async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
///         match request.headers.get("cookie") {
///             // Look the session up, show a consent page once, remember it...
///             Some(_) => ConsentDecision::Granted {
///                 user_id: UserId::new("user_42"),
///                 org_id: OrgId::new("org_7"),
///                 scopes: request.scopes.clone(),
///             },
///             None => ConsentDecision::Redirect("https://app.example.com/login".into()),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait ConsentHandler: fmt::Debug + Send + Sync + 'static {
    /// Decides on one authorization request.
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision;
}

/// **Development only**: consents to every request, as a fixed user, or as
/// the user named by the request's `login_hint` parameter, without any login.
/// For a client bound to a user it consents as that user, and refuses a
/// `login_hint` naming anyone else.
///
/// Anyone who can reach `/oauth/authorize` gets a token for any user of the
/// configured organization. Never enable it where real users or data are.
#[derive(Debug, Clone)]
pub struct DevConsent {
    user_id: UserId,
    org_id: OrgId,
}

impl DevConsent {
    /// Consents as `user_id` (unless the request names another user in
    /// `login_hint`) in `org_id`. A client bound to an organization is
    /// granted in that organization instead.
    pub fn new(user_id: impl Into<String>, org_id: impl Into<String>) -> Self {
        DevConsent {
            user_id: UserId::new(user_id.into()),
            org_id: OrgId::new(org_id.into()),
        }
    }
}

#[async_trait]
impl ConsentHandler for DevConsent {
    async fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        let hint = request.query_param("login_hint");
        let user_id = match (&request.client_user_id, hint) {
            (Some(bound), Some(hint)) if hint != bound.as_str() => return ConsentDecision::Denied,
            (Some(bound), _) => bound.clone(),
            (None, Some(hint)) if m2m_core::validate_id(hint).is_ok() => UserId::new(hint),
            (None, _) => self.user_id.clone(),
        };
        ConsentDecision::Granted {
            user_id,
            org_id: request
                .client_org_id
                .clone()
                .unwrap_or_else(|| self.org_id.clone()),
            scopes: request.scopes.clone(),
        }
    }
}
