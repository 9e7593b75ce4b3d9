-- m2m-store-sql, SQLite: token exchange (RFC 8693).
--
-- clients.token_exchange: the client's token-exchange policy as JSON text
-- ({"subjects": [...], "audiences": [...]?, "max_depth": n?}); NULL (every
-- existing client) means the client may not exchange tokens.
--
-- exchanged_tokens: one row per access token minted by token exchange, with
-- the token it came from (its jti, client, iat and signing key), so that
-- revoking that token, its grant, its client or its key revokes the
-- exchanged one, transitively
-- (parent_jti is followed with WITH RECURSIVE). Purged after exp.

ALTER TABLE clients ADD COLUMN token_exchange TEXT;

CREATE TABLE exchanged_tokens (
    jti              TEXT    PRIMARY KEY,
    exp              INTEGER NOT NULL,
    client_id        TEXT    NOT NULL,
    parent_jti       TEXT    NOT NULL,
    parent_client_id TEXT    NOT NULL,
    parent_iat       INTEGER NOT NULL,
    parent_kid       TEXT    NOT NULL
) STRICT;

CREATE INDEX exchanged_tokens_by_parent ON exchanged_tokens (parent_jti);
CREATE INDEX exchanged_tokens_by_parent_client ON exchanged_tokens (parent_client_id, parent_iat);
CREATE INDEX exchanged_tokens_by_parent_kid ON exchanged_tokens (parent_kid);
CREATE INDEX exchanged_tokens_by_exp ON exchanged_tokens (exp);
