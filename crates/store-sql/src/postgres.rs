//! [`PostgresStore`]: the store in a PostgreSQL database that several issuer
//! replicas share.
//!
//! Transactions run at PostgreSQL's default isolation, READ COMMITTED, and
//! serialize where an invariant needs it by locking a row `FOR UPDATE`:
//!
//! - adding a secret locks the client's row, then counts and inserts, so
//!   concurrent adders for one client take turns (adders for different
//!   clients do not wait for each other);
//! - saving the key ring locks the `key_ring` row of `store_locks`, then
//!   compares the stored kids and replaces them;
//! - appending to the revocation log locks the `revocation_log` row of
//!   `store_locks` before taking a sequence number. Without it, two appends
//!   could commit out of sequence order, and a reader that saw seq 11 before
//!   seq 10 committed would move its cursor past 10 and never see it. With
//!   it, appends commit in sequence order. Appends are rare (a revocation or
//!   a client deletion), so the lock costs nothing that matters.
//!
//! Every statement within a transaction after the lock sees what the
//! previous lock holder committed (READ COMMITTED takes a snapshot per
//! statement). Locks are always taken in the order client row, then log row,
//! so they cannot deadlock.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use m2m_core::{ClientId, UserId};
use m2m_issuer::store::{
    AddSecret, AuditEvent, AuthCodeRecord, ClientFilter, ClientRecord, ConsumeCode, GrantRecord,
    Page, RefreshTokenRecord, RevocationEntry, RotateRefresh, SecretRecord, Store, StoreError,
    StoreResult, StoredKey, TokenRevocation,
};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, Row, Transaction};

use crate::SqlStoreError;
use crate::rows::{
    self, Arg, AuditParams, Built, ClientParams, CodeParams, GrantParams, KeyParams, RefreshParams,
    SecretParams,
};

rows::impl_row_ext!(PgRow);

/// How long opening the first connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections in the pool of each replica.
const MAX_CONNECTIONS: u32 = 10;

/// The issuer's [`Store`] in a PostgreSQL database.
///
/// Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    target: Arc<str>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` and
    /// migrates the first schema of the search path (normally `public`).
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        Self::connect_inner(url, None).await
    }

    /// Like [`connect`](Self::connect), but keeps everything in `schema`,
    /// created if missing: several stores (or test runs) can share one
    /// database without seeing each other. `schema` is 1 to 63 of
    /// `a-z`, `0-9` and `_`, starting with a letter or `_`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, SqlStoreError> {
        Self::connect_inner(url, Some(schema)).await
    }

    async fn connect_inner(url: &str, schema: Option<&str>) -> Result<Self, SqlStoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| SqlStoreError::InvalidUrl(e.to_string()))?;
        let mut target = format!(
            "PostgreSQL at {}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        if let Some(schema) = schema {
            check_schema_name(schema)?;
            options = options.options([("search_path", schema)]);
            target = format!("{target} (schema {schema})");
        }
        // One connection first, without the pool's retries, so that an
        // unreachable server fails fast with its real reason.
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                SqlStoreError::connect(
                    &target,
                    format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })?
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        if let Some(schema) = schema {
            // The name was checked above: it needs no quoting beyond this.
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&mut conn)
                .await
                .map_err(|e| SqlStoreError::migrate(&target, e))?;
        }
        // Takes a database-wide advisory lock, so replicas starting together
        // migrate one after the other.
        let migrator = crate::migrate::migrator(crate::migrate::POSTGRES)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        migrator
            .run_direct(&mut conn)
            .await
            .map_err(|e| SqlStoreError::migrate(&target, e))?;
        // Best effort: the pool opens its own connections.
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| SqlStoreError::connect(&target, e))?;
        Ok(PostgresStore {
            pool,
            target: target.into(),
        })
    }

    /// Closes the connection pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(StoreError::backend)
    }
}

fn check_schema_name(schema: &str) -> Result<(), SqlStoreError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(SqlStoreError::InvalidUrl(format!(
            "schema name `{schema}`: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
        )))
    }
}

/// Locks one row of `store_locks` until the transaction ends.
async fn lock(tx: &mut PgConnection, name: &str) -> StoreResult<()> {
    sqlx::query("SELECT name FROM store_locks WHERE name = $1 FOR UPDATE")
        .bind(name)
        .fetch_one(tx)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bind_built(built: &Built) -> Query<'_> {
    let mut query = sqlx::query(&built.sql);
    for arg in &built.args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_str()),
            Arg::Int(int) => query.bind(*int),
        };
    }
    query
}

