//! m2m-store-conformance: the suite every m2m-auth issuer
//! [`Store`] must pass.
//!
//! One call of [`suite!`] in a test file expands to one `#[test]` per
//! section, so a failure names the section it is in and the other sections
//! still run. Each section gets a **fresh, empty** store from the function
//! you pass, on a multi-threaded tokio runtime of its own (the concurrency
//! sections race real threads).
//!
//! ```
//! # // A doctest cannot run #[test] functions; this shows the call.
//! mod memory_store {
//!     use m2m_issuer::store::MemoryStore;
//!
//!     async fn fresh() -> MemoryStore {
//!         MemoryStore::new()
//!     }
//!
//!     m2m_store_conformance::suite!(fresh);
//! }
//! ```
//!
//! Put each call in a module of its own (the tests are named after the
//! sections), and give every section its own storage: a new file, a new
//! in-memory database, a new schema. The function may be any expression that
//! can be called with no argument and returns a future of the store, so a
//! closure works too:
//!
//! ```
//! mod memory_store {
//!     m2m_store_conformance::suite!(|| async { m2m_issuer::store::MemoryStore::new() });
//! }
//! ```
//!
//! Sections can also be run one by one, with [`run`] and the functions of
//! [`sections`], from any harness:
//!
//! ```
//! use m2m_issuer::store::MemoryStore;
//! use m2m_store_conformance::{run, sections};
//!
//! run(|| async { MemoryStore::new() }, sections::secrets_limit_under_concurrency);
//! ```
//!
//! A violated contract panics with a message that names the method and what
//! it was expected to do; a store error is reported with the call that got it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use m2m_issuer::store::Store;

mod check;
mod fixtures;
pub mod sections;

/// Runs one section on a store from `make`, on a new multi-threaded tokio
/// runtime, and panics if the section finds a violation.
///
/// This is what each test of [`suite!`] calls.
pub fn run<S, M, MakeFut, T, SectionFut>(make: M, section: T)
where
    S: Store,
    M: FnOnce() -> MakeFut,
    MakeFut: Future<Output = S>,
    T: FnOnce(Arc<S>) -> SectionFut,
    SectionFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("the conformance suite needs a tokio runtime: {e}"));
    runtime.block_on(async move {
        let store = Arc::new(make().await);
        section(store).await;
    });
}

/// Like [`run`], for a store that may be unavailable (a database server
/// that the environment does not name): when `make` returns `None`, the
/// section is skipped, and says so on standard output.
pub fn run_optional<S, M, MakeFut, T, SectionFut>(make: M, section: T)
where
    S: Store,
    M: FnOnce() -> MakeFut,
    MakeFut: Future<Output = Option<S>>,
    T: FnOnce(Arc<S>) -> SectionFut,
    SectionFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("the conformance suite needs a tokio runtime: {e}"));
    runtime.block_on(async move {
        match make().await {
            Some(store) => section(Arc::new(store)).await,
            None => println!("skipped: no store to run this section on"),
        }
    });
}

/// Expands to one `#[test]` per section of the conformance suite, each
/// running that section (with [`run`]) on a fresh store from `$make`.
///
/// `$make` is called once per section, with no argument, and must return a
/// future of a fresh, empty store. See the [crate docs](crate) for an example.
///
/// `suite!(optional = $make)` takes a `$make` whose future gives an
/// `Option` of a store, and skips every section when it is `None` (see
/// [`run_optional`]):
///
/// ```
/// mod maybe_memory {
///     async fn fresh() -> Option<m2m_issuer::store::MemoryStore> {
///         std::env::var_os("NO_SUCH_VARIABLE").map(|_| m2m_issuer::store::MemoryStore::new())
///     }
///
///     m2m_store_conformance::suite!(optional = fresh);
/// }
/// ```
#[macro_export]
macro_rules! suite {
    (@with $run:ident, $make:expr) => {
        $crate::__tests! {
            $run, $make =>
            clients_round_trip,
            clients_listing,
            clients_update_and_delete_log_their_revocation,
            secrets,
            secrets_limit_under_concurrency,
            delete_client_races_add_secret,
            key_ring_compare_and_swap,
            key_ring_logs_a_revoked_key_only_when_it_wins,
            key_ring_under_concurrency,
            revocation_log_order_and_paging,
            revocation_log_head_survives_purge,
            revocation_purge_drops_every_kind_by_exp,
            is_revoked_by_jti_client_and_key,
            revocation_log_followed_under_concurrency,
            auth_codes,
            auth_codes_single_use_under_concurrency,
            grants,
            refresh_rotation,
            refresh_rotation_under_concurrency,
            revoke_grant_logs_live_access_tokens,
            revoke_grant_tombstone,
            revoke_grant_races_create_grant,
            revoke_grant_races_rotation,
            assertion_ids_single_use,
            assertion_ids_single_use_under_concurrency,
            client_keys_round_trip,
            dpop_fields_round_trip,
            token_exchange_policy_round_trip,
            exchanged_tokens_revoked_with_their_chain,
            exchanged_record_races_revocation,
            audit,
            audit_filters,
            audit_token_minutes,
            audit_purge,
            federated_credentials,
            federated_credentials_limit_under_concurrency,
            usage_counters,
            usage_counters_under_concurrency,
            client_quota_round_trip,
            org_quota_round_trip,
        }
    };
    (optional = $make:expr $(,)?) => {
        $crate::suite!(@with run_optional, $make);
    };
    ($make:expr $(,)?) => {
        $crate::suite!(@with run, $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tests {
    ($run:ident, $make:expr => $($section:ident),* $(,)?) => {
        $(
            #[test]
            fn $section() {
                $crate::$run($make, $crate::sections::$section);
            }
        )*
    };
}
