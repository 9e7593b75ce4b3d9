-- m2m-store-sql, PostgreSQL: the initial schema, created in the first schema
-- of the connection's search_path. Times are seconds since the Unix epoch.
-- Ids are compared bytewise (COLLATE "C") so that listing order is the same
-- as on SQLite and in memory, whatever the database's locale.

CREATE TABLE clients (
    client_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    org_id        TEXT COLLATE "C",
    user_id       TEXT,
    scopes        TEXT    NOT NULL, -- space-delimited, as in the `scope` claim
    audiences     TEXT    NOT NULL, -- JSON array of strings
    token_ttl     BIGINT  NOT NULL, -- seconds
    redirect_uris TEXT    NOT NULL, -- JSON array of strings
    metadata      TEXT    NOT NULL, -- JSON, kept as written
    enabled       BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE INDEX clients_by_org ON clients (org_id, kind, client_id);
CREATE INDEX clients_by_kind ON clients (kind, client_id);

CREATE TABLE secrets (
    -- Insertion order: breaks ties between secrets created in the same second.
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    TEXT COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_id    TEXT   NOT NULL,
    hash         BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    UNIQUE (client_id, secret_id) -- also the index for a client's secrets
);

CREATE TABLE signing_keys (
    kid                   TEXT   NOT NULL PRIMARY KEY,
    alg                   TEXT   NOT NULL,
    encrypted_private_key BYTEA  NOT NULL,
    public_jwk            TEXT   NOT NULL, -- JSON
    created_at            BIGINT NOT NULL,
    signs_from            BIGINT NOT NULL,
    signs_until           BIGINT,
    published_until       BIGINT
);

-- The revocation feed. Appends lock the 'revocation_log' row of store_locks
-- before taking a sequence number, so entries commit in sequence order and a
-- reader following the cursor never skips one (see docs/architecture.md).
CREATE TABLE revocation_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('token', 'client')),
    jti        TEXT   UNIQUE,  -- token entries; makes revoking a token idempotent
    client_id  TEXT   NOT NULL,
    exp        BIGINT,         -- token entries
    revoked_at BIGINT NOT NULL,
    CHECK ((kind = 'token') = (jti IS NOT NULL AND exp IS NOT NULL))
);

CREATE INDEX revocation_log_by_exp ON revocation_log (exp) WHERE kind = 'token';

CREATE TABLE audit_events (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    client_id TEXT,            -- no foreign key: events outlive their client
    actor     TEXT,
    detail    TEXT   NOT NULL  -- JSON
);

CREATE INDEX audit_events_by_client ON audit_events (client_id, seq);

-- One row per serialized operation; transactions lock a row FOR UPDATE.
CREATE TABLE store_locks (
    name TEXT NOT NULL PRIMARY KEY
);

INSERT INTO store_locks (name) VALUES ('key_ring'), ('revocation_log');
