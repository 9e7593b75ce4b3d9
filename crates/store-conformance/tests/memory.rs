//! The issuer's MemoryStore passes the conformance suite.

use m2m_issuer::store::MemoryStore;

async fn fresh() -> MemoryStore {
    MemoryStore::new()
}

m2m_store_conformance::suite!(fresh);
