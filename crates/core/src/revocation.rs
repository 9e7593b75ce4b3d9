//! Revocations: one type, [`Revocation`], for every place a revocation
//! lives: the issuer's store and log, the feed that guards poll
//! (`GET /oauth/revocations`, contract section 6), the push to in-process
//! guards, and the set a guard refuses tokens from.
//!
//! Three kinds, each able to say which tokens it covers and when every one of
//! them has expired (after which the revocation can be forgotten):
//!
//! | kind | covers | forgotten after |
//! |---|---|---|
//! | [`RevokedToken`] | the token with this `jti` | the token's `exp` |
//! | [`RevokedClient`] | every token of the client with `iat <= revoked_at` | `revoked_at` + the longest token lifetime |
//! | [`RevokedKey`] | every token signed by the key `kid` | `revoked_at` + the longest token lifetime |
//!
//! ```
//! use m2m_core::{Revocation, RevokedClient};
//! let revocation = Revocation::from(RevokedClient::new("m2m_x".into(), 1_700_000_000));
//! assert_eq!(revocation.exp(), 1_700_000_000 + 86_400);
//! ```

use serde::{Deserialize, Serialize};

use crate::claims::AccessTokenClaims;
use crate::client::TokenTtl;
use crate::ids::ClientId;

/// The longest lifetime of any token, in seconds: what a client or key
/// revocation must outlive.
const LONGEST_TOKEN_LIFE: u64 = TokenTtl::MAX as u64;

/// A revoked token, by `jti`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`, seconds since the epoch: after it (and the
    /// verifiers' leeway) the entry can be forgotten.
    pub exp: u64,
}

/// A revoked client: its tokens issued at or before `revoked_at` are refused.
///
/// Disabling, deleting and narrowing a client (its scopes or audiences) each
/// revoke it. Re-enabling does not revive the tokens covered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedClient {
    /// The client.
    pub client_id: ClientId,
    /// Tokens with `iat` at or before this time (seconds since the epoch) are refused.
    pub revoked_at: u64,
    /// When every token covered has expired: `revoked_at` plus the longest
    /// token lifetime. Feeds written before this field existed lack it: such
    /// an entry is kept for good.
    #[serde(default = "forever")]
    pub exp: u64,
}

/// A revoked signing key: every token it signed is refused, whatever its time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedKey {
    /// The key's `kid`.
    pub kid: String,
    /// When it was revoked.
    pub revoked_at: u64,
    /// When every token it signed has expired.
    #[serde(default = "forever")]
    pub exp: u64,
}

fn forever() -> u64 {
    u64::MAX
}

impl RevokedClient {
    /// Revokes `client_id`'s tokens issued at or before `revoked_at`.
    pub fn new(client_id: ClientId, revoked_at: u64) -> Self {
        RevokedClient {
            client_id,
            revoked_at,
            exp: revoked_at.saturating_add(LONGEST_TOKEN_LIFE),
        }
    }
}

impl RevokedKey {
    /// Revokes every token signed by `kid`.
    pub fn new(kid: impl Into<String>, revoked_at: u64) -> Self {
        RevokedKey {
            kid: kid.into(),
            revoked_at,
            exp: revoked_at.saturating_add(LONGEST_TOKEN_LIFE),
        }
    }
}

/// One revocation, of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Revocation {
    /// One token.
    Token(RevokedToken),
    /// A client's tokens up to a time.
    Client(RevokedClient),
    /// A signing key's tokens.
    Key(RevokedKey),
}

impl Revocation {
    /// When every token this covers has expired (before any leeway), seconds
    /// since the epoch: the entry can be forgotten once that time plus the
    /// verifiers' leeway has passed.
    pub fn exp(&self) -> u64 {
        match self {
            Revocation::Token(token) => token.exp,
            Revocation::Client(client) => client.exp,
            Revocation::Key(key) => key.exp,
        }
    }

