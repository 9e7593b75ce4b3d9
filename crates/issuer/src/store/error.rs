//! [`StoreError`]: how a store fails.

use std::fmt;

/// A store failed. The issuer answers such failures with a 5xx (they are not
/// the caller's fault) and logs them.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// A record with the same identity exists already.
    Conflict(String),
    /// The backend failed (connection lost, disk full, ...).
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be read back (corrupt or from a newer version).
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(error))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "already exists: {what}"),
            StoreError::Backend(error) => write!(f, "store backend failed: {error}"),
            StoreError::Corrupt(what) => write!(f, "stored record is unreadable: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(error) => Some(&**error),
            _ => None,
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
