//! [`RevocationState`]: what this node's in-process guards refuse, and the
//! one place a revocation takes effect in process.
//!
//! Every in-process guard of this issuer (the admin API's, the
//! introspection verifier, and each [`Issuer::guard`](crate::Issuer::guard))
//! shares one [`m2m_guard::Revocations`] set. A revocation reaches it two
//! ways, both through [`RevocationState::apply`]:
//!
//! - at once, from the domain operation that made it on this node, after the
//!   store has it (`domain::registry`, `domain::keys`);
//! - from the store's revocation log, which `domain::follower` reads at start
//!   (so a restart forgets nothing) and follows every interval (so other
//!   replicas' revocations arrive within one interval).
//!
//! Applying is idempotent, so an entry that arrives both ways is harmless.
//! A client revocation also drops the client from this node's lookup cache.

use std::sync::Arc;

use m2m_core::Revocation;
use m2m_guard::Revocations;

use super::cache::ClientCache;

#[derive(Debug)]
pub(crate) struct RevocationState {
    set: Revocations,
    cache: Arc<ClientCache>,
}

impl RevocationState {
    pub(crate) fn new(cache: Arc<ClientCache>) -> Self {
        RevocationState {
            set: Revocations::new(),
            cache,
        }
    }

    /// The set this node's in-process guards share.
    pub(crate) fn set(&self) -> &Revocations {
        &self.set
    }

    /// Makes `revocation` hold in process.
    pub(crate) fn apply(&self, revocation: &Revocation) {
        if let Revocation::Client(client) = revocation {
            self.cache.invalidate(&client.client_id);
        }
        self.set.revoke(revocation.clone());
    }

    /// Forgets entries whose tokens have all expired before `before`.
    pub(crate) fn prune(&self, before: u64) {
        self.set.prune(before);
    }
}
