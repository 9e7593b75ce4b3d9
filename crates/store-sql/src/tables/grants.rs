//! `auth_codes`, `grants` and `refresh_tokens`: user-level clients.
//!
//! - A code is consumed once: one conditional `UPDATE ... WHERE used_at IS
//!   NULL RETURNING`; of concurrent ones exactly one finds it unused.
//! - A refresh token is rotated once: in a write transaction that reads the
//!   grant's row with [`FOR_UPDATE`](crate::dialect::Dialect::FOR_UPDATE)
//!   (so a concurrent `revoke_grant` sees the new token, or the rotation
//!   sees the grant revoked), one conditional `UPDATE ... WHERE used_at IS
//!   NULL` decides the winner.
//! - `revoke_grant` writes the grant's row first (locking it), then reads the
//!   family (on PostgreSQL a new statement sees every rotation committed
//!   while it waited for the lock) and appends its live access tokens.
//! - A grant revoked before it exists (`create_revoked`) is one
//!   `INSERT ... ON CONFLICT (grant_id) DO UPDATE` statement: on PostgreSQL
//!   READ COMMITTED it either inserts the revoked grant, so that a
//!   concurrent `create_grant` waits for it and then fails on the primary
//!   key, or waits for a concurrent `create_grant` to commit and revokes
//!   what it created (whose refresh token the next statement sees). On
//!   SQLite the two simply take turns.

use m2m_core::{ClientId, OrgId, RevokedToken, UserId};
use m2m_issuer::store::{
    AuthCodeRecord, ConsumeCode, GrantRecord, GrantRevocation, RefreshTokenRecord, RotateRefresh,
    StoreError, StoreResult,
};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_optional, insert};
use crate::dialect::{Dialect, Sql};
use crate::rows::{
    RowExt, clamp_i64, from_db, json_text, opt_from_db, opt_to_db, parse_json, scopes_from, to_db,
};
use crate::tables::revocations;

const CODE_COLUMNS: &str = "code_hash, client_id, grant_id, redirect_uri, code_challenge, \
    user_id, org_id, scopes, created_at, expires_at, resources";

const INSERT_CODE: &str = "INSERT INTO auth_codes (code_hash, client_id, grant_id, \
    redirect_uri, code_challenge, user_id, org_id, scopes, created_at, expires_at, resources) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const PURGE_CODES: &str = "DELETE FROM auth_codes WHERE expires_at < $1";

const GRANT_COLUMNS: &str =
    "grant_id, client_id, user_id, org_id, scopes, created_at, revoked_at, resources";

const INSERT_GRANT: &str = "INSERT INTO grants (grant_id, client_id, user_id, org_id, scopes, \
    created_at, revoked_at, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Revokes a grant of client `$1` (keeping the first revocation time);
/// returns a row when the client has it.
const REVOKE_GRANT: &str = "UPDATE grants SET revoked_at = COALESCE(revoked_at, $3) \
    WHERE client_id = $1 AND grant_id = $2 RETURNING grant_id";

/// [`INSERT_GRANT`] of a revoked grant, or, if the id exists, the revocation
/// of that grant when it is client `$9`'s; returns a row unless the id is
/// another client's.
const REVOKE_OR_CREATE_GRANT: &str = "INSERT INTO grants (grant_id, client_id, user_id, org_id, \
    scopes, created_at, revoked_at, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (grant_id) DO UPDATE SET revoked_at = COALESCE(grants.revoked_at, excluded.revoked_at) \
    WHERE grants.client_id = $9 RETURNING grant_id";

const GRANT_REVOKED_AT: &str = "SELECT revoked_at FROM grants WHERE grant_id = $1";

/// The family's access tokens with `exp >= $2`, in issue order.
const FAMILY_ACCESS_TOKENS: &str = "SELECT access_jti, client_id, access_exp \
    FROM refresh_tokens WHERE grant_id = $1 AND access_exp >= $2 ORDER BY created_at, access_jti";

const REFRESH_COLUMNS: &str = "token_hash, grant_id, client_id, scopes, access_jti, access_exp, \
    created_at, expires_at, used_at, dpop_jkt";

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, \
    scopes, access_jti, access_exp, created_at, expires_at, used_at, dpop_jkt) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Marks a refresh token used unless it was: decides, atomically, which of
