//! `clients` and `secrets`.
//!
//! - At most `max_live` live secrets: `add_secret` counts and inserts in one
//!   write transaction, after reading the client's row with
//!   [`FOR_UPDATE`](crate::dialect::Dialect::FOR_UPDATE): adders of one
//!   client take turns (on PostgreSQL adders of different clients do not
//!   wait for each other; on SQLite every writer takes its turn).
//! - A change or deletion of a client and its revocation entry commit
//!   together: the client's row is written first (which locks it), then the
//!   log is appended to in the same transaction; a client that is not there
//!   writes nothing.

use m2m_core::{ClientId, ClientKind, OrgId, RevokedClient, SecretHash, TokenTtl, UserId};
use m2m_issuer::store::{
    AddSecret, ClientFilter, ClientKeys, ClientRecord, Page, SecretRecord, SecretTouch, StoreError,
    StoreResult, TokenEndpointAuthMethod,
};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_one, fetch_optional, insert};
use crate::dialect::{Dialect, Sql};
use crate::rows::{
    RowExt, clamp_i64, fetch_for, from_db, json_text, opt_from_db, opt_to_db, page, parse_json,
    scopes_from, to_db,
};
use crate::tables::revocations;

const CLIENT_COLUMNS: &str = "client_id, name, kind, org_id, user_id, scopes, audiences, \
    token_ttl, redirect_uris, metadata, enabled, created_at, updated_at, \
    token_endpoint_auth_method, jwks, jwks_uri, dpop_bound_access_tokens, token_exchange, quota";

const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, name, kind, org_id, user_id, \
    scopes, audiences, token_ttl, redirect_uris, metadata, enabled, created_at, updated_at, \
    token_endpoint_auth_method, jwks, jwks_uri, dpop_bound_access_tokens, token_exchange, quota) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

const UPDATE_CLIENT: &str = "UPDATE clients SET name = $2, kind = $3, org_id = $4, \
    user_id = $5, scopes = $6, audiences = $7, token_ttl = $8, redirect_uris = $9, \
    metadata = $10, enabled = $11, created_at = $12, updated_at = $13, \
    token_endpoint_auth_method = $14, jwks = $15, jwks_uri = $16, \
    dpop_bound_access_tokens = $17, token_exchange = $18, quota = $19 WHERE client_id = $1";

const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";

const CLIENT_EXISTS: &str = "SELECT 1 FROM clients WHERE client_id = $1";

const SECRET_COLUMNS: &str = "client_id, secret_id, hash, created_at, expires_at, last_used_at";

const INSERT_SECRET: &str = "INSERT INTO secrets (client_id, secret_id, hash, created_at, \
    expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)";

const DELETE_SECRETS_OF: &str = "DELETE FROM secrets WHERE client_id = $1";

const COUNT_LIVE_SECRETS: &str = "SELECT COUNT(*) AS live FROM secrets \
    WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)";

const DELETE_SECRET: &str = "DELETE FROM secrets WHERE client_id = $1 AND secret_id = $2";

const TOUCH_SECRET: &str =
    "UPDATE secrets SET last_used_at = $3 WHERE client_id = $1 AND secret_id = $2";

/// A client's columns, converted before anything is written.
struct ClientParams<'a> {
    client: &'a ClientRecord,
    scopes: String,
    audiences: String,
    token_ttl: i64,
    redirect_uris: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
    jwks: Option<String>,
    token_exchange: Option<String>,
    quota: Option<String>,
}

impl<'a> ClientParams<'a> {
    fn new(client: &'a ClientRecord) -> StoreResult<Self> {
        Ok(ClientParams {
            client,
            scopes: client.scopes.to_string(),
            audiences: json_text(&client.audiences, "audiences")?,
            token_ttl: to_db(client.token_ttl.seconds(), "token_ttl")?,
            redirect_uris: json_text(&client.redirect_uris, "redirect_uris")?,
            metadata: json_text(&client.metadata, "metadata")?,
            created_at: to_db(client.created_at, "created_at")?,
            updated_at: to_db(client.updated_at, "updated_at")?,
            jwks: match &client.client_keys {
                Some(ClientKeys::Jwks(set)) => Some(json_text(set, "jwks")?),
                _ => None,
            },
            token_exchange: client
                .token_exchange
                .as_ref()
                .map(|policy| json_text(policy, "token_exchange"))
                .transpose()?,
            quota: client
                .quota
                .as_ref()
                .map(|quota| json_text(quota, "quota"))
                .transpose()?,
        })
    }

    /// `sql` (an insert or update) with `$1`..`$19` bound.
    fn bind(&'a self, sql: &'static str) -> Sql<'a> {
        let c = self.client;
        Sql::new(sql)
            .bind(c.client_id.as_str())
            .bind(c.name.as_str())
            .bind(c.kind.as_str())
            .bind(c.org_id.as_ref().map(OrgId::as_str))
            .bind(c.user_id.as_ref().map(UserId::as_str))
            .bind(&self.scopes)
            .bind(&self.audiences)
            .bind(self.token_ttl)
            .bind(&self.redirect_uris)
            .bind(&self.metadata)
            .bind(c.enabled)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(c.token_endpoint_auth_method.as_str())
            .bind(self.jwks.as_deref())
            .bind(match &c.client_keys {
                Some(ClientKeys::JwksUri(uri)) => Some(uri.as_str()),
                _ => None,
            })
            .bind(c.dpop_bound_access_tokens)
            .bind(self.token_exchange.as_deref())
            .bind(self.quota.as_deref())
    }
}

