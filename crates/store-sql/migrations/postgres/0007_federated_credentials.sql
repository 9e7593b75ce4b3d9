-- m2m-store-sql, PostgreSQL: federated credentials (workload identity federation).
--
-- One row per trust entry: a JWT from `issuer` (exact string) with a
-- subject matching `subject` (exact, or a `*` pattern), audience `audience`
-- and the claim conditions `claims` (a JSON object of name to value)
-- authenticates `client_id`. `jwks`: the issuer's JWK Set as JSON text, for
-- an issuer whose discovery is not reachable; NULL means OIDC discovery.
-- Public data only. Deleted with the client.

CREATE TABLE federated_credentials (
    -- Insertion order: breaks ties between entries created in the same second.
    seq          BIGINT    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    TEXT      NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    id           TEXT      NOT NULL,
    issuer       TEXT      NOT NULL,
    subject      TEXT      NOT NULL,
    audience     TEXT      NOT NULL,
    claims       TEXT      NOT NULL,
    jwks         TEXT,
    created_at   BIGINT    NOT NULL,
    UNIQUE (client_id, id)
);

CREATE INDEX federated_credentials_by_issuer ON federated_credentials (issuer, client_id, seq);
