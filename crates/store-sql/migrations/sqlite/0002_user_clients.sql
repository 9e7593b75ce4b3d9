-- m2m-store-sql, SQLite: user-level clients (authorization codes, grants and
-- refresh tokens). Codes and refresh tokens are kept as SHA-256 hashes only.

CREATE TABLE auth_codes (
    code_hash      BLOB    NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    grant_id       TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    scopes         TEXT    NOT NULL, -- space-delimited
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER           -- set once, by the single successful exchange
) STRICT;

CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

-- No foreign key to clients: a deleted client's tokens are revoked through
-- the revocation log, and the issuer refuses its refresh tokens.
CREATE TABLE grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- space-delimited
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX grants_by_client ON grants (client_id, user_id, created_at, grant_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    grant_id   TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- space-delimited
    access_jti TEXT    NOT NULL, -- the access token issued with it
    access_exp INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER           -- set by rotation; a used token seen again is a reuse
) STRICT;

CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
