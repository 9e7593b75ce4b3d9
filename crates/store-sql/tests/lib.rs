//! m2m-store-sql's integration tests, one binary: the conformance suite on
//! SQLite and PostgreSQL (when `M2M_TEST_POSTGRES_URL` is set), and what only
//! SQL stores have: files, schemas, migrations, corrupt rows.

mod conformance;
mod errors;
mod migrations;
mod postgres;
mod sqlite;
mod support;
