//! The verifier's clock: seconds since the Unix epoch, injected so tests and
//! hosts with their own notion of time can move it.

use std::sync::Arc;

/// A clock: seconds since the Unix epoch.
pub(crate) type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub(crate) fn system() -> Clock {
    Arc::new(m2m_core::now_unix)
}
