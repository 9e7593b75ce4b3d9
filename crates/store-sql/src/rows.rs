//! What both dialects share: the SQL text (SQLite accepts PostgreSQL's `$n`
//! placeholders), and the conversions between records and columns.
//!
//! Times are `u64` in records and signed 64-bit integers in the database. A
//! value that does not fit, or a stored value that does not parse back, is a
//! [`StoreError::Corrupt`], never a panic.

use m2m_core::{
    Algorithm, ClientId, ClientKind, KeySchedule, OrgId, PublicJwk, ScopeSet, SecretHash, TokenTtl,
    UserId,
};
use m2m_issuer::store::{
    AuditEvent, AuthCodeRecord, ClientFilter, ClientRecord, GrantRecord, RefreshTokenRecord,
    RevocationEntry, SecretRecord, StoreError, StoreResult, StoredKey, TokenRevocation,
};

pub(crate) const CLIENT_COLUMNS: &str = "client_id, name, kind, org_id, user_id, scopes, \
    audiences, token_ttl, redirect_uris, metadata, enabled, created_at, updated_at";

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, name, kind, org_id, \
    user_id, scopes, audiences, token_ttl, redirect_uris, metadata, enabled, created_at, \
    updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

pub(crate) const UPDATE_CLIENT: &str = "UPDATE clients SET name = $2, kind = $3, org_id = $4, \
    user_id = $5, scopes = $6, audiences = $7, token_ttl = $8, redirect_uris = $9, \
    metadata = $10, enabled = $11, created_at = $12, updated_at = $13 WHERE client_id = $1";

pub(crate) const DELETE_SECRETS_OF: &str = "DELETE FROM secrets WHERE client_id = $1";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";

pub(crate) const INSERT_SECRET: &str = "INSERT INTO secrets (client_id, secret_id, hash, \
    created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) const LIST_SECRETS: &str = "SELECT client_id, secret_id, hash, created_at, \
    expires_at, last_used_at FROM secrets WHERE client_id = $1 ORDER BY created_at, id";

pub(crate) const COUNT_LIVE_SECRETS: &str = "SELECT COUNT(*) FROM secrets \
    WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)";

pub(crate) const DELETE_SECRET: &str =
    "DELETE FROM secrets WHERE client_id = $1 AND secret_id = $2";

pub(crate) const TOUCH_SECRET: &str =
    "UPDATE secrets SET last_used_at = $3 WHERE client_id = $1 AND secret_id = $2";

pub(crate) const LIST_KEYS: &str = "SELECT kid, alg, encrypted_private_key, public_jwk, \
    created_at, signs_from, signs_until, published_until FROM signing_keys ORDER BY created_at, kid";

pub(crate) const LIST_KIDS: &str = "SELECT kid FROM signing_keys";
pub(crate) const DELETE_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";

pub(crate) const UPSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, encrypted_private_key, \
    public_jwk, created_at, signs_from, signs_until, published_until) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, \
    encrypted_private_key = excluded.encrypted_private_key, public_jwk = excluded.public_jwk, \
    created_at = excluded.created_at, signs_from = excluded.signs_from, \
    signs_until = excluded.signs_until, published_until = excluded.published_until";

/// Appends a token revocation unless its jti is there already.
pub(crate) const INSERT_TOKEN_REVOCATION: &str = "INSERT INTO revocation_log \
    (kind, jti, client_id, exp, revoked_at) VALUES ('token', $1, $2, $3, $4) \
    ON CONFLICT (jti) DO NOTHING";

pub(crate) const INSERT_CLIENT_REVOCATION: &str = "INSERT INTO revocation_log \
    (kind, client_id, revoked_at) VALUES ('client', $1, $2)";

pub(crate) const IS_TOKEN_REVOKED: &str = "SELECT 1 FROM revocation_log WHERE jti = $1";

pub(crate) const REVOCATIONS_SINCE: &str = "SELECT seq, kind, jti, client_id, exp, revoked_at \
    FROM revocation_log WHERE seq > $1 ORDER BY seq LIMIT $2";

pub(crate) const PURGE_REVOCATIONS: &str =
    "DELETE FROM revocation_log WHERE kind = 'token' AND exp < $1";

pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO audit_events (at, kind, client_id, actor, detail) VALUES ($1, $2, $3, $4, $5)";