fn bind_client<'q>(sql: &'q str, p: &'q ClientParams<'q>) -> Query<'q> {
    sqlx::query(sql)
        .bind(p.client_id)
        .bind(p.name)
        .bind(p.kind)
        .bind(p.org_id)
        .bind(p.user_id)
        .bind(p.scopes.as_str())
        .bind(p.audiences.as_str())
        .bind(p.token_ttl)
        .bind(p.redirect_uris.as_str())
        .bind(p.metadata.as_str())
        .bind(p.enabled)
        .bind(p.created_at)
        .bind(p.updated_at)
}

fn bind_secret<'q>(p: &'q SecretParams<'q>) -> Query<'q> {
    sqlx::query(rows::INSERT_SECRET)
        .bind(p.client_id)
        .bind(p.secret_id)
        .bind(p.hash)
        .bind(p.created_at)
        .bind(p.expires_at)
        .bind(p.last_used_at)
}

fn bind_code<'q>(p: &'q CodeParams<'q>) -> Query<'q> {
    sqlx::query(rows::INSERT_CODE)
        .bind(p.code_hash)
        .bind(p.client_id)
        .bind(p.grant_id)
        .bind(p.redirect_uri)
        .bind(p.code_challenge)
        .bind(p.user_id)
        .bind(p.org_id)
        .bind(p.scopes.as_str())
        .bind(p.created_at)
        .bind(p.expires_at)
}

fn bind_grant<'q>(p: &'q GrantParams<'q>) -> Query<'q> {
    sqlx::query(rows::INSERT_GRANT)
        .bind(p.grant_id)
        .bind(p.client_id)
        .bind(p.user_id)
        .bind(p.org_id)
        .bind(p.scopes.as_str())
        .bind(p.created_at)
        .bind(p.revoked_at)
}

fn bind_refresh<'q>(p: &'q RefreshParams<'q>) -> Query<'q> {
    sqlx::query(rows::INSERT_REFRESH)
        .bind(p.token_hash)
        .bind(p.grant_id)
        .bind(p.client_id)
        .bind(p.scopes.as_str())
        .bind(p.access_jti)
        .bind(p.access_exp)
        .bind(p.created_at)
        .bind(p.expires_at)
        .bind(p.used_at)
}

fn bind_key<'q>(p: &'q KeyParams<'q>) -> Query<'q> {
    sqlx::query(rows::UPSERT_KEY)
        .bind(p.kid)
        .bind(p.alg)
        .bind(p.encrypted_private_key)
        .bind(p.public_jwk.as_str())
        .bind(p.created_at)
        .bind(p.signs_from)
        .bind(p.signs_until)
        .bind(p.published_until)
}

