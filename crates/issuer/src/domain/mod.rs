//! The issuer's domain: every rule and every consequence of a change, with
//! no HTTP in it. The HTTP layer (`crate::http`) extracts a request, calls
//! one method of one unit here, and maps its typed result to the wire.
//!
//! | unit | owns |
//! |---|---|
//! | [`registry::Registry`] | clients, secrets, grants: each change with all it implies (store write atomic with its revocation, cache, in-process revocation, audit) |
//! | [`client_auth::ClientAuth`] | client authentication: throttle, constant-time secret check, `last_used_at`, the dispatch of client assertions |
//! | [`private_key_jwt::PrivateKeyJwt`] | `private_key_jwt` (RFC 7523 §2.2): the client's keys, the assertion's signature and claims, its `jti` used once |
//! | [`minter::Minter`] | what a token says (audience, scope, claims), the signing key, the size bound |
//! | [`dpop::DpopBinding`] | DPoP at the token endpoint (RFC 9449): the proof, its `jti` used once across replicas, which key a token is bound to, nonces |
//! | [`token::TokenEndpoint`] | `POST /oauth/token`: authentication, grant, minting, audit, for every grant |
//! | [`exchange::TokenExchange`] | the token-exchange grant (RFC 8693): the actor's policy, the subject and actor tokens, `act` chains, scope and audience, the record that makes revocation follow the chain |
//! | [`quota::Quotas`] | token quotas per client and per organization, per minute, hour and day, counted in the store across replicas with small in-memory leases |
//! | [`grants::Grants`] | user-level clients: authorization and consent, codes, refresh rotation |
//! | [`client_metadata::ClientMetadataDocuments`] | clients whose `client_id` is a metadata-document URL: SSRF-safe fetch, checks, cache, registration through the registry |
//! | [`own_tokens::OwnTokens`] | judging this issuer's tokens: introspection, RFC 7009 revocation, the admin API's store check |
//! | [`keys::KeyManager`] | the key ring: load, rotate, revoke a key, reload; in-process key push |
//! | [`revocation::RevocationState`] | what in-process guards refuse; applying a revocation in process |
//! | [`follower::Follower`] | loading the revocation log at start and following it |
//! | [`feed::Feed`] | the revocation feed's pages and cursors |
//! | [`audit`] | typed audit events and their writer |
//! | [`cache::ClientCache`] | the short-lived client lookup cache and its window |
//! | [`registration`] | registration rules, and what change is a revocation |
//! | [`dynamic_registration::DynamicRegistration`] | RFC 7591 `POST /oauth/register`: the operator's policy, the rate limit, the initial access token; creates through the registry |
//! | [`federation`] | workload identity federation: trust-entry rules, subject patterns, claim conditions, external issuers' keys |
//! | [`outbound`] | the one https fetcher builder for what the issuer reads from other hosts (metadata documents, `jwks_uri`, federated issuers) |
//! | [`error`] | the typed errors every unit returns |
//!
//! Dependencies run one way: `dynamic_registration` → `registry`; `token` → `dpop`;
//! `token` → `exchange` → `own_tokens`; `token` → `grants` →
//! `client_metadata` → `registry` → `minter` →
//! `keys` → `revocation` → `cache`; `own_tokens` and `follower` sit on top;
//! all of them → `crate::store` → `m2m-core`.

pub(crate) mod audit;
pub(crate) mod cache;
pub(crate) mod client_auth;
pub(crate) mod client_metadata;
pub(crate) mod dpop;
pub(crate) mod dynamic_registration;
pub(crate) mod error;
pub(crate) mod exchange;
pub(crate) mod federation;
pub(crate) mod feed;
pub(crate) mod follower;
pub(crate) mod grants;
pub(crate) mod keycrypt;
pub(crate) mod keys;
pub(crate) mod minter;
pub(crate) mod outbound;
pub(crate) mod own_tokens;
pub(crate) mod private_key_jwt;
pub(crate) mod quota;
pub(crate) mod registration;
pub(crate) mod registry;
pub(crate) mod revocation;
pub(crate) mod secret_use;
pub(crate) mod throttle;
pub(crate) mod token;