/// A bind parameter of a query built at run time.
#[derive(Debug)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// A query built at run time, with its parameters in `$n` order.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
}

impl Built {
    fn new(sql: String) -> Self {
        Built {
            sql,
            args: Vec::new(),
        }
    }

    /// Adds `AND <column> <op> $n`.
    fn and(&mut self, column: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        self.sql += &format!(" AND {column} {op} ${}", self.args.len());
    }

    /// Ends with `ORDER BY ... LIMIT $n`.
    fn order_limit(&mut self, order: &str, limit: i64) {
        self.args.push(Arg::Int(limit));
        self.sql += &format!(" ORDER BY {order} LIMIT ${}", self.args.len());
    }
}

/// Clients matching `filter`, after `after`, in id order; `fetch` rows.
pub(crate) fn list_clients_query(
    filter: &ClientFilter,
    after: Option<&ClientId>,
    fetch: i64,
) -> Built {
    let mut query = Built::new(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE TRUE"));
    if let Some(org_id) = &filter.org_id {
        query.and("org_id", "=", Arg::Text(org_id.as_str().to_owned()));
    }
    if let Some(kind) = filter.kind {
        query.and("kind", "=", Arg::Text(kind.as_str().to_owned()));
    }
    if let Some(after) = after {
        query.and("client_id", ">", Arg::Text(after.as_str().to_owned()));
    }
    query.order_limit("client_id", fetch);
    query
}

/// Audit events, newest first, optionally of one client, before `before`.
pub(crate) fn list_audit_query(
    client_id: Option<&ClientId>,
    before: Option<u64>,
    fetch: i64,
) -> Built {
    let mut query = Built::new(
        "SELECT seq, at, kind, client_id, actor, detail FROM audit_events WHERE TRUE".to_owned(),
    );
    if let Some(client_id) = client_id {
        query.and("client_id", "=", Arg::Text(client_id.as_str().to_owned()));
    }
    if let Some(before) = before {
        query.and("seq", "<", Arg::Int(clamp_i64(before)));
    }
    query.order_limit("seq DESC", fetch);
    query
}

/// The `SELECT` of one client.
pub(crate) fn get_client_sql() -> String {
    format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1")
}

// ---- numbers ----

/// A time or count to store; one beyond `i64::MAX` cannot be.
pub(crate) fn to_db(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} = {value} does not fit a signed 64-bit database column"
        ))
    })
}

pub(crate) fn opt_to_db(value: Option<u64>, what: &str) -> StoreResult<Option<i64>> {
    value.map(|v| to_db(v, what)).transpose()
}

/// A bound in a query (not a stored value): saturates instead of failing.
pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// How many rows to fetch for a page of `limit`: one more, to know whether
/// another page follows.
pub(crate) fn fetch_for(limit: usize) -> i64 {
    i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1)
}

/// Splits `fetched` rows into a page of at most `limit` and its cursor.
pub(crate) fn page<T, C>(
    mut items: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> C,
) -> m2m_issuer::store::Page<T, C> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    m2m_issuer::store::Page { items, next }
}

fn from_db(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

fn opt_from_db(value: Option<i64>, what: &str) -> StoreResult<Option<u64>> {
    value.map(|v| from_db(v, what)).transpose()
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} cannot be written as JSON: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

// ---- rows ----

/// Typed column access, the same for both dialects' rows. A value of the
/// wrong type (or an unexpected NULL) is [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;
    fn blob(&self, column: &str) -> StoreResult<Vec<u8>>;
}

/// Implements [`RowExt`] for a driver's row type.
macro_rules! impl_row_ext {
    ($row:ty) => {
        impl $crate::rows::RowExt for $row {
            fn text(&self, column: &str) -> m2m_issuer::store::StoreResult<String> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
            fn opt_text(&self, column: &str) -> m2m_issuer::store::StoreResult<Option<String>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
            fn int(&self, column: &str) -> m2m_issuer::store::StoreResult<i64> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
            fn opt_int(&self, column: &str) -> m2m_issuer::store::StoreResult<Option<i64>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
            fn flag(&self, column: &str) -> m2m_issuer::store::StoreResult<bool> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
            fn blob(&self, column: &str) -> m2m_issuer::store::StoreResult<Vec<u8>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::rows::bad_column(column, e))
            }
        }
    };
}
pub(crate) use impl_row_ext;

