-- m2m-store-sql: bounded audit.
--
-- Token issuance is recorded as one aggregate per client and minute (kind
-- 'tokens.issued', at = the minute): the partial unique index makes the
-- upsert of two replicas writing the same minute merge into one row.
-- Events and aggregates older than the retention period are purged by at,
-- in small batches, oldest first.

CREATE UNIQUE INDEX audit_token_minutes ON audit_events (client_id, at)
    WHERE kind = 'tokens.issued';
CREATE INDEX audit_events_by_at ON audit_events (at);
