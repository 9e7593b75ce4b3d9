//! m2m-store-sql's integration tests, one binary: the same scenarios on
//! SQLite (a real file) and on PostgreSQL (when `M2M_TEST_POSTGRES_URL` is set).

mod conformance;
mod errors;
mod postgres;
mod scenarios;
mod sqlite;
mod support;
