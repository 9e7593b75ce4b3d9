//! The domain's typed errors. Each says what went wrong in the domain's
//! terms; `crate::http::error` is the one place that maps them to RFC 6749
//! codes and admin API statuses.

use std::borrow::Cow;
use std::fmt;

use crate::IssuerError;
use crate::store::StoreError;

/// A failure that is not the caller's fault: the store, signing or the
/// random generator. Logged where it is mapped, answered as a 5xx.
#[derive(Debug)]
pub(crate) struct Internal(pub(crate) IssuerError);

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<StoreError> for Internal {
    fn from(error: StoreError) -> Self {
        Internal(IssuerError::Store(error))
    }
}

impl From<IssuerError> for Internal {
    fn from(error: IssuerError) -> Self {
        Internal(error)
    }
}

impl From<m2m_core::KeyError> for Internal {
    fn from(error: m2m_core::KeyError) -> Self {
        Internal(IssuerError::Key(error))
    }
}

impl From<m2m_core::RandomnessUnavailable> for Internal {
    fn from(_: m2m_core::RandomnessUnavailable) -> Self {
        Internal(IssuerError::Randomness)
    }
}

/// Client authentication at an OAuth endpoint failed.
#[derive(Debug)]
pub(crate) enum AuthError {
    /// A failure past the limits for this client or address: retry after this
    /// many seconds (a valid credential is never throttled).
    Throttled {
        retry_after: u64,
    },
    /// Unknown client, wrong or expired secret, disabled client: one answer
    /// for all, so nothing tells which.
    InvalidClient,
    Internal(Internal),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        AuthError::Internal(error.into())
    }
}

/// A token request (any grant) failed.
#[derive(Debug)]
pub(crate) enum GrantError {
    Auth(AuthError),
    /// A parameter is missing, repeated or malformed.
    InvalidRequest(Cow<'static, str>),
    UnsupportedGrantType(&'static str),
    /// This client may not use this grant.
    UnauthorizedClient(&'static str),
    /// The scope asked for is not allowed (never a silent subset).
    InvalidScope(Cow<'static, str>),
    /// A `resource` or `audience` the client may not get tokens for.
    InvalidTarget(String),
    /// The code or refresh token is unknown, used, expired or not this client's.
    InvalidGrant(&'static str),
    /// A metadata-document client_id was refused (its URL, its fetch or its
    /// document): the description says why. Only at the authorization
    /// endpoint, as a page.
    ClientMetadata(String),
    /// The DPoP proof is missing (the client requires one), malformed,
    /// invalid, or lacks a current nonce (RFC 9449 §5, §8).
    Dpop(m2m_core::DpopError),
    /// The DPoP proof's `jti` was used before, within its `iat` window.
    DpopReplayed,
    /// A token quota window is exceeded (enforce mode): retry once it ends.
    QuotaExceeded(super::quota::QuotaStatus),
    Internal(Internal),
}

impl From<AuthError> for GrantError {
    fn from(error: AuthError) -> Self {
        GrantError::Auth(error)
    }
}

impl<E: Into<Internal>> From<E> for GrantError {
    fn from(error: E) -> Self {
        GrantError::Internal(error.into())
    }
}

/// Which record an admin operation did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    Client,
    Secret,
    Grant,
    Key,
    FederatedCredential,
    OrgQuota,
}

/// An admin operation on the registry failed.
#[derive(Debug)]
pub(crate) enum RegistryError {
    NotFound(Missing),
    /// The request breaks a registration rule (422).
    Invalid(Cow<'static, str>),
    /// The client has the most live secrets it may have.
    SecretLimit {
        max: usize,
    },
    /// The `private_key_jwt` client has the most keys it may have.
    KeyLimit {
        max: usize,
    },
    /// The client has the most federated credentials it may have.
    FederatedCredentialLimit {
        max: usize,
    },
    Internal(Internal),
}

impl RegistryError {
    pub(crate) fn invalid(description: impl Into<Cow<'static, str>>) -> Self {
        RegistryError::Invalid(description.into())
    }
}

impl<E: Into<Internal>> From<E> for RegistryError {
    fn from(error: E) -> Self {
        RegistryError::Internal(error.into())
    }
}
