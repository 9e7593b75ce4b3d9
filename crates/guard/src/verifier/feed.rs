//! The revocation feed poller.

use std::time::Duration;

use m2m_core::RevocationFeed;
use tokio::task::AbortHandle;

use super::clock::Clock;
use super::revocations::Revocations;
use crate::fetch::Fetcher;

/// Polls the feed: at once, then every `interval`; on error it keeps what it
/// has and tries again at the next interval.
pub(crate) fn spawn_poll(
    revocations: Revocations,
    fetcher: Fetcher,
    url: url::Url,
    interval: Duration,
    clock: Clock,
    leeway: u64,
) -> AbortHandle {
    tokio::spawn(async move {
        let mut cursor: Option<String> = None;
        loop {
            let mut page_url = url.clone();
            if let Some(cursor) = &cursor {
                page_url.query_pairs_mut().append_pair("since", cursor);
            }
            match fetcher.get(page_url).await {
                Ok((_, body)) => match serde_json::from_slice::<RevocationFeed>(&body) {
                    Ok(feed) => {
                        revocations.apply(&feed);
                        cursor = Some(feed.cursor);
                        revocations.prune(clock().saturating_sub(leeway));
                    }
                    Err(e) => {
                        tracing::warn!(target: "m2m_guard", error = %e, "revocation feed is not valid JSON")
                    }
                },
                Err(e) => {
                    tracing::warn!(target: "m2m_guard", error = %e, "revocation feed poll failed")
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
    .abort_handle()
}
