-- m2m-store-sql, PostgreSQL: user-level clients (authorization codes, grants and
-- refresh tokens). Codes and refresh tokens are kept as SHA-256 hashes only.

CREATE TABLE auth_codes (
    code_hash      BYTEA   NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    grant_id       TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    scopes         TEXT    NOT NULL, -- space-delimited
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT            -- set once, by the single successful exchange
);

CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

-- No foreign key to clients: a deleted client's tokens are revoked through
-- the revocation log, and the issuer refuses its refresh tokens.
CREATE TABLE grants (
    grant_id   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    client_id  TEXT COLLATE "C" NOT NULL,
    user_id    TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- space-delimited
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX grants_by_client ON grants (client_id, user_id, created_at, grant_id);

CREATE TABLE refresh_tokens (
    token_hash BYTEA   NOT NULL PRIMARY KEY,
    grant_id   TEXT COLLATE "C" NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id  TEXT COLLATE "C" NOT NULL,
    scopes     TEXT    NOT NULL, -- space-delimited
    access_jti TEXT    NOT NULL, -- the access token issued with it
    access_exp BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT            -- set by rotation; a used token seen again is a reuse
);

CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
