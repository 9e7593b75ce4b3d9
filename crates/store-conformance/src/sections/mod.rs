//! The sections of the suite, one function each. [`suite!`](crate::suite)
//! runs all of them; [`run`](crate::run) runs one.
//!
//! Each takes a fresh, empty store and panics, naming the method and the
//! rule, at the first violation within the section.
//!
//! | section | what it holds the store to |
//! |---|---|
//! | [`clients_round_trip`] … [`delete_client_races_add_secret`] | clients and secrets: every field kept, listing order and pages, at most `max_live` live secrets under concurrency |
//! | [`key_ring_compare_and_swap`] … [`key_ring_under_concurrency`] | the key ring is compare-and-swap, and a key's revocation is logged only by the save that wins |
//! | [`revocation_log_order_and_paging`] … [`revocation_log_followed_under_concurrency`] | the log: order, pages, head, purge of every kind, `is_revoked`, no entry skipped by a reader |
//! | [`auth_codes`] … [`revoke_grant_races_rotation`] | codes used once, refresh tokens rotated once, a grant's revocation and its tokens' entries together |
//! | [`assertion_ids_single_use`] … [`client_keys_round_trip`] | an assertion id claimed once while live, under concurrency; `private_key_jwt` clients' keys kept |
//! | [`federated_credentials`], [`federated_credentials_limit_under_concurrency`] | federated credentials: every field kept, found by exact issuer, at most `max` per client under concurrency, deleted with the client |
//! | [`dpop_fields_round_trip`] | DPoP: a client's `dpop_bound_access_tokens` and a refresh token's `dpop_jkt` kept |
//! | [`token_exchange_policy_round_trip`] … [`exchanged_record_races_revocation`] | token exchange: a client's policy kept; exchanged tokens revoked with what they came from, transitively; no record for a revoked parent, even racing |
//! | [`usage_counters`], [`usage_counters_under_concurrency`] | quota and throttle counters: additions atomic across callers, windows apart, ended windows purged |
//! | [`client_quota_round_trip`], [`org_quota_round_trip`] | quota overrides of a client and of an organization kept, replaced and cleared |
//! | [`audit`] … [`audit_purge`] | audit events newest first, by client, kind and time, by page; token aggregates merged per client and minute under concurrency; purge in batches |

mod assertions;
mod audit;
mod clients;
mod dpop;
mod exchange;
mod federated;
mod grants;
mod keys;
mod revocations;
mod usage;

pub use assertions::{
    assertion_ids_single_use, assertion_ids_single_use_under_concurrency, client_keys_round_trip,
};
pub use audit::{audit, audit_filters, audit_purge, audit_token_minutes};
pub use clients::{
    clients_listing, clients_round_trip, clients_update_and_delete_log_their_revocation,
    delete_client_races_add_secret, secrets, secrets_limit_under_concurrency,
};
pub use dpop::dpop_fields_round_trip;
pub use exchange::{
    exchanged_record_races_revocation, exchanged_tokens_revoked_with_their_chain,
    token_exchange_policy_round_trip,
};
pub use federated::{federated_credentials, federated_credentials_limit_under_concurrency};
pub use grants::{
    auth_codes, auth_codes_single_use_under_concurrency, grants, refresh_rotation,
    refresh_rotation_under_concurrency, revoke_grant_logs_live_access_tokens,
    revoke_grant_races_create_grant, revoke_grant_races_rotation, revoke_grant_tombstone,
};
pub use keys::{
    key_ring_compare_and_swap, key_ring_logs_a_revoked_key_only_when_it_wins,
    key_ring_under_concurrency,
};
pub use revocations::{
    is_revoked_by_jti_client_and_key, revocation_log_followed_under_concurrency,
    revocation_log_head_survives_purge, revocation_log_order_and_paging,
    revocation_purge_drops_every_kind_by_exp,
};
pub use usage::{
    client_quota_round_trip, org_quota_round_trip, usage_counters, usage_counters_under_concurrency,
};
