-- m2m-store-sql, SQLite: per-client token quota overrides.
--
-- clients.quota: the client's quota override as JSON text
-- ({"per_minute": n?, "per_hour": n?, "per_day": n?, "mode": "enforce" |
-- "log_only"?}); each window set replaces the server's default for that
-- window. NULL (every existing client) means the server's defaults.

ALTER TABLE clients ADD COLUMN quota TEXT;
