//! `audit_events`: events appended, token aggregates merged in place, read
//! newest first, purged oldest first in small batches.

use m2m_core::ClientId;
use m2m_issuer::store::{AuditFilter, AuditRecord, Page, StoreError, StoreResult, TokenMinute};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_optional};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, fetch_for, from_db, json_text, page, parse_json, to_db};

const INSERT_AUDIT: &str =
    "INSERT INTO audit_events (at, kind, client_id, actor, detail) VALUES ($1, $2, $3, $4, $5)";

/// A new aggregate, unless another replica stored the same minute first (the
/// partial unique index `audit_token_minutes`; on PostgreSQL this waits for
/// a concurrent insert of it to commit or roll back).
const INSERT_MINUTE: &str = "INSERT INTO audit_events (at, kind, client_id, actor, detail) \
     VALUES ($1, 'tokens.issued', $2, NULL, $3) \
     ON CONFLICT (client_id, at) WHERE kind = 'tokens.issued' DO NOTHING";

const SELECT_COLUMNS: &str = "SELECT seq, at, kind, client_id, actor, detail FROM audit_events";

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

    pub(crate) async fn record_token_minutes(&self, minutes: &[TokenMinute]) -> StoreResult<()> {
        if minutes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for minute in minutes {
            let at = to_db(minute.minute, "aggregate minute")?;
            let fresh = json_text(&minute.to_record().detail, "aggregate detail")?;
            let inserted = execute::<D>(
                &mut tx,
                Sql::new(INSERT_MINUTE)
                    .bind(at)
                    .bind(minute.client_id.as_str())
                    .bind(&fresh),
            )
            .await?;
            if inserted == 1 {
                continue;
            }
            let select = format!(
                "{SELECT_COLUMNS} WHERE kind = 'tokens.issued' AND client_id = $1 AND at = $2{}",
                D::FOR_UPDATE
            );
            let row = fetch_optional::<D>(
                &mut tx,
                Sql::new(select).bind(minute.client_id.as_str()).bind(at),
            )
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt("an aggregate neither inserted nor found".to_owned())
            })?;
            let stored = audit_from_row(&row)?;
            let mut merged = TokenMinute::from_record(&stored).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "audit_events.detail at seq {} is no aggregate",
                    stored.seq
                ))
            })?;
            merged.merge(minute);
            let detail = json_text(&merged.to_record().detail, "aggregate detail")?;
            execute::<D>(
                &mut tx,
                Sql::new("UPDATE audit_events SET detail = $1 WHERE seq = $2")
                    .bind(&detail)
                    .bind(clamp_i64(stored.seq)),
            )
            .await?;
        }
        commit(tx).await
    }

    pub(crate) async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>> {
        let mut sql = Sql::new(format!("{SELECT_COLUMNS} WHERE TRUE"));
        if let Some(client_id) = &filter.client_id {
            sql = sql.and("client_id", "=", client_id.as_str());
        }
        if let Some(kind) = &filter.kind {
            sql = sql.and("kind", "=", kind.as_str());
        }
        if let Some(since) = filter.since {
            sql = sql.and("at", ">=", clamp_i64(since));
        }
        if let Some(until) = filter.until {
            sql = sql.and("at", "<", clamp_i64(until));
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

    pub(crate) async fn purge_audit(&self, before: u64, limit: usize) -> StoreResult<u64> {
        // One statement, its own short transaction: a batch, never the lot.
        let mut conn = self.conn().await?;
        execute::<D>(
            &mut conn,
            Sql::new(
                "DELETE FROM audit_events WHERE seq IN \
                 (SELECT seq FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)",
            )
            .bind(clamp_i64(before))
            .bind(crate::rows::limit(limit)),
        )
        .await
    }
}
