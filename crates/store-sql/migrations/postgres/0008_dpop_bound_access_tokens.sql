-- m2m-store-sql, PostgreSQL: DPoP (RFC 9449).
--
-- clients.dpop_bound_access_tokens: RFC 9449 §5.2's client metadata; when
-- set, the client's every token request must carry a DPoP proof. False for
-- every existing client.
--
-- refresh_tokens.dpop_jkt: the RFC 7638 thumbprint of the DPoP key a public
-- client's refresh token is bound to (it was issued with a proof); a refresh
-- must be proven with that key. NULL for an unbound token (every existing one).

ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
