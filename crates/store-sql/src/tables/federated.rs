//! `federated_credentials`: a client's trust entries for external issuers.
//!
//! - At most `max` entries per client: `add_federated_credential` counts and
//!   inserts in one write transaction, after reading the client's row with
//!   [`FOR_UPDATE`](crate::dialect::Dialect::FOR_UPDATE), as `add_secret`
//!   does; a client deleted at the same time either waits or is gone.
//! - Deleted with the client (`delete_client` calls [`delete_of`]; the
//!   foreign key cascades too).

use std::collections::BTreeMap;

use m2m_core::ClientId;
use m2m_issuer::store::{AddFederatedCredential, FederatedCredentialRecord, StoreResult};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_one, fetch_optional, insert};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, from_db, json_text, limit, parse_json, to_db};

const COLUMNS: &str = "client_id, id, issuer, subject, audience, claims, jwks, created_at";

const INSERT: &str = "INSERT INTO federated_credentials (client_id, id, issuer, subject, \
    audience, claims, jwks, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const CLIENT_EXISTS: &str = "SELECT 1 FROM clients WHERE client_id = $1";

const COUNT_OF: &str = "SELECT COUNT(*) AS n FROM federated_credentials WHERE client_id = $1";

const DELETE_ONE: &str = "DELETE FROM federated_credentials WHERE client_id = $1 AND id = $2";

const DELETE_OF: &str = "DELETE FROM federated_credentials WHERE client_id = $1";

/// Deletes every entry of `client_id`, inside the caller's transaction.
pub(crate) async fn delete_of<D: Dialect>(
    conn: &mut D::Connection,
    client_id: &ClientId,
) -> StoreResult<u64> {
    execute::<D>(conn, Sql::new(DELETE_OF).bind(client_id.as_str())).await
}

fn from_row(row: &impl RowExt) -> StoreResult<FederatedCredentialRecord> {
    let id = row.text("id")?;
    let what = |column: &str| format!("federated_credentials.{column} of {id}");
    let claims: BTreeMap<String, String> = parse_json(&row.text("claims")?, &what("claims"))?;
    let jwks = row
        .opt_text("jwks")?
        .map(|text| parse_json(&text, &what("jwks")))
        .transpose()?;
    Ok(FederatedCredentialRecord {
        client_id: ClientId::new(row.text("client_id")?),
        issuer: row.text("issuer")?,
        subject: row.text("subject")?,
        audience: row.text("audience")?,
        claims,
        jwks,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        id,
    })
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn list_federated_credentials(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM federated_credentials WHERE client_id = $1 ORDER BY seq"
        );
        let mut conn = self.conn().await?;
        fetch_all::<D>(&mut conn, Sql::new(sql).bind(client_id.as_str()))
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub(crate) async fn federated_credentials_of_issuer(
        &self,
        issuer: &str,
        max: usize,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS} FROM federated_credentials WHERE TRUE"
        ))
        .and("issuer", "=", issuer)
        .order_limit("client_id, seq", limit(max));
        let mut conn = self.conn().await?;
        fetch_all::<D>(&mut conn, sql)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub(crate) async fn add_federated_credential(
        &self,
        credential: &FederatedCredentialRecord,
        max: usize,
    ) -> StoreResult<AddFederatedCredential> {
        let claims = json_text(&credential.claims, "federated credential claims")?;
        let jwks = credential
            .jwks
            .as_ref()
            .map(|jwks| json_text(jwks, "federated credential jwks"))
            .transpose()?;
        let created_at = to_db(credential.created_at, "federated credential created_at")?;
        let client_id = credential.client_id.as_str();
        let mut tx = self.write().await?;
        let client = Sql::new(format!("{CLIENT_EXISTS}{}", D::FOR_UPDATE)).bind(client_id);
        if fetch_optional::<D>(&mut tx, client).await?.is_none() {
            return Ok(AddFederatedCredential::NoSuchClient);
        }
        let count = fetch_one::<D>(&mut tx, Sql::new(COUNT_OF).bind(client_id))
            .await?
            .int("n")?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Ok(AddFederatedCredential::LimitReached);
        }
        let sql = Sql::new(INSERT)
            .bind(client_id)
            .bind(credential.id.as_str())
            .bind(credential.issuer.as_str())
            .bind(credential.subject.as_str())
            .bind(credential.audience.as_str())
            .bind(&claims)
            .bind(jwks.as_deref())
            .bind(created_at);
        insert::<D>(&mut tx, sql, || {
            format!("federated credential {}", credential.id)
        })
        .await?;
        commit(tx).await?;
        Ok(AddFederatedCredential::Added)
    }

    pub(crate) async fn delete_federated_credential(
        &self,
        client_id: &ClientId,
        id: &str,
    ) -> StoreResult<bool> {
        let sql = Sql::new(DELETE_ONE).bind(client_id.as_str()).bind(id);
        let mut conn = self.conn().await?;
        Ok(execute::<D>(&mut conn, sql).await? > 0)
    }
}
