//! `usage_counters`: counts per subject and clock-aligned window, shared by
//! every replica (token quotas, the failure throttle).
//!
//! An addition is one `INSERT ... ON CONFLICT DO UPDATE SET count = count +
//! excluded.count RETURNING count`: on PostgreSQL a concurrent addition to
//! the same row waits for the first to commit and then adds to its value;
//! on SQLite writers take turns. Either way each caller sees the sum of
//! every addition up to and including its own.

use m2m_core::OrgId;
use m2m_issuer::store::{QuotaOverride, StoreResult};

use crate::backend::{Backend, execute, fetch_one, fetch_optional};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, from_db, json_text, parse_json, to_db};

const GET_ORG_QUOTA: &str = "SELECT quota FROM org_quotas WHERE org_id = $1";

const PUT_ORG_QUOTA: &str = "INSERT INTO org_quotas (org_id, quota, updated_at) \
    VALUES ($1, $2, $3) \
    ON CONFLICT (org_id) DO UPDATE SET quota = excluded.quota, updated_at = excluded.updated_at";

const DELETE_ORG_QUOTA: &str = "DELETE FROM org_quotas WHERE org_id = $1";

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

    pub(crate) async fn get_org_quota(&self, org_id: &OrgId) -> StoreResult<Option<QuotaOverride>> {
        let mut conn = self.conn().await?;
        let row =
            fetch_optional::<D>(&mut conn, Sql::new(GET_ORG_QUOTA).bind(org_id.as_str())).await?;
        row.map(|row| {
            parse_json(
                &row.text("quota")?,
                &format!("org_quotas.quota of {org_id}"),
            )
        })
        .transpose()
    }

    pub(crate) async fn put_org_quota(
        &self,
        org_id: &OrgId,
        quota: &QuotaOverride,
        now: u64,
    ) -> StoreResult<()> {
        let text = json_text(quota, "quota")?;
        let sql = Sql::new(PUT_ORG_QUOTA)
            .bind(org_id.as_str())
            .bind(text.as_str())
            .bind(to_db(now, "updated_at")?);
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, sql).await.map(|_| ())
    }

    pub(crate) async fn delete_org_quota(&self, org_id: &OrgId) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let sql = Sql::new(DELETE_ORG_QUOTA).bind(org_id.as_str());
        Ok(execute::<D>(&mut conn, sql).await? > 0)
    }

    pub(crate) async fn purge_usage(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE).bind(clamp_i64(before))).await
    }
}
