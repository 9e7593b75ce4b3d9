//! Identifiers carried in tokens: [`ClientId`], [`OrgId`], [`UserId`].
//!
//! They are plain strings on the wire; distinct types keep a user id from
//! being passed where an organization id belongs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier. It is not validated here: ids come from
            /// stores and signed tokens; validate user input with [`validate_id`].
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the identifier.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A machine client's id (`m2m_` followed by random characters when the issuer makes it).
    ClientId
);
string_id!(
    /// An organization id: the `oid` claim.
    OrgId
);
string_id!(
    /// A user id: the `uid` claim.
    UserId
);

/// Checks an identifier given by a user (org id, user id): 1 to
/// [`MAX_ID_LEN`] printable ASCII characters without spaces.
///
/// ```
/// assert!(m2m_core::validate_id("org_42").is_ok());
/// assert!(m2m_core::validate_id("").is_err());
/// assert!(m2m_core::validate_id("a b").is_err());
/// ```
pub fn validate_id(id: &str) -> Result<(), InvalidId> {
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidId);
    }
    Ok(())
}

/// An identifier was empty, too long, or held characters other than printable ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an id must be 1 to {MAX_ID_LEN} printable ASCII characters without spaces"
        )
    }
}

impl std::error::Error for InvalidId {}
