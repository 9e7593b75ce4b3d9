//! [`Feed`]: the revocation feed guards poll (`GET /oauth/revocations`,
//! contract section 6), and its cursors.
//!
//! A cursor is opaque: base64url of the sequence number of the last entry a
//! page held and a fingerprint of that entry (8 bytes of SHA-256 over its
//! contents). A cursor this issuer never issued is refused
//! ([`FeedError::UnknownCursor`], answered 400) rather than answered from a
//! position that means something else, so that a guard re-reads the feed
//! from the start and fails closed:
//!
//! - a sequence number beyond the log's head (a database restored from an
//!   older backup, or a cursor from another issuer);
//! - an entry at that number that is not the one the cursor was made from
//!   (a restored database whose log has grown past the cursor since).
//!
//! A cursor whose entry has been purged (every token it covered expired)
//! is accepted if it is not beyond the head: nothing it could skip matters.
//! A page holds at most [`PAGE`] entries; a guard asks again with the
//! returned cursor until a page comes back empty.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{Revocation, RevocationFeed};
use ring::digest;

use super::error::Internal;
use crate::store::Store;

/// Entries per page at most.
pub(crate) const PAGE: usize = 1000;

/// A feed request failed.
#[derive(Debug)]
pub(crate) enum FeedError {
    /// The cursor is malformed or was never issued by this log.
    UnknownCursor,
    Internal(Internal),
}

impl From<crate::store::StoreError> for FeedError {
    fn from(error: crate::store::StoreError) -> Self {
        FeedError::Internal(error.into())
    }
}

/// 8 bytes of SHA-256 over an entry's sequence number and contents.
fn fingerprint(seq: u64, revocation: &Revocation) -> [u8; 8] {
    let text = match revocation {
        Revocation::Token(t) => format!("{seq}\ntoken\n{}\n{}", t.jti, t.exp),
        Revocation::Client(c) => {
            format!(
                "{seq}\nclient\n{}\n{}\n{}",
                c.client_id, c.revoked_at, c.exp
            )
        }
        Revocation::Key(k) => format!("{seq}\nkey\n{}\n{}\n{}", k.kid, k.revoked_at, k.exp),
    };
    let hash = digest::digest(&digest::SHA256, text.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&hash.as_ref()[..8]);
    out
}

/// A cursor: the last entry's sequence number and fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    seq: u64,
    fingerprint: [u8; 8],
}

impl Cursor {
    const START: Cursor = Cursor {
        seq: 0,
        fingerprint: [0; 8],
    };

    fn after(seq: u64, revocation: &Revocation) -> Self {
        Cursor {
            seq,
            fingerprint: fingerprint(seq, revocation),
        }
    }

    fn encode(self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.seq.to_be_bytes());
        bytes[8..].copy_from_slice(&self.fingerprint);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn decode(text: &str) -> Option<Self> {
        if text.len() != 22 {
            return None;
        }
        let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let (seq, fingerprint) = bytes.split_at(8);
        Some(Cursor {
            seq: u64::from_be_bytes(seq.try_into().ok()?),
            fingerprint: fingerprint.try_into().ok()?,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Feed {
    store: Arc<dyn Store>,
}

impl Feed {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Feed { store }
    }

    /// The page after `since` (`None`: from the start).
    pub(crate) async fn page(&self, since: Option<&str>) -> Result<RevocationFeed, FeedError> {
        let cursor = match since {
            None => Cursor::START,
            Some(text) => Cursor::decode(text).ok_or(FeedError::UnknownCursor)?,
        };
        let page = self.store.revocations_since(cursor.seq, PAGE).await?;
        if cursor.seq > page.head {
            return Err(FeedError::UnknownCursor);
        }
        if cursor != Cursor::START
            && let Some(entry) = self.store.revocation_at(cursor.seq).await?
            && Cursor::after(cursor.seq, &entry) != cursor
        {
            return Err(FeedError::UnknownCursor);
        }
        let next = page
            .entries
            .last()
            .map_or(cursor, |last| Cursor::after(last.seq, &last.revocation));
        let mut feed = RevocationFeed {
            cursor: next.encode(),
            ..RevocationFeed::default()
        };
        for entry in page.entries {
            feed.push(entry.revocation);
        }
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2m_core::{RevokedClient, RevokedToken};

    #[test]
    fn cursors_round_trip_and_refuse_lookalikes() {
        let entry = Revocation::Token(RevokedToken {
            jti: "j".into(),
            exp: 5,
        });
        let cursor = Cursor::after(42, &entry);
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_ne!(
            cursor,
            Cursor::after(43, &entry),
            "the seq is in the fingerprint"
        );
        let other = Revocation::Client(RevokedClient::new("c".into(), 5));
        assert_ne!(cursor, Cursor::after(42, &other));
        for bad in ["", "AAAAAAAAAAA", "!!!!!!!!!!!!!!!!!!!!!!", &"A".repeat(23)] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
        // The 8-byte cursors of earlier versions are refused too.
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(7u64.to_be_bytes())),
            None
        );
    }
}
