//! `revocation_log` and `revocation_head`: the revocation feed.
//!
//! This module owns the log's two invariants, in both dialects:
//!
//! - **A sequence number is never reused.** `revocation_head` holds the last
//!   number handed out (purged entries included); an append takes the next
//!   one and writes it back in the same transaction. A rolled-back append
//!   hands out nothing.
//! - **Entries become visible in sequence order.** An append first reads the
//!   head row with [`FOR_UPDATE`](crate::dialect::Dialect::FOR_UPDATE)
//!   ([`lock`]), and holds it until commit, so appends take turns: the
//!   transaction with number 11 cannot commit before the one with 10, and a
//!   reader that saw 11 has seen 10. On SQLite the write lock of
//!   `BEGIN IMMEDIATE` already makes appends take turns.
//!
//! Other tables append through [`lock`] and [`Appender`], in their own
//! transaction, after locking their own rows (so locks are always taken in
//! the same order).
//!
//! An `exp` of `u64::MAX` ("never", in feeds older than client and key
//! expiry) is stored as `i64::MAX` and read back as `u64::MAX`; a purge never
//! reaches it.

use m2m_core::{AccessTokenClaims, ClientId, Revocation, RevokedClient, RevokedKey, RevokedToken};
use m2m_issuer::store::{LoggedRevocation, RevocationPage, StoreError, StoreResult};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_one, fetch_optional};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, from_db, limit, to_db};

const ENTRY_COLUMNS: &str = "seq, kind, jti, client_id, kid, exp, revoked_at";

const INSERT_ENTRY: &str = "INSERT INTO revocation_log \
    (seq, kind, jti, client_id, kid, exp, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SET_HEAD: &str = "UPDATE revocation_head SET head = $1";

const HEAD: &str = "SELECT head FROM revocation_head";

const TOKEN_LOGGED: &str = "SELECT 1 AS hit FROM revocation_log WHERE jti = $1";

/// Each branch is one index lookup: the jti's unique index, the client's
/// latest revocation (`revocation_log_by_client`), the kid
/// (`revocation_log_by_kid`).
pub(crate) const IS_REVOKED: &str = "SELECT 1 AS hit FROM revocation_log WHERE jti = $1 \
    UNION ALL SELECT 1 FROM revocation_log \
        WHERE kind = 'client' AND client_id = $2 AND revoked_at >= $3 \
    UNION ALL SELECT 1 FROM revocation_log WHERE kind = 'key' AND kid = $4 \
    LIMIT 1";

/// Uses `revocation_log_by_exp`.
const PURGE: &str = "DELETE FROM revocation_log WHERE exp < $1";

/// An `exp` as stored: `u64::MAX` (never) and anything else beyond the
/// column become `i64::MAX`.
fn exp_to_db(exp: u64) -> i64 {
    clamp_i64(exp)
}

fn exp_from_db(exp: i64, what: &str) -> StoreResult<u64> {
    if exp == i64::MAX {
        Ok(u64::MAX)
    } else {
        from_db(exp, what)
    }
}

/// Holds the revocation head's row until the transaction ends: the only
/// way to append to the log.
pub(crate) struct Appender {
    head: i64,
}

/// Locks the head of the log for this transaction (see the module docs).
pub(crate) async fn lock<D: Dialect>(tx: &mut D::Connection) -> StoreResult<Appender> {
    let sql = Sql::new(format!("{HEAD}{}", D::FOR_UPDATE));
    let head = fetch_one::<D>(tx, sql).await?.int("head")?;
    Ok(Appender { head })
}

/// One entry's columns.
struct Entry<'a> {
    kind: &'static str,
    jti: Option<&'a str>,
    client_id: Option<&'a str>,
    kid: Option<&'a str>,
    exp: u64,
    revoked_at: u64,
}

