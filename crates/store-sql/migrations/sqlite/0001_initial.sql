-- m2m-store-sql, SQLite: the initial schema.
-- Times are seconds since the Unix epoch. STRICT tables refuse values of the
-- wrong type instead of storing them silently.

CREATE TABLE clients (
    client_id     TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    org_id        TEXT,
    user_id       TEXT,
    scopes        TEXT    NOT NULL, -- space-delimited, as in the `scope` claim
    audiences     TEXT    NOT NULL, -- JSON array of strings
    token_ttl     INTEGER NOT NULL, -- seconds
    redirect_uris TEXT    NOT NULL, -- JSON array of strings
    metadata      TEXT    NOT NULL, -- JSON
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Listing by organization and/or kind, in client id order.
CREATE INDEX clients_by_org ON clients (org_id, kind, client_id);
CREATE INDEX clients_by_kind ON clients (kind, client_id);

CREATE TABLE secrets (
    -- Insertion order: breaks ties between secrets created in the same second.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id    TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_id    TEXT    NOT NULL,
    hash         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (client_id, secret_id) -- also the index for a client's secrets
) STRICT;

CREATE TABLE signing_keys (
    kid                   TEXT    NOT NULL PRIMARY KEY,
    alg                   TEXT    NOT NULL,
    encrypted_private_key BLOB    NOT NULL,
    public_jwk            TEXT    NOT NULL, -- JSON
    created_at            INTEGER NOT NULL,
    signs_from            INTEGER NOT NULL,
    signs_until           INTEGER,
    published_until       INTEGER
) STRICT;

-- The revocation feed. AUTOINCREMENT: a sequence number is never reused,
-- even after the newest entries are purged, so a cursor never skips one.
CREATE TABLE revocation_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'client')),
    jti        TEXT    UNIQUE,  -- token entries; makes revoking a token idempotent
    client_id  TEXT    NOT NULL,
    exp        INTEGER,         -- token entries
    revoked_at INTEGER NOT NULL,
    CHECK ((kind = 'token') = (jti IS NOT NULL AND exp IS NOT NULL))
) STRICT;

CREATE INDEX revocation_log_by_exp ON revocation_log (exp) WHERE kind = 'token';

CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    client_id TEXT,             -- no foreign key: events outlive their client
    actor     TEXT,
    detail    TEXT    NOT NULL  -- JSON
) STRICT;

CREATE INDEX audit_events_by_client ON audit_events (client_id, seq);
