//! [`Follower`]: reads the store's revocation log into this node's
//! [`RevocationState`]: all of it when the issuer starts (so a restart
//! forgets no revocation), then what is new every interval (so revocations
//! made on other replicas reach this node's in-process guards within one
//! interval). A key revocation found in the log also reloads the key ring,
//! so this node stops signing with, and publishing, a key another replica
//! revoked.
//!
//! Like a polling guard, the follower fails closed when the log is not the
//! one it was reading: if the log's head is behind its position, or the
//! entry at its position is not the one it read there (a database restored
//! from a backup), it starts over from the beginning, keeping every
//! revocation it already holds.

use std::sync::{Arc, Weak};
use std::time::Duration;

use m2m_core::Revocation;
use tokio::sync::Mutex;

use super::error::Internal;
use super::keys::KeyManager;
use super::revocation::RevocationState;
use crate::store::Store;

/// Entries read per store call.
const PAGE: usize = 1000;

#[derive(Debug)]
pub(crate) struct Follower {
    store: Arc<dyn Store>,
    state: Arc<RevocationState>,
    keys: Arc<KeyManager>,
    leeway: u64,
    /// The last entry read, and its sequence number.
    position: Mutex<Option<(u64, Revocation)>>,
}

impl Follower {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        state: Arc<RevocationState>,
        keys: Arc<KeyManager>,
        leeway: u64,
    ) -> Self {
        Follower {
            store,
            state,
            keys,
            leeway,
            position: Mutex::new(None),
        }
    }

    /// Reads every entry after the position, page after page, and applies
    /// it; then forgets entries that expired before `now - leeway`. Returns
    /// how many entries it read.
    pub(crate) async fn catch_up(&self, now: u64) -> Result<usize, Internal> {
        let mut position = self.position.lock().await;
        if let Some((seq, entry)) = position.as_ref() {
            let same = match self.store.revocation_at(*seq).await? {
                Some(found) => &found == entry,
                // Purged: fine unless the log is now shorter than that.
                None => self.store.revocations_since(*seq, 0).await?.head >= *seq,
            };
            if !same {
                tracing::warn!(
                    seq,
                    "the revocation log is not the one this node was following \
                     (a restored database?): reading it again from the start"
                );
                *position = None;
            }
        }
        let mut read = 0;
        let mut keys_changed = false;
        loop {
            let after = position.as_ref().map_or(0, |(seq, _)| *seq);
            let page = self.store.revocations_since(after, PAGE).await?;
            let Some(last) = page.entries.last() else {
                break;
            };
            *position = Some((last.seq, last.revocation.clone()));
            read += page.entries.len();
            for entry in &page.entries {
                keys_changed |= matches!(entry.revocation, Revocation::Key(_));
                self.state.apply(&entry.revocation);
            }
            if page.entries.len() < PAGE {
                break;
            }
        }
        drop(position);
        if keys_changed {
            self.keys.refresh(now).await?;
        }
        self.state.prune(now.saturating_sub(self.leeway));
        Ok(read)
    }
}

/// Follows the log every `interval` until the issuer is dropped.
pub(crate) fn spawn(
    follower: Weak<Follower>,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    interval: Duration,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(follower) = follower.upgrade() else {
                return;
            };
            if let Err(error) = follower.catch_up(clock()).await {
                tracing::warn!(%error, "could not read the revocation log; retrying");
            }
        }
    });
}
