-- m2m-store-sql, PostgreSQL: per-client and per-organization token quota overrides.
--
-- clients.quota: the client's quota override as JSON text
-- ({"per_minute": n?, "per_hour": n?, "per_day": n?, "mode": "enforce" |
-- "log_only"?}); each window set replaces the server's default for that
-- window. NULL (every existing client) means the server's defaults.
--
-- org_quotas: one row per organization with an override of the server's
-- default org quota; quota is JSON text of the same shape. Issuers read a
-- row at most once per client cache window per organization.

ALTER TABLE clients ADD COLUMN quota TEXT;

CREATE TABLE org_quotas (
    org_id     TEXT PRIMARY KEY,
    quota      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