fn client_from_row(row: &impl RowExt) -> StoreResult<ClientRecord> {
    let client_id = row.text("client_id")?;
    let what = |column: &str| format!("clients.{column} of {client_id}");
    let kind = row.text("kind")?;
    let kind: ClientKind = kind
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{}: unknown kind `{kind}`", what("kind"))))?;
    let ttl = from_db(row.int("token_ttl")?, &what("token_ttl"))?;
    let token_ttl = TokenTtl::new(ttl)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what("token_ttl"))))?;
    let method = row.text("token_endpoint_auth_method")?;
    let token_endpoint_auth_method =
        TokenEndpointAuthMethod::from_name(&method).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{}: unknown method `{method}`",
                what("token_endpoint_auth_method")
            ))
        })?;
    let client_keys = match (row.opt_text("jwks")?, row.opt_text("jwks_uri")?) {
        (None, None) => None,
        (Some(jwks), None) => Some(ClientKeys::Jwks(parse_json(&jwks, &what("jwks"))?)),
        (None, Some(uri)) => Some(ClientKeys::JwksUri(uri)),
        (Some(_), Some(_)) => {
            return Err(StoreError::Corrupt(format!(
                "{}: both jwks and jwks_uri are set",
                what("jwks")
            )));
        }
    };
    Ok(ClientRecord {
        client_keys,
        dpop_bound_access_tokens: row.flag("dpop_bound_access_tokens")?,
        token_exchange: row
            .opt_text("token_exchange")?
            .map(|text| parse_json(&text, &what("token_exchange")))
            .transpose()?,
        quota: row
            .opt_text("quota")?
            .map(|text| parse_json(&text, &what("quota")))
            .transpose()?,
        name: row.text("name")?,
        kind,
        org_id: row.opt_text("org_id")?.map(OrgId::new),
        user_id: row.opt_text("user_id")?.map(UserId::new),
        scopes: scopes_from(&row.text("scopes")?, &what("scopes"))?,
        audiences: parse_json(&row.text("audiences")?, &what("audiences"))?,
        token_ttl,
        redirect_uris: parse_json(&row.text("redirect_uris")?, &what("redirect_uris"))?,
        token_endpoint_auth_method,
        metadata: parse_json(&row.text("metadata")?, &what("metadata"))?,
        enabled: row.flag("enabled")?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        updated_at: from_db(row.int("updated_at")?, &what("updated_at"))?,
        client_id: ClientId::new(client_id),
    })
}

/// A secret's columns, converted before anything is written.
struct SecretParams<'a> {
    secret: &'a SecretRecord,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl<'a> SecretParams<'a> {
    fn new(secret: &'a SecretRecord) -> StoreResult<Self> {
        Ok(SecretParams {
            secret,
            created_at: to_db(secret.created_at, "secret created_at")?,
            expires_at: opt_to_db(secret.expires_at, "secret expires_at")?,
            last_used_at: opt_to_db(secret.last_used_at, "secret last_used_at")?,
        })
    }

    fn insert(&'a self) -> Sql<'a> {
        Sql::new(INSERT_SECRET)
            .bind(self.secret.client_id.as_str())
            .bind(self.secret.secret_id.as_str())
            .bind(self.secret.hash.as_bytes().as_slice())
            .bind(self.created_at)
            .bind(self.expires_at)
            .bind(self.last_used_at)
    }
}

