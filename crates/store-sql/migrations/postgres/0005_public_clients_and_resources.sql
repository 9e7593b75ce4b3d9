-- m2m-store-sql, PostgreSQL: public clients and RFC 8707 resources at authorize.
--
-- clients.token_endpoint_auth_method: client_secret_basic (what every
-- existing client is), client_secret_post or none (a public client, which
-- has no secret). auth_codes.resources and grants.resources: the JSON array
-- of the authorization request's `resource` values, bound into the grant's
-- tokens' `aud`; '[]' when none was given (every existing code and grant).

ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL
    DEFAULT 'client_secret_basic';
ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
