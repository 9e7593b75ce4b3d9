//! `audit_events`: append-only, read newest first.

use m2m_core::ClientId;
use m2m_issuer::store::{AuditRecord, Page, StoreResult};

use crate::backend::{Backend, commit, execute, fetch_all};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, fetch_for, from_db, json_text, page, parse_json, to_db};

const INSERT_AUDIT: &str =
    "INSERT INTO audit_events (at, kind, client_id, actor, detail) VALUES ($1, $2, $3, $4, $5)";

/// An event's columns, converted before anything is written.
struct AuditParams<'a> {
    event: &'a AuditRecord,
    at: i64,
    detail: String,
}

impl<'a> AuditParams<'a> {
    fn new(event: &'a AuditRecord) -> StoreResult<Self> {
        Ok(AuditParams {
            event,
            at: to_db(event.at, "audit at")?,
            detail: json_text(&event.detail, "audit detail")?,
        })
    }

    fn insert(&'a self) -> Sql<'a> {
        Sql::new(INSERT_AUDIT)
            .bind(self.at)
            .bind(self.event.kind.as_str())
            .bind(self.event.client_id.as_ref().map(ClientId::as_str))
            .bind(self.event.actor.as_ref().map(ClientId::as_str))
            .bind(&self.detail)
    }
}

fn audit_from_row(row: &impl RowExt) -> StoreResult<AuditRecord> {
    let seq = from_db(row.int("seq")?, "audit_events.seq")?;
    let what = |column: &str| format!("audit_events.{column} at seq {seq}");
    Ok(AuditRecord {
        at: from_db(row.int("at")?, &what("at"))?,
        kind: row.text("kind")?,
        client_id: row.opt_text("client_id")?.map(ClientId::new),
        actor: row.opt_text("actor")?.map(ClientId::new),
        detail: parse_json(&row.text("detail")?, &what("detail"))?,
        seq,
    })
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()> {
        // Every event converted before any is written: a batch is all or nothing.
        let params = events
            .iter()
            .map(AuditParams::new)
            .collect::<StoreResult<Vec<_>>>()?;
        if params.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for event in &params {
            execute::<D>(&mut tx, event.insert()).await?;
        }
        commit(tx).await
    }

    pub(crate) async fn list_audit(
        &self,
        client_id: Option<&ClientId>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>> {
        let mut sql =
            Sql::new("SELECT seq, at, kind, client_id, actor, detail FROM audit_events WHERE TRUE");
        if let Some(client_id) = client_id {
            sql = sql.and("client_id", "=", client_id.as_str());
        }
        if let Some(before) = before {
            sql = sql.and("seq", "<", clamp_i64(before));
        }
        let sql = sql.order_limit("seq DESC", fetch_for(limit));
        let mut conn = self.conn().await?;
        let events = fetch_all::<D>(&mut conn, sql)
            .await?
            .iter()
            .map(audit_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(events, limit, |e| e.seq))
    }
}
