//! Client kinds and the rules that bind each kind (contract section 4), and
//! token lifetimes (contract section 3).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, UserId};

/// What a machine client acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Acts for one organization; tokens carry `oid`. Client credentials grant.
    Org,
    /// Acts for one user of one organization after consent; tokens carry `oid`
    /// and `uid`. Authorization code (PKCE) and refresh token grants.
    User,
    /// An internal service bound to one or more audiences; tokens carry `aud`
    /// and, only if it was created with one, `oid`. Client credentials grant.
    Service,
}

impl ClientKind {
    /// The JSON and CLI name: `org`, `user` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Org => "org",
            ClientKind::User => "user",
            ClientKind::Service => "service",
        }
    }

    /// Checks the binding rules of contract section 4 for a client of this kind.
    ///
    /// - `org`: needs an `org_id`; takes no `user_id`.
    /// - `user`: needs an `org_id`; the `user_id` may come later, with consent.
    /// - `service`: needs at least one audience; takes no `user_id`; `org_id` is optional.
    ///
    /// ```
    /// use m2m_core::{ClientKind, BindingError};
    /// let org = Some("org_1".into());
    /// assert!(ClientKind::Org.check_binding(org.as_ref(), None, &[]).is_ok());
    /// assert_eq!(ClientKind::Org.check_binding(None, None, &[]), Err(BindingError::OrgIdRequired));
    /// assert_eq!(ClientKind::Service.check_binding(None, None, &[]), Err(BindingError::AudienceRequired));
    /// ```
    pub fn check_binding(
        self,
        org_id: Option<&OrgId>,
        user_id: Option<&UserId>,
        audiences: &[String],
    ) -> Result<(), BindingError> {
        match self {
            ClientKind::Org | ClientKind::User if org_id.is_none() => {
                Err(BindingError::OrgIdRequired)
            }
            ClientKind::Org | ClientKind::Service if user_id.is_some() => {
                Err(BindingError::UserIdNotAllowed)
            }
            ClientKind::Service if audiences.is_empty() => Err(BindingError::AudienceRequired),
            _ => Ok(()),
        }
    }

    /// Whether this kind may use the client credentials grant.
    pub fn uses_client_credentials(self) -> bool {
        matches!(self, ClientKind::Org | ClientKind::Service)
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClientKind {
    type Err = UnknownClientKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "org" => Ok(ClientKind::Org),
            "user" => Ok(ClientKind::User),
            "service" => Ok(ClientKind::Service),
            _ => Err(UnknownClientKind),
        }
    }
}

/// A client kind other than `org`, `user` or `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownClientKind;

impl fmt::Display for UnknownClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kind must be one of: org, user, service")
    }
}

impl std::error::Error for UnknownClientKind {}

/// A client's binding broke the rules of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingError {
    /// `org` and `user` clients need an `org_id`.
    OrgIdRequired,
    /// Only `user` clients carry a `user_id`.
    UserIdNotAllowed,
    /// `service` clients need at least one audience.
    AudienceRequired,
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindingError::OrgIdRequired => "clients of kind org and user need an org_id",
            BindingError::UserIdNotAllowed => "only clients of kind user carry a user_id",
            BindingError::AudienceRequired => "clients of kind service need at least one audience",
        })
    }
}

impl std::error::Error for BindingError {}

/// A token lifetime in seconds, within the bounds of contract section 3.
///
/// ```
/// use m2m_core::TokenTtl;
/// assert_eq!(TokenTtl::default().seconds(), 3600);
/// assert!(TokenTtl::new(299).is_err());
/// assert!(TokenTtl::new(86_400).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TokenTtl(u32);

impl TokenTtl {
    /// The shortest lifetime a client may have: 300 s.
    pub const MIN: u32 = 300;
    /// The longest lifetime a client may have: 86,400 s (one day).
    pub const MAX: u32 = 86_400;
    /// The lifetime of a client that does not choose: 3,600 s.
    pub const DEFAULT: TokenTtl = TokenTtl(3_600);

    /// Validates a lifetime; out of bounds is an error, never silently clamped.
    pub fn new(seconds: u64) -> Result<Self, TtlOutOfRange> {
        if (u64::from(Self::MIN)..=u64::from(Self::MAX)).contains(&seconds) {
            // The range check above makes the cast lossless.
            Ok(TokenTtl(seconds as u32))
        } else {
            Err(TtlOutOfRange { seconds })
        }
    }

    /// The lifetime in seconds.
    pub fn seconds(self) -> u64 {
        u64::from(self.0)
    }
}

impl Default for TokenTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl<'de> Deserialize<'de> for TokenTtl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TokenTtl::new(u64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A token lifetime outside 300..=86400 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlOutOfRange {
    /// The refused value.
    pub seconds: u64,
}

impl fmt::Display for TtlOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token_ttl_seconds must be between {} and {}, got {}",
            TokenTtl::MIN,
            TokenTtl::MAX,
            self.seconds
        )
    }
}

impl std::error::Error for TtlOutOfRange {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_rules() {
        let org = OrgId::new("o");
        let user = UserId::new("u");
        let aud = vec!["https://api".to_owned()];
        use BindingError::*;
        use ClientKind::*;
        assert_eq!(Org.check_binding(Some(&org), None, &[]), Ok(()));
        assert_eq!(Org.check_binding(None, None, &aud), Err(OrgIdRequired));
        assert_eq!(
            Org.check_binding(Some(&org), Some(&user), &[]),
            Err(UserIdNotAllowed)
        );
        assert_eq!(User.check_binding(Some(&org), Some(&user), &[]), Ok(()));
        assert_eq!(User.check_binding(Some(&org), None, &[]), Ok(()));
        assert_eq!(
            User.check_binding(None, Some(&user), &[]),
            Err(OrgIdRequired)
        );
        assert_eq!(Service.check_binding(None, None, &aud), Ok(()));
        assert_eq!(Service.check_binding(Some(&org), None, &aud), Ok(()));
        assert_eq!(
            Service.check_binding(None, None, &[]),
            Err(AudienceRequired)
        );
        assert_eq!(
            Service.check_binding(None, Some(&user), &aud),
            Err(UserIdNotAllowed)
        );
    }

    #[test]
    fn kind_names() {
        for kind in [ClientKind::Org, ClientKind::User, ClientKind::Service] {
            assert_eq!(kind.as_str().parse::<ClientKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!("admin".parse::<ClientKind>().is_err());
    }

    #[test]
    fn ttl_bounds() {
        assert!(TokenTtl::new(299).is_err());
        assert_eq!(TokenTtl::new(300).unwrap().seconds(), 300);
        assert!(TokenTtl::new(86_401).is_err());
        assert!(serde_json::from_str::<TokenTtl>("100").is_err());
    }
}
