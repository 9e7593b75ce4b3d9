//! Revocations: tokens the guard refuses although their signature is good.
//!
//! One set of m2m-core's [`Revocation`]s, of three kinds: a token (by `jti`),
//! a client (its tokens issued at or before a time), a signing key (every
//! token it verifies, even while a stale JWKS still lists it). Two ways in,
//! both off until used:
//!
//! - the issuer's feed, `GET /oauth/revocations?since=CURSOR` (contract
//!   section 6), drained by
//!   [`GuardBuilder::revocation_feed`](crate::GuardBuilder::revocation_feed),
//!   which also prunes the set after every poll;
//! - an issuer in the same process pushing into a [`Revocations`] handle; it
//!   owns the set's upkeep and calls [`Revocations::prune`] as entries expire.
//!
//! The request path reads the set with no call out and no lock: while
//! nothing is revoked it loads one atomic; after that, one map lookup per
//! kind that has entries. A new revocation never touches the verified-token
//! cache: a cache hit checks revocation like a fresh token does.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use m2m_core::{AccessTokenClaims, Revocation, RevocationFeed};

/// Which maps hold entries: one bit per kind.
const TOKENS: u8 = 1;
const CLIENTS: u8 = 2;
const KEYS: u8 = 4;

/// Revoked tokens, clients and keys, shared by the guards built with it.
///
/// Cloning gives another handle to the same set.
///
/// ```
/// use m2m_core::{AccessTokenClaims, RevokedClient, RevokedKey, RevokedToken};
/// use m2m_guard::Revocations;
///
/// let revocations = Revocations::new();
/// revocations.revoke(RevokedToken { jti: "jti-1".into(), exp: 1_700_003_600 });
/// revocations.revoke(RevokedClient::new("m2m_abc".into(), 1_700_000_000));
/// revocations.revoke(RevokedKey::new("key-1", 1_700_000_000));
/// assert_eq!(revocations.len(), 3);
///
/// # let claims: AccessTokenClaims = serde_json::from_str(r#"{"iss":"i","sub":"m2m_abc",
/// #   "client_id":"m2m_abc","aud":"a","exp":1700003600,"iat":1699999999,"jti":"j","scope":""}"#).unwrap();
/// // A token of m2m_abc issued before the revocation, signed by key-2:
/// assert!(revocations.is_revoked(&claims, Some("key-2")));
/// let later = AccessTokenClaims { iat: 1_700_000_001, ..claims };
/// assert!(!revocations.is_revoked(&later, Some("key-2")));
/// assert!(revocations.is_revoked(&later, Some("key-1")));
///
/// // Once every token they cover has expired (and the leeway passed):
/// revocations.prune(1_700_000_000 + 86_400 + 1);
/// assert!(revocations.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Revocations {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The kinds with entries (`TOKENS | CLIENTS | KEYS`); 0 while nothing is
    /// revoked. Set after an insert and cleared by a prune that empties a
    /// map, both under `writer`, so a reader that sees a bit clear would have
    /// found that map empty.
    kinds: AtomicU8,
    /// `jti` → the token's `exp`.
    tokens: DashMap<Box<str>, u64>,
    /// `client_id` → (`revoked_at`, `exp`).
    clients: DashMap<Box<str>, (u64, u64)>,
    /// `kid` → `exp`.
    keys: DashMap<Box<str>, u64>,
    /// Serializes the writers (revoke, prune) so the kind bits stay true.
    writer: Mutex<()>,
}

impl Revocations {
    /// Nothing revoked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the tokens `revocation` covers. Revoking what is revoked
    /// already keeps the wider of the two: a client's later `revoked_at`, the
    /// later `exp`.
    pub fn revoke(&self, revocation: impl Into<Revocation>) {
        let _writer = self.write();
        self.insert(revocation.into());
    }

    /// Refuses the tokens each revocation covers.
    pub fn extend<R: Into<Revocation>>(&self, revocations: impl IntoIterator<Item = R>) {
        let _writer = self.write();
        for revocation in revocations {
            self.insert(revocation.into());
        }
    }

    /// Applies one page of the issuer's feed.
    pub fn apply(&self, page: &RevocationFeed) {
        self.extend(page.revocations());
    }

