//! A secret's `last_used_at`: written off the request path, at most once per
//! [`LAST_USED_GRANULARITY_SECS`] per secret on this node, and in batches.
//!
//! The token path only decides whether a secret's use is due and queues it;
//! one writer task takes what is queued and hands it to the store in one
//! [`Store::touch_secrets`] call, which the SQL store writes in one
//! transaction. With 100,000 active clients nearly every token is a secret's
//! first use of its minute, and a write transaction per token was most of
//! the token's cost (docs/benchmarks.md, growth).
//!
//! Best effort by design, as `last_used_at` is a hint for operators: when the
//! queue is full a use is dropped (the next due one records it), and what is
//! queued when the issuer is dropped is still written.

use std::sync::Arc;

use dashmap::DashMap;
use m2m_core::ClientId;
use tokio::sync::mpsc;

use crate::store::{SecretTouch, Store};

/// How often `last_used_at` is written per secret at most, in seconds.
pub const LAST_USED_GRANULARITY_SECS: u64 = 60;

/// Secrets whose last write this node remembers at most; past it, it starts over.
const MAX_TOUCHED: usize = 200_000;

/// Uses queued for the writer at most (beyond: dropped).
const QUEUE: usize = 16_384;

/// The most uses one store call writes.
const BATCH: usize = 1_024;

/// Decides which uses are due and queues them for the writer task.
#[derive(Debug)]
pub(crate) struct SecretUses {
    /// secret id → when this node last queued its `last_used_at`.
    last_touch: DashMap<String, u64>,
    tx: mpsc::Sender<SecretTouch>,
}

impl SecretUses {
    /// Starts the writer task on the current runtime; it ends once this is
    /// dropped and the queue is written.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, rx));
        SecretUses {
            last_touch: DashMap::new(),
            tx,
        }
    }

    /// Records that `secret_id` of `client_id` authenticated a request at
    /// `now`, if its last recorded use is at least a granule old.
    pub(crate) fn record(&self, client_id: &ClientId, secret_id: &str, now: u64) {
        let due = self
            .last_touch
            .get(secret_id)
            .is_none_or(|last| now.saturating_sub(*last) >= LAST_USED_GRANULARITY_SECS);
        if !due {
            return;
        }
        if self.last_touch.len() >= MAX_TOUCHED {
            self.last_touch.clear();
        }
        self.last_touch.insert(secret_id.to_owned(), now);
        let touch = SecretTouch {
            client_id: client_id.clone(),
            secret_id: secret_id.to_owned(),
            at: now,
        };
        if self.tx.try_send(touch).is_err() {
            // Full: forget it was queued, so the next use tries again.
            self.last_touch.remove(secret_id);
        }
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<SecretTouch>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(error) = store.touch_secrets(&batch).await {
            tracing::warn!(%error, uses = batch.len(), "could not record secrets' last use");
        }
        batch.clear();
    }
}