fn backend(error: sqlx::Error) -> StoreError {
    StoreError::backend(error)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_client(&self, client: &ClientRecord, secret: &SecretRecord) -> StoreResult<()> {
        let client_params = ClientParams::new(client)?;
        let secret_params = SecretParams::new(secret)?;
        let mut tx = self.begin().await?;
        bind_client(rows::INSERT_CLIENT, &client_params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || format!("client {}", client.client_id)))?;
        bind_secret(&secret_params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || format!("secret {}", secret.secret_id)))?;
        tx.commit().await.map_err(backend)
    }

    async fn get_client(&self, client_id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        let sql = rows::get_client_sql();
        let row = sqlx::query(&sql)
            .bind(client_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::client_from_row).transpose()
    }

    async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>> {
        let built = rows::list_clients_query(filter, after, rows::fetch_for(limit));
        let found = bind_built(&built)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let clients = found
            .iter()
            .map(rows::client_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(rows::page(clients, limit, |c| c.client_id.clone()))
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let params = ClientParams::new(client)?;
        let done = bind_client(rows::UPDATE_CLIENT, &params)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<bool> {
        let revoked_at = rows::to_db(revoked_at, "revoked_at")?;
        let mut tx = self.begin().await?;
        // The client's row first (as add_secret locks it first), then its
        // secrets (the foreign key cascades too; this does not depend on it).
        let deleted = sqlx::query(rows::DELETE_CLIENT)
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if deleted.rows_affected() == 0 {
            return Ok(false); // dropping `tx` rolls back
        }
        sqlx::query(rows::DELETE_SECRETS_OF)
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        lock(&mut tx, "revocation_log").await?;
        sqlx::query(rows::INSERT_CLIENT_REVOCATION)
            .bind(client_id.as_str())
            .bind(revoked_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn revoke_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<()> {
        let revoked_at = rows::to_db(revoked_at, "revoked_at")?;
        let mut tx = self.begin().await?;
        lock(&mut tx, "revocation_log").await?;
        sqlx::query(rows::INSERT_CLIENT_REVOCATION)
            .bind(client_id.as_str())
            .bind(revoked_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn list_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<SecretRecord>> {
        let found = sqlx::query(rows::LIST_SECRETS)
            .bind(client_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        found.iter().map(rows::secret_from_row).collect()
    }

    async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret> {
        let params = SecretParams::new(secret)?;
        let now = rows::clamp_i64(now);
        // Locking the client's row makes count-then-insert atomic among adders.
        let mut tx = self.begin().await?;
        let exists = sqlx::query(&format!("{} FOR UPDATE", rows::CLIENT_EXISTS))
            .bind(params.client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Ok(AddSecret::NoSuchClient);
        }
        let live: i64 = sqlx::query(rows::COUNT_LIVE_SECRETS)
            .bind(params.client_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= max_live {
            return Ok(AddSecret::LimitReached);
        }
        bind_secret(&params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || format!("secret {}", secret.secret_id)))?;
        tx.commit().await.map_err(backend)?;
        Ok(AddSecret::Added)
    }

    async fn delete_secret(&self, client_id: &ClientId, secret_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(rows::DELETE_SECRET)
            .bind(client_id.as_str())
            .bind(secret_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: u64,
    ) -> StoreResult<()> {
        let at = rows::to_db(at, "last_used_at")?;
        sqlx::query(rows::TOUCH_SECRET)
            .bind(client_id.as_str())
            .bind(secret_id)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let found = sqlx::query(rows::LIST_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        found.iter().map(rows::key_from_row).collect()
    }

    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
    ) -> StoreResult<bool> {
        let params = keys
            .iter()
            .map(KeyParams::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.begin().await?;
        lock(&mut tx, "key_ring").await?;
        let stored: Vec<String> = sqlx::query_scalar(rows::LIST_KIDS)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        if !rows::same_kids(stored.clone(), expected_kids) {
            return Ok(false);
        }
        for kid in stored
            .iter()
            .filter(|kid| !keys.iter().any(|k| &k.kid == *kid))
        {
            sqlx::query(rows::DELETE_KEY)
                .bind(kid.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for key in &params {
            bind_key(key).execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn revoke_token(&self, revocation: &TokenRevocation) -> StoreResult<()> {
        let exp = rows::to_db(revocation.exp, "exp")?;
        let revoked_at = rows::to_db(revocation.revoked_at, "revoked_at")?;
        // A second revocation of the jti inserts nothing (unique jti).
        let mut tx = self.begin().await?;
        lock(&mut tx, "revocation_log").await?;
        sqlx::query(rows::INSERT_TOKEN_REVOCATION)
            .bind(revocation.jti.as_str())
            .bind(revocation.client_id.as_str())
            .bind(exp)
            .bind(revoked_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let found = sqlx::query(rows::IS_TOKEN_REVOKED)
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn revocations_since(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<(Vec<RevocationEntry>, Option<u64>)> {
        let found = sqlx::query(rows::REVOCATIONS_SINCE)
            .bind(rows::clamp_i64(after.unwrap_or(0)))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows::revocation_page(&found, after)
    }

    async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        let done = sqlx::query(rows::PURGE_REVOCATIONS)
            .bind(rows::clamp_i64(before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        let params = CodeParams::new(code)?;
        bind_code(&params)
            .execute(&self.pool)
            .await
            .map_err(|e| rows::insert_error(e, || "authorization code".to_owned()))?;
        Ok(())
    }

    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode> {
        let now = rows::to_db(now, "used_at")?;
        // The conditional UPDATE alone decides who consumes the code: of
        // concurrent ones, exactly one finds `used_at IS NULL`.
        let consumed = sqlx::query(&rows::consume_code_sql())
            .bind(code_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if let Some(row) = consumed {
            return Ok(ConsumeCode::Consumed(rows::code_from_row(&row)?));
        }
        let stored = sqlx::query(&rows::get_code_sql())
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(match stored {
            Some(row) => ConsumeCode::AlreadyUsed(rows::code_from_row(&row)?),
            None => ConsumeCode::NotFound,
        })
    }

    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64> {
        let done = sqlx::query(rows::PURGE_CODES)
            .bind(rows::clamp_i64(before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()> {
        let grant_params = GrantParams::new(grant)?;
        let refresh_params = RefreshParams::new(refresh)?;
        let mut tx = self.begin().await?;
        bind_grant(&grant_params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || format!("grant {}", grant.grant_id)))?;
        bind_refresh(&refresh_params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || "refresh token".to_owned()))?;
        tx.commit().await.map_err(backend)
    }

    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(&rows::get_grant_sql())
            .bind(grant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::grant_from_row).transpose()
    }

    async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>> {
        let found = sqlx::query(&rows::list_grants_sql())
            .bind(client_id.as_str())
            .bind(user_id.map(UserId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        found.iter().map(rows::grant_from_row).collect()
    }

    async fn get_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query(&rows::get_refresh_sql())
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::refresh_from_row).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh> {
        let params = RefreshParams::new(new)?;
        let used_at = rows::to_db(now, "used_at")?;
        let mut tx = self.begin().await?;
        let Some(row) = sqlx::query(&rows::get_refresh_sql())
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
        else {
            return Ok(RotateRefresh::NotFound);
        };
        let old = rows::refresh_from_row(&row)?;
        if old.grant_id != new.grant_id {
            return Err(StoreError::Conflict(
                "a rotated refresh token must stay in its grant".to_owned(),
            ));
        }
        // The grant's row, locked against a concurrent revoke_grant, which
        // must see every access token of the family.
        let grant = sqlx::query("SELECT revoked_at FROM grants WHERE grant_id = $1 FOR UPDATE")
            .bind(old.grant_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let revoked = match &grant {
            None => true,
            Some(row) => row.try_get::<Option<i64>, _>(0).map_err(backend)?.is_some(),
        };
        if revoked {
            return Ok(RotateRefresh::GrantRevoked);
        }
        // Of concurrent rotations, exactly one finds `used_at IS NULL`.
        let marked = sqlx::query(rows::USE_REFRESH)
            .bind(old_hash)
            .bind(used_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if marked.rows_affected() == 0 {
            return Ok(RotateRefresh::Reused(old));
        }
        bind_refresh(&params)
            .execute(&mut *tx)
            .await
            .map_err(|e| rows::insert_error(e, || "refresh token".to_owned()))?;
        tx.commit().await.map_err(backend)?;
        Ok(RotateRefresh::Rotated(old))
    }

    async fn revoke_grant(
        &self,
        client_id: &ClientId,
        grant_id: &str,
        now: u64,
    ) -> StoreResult<Option<Vec<TokenRevocation>>> {
        let now = rows::to_db(now, "revoked_at")?;
        let mut tx = self.begin().await?;
        let found = sqlx::query(rows::REVOKE_GRANT)
            .bind(client_id.as_str())
            .bind(grant_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if found.is_none() {
            return Ok(None);
        }
        lock(&mut tx, "revocation_log").await?;
        sqlx::query(rows::REVOKE_GRANT_TOKENS)
            .bind(grant_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let family = sqlx::query(rows::GRANT_ACCESS_TOKENS)
            .bind(grant_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let revoked = family
            .iter()
            .map(|row| rows::family_revocation_from_row(row, now))
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(revoked))
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let params = AuditParams::all(events)?;
        let mut tx = self.begin().await?;
        for event in &params {
            sqlx::query(rows::INSERT_AUDIT)
                .bind(event.at)
                .bind(event.kind)
                .bind(event.client_id)
                .bind(event.actor)
                .bind(event.detail.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_audit(
        &self,
        client_id: Option<&ClientId>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEvent, u64>> {
        let built = rows::list_audit_query(client_id, before, rows::fetch_for(limit));
        let found = bind_built(&built)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let events = found
            .iter()
            .map(rows::audit_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(rows::page(events, limit, |e| e.seq))
    }
}
