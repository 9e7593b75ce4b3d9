//! The revocation feed poller: `GET URL[?since=CURSOR]` (contract section 6).
//!
//! - **Drain.** Each poll reads pages back to back, with no wait between
//!   them, while a page brings entries, up to a bounded number of pages per
//!   poll (default 100); then it sleeps the interval. A page that brings
//!   nothing, or does not move the cursor, ends the drain.
//! - **First drain at build.** [`GuardBuilder::build`](crate::GuardBuilder::build)
//!   reads the feed to its end before the guard exists, so a fresh guard
//!   never accepts a token revoked before it started; a failure fails the
//!   build, unless `lazy_start(true)`.
//! - **Cursor reset.** An issuer answers 400 to a cursor it never issued
//!   (beyond its head, or from before a database restore). The poller then
//!   drops its cursor and re-reads the feed from the start at once, keeping
//!   every revocation it has: it fails closed, never open.
//! - **Other errors** (the issuer down, a timeout, a body that is not a feed
//!   page) keep the cursor and the revocations; the next poll tries again.
//! - **Prune.** After every poll, revocations whose tokens have all expired
//!   (by the guard's clock, minus the leeway) are forgotten.

use std::time::Duration;

use http::StatusCode;
use m2m_core::RevocationFeed;
use tokio::task::AbortHandle;
use url::Url;

use super::clock::Clock;
use super::revocations::Revocations;
use crate::fetch::{FetchError, Fetcher};

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// The last page was empty, or did not move the cursor.
    CaughtUp,
    /// The page limit was reached with more to read.
    PageLimit,
}

/// The feed, its cursor, and the set it fills.
#[derive(Debug)]
pub(crate) struct Feed {
    url: Url,
    fetcher: Fetcher,
    revocations: Revocations,
    cursor: Option<String>,
}

impl Feed {
    pub(crate) fn new(url: Url, fetcher: Fetcher, revocations: Revocations) -> Self {
        Feed {
            url,
            fetcher,
            revocations,
            cursor: None,
        }
    }

    /// Reads pages back to back from the cursor, applying each as it comes,
    /// until one brings nothing or `max_pages` were read (`None`: no limit).
    /// On an error, what was read so far stays applied and the cursor stays
    /// at the last page read.
    pub(crate) async fn drain(&mut self, max_pages: Option<usize>) -> Result<Drained, FetchError> {
        let mut pages = 0usize;
        let mut entries = 0usize;
        let outcome = loop {
            if max_pages.is_some_and(|max| pages >= max) {
                break Drained::PageLimit;
            }
            pages += 1;
            let page = match self.read_page().await {
                Ok(page) => page,
                Err(e) if e.status() == Some(StatusCode::BAD_REQUEST) && self.cursor.is_some() => {
                    tracing::warn!(
                        target: "m2m_guard",
                        cursor = self.cursor.as_deref().unwrap_or_default(),
                        "the issuer refused the revocation feed cursor; re-reading the feed \
                         from the start and keeping the revocations already held"
                    );
                    self.cursor = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.revocations.apply(&page);
            entries += page.len();
            let empty = page.is_empty();
            // An empty cursor is no position: the next read starts over.
            let cursor = Some(page.cursor).filter(|cursor| !cursor.is_empty());
            let moved = cursor != self.cursor;
            self.cursor = cursor;
            if empty || !moved {
                break Drained::CaughtUp;
            }
        };
        tracing::debug!(target: "m2m_guard", pages, entries, ?outcome, "revocation feed read");
        Ok(outcome)
    }

    async fn read_page(&self) -> Result<RevocationFeed, FetchError> {
        let mut url = self.url.clone();
        if let Some(cursor) = &self.cursor {
            url.query_pairs_mut().append_pair("since", cursor);
        }
        let (_, body) = self.fetcher.get(url).await?;
        serde_json::from_slice(&body).map_err(|e| {
            FetchError::Failed(format!("the revocation feed page is not valid JSON: {e}"))
        })
    }

    /// Polls every `interval` (the first poll one interval from now: the
    /// build drained the feed), reading at most `pages_per_poll` pages each
    /// time, and prunes after each poll at `clock() - leeway`.
    pub(crate) fn spawn(
        mut self,
        interval: Duration,
        pages_per_poll: usize,
        clock: Clock,
        leeway: u64,
    ) -> AbortHandle {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match self.drain(Some(pages_per_poll)).await {
                    Ok(Drained::CaughtUp) => {}
                    Ok(Drained::PageLimit) => tracing::info!(
                        target: "m2m_guard",
                        pages = pages_per_poll,
                        "revocation feed: page limit reached; reading on at the next poll"
                    ),
                    Err(e) => tracing::warn!(
                        target: "m2m_guard",
                        error = %e,
                        "revocation feed poll failed; keeping the cursor and the revocations"
                    ),
                }
                self.revocations.prune(clock().saturating_sub(leeway));
            }
        })
        .abort_handle()
    }
}
