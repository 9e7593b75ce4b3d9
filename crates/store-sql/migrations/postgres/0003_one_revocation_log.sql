-- m2m-store-sql, PostgreSQL: one revocation log for tokens, clients and keys.
--
-- Every entry now has an exp (when every token it covers has expired), so a
-- purge drops client and key entries too; key entries are new. Client
-- entries written before had no exp: they get revoked_at + 86400, the
-- longest token lifetime.
--
-- The log's head (the last sequence number handed out, purged entries
-- included) moves to revocation_head. An append locks its row FOR UPDATE,
-- takes head + 1 and writes it back before it commits: appends take turns,
-- so entries commit in sequence order and a reader following the cursor
-- never skips one (this replaces the 'revocation_log' row of store_locks and
-- the identity sequence, which handed out numbers outside the lock and lost
-- them on rollback). It starts where the identity sequence had got to.
-- Replicas of an older version cannot append once this has run.

CREATE TABLE revocation_head (
    only_row INTEGER NOT NULL PRIMARY KEY CHECK (only_row = 1),
    head     BIGINT  NOT NULL CHECK (head >= 0)
);

INSERT INTO revocation_head (only_row, head)
SELECT 1, GREATEST(
    COALESCE(pg_sequence_last_value(pg_get_serial_sequence('revocation_log', 'seq')::regclass), 0),
    COALESCE((SELECT MAX(seq) FROM revocation_log), 0)
);

ALTER TABLE revocation_log ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE revocation_log DROP CONSTRAINT revocation_log_kind_check;
ALTER TABLE revocation_log DROP CONSTRAINT revocation_log_check;
ALTER TABLE revocation_log ALTER COLUMN client_id DROP NOT NULL;
ALTER TABLE revocation_log ADD COLUMN kid TEXT;
UPDATE revocation_log SET exp = revoked_at + 86400 WHERE kind = 'client';
ALTER TABLE revocation_log ALTER COLUMN exp SET NOT NULL;
ALTER TABLE revocation_log
    ADD CONSTRAINT revocation_log_kind_check CHECK (kind IN ('token', 'client', 'key')),
    ADD CONSTRAINT revocation_log_jti_check CHECK ((kind = 'token') = (jti IS NOT NULL)),
    ADD CONSTRAINT revocation_log_kid_check CHECK ((kind = 'key') = (kid IS NOT NULL)),
    ADD CONSTRAINT revocation_log_client_check CHECK ((kind = 'key') = (client_id IS NULL));

-- Purge: every kind by exp.
DROP INDEX revocation_log_by_exp;
CREATE INDEX revocation_log_by_exp ON revocation_log (exp);
-- is_revoked: the jti (its UNIQUE index), the client's latest revocation, the kid.
CREATE INDEX revocation_log_by_client ON revocation_log (client_id, revoked_at)
    WHERE kind = 'client';
CREATE INDEX revocation_log_by_kid ON revocation_log (kid) WHERE kind = 'key';

DELETE FROM store_locks WHERE name = 'revocation_log';