/// concurrent rotations wins.
const USE_REFRESH: &str =
    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";

/// An authorization code's columns, converted before anything is written.
struct CodeParams<'a> {
    code: &'a AuthCodeRecord,
    scopes: String,
    resources: String,
    created_at: i64,
    expires_at: i64,
}

impl<'a> CodeParams<'a> {
    fn new(code: &'a AuthCodeRecord) -> StoreResult<Self> {
        Ok(CodeParams {
            code,
            scopes: code.scopes.to_string(),
            resources: json_text(&code.resources, "code resources")?,
            created_at: to_db(code.created_at, "code created_at")?,
            expires_at: to_db(code.expires_at, "code expires_at")?,
        })
    }

    fn insert(&'a self) -> Sql<'a> {
        let c = self.code;
        Sql::new(INSERT_CODE)
            .bind(c.code_hash.as_slice())
            .bind(c.client_id.as_str())
            .bind(c.grant_id.as_str())
            .bind(c.redirect_uri.as_str())
            .bind(c.code_challenge.as_str())
            .bind(c.user_id.as_str())
            .bind(c.org_id.as_str())
            .bind(&self.scopes)
            .bind(self.created_at)
            .bind(self.expires_at)
            .bind(&self.resources)
    }
}

fn code_from_row(row: &impl RowExt) -> StoreResult<AuthCodeRecord> {
    let grant_id = row.text("grant_id")?;
    let what = |column: &str| format!("auth_codes.{column} of grant {grant_id}");
    Ok(AuthCodeRecord {
        code_hash: row.blob("code_hash")?,
        client_id: ClientId::new(row.text("client_id")?),
        redirect_uri: row.text("redirect_uri")?,
        code_challenge: row.text("code_challenge")?,
        user_id: UserId::new(row.text("user_id")?),
        org_id: OrgId::new(row.text("org_id")?),
        scopes: scopes_from(&row.text("scopes")?, &what("scopes"))?,
        resources: parse_json(&row.text("resources")?, &what("resources"))?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        expires_at: from_db(row.int("expires_at")?, &what("expires_at"))?,
        grant_id,
    })
}

/// A grant's columns, converted before anything is written.
struct GrantParams<'a> {
    grant: &'a GrantRecord,
    scopes: String,
    resources: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl<'a> GrantParams<'a> {
    fn new(grant: &'a GrantRecord) -> StoreResult<Self> {
        Ok(GrantParams {
            grant,
            scopes: grant.scopes.to_string(),
            resources: json_text(&grant.resources, "grant resources")?,
            created_at: to_db(grant.created_at, "grant created_at")?,
            revoked_at: opt_to_db(grant.revoked_at, "grant revoked_at")?,
        })
    }

    /// `sql` with the grant's columns bound as `$1`..`$8`.
    fn bind(&'a self, sql: &'static str) -> Sql<'a> {
        let g = self.grant;
        Sql::new(sql)
            .bind(g.grant_id.as_str())
            .bind(g.client_id.as_str())
            .bind(g.user_id.as_str())
            .bind(g.org_id.as_str())
            .bind(&self.scopes)
            .bind(self.created_at)
            .bind(self.revoked_at)
            .bind(&self.resources)
    }
}

fn grant_from_row(row: &impl RowExt) -> StoreResult<GrantRecord> {
    let grant_id = row.text("grant_id")?;
    let what = |column: &str| format!("grants.{column} of {grant_id}");
    Ok(GrantRecord {
        client_id: ClientId::new(row.text("client_id")?),
        user_id: UserId::new(row.text("user_id")?),
        org_id: OrgId::new(row.text("org_id")?),
        scopes: scopes_from(&row.text("scopes")?, &what("scopes"))?,
        resources: parse_json(&row.text("resources")?, &what("resources"))?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        revoked_at: opt_from_db(row.opt_int("revoked_at")?, &what("revoked_at"))?,
        grant_id,
    })
}