fn secret_from_row(row: &impl RowExt) -> StoreResult<SecretRecord> {
    let secret_id = row.text("secret_id")?;
    let what = |column: &str| format!("secrets.{column} of secret {secret_id}");
    let hash: [u8; 32] = row.blob("hash")?.try_into().map_err(|bytes: Vec<u8>| {
        StoreError::Corrupt(format!("{}: {} bytes, not 32", what("hash"), bytes.len()))
    })?;
    Ok(SecretRecord {
        client_id: ClientId::new(row.text("client_id")?),
        hash: SecretHash::from_bytes(hash),
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        expires_at: opt_from_db(row.opt_int("expires_at")?, &what("expires_at"))?,
        last_used_at: opt_from_db(row.opt_int("last_used_at")?, &what("last_used_at"))?,
        secret_id,
    })
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn create_client(
        &self,
        client: &ClientRecord,
        secret: Option<&SecretRecord>,
    ) -> StoreResult<()> {
        let client_params = ClientParams::new(client)?;
        let secret_params = secret.map(SecretParams::new).transpose()?;
        let mut tx = self.write().await?;
        insert::<D>(&mut tx, client_params.bind(INSERT_CLIENT), || {
            format!("client {}", client.client_id)
        })
        .await?;
        if let Some(params) = &secret_params {
            insert::<D>(&mut tx, params.insert(), || {
                format!("secret {}", params.secret.secret_id)
            })
            .await?;
        }
        commit(tx).await
    }

    pub(crate) async fn get_client(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Option<ClientRecord>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        let mut conn = self.conn().await?;
        let row = fetch_optional::<D>(&mut conn, Sql::new(sql).bind(client_id.as_str())).await?;
        row.as_ref().map(client_from_row).transpose()
    }

    pub(crate) async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>> {
        let mut sql = Sql::new(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE TRUE"));
        if let Some(org_id) = &filter.org_id {
            sql = sql.and("org_id", "=", org_id.as_str());
        }
        if let Some(kind) = filter.kind {
            sql = sql.and("kind", "=", kind.as_str());
        }
        if let Some(after) = after {
            sql = sql.and("client_id", ">", after.as_str());
        }
        let sql = sql.order_limit("client_id", fetch_for(limit));
        let mut conn = self.conn().await?;
        let clients = fetch_all::<D>(&mut conn, sql)
            .await?
            .iter()
            .map(client_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(clients, limit, |c| c.client_id.clone()))
    }

    pub(crate) async fn update_client(
        &self,
        client: &ClientRecord,
        revocation: Option<&RevokedClient>,
    ) -> StoreResult<bool> {
        let params = ClientParams::new(client)?;
        let mut tx = self.write().await?;
        // The row first: updating it locks it, and a missing client ends
        // here, with nothing written (dropping `tx` rolls back).
        if execute::<D>(&mut tx, params.bind(UPDATE_CLIENT)).await? == 0 {
            return Ok(false);
        }
        if let Some(revocation) = revocation {
            let mut log = revocations::lock::<D>(&mut tx).await?;
            log.append_client::<D>(&mut tx, revocation).await?;
        }
        commit(tx).await?;
        Ok(true)
    }

    pub(crate) async fn delete_client(
        &self,
        client_id: &ClientId,
        revocation: &RevokedClient,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        // The client's row first (as add_secret locks it first), then its
        // secrets (the foreign key cascades too; this does not depend on it).
        if execute::<D>(&mut tx, Sql::new(DELETE_CLIENT).bind(client_id.as_str())).await? == 0 {
            return Ok(false);
        }
        execute::<D>(
            &mut tx,
            Sql::new(DELETE_SECRETS_OF).bind(client_id.as_str()),
        )
        .await?;
        crate::tables::federated::delete_of::<D>(&mut tx, client_id).await?;
        let mut log = revocations::lock::<D>(&mut tx).await?;
        log.append_client::<D>(&mut tx, revocation).await?;
        commit(tx).await?;
        Ok(true)
    }

    pub(crate) async fn list_secrets(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Vec<SecretRecord>> {
        let sql = format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE client_id = $1 ORDER BY created_at, id"
        );
        let mut conn = self.conn().await?;
        fetch_all::<D>(&mut conn, Sql::new(sql).bind(client_id.as_str()))
            .await?
            .iter()
            .map(secret_from_row)
            .collect()
    }

    pub(crate) async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret> {
        let params = SecretParams::new(secret)?;
        let client_id = secret.client_id.as_str();
        let mut tx = self.write().await?;
        let client = Sql::new(format!("{CLIENT_EXISTS}{}", D::FOR_UPDATE)).bind(client_id);
        if fetch_optional::<D>(&mut tx, client).await?.is_none() {
            return Ok(AddSecret::NoSuchClient);
        }
        let count = Sql::new(COUNT_LIVE_SECRETS)
            .bind(client_id)
            .bind(clamp_i64(now));
        let live = fetch_one::<D>(&mut tx, count).await?.int("live")?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= max_live {
            return Ok(AddSecret::LimitReached);
        }
        insert::<D>(&mut tx, params.insert(), || {
            format!("secret {}", secret.secret_id)
        })
        .await?;
        commit(tx).await?;
        Ok(AddSecret::Added)
    }

    pub(crate) async fn delete_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
    ) -> StoreResult<bool> {
        let sql = Sql::new(DELETE_SECRET)
            .bind(client_id.as_str())
            .bind(secret_id);
        let mut conn = self.conn().await?;
        Ok(execute::<D>(&mut conn, sql).await? > 0)
    }

    pub(crate) async fn touch_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: u64,
    ) -> StoreResult<()> {
        let sql = Sql::new(TOUCH_SECRET)
            .bind(client_id.as_str())
            .bind(secret_id)
            .bind(to_db(at, "last_used_at")?);
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, sql).await?;
        Ok(())
    }

    /// Every touch of the batch in one write transaction (one commit, so
    /// one sync of the SQLite journal, for the whole batch).
    pub(crate) async fn touch_secrets(&self, touches: &[SecretTouch]) -> StoreResult<()> {
        if touches.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for touch in touches {
            let sql = Sql::new(TOUCH_SECRET)
                .bind(touch.client_id.as_str())
                .bind(touch.secret_id.as_str())
                .bind(to_db(touch.at, "last_used_at")?);
            execute::<D>(&mut tx, sql).await?;
        }
        commit(tx).await
    }
}
