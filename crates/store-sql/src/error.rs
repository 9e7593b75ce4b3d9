//! [`SqlStoreError`]: why a store could not be opened.

use std::error::Error;
use std::fmt;

type BoxError = Box<dyn Error + Send + Sync>;

/// A store could not be opened. Errors of a working store are
/// [`m2m_issuer::store::StoreError`]s.
///
/// `Display` is one line and never shows a password from the URL.
#[derive(Debug)]
#[non_exhaustive]
pub enum SqlStoreError {
    /// The URL cannot be used: an unknown scheme, bad syntax, a bad schema name.
    InvalidUrl(String),
    /// The database could not be opened or reached.
    Connect {
        /// The database, without credentials (`PostgreSQL at host:5432/db`).
        target: String,
        /// Why.
        source: BoxError,
    },
    /// Bringing the schema up to date failed.
    Migrate {
        /// The database, without credentials.
        target: String,
        /// Why.
        source: BoxError,
    },
}

impl SqlStoreError {
    pub(crate) fn connect(target: &str, source: impl Into<BoxError>) -> Self {
        SqlStoreError::Connect {
            target: target.to_owned(),
            source: source.into(),
        }
    }

    pub(crate) fn migrate(target: &str, source: impl Into<BoxError>) -> Self {
        SqlStoreError::Migrate {
            target: target.to_owned(),
            source: source.into(),
        }
    }
}

/// Writes an error message on one line (some drivers' messages span several).
fn one_line(f: &mut fmt::Formatter<'_>, message: &str) -> fmt::Result {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    if let Some(first) = lines.next() {
        f.write_str(first)?;
    }
    for line in lines {
        write!(f, " {line}")?;
    }
    Ok(())
}

impl fmt::Display for SqlStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlStoreError::InvalidUrl(reason) => {
                f.write_str("invalid database URL: ")?;
                one_line(f, reason)
            }
            SqlStoreError::Connect { target, source } => {
                write!(f, "cannot open {target}: ")?;
                one_line(f, &source.to_string())
            }
            SqlStoreError::Migrate { target, source } => {
                write!(f, "cannot migrate the schema of {target}: ")?;
                one_line(f, &source.to_string())
            }
        }
    }
}

impl Error for SqlStoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SqlStoreError::InvalidUrl(_) => None,
            SqlStoreError::Connect { source, .. } | SqlStoreError::Migrate { source, .. } => {
                Some(&**source)
            }
        }
    }
}