pub(crate) fn bad_column(column: &str, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(format!("column {column}: {error}"))
        }
        other => StoreError::backend(other),
    }
}

/// A client's columns, ready to bind in [`INSERT_CLIENT`] / [`UPDATE_CLIENT`] order.
#[derive(Debug)]
pub(crate) struct ClientParams<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) org_id: Option<&'a str>,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) scopes: String,
    pub(crate) audiences: String,
    pub(crate) token_ttl: i64,
    pub(crate) redirect_uris: String,
    pub(crate) metadata: String,
    pub(crate) enabled: bool,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl<'a> ClientParams<'a> {
    pub(crate) fn new(client: &'a ClientRecord) -> StoreResult<Self> {
        Ok(ClientParams {
            client_id: client.client_id.as_str(),
            name: &client.name,
            kind: client.kind.as_str(),
            org_id: client.org_id.as_ref().map(OrgId::as_str),
            user_id: client.user_id.as_ref().map(UserId::as_str),
            scopes: client.scopes.to_string(),
            audiences: json_text(&client.audiences, "audiences")?,
            token_ttl: to_db(client.token_ttl.seconds(), "token_ttl")?,
            redirect_uris: json_text(&client.redirect_uris, "redirect_uris")?,
            metadata: json_text(&client.metadata, "metadata")?,
            enabled: client.enabled,
            created_at: to_db(client.created_at, "created_at")?,
            updated_at: to_db(client.updated_at, "updated_at")?,
        })
    }
}

pub(crate) fn client_from_row(row: &impl RowExt) -> StoreResult<ClientRecord> {
    let client_id = row.text("client_id")?;
    let what = |column: &str| format!("clients.{column} of {client_id}");
    let kind = row.text("kind")?;
    let kind: ClientKind = kind
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{}: unknown kind `{kind}`", what("kind"))))?;
    let scopes = ScopeSet::parse(&row.text("scopes")?)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what("scopes"))))?;
    let ttl = from_db(row.int("token_ttl")?, &what("token_ttl"))?;
    let token_ttl = TokenTtl::new(ttl)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what("token_ttl"))))?;
    Ok(ClientRecord {
        name: row.text("name")?,
        kind,
        org_id: row.opt_text("org_id")?.map(OrgId::new),
        user_id: row.opt_text("user_id")?.map(UserId::new),
        scopes,
        audiences: parse_json(&row.text("audiences")?, &what("audiences"))?,
        token_ttl,
        redirect_uris: parse_json(&row.text("redirect_uris")?, &what("redirect_uris"))?,
        metadata: parse_json(&row.text("metadata")?, &what("metadata"))?,
        enabled: row.flag("enabled")?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        updated_at: from_db(row.int("updated_at")?, &what("updated_at"))?,
        client_id: ClientId::new(client_id),
    })
}

/// A secret's columns, in [`INSERT_SECRET`] order.
#[derive(Debug)]
pub(crate) struct SecretParams<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) secret_id: &'a str,
    pub(crate) hash: &'a [u8],
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
}

impl<'a> SecretParams<'a> {
    pub(crate) fn new(secret: &'a SecretRecord) -> StoreResult<Self> {
        Ok(SecretParams {
            client_id: secret.client_id.as_str(),
            secret_id: &secret.secret_id,
            hash: secret.hash.as_bytes(),
            created_at: to_db(secret.created_at, "secret created_at")?,
            expires_at: opt_to_db(secret.expires_at, "secret expires_at")?,
            last_used_at: opt_to_db(secret.last_used_at, "secret last_used_at")?,
        })
    }
}

pub(crate) fn secret_from_row(row: &impl RowExt) -> StoreResult<SecretRecord> {
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

/// A key's columns, in [`UPSERT_KEY`] order.
#[derive(Debug)]
pub(crate) struct KeyParams<'a> {
    pub(crate) kid: &'a str,
    pub(crate) alg: &'static str,
    pub(crate) encrypted_private_key: &'a [u8],
    pub(crate) public_jwk: String,
    pub(crate) created_at: i64,
    pub(crate) signs_from: i64,
    pub(crate) signs_until: Option<i64>,
    pub(crate) published_until: Option<i64>,
}