impl Appender {
    async fn append<D: Dialect>(
        &mut self,
        tx: &mut D::Connection,
        entry: Entry<'_>,
    ) -> StoreResult<()> {
        let seq = self.head.checked_add(1).ok_or_else(|| {
            StoreError::Corrupt("the revocation log has used every sequence number".to_owned())
        })?;
        let insert = Sql::new(INSERT_ENTRY)
            .bind(seq)
            .bind(entry.kind)
            .bind(entry.jti)
            .bind(entry.client_id)
            .bind(entry.kid)
            .bind(exp_to_db(entry.exp))
            .bind(to_db(entry.revoked_at, "revoked_at")?);
        execute::<D>(tx, insert).await?;
        execute::<D>(tx, Sql::new(SET_HEAD).bind(seq)).await?;
        self.head = seq;
        Ok(())
    }

    /// Appends a token of `client_id` revoked at `at`, unless its jti is in
    /// the log already. Returns whether it appended.
    pub(crate) async fn append_token<D: Dialect>(
        &mut self,
        tx: &mut D::Connection,
        token: &RevokedToken,
        client_id: &ClientId,
        at: u64,
    ) -> StoreResult<bool> {
        let logged = Sql::new(TOKEN_LOGGED).bind(token.jti.as_str());
        if fetch_optional::<D>(tx, logged).await?.is_some() {
            return Ok(false);
        }
        let entry = Entry {
            kind: "token",
            jti: Some(&token.jti),
            client_id: Some(client_id.as_str()),
            kid: None,
            exp: token.exp,
            revoked_at: at,
        };
        self.append::<D>(tx, entry).await?;
        Ok(true)
    }

    pub(crate) async fn append_client<D: Dialect>(
        &mut self,
        tx: &mut D::Connection,
        client: &RevokedClient,
    ) -> StoreResult<()> {
        let entry = Entry {
            kind: "client",
            jti: None,
            client_id: Some(client.client_id.as_str()),
            kid: None,
            exp: client.exp,
            revoked_at: client.revoked_at,
        };
        self.append::<D>(tx, entry).await
    }

    pub(crate) async fn append_key<D: Dialect>(
        &mut self,
        tx: &mut D::Connection,
        key: &RevokedKey,
    ) -> StoreResult<()> {
        let entry = Entry {
            kind: "key",
            jti: None,
            client_id: None,
            kid: Some(&key.kid),
            exp: key.exp,
            revoked_at: key.revoked_at,
        };
        self.append::<D>(tx, entry).await
    }
}

fn entry_from_row(row: &impl RowExt) -> StoreResult<LoggedRevocation> {
    let seq = from_db(row.int("seq")?, "revocation_log.seq")?;
    let what = |column: &str| format!("revocation_log.{column} at seq {seq}");
    let required = |value: Option<String>, column: &str| {
        value.ok_or_else(|| StoreError::Corrupt(format!("{}: missing", what(column))))
    };
    let exp = exp_from_db(row.int("exp")?, &what("exp"))?;
    let revocation = match row.text("kind")?.as_str() {
        "token" => Revocation::Token(RevokedToken {
            jti: required(row.opt_text("jti")?, "jti")?,
            exp,
        }),
        "client" => Revocation::Client(RevokedClient {
            client_id: ClientId::new(required(row.opt_text("client_id")?, "client_id")?),
            revoked_at: from_db(row.int("revoked_at")?, &what("revoked_at"))?,
            exp,
        }),
        "key" => Revocation::Key(RevokedKey {
            kid: required(row.opt_text("kid")?, "kid")?,
            revoked_at: from_db(row.int("revoked_at")?, &what("revoked_at"))?,
            exp,
        }),
        other => {
            return Err(StoreError::Corrupt(format!(
                "{}: unknown `{other}`",
                what("kind")
            )));
        }
    };
    Ok(LoggedRevocation { seq, revocation })
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn revoke_token(
        &self,
        token: &RevokedToken,
        client_id: &ClientId,
        at: u64,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let mut log = lock::<D>(&mut tx).await?;
        let revoked = log.append_token::<D>(&mut tx, token, client_id, at).await?;
        if revoked {
            commit(tx).await?;
        }
        Ok(revoked)
    }

    pub(crate) async fn is_revoked(
        &self,
        claims: &AccessTokenClaims,
        kid: Option<&str>,
    ) -> StoreResult<bool> {
        let sql = Sql::new(IS_REVOKED)
            .bind(claims.jti.as_str())
            .bind(claims.client_id.as_str())
            .bind(clamp_i64(claims.iat))
            .bind(kid);
        let mut conn = self.conn().await?;
        Ok(fetch_optional::<D>(&mut conn, sql).await?.is_some())
    }

    pub(crate) async fn revocations_since(
        &self,
        after: u64,
        max: usize,
    ) -> StoreResult<RevocationPage> {
        let sql = Sql::new(format!(
            "SELECT {ENTRY_COLUMNS} FROM revocation_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(clamp_i64(after))
        .bind(limit(max));
        let mut conn = self.conn().await?;
        let entries = fetch_all::<D>(&mut conn, sql)
            .await?
            .iter()
            .map(entry_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        // Read after the entries: the head only grows, and commits with them,
        // so it is at or past the last one.
        let head = fetch_one::<D>(&mut conn, Sql::new(HEAD))
            .await?
            .int("head")?;
        Ok(RevocationPage {
            entries,
            head: from_db(head, "revocation_head.head")?,
        })
    }

    pub(crate) async fn revocation_at(&self, seq: u64) -> StoreResult<Option<Revocation>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let sql = Sql::new(format!(
            "SELECT {ENTRY_COLUMNS} FROM revocation_log WHERE seq = $1"
        ))
        .bind(seq);
        let mut conn = self.conn().await?;
        let row = fetch_optional::<D>(&mut conn, sql).await?;
        Ok(row
            .as_ref()
            .map(entry_from_row)
            .transpose()?
            .map(|e| e.revocation))
    }

    pub(crate) async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE).bind(clamp_i64(before))).await
    }
}