/// A refresh token's columns, converted before anything is written.
struct RefreshParams<'a> {
    token: &'a RefreshTokenRecord,
    scopes: String,
    access_exp: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl<'a> RefreshParams<'a> {
    fn new(token: &'a RefreshTokenRecord) -> StoreResult<Self> {
        Ok(RefreshParams {
            token,
            scopes: token.scopes.to_string(),
            access_exp: to_db(token.access_exp, "refresh access_exp")?,
            created_at: to_db(token.created_at, "refresh created_at")?,
            expires_at: to_db(token.expires_at, "refresh expires_at")?,
            used_at: opt_to_db(token.used_at, "refresh used_at")?,
        })
    }

    fn insert(&'a self) -> Sql<'a> {
        let t = self.token;
        Sql::new(INSERT_REFRESH)
            .bind(t.token_hash.as_slice())
            .bind(t.grant_id.as_str())
            .bind(t.client_id.as_str())
            .bind(&self.scopes)
            .bind(t.access_jti.as_str())
            .bind(self.access_exp)
            .bind(self.created_at)
            .bind(self.expires_at)
            .bind(self.used_at)
            .bind(t.dpop_jkt.as_deref())
    }
}

fn refresh_from_row(row: &impl RowExt) -> StoreResult<RefreshTokenRecord> {
    let grant_id = row.text("grant_id")?;
    let what = |column: &str| format!("refresh_tokens.{column} of grant {grant_id}");
    Ok(RefreshTokenRecord {
        token_hash: row.blob("token_hash")?,
        client_id: ClientId::new(row.text("client_id")?),
        scopes: scopes_from(&row.text("scopes")?, &what("scopes"))?,
        access_jti: row.text("access_jti")?,
        access_exp: from_db(row.int("access_exp")?, &what("access_exp"))?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        expires_at: from_db(row.int("expires_at")?, &what("expires_at"))?,
        used_at: opt_from_db(row.opt_int("used_at")?, &what("used_at"))?,
        dpop_jkt: row.opt_text("dpop_jkt")?,
        grant_id,
    })
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        let params = CodeParams::new(code)?;
        let mut conn = self.conn().await?;
        insert::<D>(&mut conn, params.insert(), || {
            "authorization code".to_owned()
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn consume_auth_code(
        &self,
        code_hash: &[u8],
        now: u64,
    ) -> StoreResult<ConsumeCode> {
        let consume = Sql::new(format!(
            "UPDATE auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
             RETURNING {CODE_COLUMNS}"
        ))
        .bind(code_hash)
        .bind(to_db(now, "used_at")?);
        let mut conn = self.conn().await?;
        // The conditional UPDATE alone decides who consumes the code.
        if let Some(row) = fetch_optional::<D>(&mut conn, consume).await? {
            return Ok(ConsumeCode::Consumed(code_from_row(&row)?));
        }
        let get = Sql::new(format!(
            "SELECT {CODE_COLUMNS} FROM auth_codes WHERE code_hash = $1"
        ))
        .bind(code_hash);
        Ok(match fetch_optional::<D>(&mut conn, get).await? {
            Some(row) => ConsumeCode::AlreadyUsed(code_from_row(&row)?),
            None => ConsumeCode::NotFound,
        })
    }

    pub(crate) async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        execute::<D>(&mut conn, Sql::new(PURGE_CODES).bind(clamp_i64(before))).await
    }

    pub(crate) async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()> {
        let grant_params = GrantParams::new(grant)?;
        let refresh_params = RefreshParams::new(refresh)?;
        let mut tx = self.write().await?;
        // A plain INSERT: it conflicts with any grant of that id, a revoked
        // one (a tombstone) included, waiting for one being inserted.
        insert::<D>(&mut tx, grant_params.bind(INSERT_GRANT), || {
            format!("grant {}", grant.grant_id)
        })
        .await?;
        insert::<D>(&mut tx, refresh_params.insert(), || {
            "refresh token".to_owned()
        })
        .await?;
        commit(tx).await
    }

    pub(crate) async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        let sql = Sql::new(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1"
        ))
        .bind(grant_id);
        let mut conn = self.conn().await?;
        let row = fetch_optional::<D>(&mut conn, sql).await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    pub(crate) async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>> {
        let sql = Sql::new(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE client_id = $1 \
             AND ($2 IS NULL OR user_id = $2) ORDER BY created_at, grant_id"
        ))
        .bind(client_id.as_str())
        .bind(user_id.map(UserId::as_str));
        let mut conn = self.conn().await?;
        fetch_all::<D>(&mut conn, sql)
            .await?
            .iter()
            .map(grant_from_row)
            .collect()
    }

    pub(crate) async fn get_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let mut conn = self.conn().await?;
        let row = fetch_optional::<D>(&mut conn, get_refresh(token_hash)).await?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    pub(crate) async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh> {
        let params = RefreshParams::new(new)?;
        let used_at = to_db(now, "used_at")?;
        let mut tx = self.write().await?;
        let Some(row) = fetch_optional::<D>(&mut tx, get_refresh(old_hash)).await? else {
            return Ok(RotateRefresh::NotFound);
        };
        let old = refresh_from_row(&row)?;
        if old.grant_id != new.grant_id {
            return Err(StoreError::Conflict(
                "a rotated refresh token must stay in its grant".to_owned(),
            ));
        }
        // The grant's row, locked against a concurrent revoke_grant, which
        // must see every access token of the family.
        let grant =
            Sql::new(format!("{GRANT_REVOKED_AT}{}", D::FOR_UPDATE)).bind(old.grant_id.as_str());
        let revoked = match fetch_optional::<D>(&mut tx, grant).await? {
            None => true,
            Some(row) => row.opt_int("revoked_at")?.is_some(),
        };
        if revoked {
            return Ok(RotateRefresh::GrantRevoked);
        }
        // Of concurrent rotations, exactly one finds `used_at IS NULL`.
        let mark = Sql::new(USE_REFRESH).bind(old_hash).bind(used_at);
        if execute::<D>(&mut tx, mark).await? == 0 {
            // Read again: the winner's `used_at`, not the snapshot from before.
            let reused = fetch_optional::<D>(&mut tx, get_refresh(old_hash))
                .await?
                .as_ref()
                .map(refresh_from_row)
                .transpose()?
                .unwrap_or(old);
            return Ok(RotateRefresh::Reused(reused));
        }
        insert::<D>(&mut tx, params.insert(), || "refresh token".to_owned()).await?;
        commit(tx).await?;
        Ok(RotateRefresh::Rotated(old))
    }

    pub(crate) async fn revoke_grant(
        &self,
        revocation: &GrantRevocation<'_>,
    ) -> StoreResult<Option<Vec<RevokedToken>>> {
        let at = to_db(revocation.at, "revoked_at")?;
        let client_id = revocation.client_id.as_str();
        let tombstone = revocation
            .create_revoked
            .filter(|record| record.grant_id == revocation.grant_id)
            .map(|record| GrantRecord {
                revoked_at: Some(revocation.at),
                ..record.clone()
            });
        let tombstone_params = tombstone.as_ref().map(GrantParams::new).transpose()?;
        let mut tx = self.write().await?;
        // The grant's row first: writing it locks it.
        let grant = match &tombstone_params {
            None => Sql::new(REVOKE_GRANT)
                .bind(client_id)
                .bind(revocation.grant_id)
                .bind(at),
            Some(params) => params.bind(REVOKE_OR_CREATE_GRANT).bind(client_id),
        };
        if fetch_optional::<D>(&mut tx, grant).await?.is_none() {
            return Ok(None);
        }
        let family = Sql::new(FAMILY_ACCESS_TOKENS)
            .bind(revocation.grant_id)
            .bind(clamp_i64(revocation.live_after));
        let rows = fetch_all::<D>(&mut tx, family).await?;
        let mut revoked = Vec::with_capacity(rows.len());
        if !rows.is_empty() {
            let mut log = revocations::lock::<D>(&mut tx).await?;
            for row in &rows {
                let jti = row.text("access_jti")?;
                let token = RevokedToken {
                    exp: from_db(row.int("access_exp")?, &format!("access_exp of {jti}"))?,
                    jti,
                };
                let owner = ClientId::new(row.text("client_id")?);
                log.append_token::<D>(&mut tx, &token, &owner, revocation.at)
                    .await?;
                revoked.push(token);
            }
        }
        commit(tx).await?;
        Ok(Some(revoked))
    }
}

fn get_refresh(token_hash: &[u8]) -> Sql<'_> {
    Sql::new(format!(
        "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
    ))
    .bind(token_hash)
}