impl<'a> KeyParams<'a> {
    pub(crate) fn new(key: &'a StoredKey) -> StoreResult<Self> {
        let schedule = &key.schedule;
        Ok(KeyParams {
            kid: &key.kid,
            alg: key.alg.as_str(),
            encrypted_private_key: &key.encrypted_private_key,
            public_jwk: json_text(&key.public_jwk, "public_jwk")?,
            created_at: to_db(schedule.created_at, "key created_at")?,
            signs_from: to_db(schedule.signs_from, "key signs_from")?,
            signs_until: opt_to_db(schedule.signs_until, "key signs_until")?,
            published_until: opt_to_db(schedule.published_until, "key published_until")?,
        })
    }
}

pub(crate) fn key_from_row(row: &impl RowExt) -> StoreResult<StoredKey> {
    let kid = row.text("kid")?;
    let what = |column: &str| format!("signing_keys.{column} of {kid}");
    let alg = row.text("alg")?;
    let alg = Algorithm::from_name(&alg)
        .ok_or_else(|| StoreError::Corrupt(format!("{}: unknown `{alg}`", what("alg"))))?;
    let public_jwk: PublicJwk = parse_json(&row.text("public_jwk")?, &what("public_jwk"))?;
    let schedule = KeySchedule {
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        signs_from: from_db(row.int("signs_from")?, &what("signs_from"))?,
        signs_until: opt_from_db(row.opt_int("signs_until")?, &what("signs_until"))?,
        published_until: opt_from_db(row.opt_int("published_until")?, &what("published_until"))?,
    };
    Ok(StoredKey {
        alg,
        encrypted_private_key: row.blob("encrypted_private_key")?,
        public_jwk,
        schedule,
        kid,
    })
}

/// Whether the stored kids are exactly the expected ones, in any order.
pub(crate) fn same_kids(mut stored: Vec<String>, expected: &[String]) -> bool {
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    stored.sort_unstable();
    stored.dedup();
    expected.sort_unstable();
    expected.dedup();
    stored.iter().map(String::as_str).eq(expected)
}

/// One revocation-log row and its sequence number.
pub(crate) fn revocation_from_row(row: &impl RowExt) -> StoreResult<(u64, RevocationEntry)> {
    let seq = from_db(row.int("seq")?, "revocation_log.seq")?;
    let what = |column: &str| format!("revocation_log.{column} at seq {seq}");
    let entry = match row.text("kind")?.as_str() {
        "token" => RevocationEntry::Token {
            jti: row
                .opt_text("jti")?
                .ok_or_else(|| StoreError::Corrupt(format!("{}: missing", what("jti"))))?,
            exp: from_db(
                row.opt_int("exp")?
                    .ok_or_else(|| StoreError::Corrupt(format!("{}: missing", what("exp"))))?,
                &what("exp"),
            )?,
        },
        "client" => RevocationEntry::Client {
            client_id: ClientId::new(row.text("client_id")?),
            revoked_at: from_db(row.int("revoked_at")?, &what("revoked_at"))?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "{}: unknown `{other}`",
                what("kind")
            )));
        }
    };
    Ok((seq, entry))
}

/// An audit event's columns, in [`INSERT_AUDIT`] order.
#[derive(Debug)]
pub(crate) struct AuditParams<'a> {
    pub(crate) at: i64,
    pub(crate) kind: &'a str,
    pub(crate) client_id: Option<&'a str>,
    pub(crate) actor: Option<&'a str>,
    pub(crate) detail: String,
}

impl<'a> AuditParams<'a> {
    pub(crate) fn new(event: &'a AuditEvent) -> StoreResult<Self> {
        Ok(AuditParams {
            at: to_db(event.at, "audit at")?,
            kind: &event.kind,
            client_id: event.client_id.as_ref().map(ClientId::as_str),
            actor: event.actor.as_ref().map(ClientId::as_str),
            detail: json_text(&event.detail, "audit detail")?,
        })
    }

    /// All of a batch, converted before any is written.
    pub(crate) fn all(events: &'a [AuditEvent]) -> StoreResult<Vec<Self>> {
        events.iter().map(AuditParams::new).collect()
    }
}

pub(crate) fn audit_from_row(row: &impl RowExt) -> StoreResult<AuditEvent> {
    let seq = from_db(row.int("seq")?, "audit_events.seq")?;
    let what = |column: &str| format!("audit_events.{column} at seq {seq}");
    Ok(AuditEvent {
        at: from_db(row.int("at")?, &what("at"))?,
        kind: row.text("kind")?,
        client_id: row.opt_text("client_id")?.map(ClientId::new),
        actor: row.opt_text("actor")?.map(ClientId::new),
        detail: parse_json(&row.text("detail")?, &what("detail"))?,
        seq,
    })
}