#[cfg(test)]
mod tests {
    //! `is_revoked` and the purge are index lookups, never a scan of the log.

    use sqlx::Row;

    use super::{IS_REVOKED, PURGE};

    /// The statements with example parameters, as the store runs them.
    fn statements() -> [(&'static str, Vec<Option<&'static str>>); 2] {
        [
            (
                IS_REVOKED,
                vec![Some("jti"), Some("m2m_a"), None, Some("kid")],
            ),
            (PURGE, vec![None]),
        ]
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_plans_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path().join("plan.db"))
            .await
            .unwrap();
        let mut conn = store.backend().conn().await.unwrap();
        for (sql, args) in statements() {
            let mut query = sqlx::query(Box::leak(
                format!("EXPLAIN QUERY PLAN {sql}").into_boxed_str(),
            ));
            for arg in args {
                query = match arg {
                    Some(text) => query.bind(text),
                    None => query.bind(1_700_000_000_i64),
                };
            }
            let plan: Vec<String> = query
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect();
            let lookups: Vec<&String> = plan
                .iter()
                .filter(|d| d.contains("revocation_log"))
                .collect();
            assert!(!lookups.is_empty(), "{sql}: no plan for the log: {plan:?}");
            assert!(
                lookups
                    .iter()
                    .all(|d| d.starts_with("SEARCH") && d.contains("INDEX")),
                "{sql}: every access to the log must be an index search: {plan:?}"
            );
        }
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_plans_use_indexes() {
        let Some(url) = std::env::var("M2M_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            println!("skipped: M2M_TEST_POSTGRES_URL not set");
            return;
        };
        let schema = format!("m2m_plan_{}", std::process::id());
        let store = crate::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap();
        let mut conn = store.backend().conn().await.unwrap();
        // With sequential scans priced out, a scan in the plan means no
        // index could answer.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut failures = Vec::new();
        for (sql, args) in statements() {
            let mut query = sqlx::query(Box::leak(format!("EXPLAIN {sql}").into_boxed_str()));
            for arg in args {
                query = match arg {
                    Some(text) => query.bind(text),
                    None => query.bind(1_700_000_000_i64),
                };
            }
            let plan: Vec<String> = query
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect();
            if plan.iter().any(|line| line.contains("Seq Scan")) {
                failures.push(format!("{sql}: {plan:#?}"));
            }
        }
        drop(conn);
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(&mut *store.backend().conn().await.unwrap())
            .await
            .unwrap();
        store.close().await;
        assert!(failures.is_empty(), "a scan of the log: {failures:?}");
    }
}
