//! `exchanged_tokens`: the access tokens minted by token exchange (RFC 8693)
//! and the token each came from.
//!
//! - Recording a token and revoking the descendants of a token take turns:
//!   both hold the revocation log's head ([`revocations::lock`]) for their
//!   transaction. A record is written only if, under that lock, no logged
//!   revocation covers its parent; a revocation walks the table under the
//!   same lock. So a parent revoked while a child is being minted is either
//!   seen by the record (no child) or its walk sees the child.
//! - The walk is one `WITH RECURSIVE` statement over `parent_jti` (both
//!   dialects), from a set of tokens, from a client's tokens issued at or
//!   before its revocation, or from the tokens a revoked key signed.

use m2m_core::{AccessTokenClaims, ClientId, RevokedToken};
use m2m_issuer::store::{ExchangedFrom, ExchangedTokenRecord, StoreResult};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_optional, insert};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, clamp_i64, from_db, to_db};
use crate::tables::revocations::{self, IS_REVOKED};

const INSERT: &str = "INSERT INTO exchanged_tokens \
    (jti, exp, client_id, parent_jti, parent_client_id, parent_iat, parent_kid) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

const PURGE: &str = "DELETE FROM exchanged_tokens WHERE exp < $1";

/// Most parent jtis bound in one walk statement.
const CHUNK: usize = 200;

/// The walk from `seed` (a condition on `exchanged_tokens`, with its
/// parameters from `$1`), keeping tokens with `exp >= $live`.
fn walk(seed: &str, live: usize) -> String {
    format!(
        "WITH RECURSIVE chain (jti) AS ( \
            SELECT jti FROM exchanged_tokens WHERE {seed} \
            UNION \
            SELECT e.jti FROM exchanged_tokens e JOIN chain c ON e.parent_jti = c.jti \
        ) \
        SELECT e.jti AS jti, e.exp AS exp, e.client_id AS client_id \
        FROM exchanged_tokens e JOIN chain c ON e.jti = c.jti \
        WHERE e.exp >= ${live} ORDER BY e.jti"
    )
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn record_exchanged_token(
        &self,
        record: &ExchangedTokenRecord,
        parent: &AccessTokenClaims,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let _log = revocations::lock::<D>(&mut tx).await?;
        let covered = Sql::new(IS_REVOKED)
            .bind(parent.jti.as_str())
            .bind(parent.client_id.as_str())
            .bind(clamp_i64(parent.iat))
            .bind(record.parent_kid.as_str());
        if fetch_optional::<D>(&mut tx, covered).await?.is_some() {
            return Ok(false);
        }
        let sql = Sql::new(INSERT)
            .bind(record.jti.as_str())
            .bind(to_db(record.exp, "exp")?)
            .bind(record.client_id.as_str())
            .bind(record.parent_jti.as_str())
            .bind(record.parent_client_id.as_str())
            .bind(to_db(record.parent_iat, "parent_iat")?)
            .bind(record.parent_kid.as_str());
        insert::<D>(&mut tx, sql, || {
            format!("exchanged token {} exists", record.jti)
        })
        .await?;
        commit(tx).await?;
        Ok(true)
    }

    pub(crate) async fn revoke_exchanged(
        &self,
        from: ExchangedFrom<'_>,
        live_after: u64,
        at: u64,
    ) -> StoreResult<Vec<RevokedToken>> {
        let live = clamp_i64(live_after);
        let mut tx = self.write().await?;
        let mut log = revocations::lock::<D>(&mut tx).await?;
        let mut rows = Vec::new();
        match from {
            ExchangedFrom::Tokens(jtis) => {
                for chunk in jtis.chunks(CHUNK) {
                    let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let seed = format!("parent_jti IN ({})", marks.join(", "));
                    let mut sql = Sql::new(walk(&seed, chunk.len() + 1));
                    for jti in chunk {
                        sql = sql.bind(jti.as_str());
                    }
                    rows.extend(fetch_all::<D>(&mut tx, sql.bind(live)).await?);
                }
            }
            ExchangedFrom::Client {
                client_id,
                issued_before,
            } => {
                let sql = Sql::new(walk("parent_client_id = $1 AND parent_iat <= $2", 3))
                    .bind(client_id.as_str())
                    .bind(clamp_i64(issued_before))
                    .bind(live);
                rows = fetch_all::<D>(&mut tx, sql).await?;
            }
            ExchangedFrom::Key(kid) => {
                let sql = Sql::new(walk("parent_kid = $1", 2)).bind(kid).bind(live);
                rows = fetch_all::<D>(&mut tx, sql).await?;
            }
        }
        let mut covered = Vec::with_capacity(rows.len());
        for row in &rows {
            let jti = row.text("jti")?;
            let token = RevokedToken {
                exp: from_db(row.int("exp")?, &format!("exchanged_tokens.exp of {jti}"))?,
                jti,
            };
            let owner = ClientId::new(row.text("client_id")?);
            log.append_token::<D>(&mut tx, &token, &owner, at).await?;
            covered.push(token);
        }
        commit(tx).await?;
        Ok(covered)
    }

    pub(crate) async fn purge_exchanged_tokens(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE).bind(clamp_i64(before))).await
    }
}
