-- m2m-store-sql, SQLite: private_key_jwt clients and single-use assertion ids.
--
-- clients.jwks: the JSON JWK Set of a private_key_jwt client's public keys;
-- clients.jwks_uri: or the https URL it is fetched from. At most one of the
-- two is set; both NULL for every other client (every existing one).
--
-- assertion_ids: the jti of every client assertion accepted, per issuer
-- (the client id, or a federated issuer), kept until exp (the assertion's
-- exp plus the leeway): a second use while it is there is refused. One
-- INSERT ... ON CONFLICT decides, so replicas sharing the database agree.

ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;

CREATE TABLE assertion_ids (
    issuer TEXT    NOT NULL,
    jti    TEXT    NOT NULL,
    exp    INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) STRICT;

CREATE INDEX assertion_ids_by_exp ON assertion_ids (exp);
