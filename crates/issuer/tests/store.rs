//! The in-memory store passes the public conformance suite.

use m2m_issuer::store::{MemoryStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    conformance::run(|| async { MemoryStore::new() }).await;
}
