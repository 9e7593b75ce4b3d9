//! `assertion_ids`: the `jti` of each accepted client assertion, per issuer.
//!
//! A claim is one `INSERT ... ON CONFLICT (issuer, jti) DO UPDATE ... WHERE
//! the stored exp has passed`: it changes a row (the claim wins) when the
//! pair is new or its earlier claim has expired, and none while that claim
//! is live. On PostgreSQL a concurrent insert of the same pair waits for the
//! first to commit and then sees its row, so of concurrent claims on any
//! number of replicas exactly one changes a row; on SQLite writers take turns.

use m2m_issuer::store::StoreResult;

use crate::backend::{Backend, execute};
use crate::dialect::{Dialect, Sql};
use crate::rows::{clamp_i64, to_db};

const CLAIM: &str = "INSERT INTO assertion_ids (issuer, jti, exp) VALUES ($1, $2, $3) \
    ON CONFLICT (issuer, jti) DO UPDATE SET exp = excluded.exp \
    WHERE assertion_ids.exp <= $4";

const PURGE: &str = "DELETE FROM assertion_ids WHERE exp < $1";

impl<D: Dialect> Backend<D> {
    pub(crate) async fn claim_assertion_id(
        &self,
        issuer: &str,
        jti: &str,
        exp: u64,
        now: u64,
    ) -> StoreResult<bool> {
        let sql = Sql::new(CLAIM)
            .bind(issuer)
            .bind(jti)
            .bind(to_db(exp, "assertion exp")?)
            .bind(to_db(now, "now")?);
        let mut conn = self.conn().await?;
        Ok(execute::<D>(&mut conn, sql).await? == 1)
    }

    pub(crate) async fn purge_assertion_ids(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE).bind(clamp_i64(before))).await
    }
}
