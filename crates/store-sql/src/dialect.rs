//! [`Dialect`]: all that SQLite and PostgreSQL do differently, as far as
//! the store is concerned. Everything else (every query, every transaction)
//! is written once, in the table modules, over `D: Dialect`.
//!
//! | | SQLite | PostgreSQL |
//! |---|---|---|
//! | a transaction that reads, then writes | `BEGIN IMMEDIATE`: the file's write lock from the start | `BEGIN` (READ COMMITTED) |
//! | a read that must hold its row until commit | a plain `SELECT` (the write lock covers it) | `SELECT ... FOR UPDATE` |
//!
//! Placeholders are `$n` in both (SQLite accepts them), and a value is bound
//! through [`Arg`], so the table modules never name a driver type.

use std::borrow::Cow;
use std::future::Future;

use sqlx::Database;

use crate::rows::RowExt;

/// One bind parameter, in a type both databases store natively.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Blob(&'a [u8]),
    Flag(bool),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Arg::OptText(value)
    }
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Arg::Int(value)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(value: Option<i64>) -> Self {
        Arg::OptInt(value)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(value: &'a [u8]) -> Self {
        Arg::Blob(value)
    }
}

impl From<bool> for Arg<'_> {
    fn from(value: bool) -> Self {
        Arg::Flag(value)
    }
}

/// A statement and its parameters, `$1` first.
#[derive(Debug)]
pub(crate) struct Sql<'a> {
    pub(crate) text: Cow<'a, str>,
    pub(crate) args: Vec<Arg<'a>>,
}

impl<'a> Sql<'a> {
    pub(crate) fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Sql {
            text: text.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next `$n`.
    pub(crate) fn bind(mut self, arg: impl Into<Arg<'a>>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends ` AND <column> <op> $n` and binds `$n`.
    pub(crate) fn and(mut self, column: &str, op: &str, arg: impl Into<Arg<'a>>) -> Self {
        self.args.push(arg.into());
        let n = self.args.len();
        self.text
            .to_mut()
            .push_str(&format!(" AND {column} {op} ${n}"));
        self
    }

    /// Appends ` ORDER BY <order> LIMIT $n` and binds `$n`.
    pub(crate) fn order_limit(mut self, order: &str, limit: i64) -> Self {
        self.args.push(Arg::Int(limit));
        let n = self.args.len();
        self.text
            .to_mut()
            .push_str(&format!(" ORDER BY {order} LIMIT ${n}"));
        self
    }
}

/// A database the store runs on: how it locks, and how a [`Sql`] runs on
/// one of its connections.
pub(crate) trait Dialect: Database<Row: RowExt> {
    /// Starts a transaction that reads and then writes.
    const BEGIN_WRITE: &'static str;
    /// Appended to a `SELECT` whose rows must stay locked until commit.
    const FOR_UPDATE: &'static str;

    /// Runs a statement; returns how many rows it changed.
    fn execute<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a Sql<'a>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;

    /// Runs a query; returns every row.
    fn fetch_all<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a Sql<'a>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'a;

    /// Runs a query; returns its first row, if any.
    fn fetch_optional<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a Sql<'a>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'a;
}

/// The three runners, the same text for each driver (only the types differ).
macro_rules! runners {
    ($db:ty) => {
        fn execute<'a>(
            conn: &'a mut <$db as Database>::Connection,
            sql: &'a Sql<'a>,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
            async move { Ok(bind::<$db>(sql).execute(conn).await?.rows_affected()) }
        }

        fn fetch_all<'a>(
            conn: &'a mut <$db as Database>::Connection,
            sql: &'a Sql<'a>,
        ) -> impl Future<Output = Result<Vec<<$db as Database>::Row>, sqlx::Error>> + Send + 'a {
            bind::<$db>(sql).fetch_all(conn)
        }

        fn fetch_optional<'a>(
            conn: &'a mut <$db as Database>::Connection,
            sql: &'a Sql<'a>,
        ) -> impl Future<Output = Result<Option<<$db as Database>::Row>, sqlx::Error>> + Send + 'a {
            bind::<$db>(sql).fetch_optional(conn)
        }
    };
}

/// A driver query with every [`Arg`] bound.
fn bind<'a, DB>(sql: &'a Sql<'a>) -> sqlx::query::Query<'a, DB, DB::Arguments<'a>>
where
    DB: Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query(&sql.text);
    for arg in &sql.args {
        query = match *arg {
            Arg::Text(value) => query.bind(value),
            Arg::OptText(value) => query.bind(value),
            Arg::Int(value) => query.bind(value),
            Arg::OptInt(value) => query.bind(value),
            Arg::Blob(value) => query.bind(value),
            Arg::Flag(value) => query.bind(value),
        };
    }
    query
}

#[cfg(feature = "sqlite")]
impl Dialect for sqlx::Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    runners!(sqlx::Sqlite);
}

#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    runners!(sqlx::Postgres);
}
