-- m2m-store-sql, SQLite: one revocation log for tokens, clients and keys.
--
-- Every entry now has an exp (when every token it covers has expired), so a
-- purge drops client and key entries too; key entries are new. Client
-- entries written before had no exp: they get revoked_at + 86400, the
-- longest token lifetime.
--
-- The log's head (the last sequence number handed out, purged entries
-- included) moves to revocation_head: an append reads it, takes head + 1 and
-- writes it back in its own transaction, so a number is never reused and
-- entries commit in sequence order (BEGIN IMMEDIATE: one writer at a time).
-- It starts where AUTOINCREMENT had got to.
--
-- SQLite cannot change a table's constraints in place: the log is rebuilt.

CREATE TABLE revocation_head (
    only_row INTEGER NOT NULL PRIMARY KEY CHECK (only_row = 1),
    head     INTEGER NOT NULL CHECK (head >= 0)
) STRICT;

INSERT INTO revocation_head (only_row, head)
SELECT 1, MAX(
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocation_log'), 0),
    COALESCE((SELECT MAX(seq) FROM revocation_log), 0)
);

CREATE TABLE revocation_log_v3 (
    seq        INTEGER NOT NULL PRIMARY KEY, -- from revocation_head
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'client', 'key')),
    jti        TEXT    UNIQUE,               -- token entries; one entry per jti
    client_id  TEXT,                         -- token and client entries
    kid        TEXT,                         -- key entries
    exp        INTEGER NOT NULL,             -- when every token covered has expired
    revoked_at INTEGER NOT NULL,
    CHECK ((kind = 'token') = (jti IS NOT NULL)),
    CHECK ((kind = 'key') = (kid IS NOT NULL)),
    CHECK ((kind = 'key') = (client_id IS NULL))
) STRICT;

INSERT INTO revocation_log_v3 (seq, kind, jti, client_id, kid, exp, revoked_at)
SELECT seq, kind, jti, client_id, NULL,
       CASE kind WHEN 'client' THEN revoked_at + 86400 ELSE exp END,
       revoked_at
FROM revocation_log;

DROP TABLE revocation_log;
ALTER TABLE revocation_log_v3 RENAME TO revocation_log;

-- Purge: every kind by exp.
CREATE INDEX revocation_log_by_exp ON revocation_log (exp);
-- is_revoked: the jti (its UNIQUE index), the client's latest revocation, the kid.
CREATE INDEX revocation_log_by_client ON revocation_log (client_id, revoked_at)
    WHERE kind = 'client';
CREATE INDEX revocation_log_by_kid ON revocation_log (kid) WHERE kind = 'key';

-- The same lock rows as on PostgreSQL, so that both run the same queries;
-- under BEGIN IMMEDIATE reading one is all it takes.
CREATE TABLE store_locks (
    name TEXT NOT NULL PRIMARY KEY
) STRICT;

INSERT INTO store_locks (name) VALUES ('key_ring');
