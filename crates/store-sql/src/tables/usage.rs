//! `usage_counters`: counts per subject and clock-aligned window, shared by
//! every replica (token quotas, the failure throttle).
//!
//! An addition is one `INSERT ... ON CONFLICT DO UPDATE SET count = count +
//! excluded.count RETURNING count`: on PostgreSQL a concurrent addition to
//! the same row waits for the first to commit and then adds to its value;
//! on SQLite writers take turns. Either way each caller sees the sum of
//! every addition up to and including its own.

use m2m_issuer::store::StoreResult;

use crate::backend::{Backend, execute, fetch_one};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, from_db, to_db};

const ADD: &str = "INSERT INTO usage_counters (subject, window_secs, window_start, count) \
    VALUES ($1, $2, $3, $4) \
    ON CONFLICT (subject, window_secs, window_start) \
    DO UPDATE SET count = usage_counters.count + excluded.count \
    RETURNING count";

const PURGE: &str =
    "DELETE FROM usage_counters WHERE window_start < $1 AND window_start + window_secs < $1";

impl<D: Dialect> Backend<D> {
    pub(crate) async fn add_usage(
        &self,
        subject: &str,
        window_secs: u64,
        window_start: u64,
        amount: u64,
    ) -> StoreResult<u64> {
        let sql = Sql::new(ADD)
            .bind(subject)
            .bind(to_db(window_secs, "usage window")?)
            .bind(to_db(window_start, "usage window start")?)
            .bind(to_db(amount, "usage amount")?);
        let mut conn = self.conn().await?;
        let row = fetch_one::<D>(&mut conn, sql).await?;
        from_db(row.int("count")?, "usage count")
    }

    pub(crate) async fn purge_usage(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE).bind(clamp_i64(before))).await
    }
}
