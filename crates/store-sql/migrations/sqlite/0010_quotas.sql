-- m2m-store-sql, SQLite: token quotas and the failure throttle, counted in
-- the store so every replica sees one count.
--
-- usage_counters: one row per (subject, window length, window start), the
-- window aligned to the clock. subject is "quota:client:<id>",
-- "quota:org:<oid>" or "fail:client:<id>" / "fail:addr:<address>". count is
-- what was taken in that window (a replica takes quota in small leases, so
-- it may pass the limit by the leases that found nothing left). Rows of
-- ended windows are purged.

CREATE TABLE usage_counters (
    subject TEXT NOT NULL,
    window_secs INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (subject, window_secs, window_start)
) STRICT;
CREATE INDEX usage_counters_window_start ON usage_counters (window_start);