    /// Whether the token with these claims, verified by the key `kid`, is
    /// revoked: its `jti`, its client (when `iat <= revoked_at`) or its key.
    /// The same rule as [`Revocation::covers`], by lookup instead of a scan.
    #[inline]
    pub fn is_revoked(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> bool {
        let kinds = self.inner.kinds.load(Ordering::Acquire);
        if kinds == 0 {
            return false;
        }
        (kinds & TOKENS != 0 && self.inner.tokens.contains_key(claims.jti.as_str()))
            || (kinds & CLIENTS != 0
                && self
                    .inner
                    .clients
                    .get(claims.client_id.as_str())
                    .is_some_and(|entry| claims.iat <= entry.0))
            || (kinds & KEYS != 0 && kid.is_some_and(|kid| self.inner.keys.contains_key(kid)))
    }

    /// Forgets every revocation (of any kind) whose tokens all expired
    /// before `before`, seconds since the epoch. Pass the current time minus
    /// the verifiers' leeway: a token with `exp` at or after that may still
    /// be accepted, so its revocation is kept.
    pub fn prune(&self, before: u64) {
        let _writer = self.write();
        let inner = &*self.inner;
        inner.tokens.retain(|_, exp| *exp >= before);
        inner.clients.retain(|_, (_, exp)| *exp >= before);
        inner.keys.retain(|_, exp| *exp >= before);
        let mut kinds = 0;
        if !inner.tokens.is_empty() {
            kinds |= TOKENS;
        }
        if !inner.clients.is_empty() {
            kinds |= CLIENTS;
        }
        if !inner.keys.is_empty() {
            kinds |= KEYS;
        }
        inner.kinds.store(kinds, Ordering::Release);
    }

    /// How many revocations are held, all kinds together.
    pub fn len(&self) -> usize {
        self.inner.tokens.len() + self.inner.clients.len() + self.inner.keys.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic elsewhere cannot leave it torn.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Inserts one revocation; call under [`Revocations::write`].
    fn insert(&self, revocation: Revocation) {
        let inner = &*self.inner;
        let kind = match revocation {
            Revocation::Token(token) => {
                inner
                    .tokens
                    .entry(token.jti.into_boxed_str())
                    .and_modify(|exp| *exp = (*exp).max(token.exp))
                    .or_insert(token.exp);
                TOKENS
            }
            Revocation::Client(client) => {
                inner
                    .clients
                    .entry(client.client_id.into_string().into_boxed_str())
                    .and_modify(|(at, exp)| {
                        *at = (*at).max(client.revoked_at);
                        *exp = (*exp).max(client.exp);
                    })
                    .or_insert((client.revoked_at, client.exp));
                CLIENTS
            }
            Revocation::Key(key) => {
                inner
                    .keys
                    .entry(key.kid.into_boxed_str())
                    .and_modify(|exp| *exp = (*exp).max(key.exp))
                    .or_insert(key.exp);
                KEYS
            }
        };
        // After the insert: a reader that sees the bit sees the entry.
        inner.kinds.fetch_or(kind, Ordering::Release);
    }
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("tokens", &self.inner.tokens.len())
            .field("clients", &self.inner.clients.len())
            .field("keys", &self.inner.keys.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2m_core::{RevokedClient, RevokedKey, RevokedToken, ScopeSet};

    fn claims(client_id: &str, iat: u64, jti: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "i".into(),
            sub: client_id.into(),
            client_id: client_id.into(),
            aud: "a".into(),
            exp: iat + 300,
            nbf: None,
            iat,
            jti: jti.into(),
            scope: ScopeSet::new(),
            oid: None,
            uid: None,
            cnf: None,
            act: None,
            may_act: None,
        }
    }

    fn token(jti: &str, exp: u64) -> Revocation {
        RevokedToken {
            jti: jti.into(),
            exp,
        }
        .into()
    }

    fn key(kid: &str, exp: u64) -> Revocation {
        RevokedKey {
            kid: kid.into(),
            revoked_at: 0,
            exp,
        }
        .into()
    }

    fn client(id: &str, revoked_at: u64, exp: u64) -> Revocation {
        RevokedClient {
            client_id: id.into(),
            revoked_at,
            exp,
        }
        .into()
    }

    #[test]
    fn nothing_revoked_is_one_flag() {
        let revocations = Revocations::new();
        assert_eq!(revocations.inner.kinds.load(Ordering::Relaxed), 0);
        assert!(!revocations.is_revoked(&claims("c", 1, "j"), Some("k")));
        assert!(revocations.is_empty());
    }

    #[test]
    fn lookups_agree_with_covers_for_every_kind() {
        let all = [
            token("j1", 1_000),
            client("c1", 100, 1_000),
            key("k1", 1_000),
        ];
        let revocations = Revocations::new();
        revocations.extend(all.clone());
        for client_id in ["c1", "c2"] {
            for iat in [99, 100, 101] {
                for jti in ["j1", "j2"] {
                    for kid in [None, Some("k1"), Some("k2")] {
                        let claims = claims(client_id, iat, jti);
                        let covered = all.iter().any(|r| r.covers(&claims, kid));
                        assert_eq!(
                            revocations.is_revoked(&claims, kid),
                            covered,
                            "{client_id} iat {iat} {jti} {kid:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_client_revoked_twice_keeps_the_later_time() {
        let revocations = Revocations::new();
        revocations.revoke(RevokedClient::new("c".into(), 200));
        revocations.revoke(RevokedClient::new("c".into(), 100));
        assert!(revocations.is_revoked(&claims("c", 150, "j"), None));
        assert!(revocations.is_revoked(&claims("c", 200, "j"), None));
        assert!(!revocations.is_revoked(&claims("c", 201, "j"), None));
        assert_eq!(revocations.len(), 1);
        // And the later exp: the entry outlives the earlier revocation's.
        revocations.prune(100 + 86_400 + 1);
        assert_eq!(revocations.len(), 1);
        revocations.prune(200 + 86_400 + 1);
        assert!(revocations.is_empty());
    }

    #[test]
    fn prune_drops_every_kind_once_expired_and_clears_the_flag() {
        let revocations = Revocations::new();
        revocations.extend([
            token("old", 10),
            token("live", 30),
            client("old", 0, 10),
            client("live", 0, 30),
            key("old", 10),
            key("live", 30),
        ]);
        assert_eq!(revocations.len(), 6);
        revocations.prune(11);
        assert_eq!(revocations.len(), 3);
        assert!(!revocations.is_revoked(&claims("old", 0, "old"), Some("old")));
        assert!(revocations.is_revoked(&claims("x", 0, "live"), None));
        assert!(revocations.is_revoked(&claims("live", 0, "x"), None));
        assert!(revocations.is_revoked(&claims("x", 0, "x"), Some("live")));
        revocations.prune(30);
        assert_eq!(revocations.len(), 3, "exp == before is kept");
        revocations.prune(31);
        assert!(revocations.is_empty());
        assert_eq!(revocations.inner.kinds.load(Ordering::Relaxed), 0);
        assert!(!revocations.is_revoked(&claims("live", 0, "live"), Some("live")));
    }

    #[test]
    fn a_prune_that_empties_one_kind_keeps_the_others_checked() {
        let revocations = Revocations::new();
        revocations.extend([token("j", 10), key("k", 1_000)]);
        revocations.prune(11);
        assert_eq!(revocations.inner.kinds.load(Ordering::Relaxed), KEYS);
        assert!(revocations.is_revoked(&claims("c", 0, "x"), Some("k")));
        revocations.revoke(token("j2", 1_000));
        assert!(revocations.is_revoked(&claims("c", 0, "j2"), None));
    }

    #[test]
    fn apply_takes_every_kind_of_a_page() {
        let mut page = RevocationFeed::default();
        page.push(token("j", 1_000));
        page.push(client("c", 100, 1_000));
        page.push(key("k", 1_000));
        let revocations = Revocations::new();
        revocations.apply(&page);
        assert_eq!(revocations.len(), 3);
        assert!(revocations.is_revoked(&claims("x", 0, "j"), None));
        assert!(revocations.is_revoked(&claims("c", 100, "x"), None));
        assert!(revocations.is_revoked(&claims("x", 0, "x"), Some("k")));
    }
}
