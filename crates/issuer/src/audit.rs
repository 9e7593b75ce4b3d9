//! Audit events, written off the request path.
//!
//! Handlers hand events to a bounded channel; one background task appends
//! them to the store in batches (`Store::append_audit`). A full channel never
//! blocks a request: the event is dropped, counted
//! ([`Issuer::dropped_audit_events`](crate::Issuer::dropped_audit_events))
//! and a warning is logged. Reading the audit log through the admin API first
//! flushes this node's channel, so a reader sees every event this node
//! accepted before the read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use m2m_core::ClientId;
use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditRecord as AuditEvent, Store};

/// Events appended per store call at most.
const BATCH: usize = 256;

enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug)]
pub(crate) struct AuditSink {
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Event(event) => event.fmt(f),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditSink {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Arc<dyn Store>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(writer(store, rx));
        AuditSink {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an event; drops it (counted, with a warning) if the queue is full.
    pub(crate) fn record(
        &self,
        at: u64,
        kind: &str,
        client_id: Option<&ClientId>,
        actor: Option<&ClientId>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            seq: 0,
            at,
            kind: kind.to_owned(),
            client_id: client_id.cloned(),
            actor: actor.cloned(),
            detail,
        };
        if self.tx.try_send(Message::Event(event)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit queue full: events dropped");
            }
        }
    }

    /// Waits until every event queued before this call is in the store.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut events = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut messages, BATCH).await > 0 {
        let mut waiters = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => waiters.push(done),
            }
        }
        if !events.is_empty() {
            if let Err(error) = store.append_audit(&events).await {
                tracing::error!(%error, lost = events.len(), "could not append audit events");
            }
            events.clear();
        }
        for done in waiters {
            let _ = done.send(());
        }
    }
}
