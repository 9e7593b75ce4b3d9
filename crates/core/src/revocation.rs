//! The revocation feed (contract section 6): what the issuer serves at
//! `GET /oauth/revocations?since=CURSOR` and what guards poll.

use serde::{Deserialize, Serialize};

use crate::ids::ClientId;

/// One page of the revocation feed.
///
/// ```
/// let page: m2m_core::RevocationFeed = serde_json::from_str(
///     r#"{"revoked_jtis":[{"jti":"j1","exp":1700003600}],
///         "revoked_clients":[{"client_id":"m2m_x","revoked_at":1700000000}],
///         "cursor":"c2"}"#,
/// ).unwrap();
/// assert_eq!(page.revoked_jtis[0].jti, "j1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Revoked tokens, by `jti`, with their expiry (after which they can be forgotten).
    pub revoked_jtis: Vec<RevokedToken>,
    /// Revoked (deleted or disabled) clients: their tokens issued at or before
    /// `revoked_at` are refused.
    pub revoked_clients: Vec<RevokedClient>,
    /// Pass this back as `since` to get only newer entries.
    pub cursor: String,
}

/// A revoked token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`, seconds since the epoch.
    pub exp: u64,
}

/// A revoked client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedClient {
    /// The client.
    pub client_id: ClientId,
    /// When it was revoked, seconds since the epoch.
    pub revoked_at: u64,
}
