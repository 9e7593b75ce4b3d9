//! What every table shares: numbers, JSON, typed column access, pages and
//! insert errors.
//!
//! Times are `u64` in records and signed 64-bit integers in the database. A
//! value that does not fit, or a stored value that does not parse back, is a
//! [`StoreError::Corrupt`], never a panic.

use m2m_core::ScopeSet;
use m2m_issuer::store::{Page, StoreError, StoreResult};

// ---- numbers ----

/// A time or count to store; one beyond `i64::MAX` cannot be.
pub(crate) fn to_db(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} = {value} does not fit a signed 64-bit database column"
        ))
    })
}

pub(crate) fn opt_to_db(value: Option<u64>, what: &str) -> StoreResult<Option<i64>> {
    value.map(|v| to_db(v, what)).transpose()
}

/// A bound in a query (not a stored value): saturates instead of failing.
pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn from_db(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

pub(crate) fn opt_from_db(value: Option<i64>, what: &str) -> StoreResult<Option<u64>> {
    value.map(|v| from_db(v, what)).transpose()
}

/// How many rows to fetch for a page of `limit`: one more, to know whether
/// another page follows.
pub(crate) fn fetch_for(limit: usize) -> i64 {
    i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1)
}

/// A `LIMIT` of exactly `limit` rows.
pub(crate) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Splits `fetched` rows into a page of at most `limit` and its cursor.
pub(crate) fn page<T, C>(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> C) -> Page<T, C> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next }
}

// ---- text ----

pub(crate) fn json_text<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} cannot be written as JSON: {e}")))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn scopes_from(text: &str, what: &str) -> StoreResult<ScopeSet> {
    ScopeSet::parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

// ---- rows ----

/// Typed column access, the same for both dialects' rows. A value of the
/// wrong type (or an unexpected NULL) is [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;
    fn blob(&self, column: &str) -> StoreResult<Vec<u8>>;
}

/// Implements [`RowExt`] for a driver's row type.
macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
            fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
            fn int(&self, column: &str) -> StoreResult<i64> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
            fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
            fn flag(&self, column: &str) -> StoreResult<bool> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
            fn blob(&self, column: &str) -> StoreResult<Vec<u8>> {
                sqlx::Row::try_get(self, column).map_err(|e| bad_column(column, e))
            }
        }
    };
}

#[cfg(feature = "sqlite")]
impl_row_ext!(sqlx::sqlite::SqliteRow);
#[cfg(feature = "postgres")]
impl_row_ext!(sqlx::postgres::PgRow);

fn bad_column(column: &str, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(format!("column {column}: {error}"))
        }
        other => StoreError::backend(other),
    }
}

// ---- errors ----

pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    StoreError::backend(error)
}

/// Maps a failed insert: a duplicate key is a [`StoreError::Conflict`].
pub(crate) fn insert_error(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::backend(error),
    }
}
