//! [`ClientCache`]: a short-lived cache of client lookups, so the token
//! endpoint does not read the store for every token.
//!
//! An entry is stamped with the time its store read *started*, and lives
//! [`ClientCache::ttl`] from then: so a replica never mints a token from a
//! record older than the TTL, which is what lets a client revocation cover
//! the cache window (its `revoked_at` is the change's time plus the TTL,
//! rounded up to the second; see `domain::registry`). A change made on this
//! node invalidates the entry at once, and a lookup that raced the change is
//! not cached.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use m2m_core::ClientId;

use crate::store::{ClientRecord, SecretRecord, Store, StoreResult};

/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// A client and its secrets as one lookup saw them.
#[derive(Debug, Clone)]
pub(crate) struct CachedClient {
    pub(crate) client: Arc<ClientRecord>,
    pub(crate) secrets: Arc<[SecretRecord]>,
}

#[derive(Debug)]
pub(crate) struct ClientCache {
    ttl: Duration,
    map: DashMap<ClientId, (Instant, CachedClient)>,
    generation: AtomicU64,
}

impl ClientCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ClientCache {
            ttl,
            map: DashMap::new(),
            generation: AtomicU64::new(0),
        }
    }

    /// The cache window in whole seconds, rounded up: a client revocation's
    /// `revoked_at` adds it to the change's time.
    pub(crate) fn window_secs(&self) -> u64 {
        let ttl = self.ttl;
        ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
    }

    /// The client and its secrets, from the cache or the store.
    pub(crate) async fn lookup(
        &self,
        store: &dyn Store,
        client_id: &ClientId,
    ) -> StoreResult<Option<CachedClient>> {
        if !self.ttl.is_zero()
            && let Some(entry) = self.map.get(client_id)
            && entry.0.elapsed() < self.ttl
        {
            return Ok(Some(entry.1.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let read_at = Instant::now();
        let Some(client) = store.get_client(client_id).await? else {
            return Ok(None);
        };
        let secrets = store.list_secrets(client_id).await?;
        let entry = CachedClient {
            client: Arc::new(client),
            secrets: secrets.into(),
        };
        self.put(client_id, read_at, entry.clone(), generation);
        Ok(Some(entry))
    }

    /// Caches a lookup unless an invalidation happened since it started.
    fn put(&self, client_id: &ClientId, read_at: Instant, entry: CachedClient, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if self.map.len() >= MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(client_id.clone(), (read_at, entry));
        // A change raced with this lookup: the entry may be stale.
        if self.generation.load(Ordering::Acquire) != generation {
            self.map.remove(client_id);
        }
    }

    /// Forgets a client (after any change to it, here or on another replica).
    pub(crate) fn invalidate(&self, client_id: &ClientId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.remove(client_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_rounds_up_to_whole_seconds() {
        assert_eq!(ClientCache::new(Duration::from_secs(2)).window_secs(), 2);
        assert_eq!(
            ClientCache::new(Duration::from_millis(1500)).window_secs(),
            2
        );
        assert_eq!(ClientCache::new(Duration::ZERO).window_secs(), 0);
    }
}
