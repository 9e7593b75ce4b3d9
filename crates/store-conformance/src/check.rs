//! How the sections report: a store error names the call that got it.

use m2m_issuer::store::{Store, StoreResult};

/// The value of a call that must succeed; panics naming `doing` otherwise.
#[track_caller]
pub(crate) fn ok<T>(result: StoreResult<T>, doing: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{doing}: expected success, the store failed: {error}"),
    }
}

/// The result of a spawned task; a panic inside it is passed on as it was.
#[track_caller]
pub(crate) fn joined<T>(result: Result<T, tokio::task::JoinError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("{what}: the task did not finish: {error}"),
        },
    }
}

/// Every entry of the revocation log, and its head.
pub(crate) async fn whole_log(store: &impl Store) -> m2m_issuer::store::RevocationPage {
    ok(
        store.revocations_since(0, usize::MAX).await,
        "revocations_since(0, usize::MAX)",
    )
}