/// Maps a failed insert: a duplicate key is a [`StoreError::Conflict`].
pub(crate) fn insert_error(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::backend(error),
    }
}

pub(crate) const CLIENT_EXISTS: &str = "SELECT 1 FROM clients WHERE client_id = $1";

/// The entries of a `REVOCATIONS_SINCE` result and the cursor after them.
pub(crate) fn revocation_page(
    found: &[impl RowExt],
    after: Option<u64>,
) -> StoreResult<(Vec<RevocationEntry>, Option<u64>)> {
    let mut last = after;
    let mut entries = Vec::with_capacity(found.len());
    for row in found {
        let (seq, entry) = revocation_from_row(row)?;
        last = Some(seq);
        entries.push(entry);
    }
    Ok((entries, last))
}

// ---- user-level clients: codes, grants, refresh tokens ----

const CODE_COLUMNS: &str = "code_hash, client_id, grant_id, redirect_uri, code_challenge, \
    user_id, org_id, scopes, created_at, expires_at";

pub(crate) const INSERT_CODE: &str = "INSERT INTO auth_codes (code_hash, client_id, grant_id, \
    redirect_uri, code_challenge, user_id, org_id, scopes, created_at, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Marks a code used unless it was: the one atomic step of a code's single use.
pub(crate) fn consume_code_sql() -> String {
    format!(
        "UPDATE auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
         RETURNING {CODE_COLUMNS}"
    )
}

pub(crate) fn get_code_sql() -> String {
    format!("SELECT {CODE_COLUMNS} FROM auth_codes WHERE code_hash = $1")
}

pub(crate) const PURGE_CODES: &str = "DELETE FROM auth_codes WHERE expires_at < $1";

const GRANT_COLUMNS: &str = "grant_id, client_id, user_id, org_id, scopes, created_at, revoked_at";

pub(crate) const INSERT_GRANT: &str = "INSERT INTO grants (grant_id, client_id, user_id, org_id, \
    scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) fn get_grant_sql() -> String {
    format!("SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1")
}

/// A client's grants; `$2` is a user id or NULL for all users.
pub(crate) fn list_grants_sql() -> String {
    format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE client_id = $1 \
         AND ($2 IS NULL OR user_id = $2) ORDER BY created_at, grant_id"
    )
}

/// Revokes a grant (keeping the first revocation time); returns a row when
/// the client has the grant.
pub(crate) const REVOKE_GRANT: &str = "UPDATE grants SET revoked_at = COALESCE(revoked_at, $3) \
    WHERE client_id = $1 AND grant_id = $2 RETURNING grant_id";

/// Appends the family's unexpired access tokens to the revocation log, each
/// jti once.
pub(crate) const REVOKE_GRANT_TOKENS: &str = "INSERT INTO revocation_log \
    (kind, jti, client_id, exp, revoked_at) \
    SELECT 'token', access_jti, client_id, access_exp, $2 FROM refresh_tokens \
    WHERE grant_id = $1 AND access_exp >= $2 ORDER BY created_at, access_jti \
    ON CONFLICT (jti) DO NOTHING";

/// The family's unexpired access tokens, in issue order.
pub(crate) const GRANT_ACCESS_TOKENS: &str = "SELECT access_jti, client_id, access_exp \
    FROM refresh_tokens WHERE grant_id = $1 AND access_exp >= $2 ORDER BY created_at, access_jti";

/// A row of [`GRANT_ACCESS_TOKENS`] as the revocation it became at `now`.
pub(crate) fn family_revocation_from_row(
    row: &impl RowExt,
    now: i64,
) -> StoreResult<TokenRevocation> {
    let jti = row.text("access_jti")?;
    Ok(TokenRevocation {
        client_id: ClientId::new(row.text("client_id")?),
        exp: from_db(row.int("access_exp")?, &format!("access_exp of {jti}"))?,
        revoked_at: from_db(now, "revoked_at")?,
        jti,
    })
}

const REFRESH_COLUMNS: &str = "token_hash, grant_id, client_id, scopes, access_jti, access_exp, \
    created_at, expires_at, used_at";

