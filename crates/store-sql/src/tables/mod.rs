//! The tables, one module each, with their queries (each written once, for
//! both dialects), their rows, and the [`Backend`](crate::backend::Backend)
//! operations on them.
//!
//! | module | tables | invariants it owns |
//! |---|---|---|
//! | [`clients`] | `clients`, `secrets` | at most `max_live` live secrets; a client's change or deletion with its revocation |
//! | [`keys`] | `signing_keys`, `store_locks` | the key ring's compare-and-swap, with a killed key's revocation |
//! | [`revocations`] | `revocation_log`, `revocation_head` | sequence numbers never reused, entries visible in sequence order |
//! | [`grants`] | `auth_codes`, `grants`, `refresh_tokens` | a code used once, a refresh token rotated once, a grant revoked with its access tokens (and before it exists) |
//! | [`audit`] | `audit_events` | |
//! | [`assertions`] | `assertion_ids` | an assertion id accepted once while live, across replicas |
//! | [`usage`] | `usage_counters` | token quotas and failed authentications counted across replicas |
//! | [`federated`] | `federated_credentials` | at most `max` entries per client |
//! | [`exchanged`] | `exchanged_tokens` | a token exchanged from a revoked token is never recorded, and a revocation reaches every token recorded before it, transitively |
//!
//! Row locks are always taken in this order, so no two transactions wait
//! for each other: a client or grant row, then the `key_ring` lock row, then
//! the revocation head.

pub(crate) mod assertions;
pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod exchanged;
pub(crate) mod federated;
pub(crate) mod grants;
pub(crate) mod keys;
pub(crate) mod revocations;
pub(crate) mod usage;