    /// Whether this revocation covers a token with these claims, verified by
    /// the key `kid`.
    ///
    /// ```
    /// use m2m_core::{AccessTokenClaims, Revocation, RevokedKey};
    /// # let claims: AccessTokenClaims = serde_json::from_str(r#"{"iss":"i","sub":"s",
    /// #   "client_id":"m2m_x","aud":"a","exp":2,"iat":1,"jti":"j","scope":""}"#).unwrap();
    /// let revocation = Revocation::Key(RevokedKey::new("k1", 100));
    /// assert!(revocation.covers(&claims, Some("k1")));
    /// assert!(!revocation.covers(&claims, Some("k2")));
    /// ```
    pub fn covers(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> bool {
        match self {
            Revocation::Token(token) => token.jti == claims.jti,
            Revocation::Client(client) => {
                client.client_id == claims.client_id && claims.iat <= client.revoked_at
            }
            Revocation::Key(key) => kid == Some(key.kid.as_str()),
        }
    }
}

impl From<RevokedToken> for Revocation {
    fn from(token: RevokedToken) -> Self {
        Revocation::Token(token)
    }
}

impl From<RevokedClient> for Revocation {
    fn from(client: RevokedClient) -> Self {
        Revocation::Client(client)
    }
}

impl From<RevokedKey> for Revocation {
    fn from(key: RevokedKey) -> Self {
        Revocation::Key(key)
    }
}

/// One page of the revocation feed, as the issuer serves it and guards read it.
///
/// ```
/// let page: m2m_core::RevocationFeed = serde_json::from_str(
///     r#"{"revoked_jtis":[{"jti":"j1","exp":1700003600}],
///         "revoked_clients":[{"client_id":"m2m_x","revoked_at":1700000000}],
///         "cursor":"c2"}"#,
/// ).unwrap();
/// assert_eq!(page.revoked_jtis[0].jti, "j1");
/// assert_eq!(page.len(), 2);
/// assert_eq!(page.revocations().count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Revoked tokens, by `jti`.
    pub revoked_jtis: Vec<RevokedToken>,
    /// Revoked clients: their tokens issued at or before `revoked_at` are refused.
    pub revoked_clients: Vec<RevokedClient>,
    /// Revoked signing keys: every token they signed is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_keys: Vec<RevokedKey>,
    /// Pass this back as `since` to get only newer entries.
    pub cursor: String,
}

impl RevocationFeed {
    /// Adds one revocation to the page.
    pub fn push(&mut self, revocation: Revocation) {
        match revocation {
            Revocation::Token(token) => self.revoked_jtis.push(token),
            Revocation::Client(client) => self.revoked_clients.push(client),
            Revocation::Key(key) => self.revoked_keys.push(key),
        }
    }

    /// Every revocation of the page.
    pub fn revocations(&self) -> impl Iterator<Item = Revocation> + '_ {
        let tokens = self.revoked_jtis.iter().cloned().map(Revocation::Token);
        let clients = self.revoked_clients.iter().cloned().map(Revocation::Client);
        let keys = self.revoked_keys.iter().cloned().map(Revocation::Key);
        tokens.chain(clients).chain(keys)
    }

    /// How many revocations the page holds.
    pub fn len(&self) -> usize {
        self.revoked_jtis.len() + self.revoked_clients.len() + self.revoked_keys.len()
    }

    /// Whether the page holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(client_id: &str, iat: u64, jti: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "i".into(),
            sub: client_id.into(),
            client_id: client_id.into(),
            aud: "a".into(),
            exp: iat + 300,
            nbf: Some(iat),
            iat,
            jti: jti.into(),
            scope: crate::ScopeSet::new(),
            oid: None,
            uid: None,
            cnf: None,
            act: None,
            may_act: None,
        }
    }

    #[test]
    fn what_each_kind_covers() {
        let token = Revocation::from(RevokedToken {
            jti: "j1".into(),
            exp: 10,
        });
        assert!(token.covers(&claims("c", 1, "j1"), None));
        assert!(!token.covers(&claims("c", 1, "j2"), None));

        let client = Revocation::from(RevokedClient::new("c".into(), 100));
        assert!(client.covers(&claims("c", 100, "j"), None), "iat == t");
        assert!(client.covers(&claims("c", 99, "j"), None));
        assert!(!client.covers(&claims("c", 101, "j"), None));
        assert!(!client.covers(&claims("other", 1, "j"), None));
        assert_eq!(client.exp(), 100 + 86_400);

        let key = Revocation::from(RevokedKey::new("k", 100));
        assert!(key.covers(&claims("c", 5_000, "j"), Some("k")));
        assert!(!key.covers(&claims("c", 5_000, "j"), None));
    }

    #[test]
    fn old_feeds_without_exp_keep_their_entries() {
        let page: RevocationFeed = serde_json::from_str(
            r#"{"revoked_jtis":[],"revoked_clients":[{"client_id":"c","revoked_at":5}],"cursor":""}"#,
        )
        .unwrap();
        assert_eq!(page.revoked_clients[0].exp, u64::MAX);
        assert!(page.revoked_keys.is_empty());
    }

    #[test]
    fn pages_round_trip_every_kind() {
        let mut page = RevocationFeed::default();
        page.push(
            RevokedToken {
                jti: "j".into(),
                exp: 9,
            }
            .into(),
        );
        page.push(RevokedClient::new("c".into(), 5).into());
        page.push(RevokedKey::new("k", 5).into());
        let json = serde_json::to_string(&page).unwrap();
        let back: RevocationFeed = serde_json::from_str(&json).unwrap();
        assert_eq!(back, page);
        assert_eq!(back.revocations().count(), 3);
        let empty = serde_json::to_value(RevocationFeed::default()).unwrap();
        assert!(empty.get("revoked_keys").is_none(), "absent when empty");
    }
}