pub(crate) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, \
    client_id, scopes, access_jti, access_exp, created_at, expires_at, used_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) fn get_refresh_sql() -> String {
    format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1")
}

/// Marks a refresh token used unless it was: decides, atomically, which of
/// concurrent rotations wins.
pub(crate) const USE_REFRESH: &str =
    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";

/// An authorization code's columns, in [`INSERT_CODE`] order.
#[derive(Debug)]
pub(crate) struct CodeParams<'a> {
    pub(crate) code_hash: &'a [u8],
    pub(crate) client_id: &'a str,
    pub(crate) grant_id: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code_challenge: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) org_id: &'a str,
    pub(crate) scopes: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

impl<'a> CodeParams<'a> {
    pub(crate) fn new(code: &'a AuthCodeRecord) -> StoreResult<Self> {
        Ok(CodeParams {
            code_hash: &code.code_hash,
            client_id: code.client_id.as_str(),
            grant_id: &code.grant_id,
            redirect_uri: &code.redirect_uri,
            code_challenge: &code.code_challenge,
            user_id: code.user_id.as_str(),
            org_id: code.org_id.as_str(),
            scopes: code.scopes.to_string(),
            created_at: to_db(code.created_at, "code created_at")?,
            expires_at: to_db(code.expires_at, "code expires_at")?,
        })
    }
}

fn scopes_from(text: &str, what: &str) -> StoreResult<ScopeSet> {
    ScopeSet::parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn code_from_row(row: &impl RowExt) -> StoreResult<AuthCodeRecord> {
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
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        expires_at: from_db(row.int("expires_at")?, &what("expires_at"))?,
        grant_id,
    })
}

/// A grant's columns, in [`INSERT_GRANT`] order.
#[derive(Debug)]
pub(crate) struct GrantParams<'a> {
    pub(crate) grant_id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) org_id: &'a str,
    pub(crate) scopes: String,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

impl<'a> GrantParams<'a> {
    pub(crate) fn new(grant: &'a GrantRecord) -> StoreResult<Self> {
        Ok(GrantParams {
            grant_id: &grant.grant_id,
            client_id: grant.client_id.as_str(),
            user_id: grant.user_id.as_str(),
            org_id: grant.org_id.as_str(),
            scopes: grant.scopes.to_string(),
            created_at: to_db(grant.created_at, "grant created_at")?,
            revoked_at: opt_to_db(grant.revoked_at, "grant revoked_at")?,
        })
    }
}

pub(crate) fn grant_from_row(row: &impl RowExt) -> StoreResult<GrantRecord> {
    let grant_id = row.text("grant_id")?;
    let what = |column: &str| format!("grants.{column} of {grant_id}");
    Ok(GrantRecord {
        client_id: ClientId::new(row.text("client_id")?),
        user_id: UserId::new(row.text("user_id")?),
        org_id: OrgId::new(row.text("org_id")?),
        scopes: scopes_from(&row.text("scopes")?, &what("scopes"))?,
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        revoked_at: opt_from_db(row.opt_int("revoked_at")?, &what("revoked_at"))?,
        grant_id,
    })
}

/// A refresh token's columns, in [`INSERT_REFRESH`] order.
#[derive(Debug)]
pub(crate) struct RefreshParams<'a> {
    pub(crate) token_hash: &'a [u8],
    pub(crate) grant_id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scopes: String,
    pub(crate) access_jti: &'a str,
    pub(crate) access_exp: i64,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) used_at: Option<i64>,
}

impl<'a> RefreshParams<'a> {
    pub(crate) fn new(token: &'a RefreshTokenRecord) -> StoreResult<Self> {
        Ok(RefreshParams {
            token_hash: &token.token_hash,
            grant_id: &token.grant_id,
            client_id: token.client_id.as_str(),
            scopes: token.scopes.to_string(),
            access_jti: &token.access_jti,
            access_exp: to_db(token.access_exp, "refresh access_exp")?,
            created_at: to_db(token.created_at, "refresh created_at")?,
            expires_at: to_db(token.expires_at, "refresh expires_at")?,
            used_at: opt_to_db(token.used_at, "refresh used_at")?,
        })
    }
}

pub(crate) fn refresh_from_row(row: &impl RowExt) -> StoreResult<RefreshTokenRecord> {
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
        grant_id,
    })
}
