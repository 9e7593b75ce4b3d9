//! The verifier: the one place a token is judged.
//!
//! A [`Verifier`] owns everything that decides whether a token is good: the
//! [`Validation`] (issuers, audiences, leeway, size, `typ`), the accepted
//! algorithms, the keys (`keys`), the verified-token cache (`cache`), the
//! revocations (`revocations`, fed by `feed` or in process) and the clock.
//! Nothing else in the crate looks inside a token.
//!
//! Two ways to ask, whose return types say what can happen:
//!
//! - [`Verifier::check`], on the request path: answers at once, or, only
//!   when the token names a `kid` the keys lack and the source is a JWKS URL,
//!   says so with [`Check::NeedsKeys`]. The caller then awaits
//!   [`Verifier::refetch`] and asks [`Verifier::recheck`], which answers
//!   `Result<Auth, Rejection>` and never asks for keys again.
//! - [`Verifier::verify`], which never re-fetches: for
//!   [`Guard::check_token`](crate::Guard::check_token).
//!
//! What a judgement checks, in order: the cache (a hit re-checks `exp` with
//! the leeway, that the verifying key is still trusted, and revocation), else
//! m2m-core's [`Validation::verify`] against a snapshot of the keys, the
//! accepted algorithms, and revocation (by `jti`, by client and `iat`, by the
//! verifying key). A token that passes is cached under its exact text.

mod cache;
mod clock;
mod feed;
mod keys;
mod revocations;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use m2m_core::{Algorithm, KeySet, Validation, VerifyError};
use tokio::task::AbortHandle;

use http::{HeaderMap, Method, Uri};

use crate::bearer::Scheme;
use crate::challenge::Rejection;
use crate::dpop::{Dpop, DpopRejection};
use crate::extract::Auth;

pub(crate) use cache::TokenCache;
pub(crate) use clock::{Clock, system as system_clock};
pub(crate) use feed::Feed;
pub use keys::{InProcessKeys, RemoteJwks};
pub(crate) use keys::{KeyStore, Remote, RemoteTimings};
pub use revocations::Revocations;

/// What [`Verifier::check`] found.
#[derive(Debug)]
pub(crate) enum Check {
    /// Judged without waiting.
    Done(Result<Auth, Rejection>),
    /// The token names a `kid` the keys lack, and the source can be
    /// re-fetched: await [`Verifier::refetch`], then ask [`Verifier::recheck`].
    NeedsKeys(KeyMiss),
}

/// A token whose `kid` was unknown under the keys of one generation.
#[derive(Debug)]
pub(crate) struct KeyMiss {
    token: Box<str>,
    kid: String,
    generation: u64,
}

/// The re-fetch for a [`KeyMiss`]; resolves to it, to be rechecked.
pub(crate) type Refetch = Pin<Box<dyn Future<Output = KeyMiss> + Send>>;

/// Background tasks that keep the keys and the revocations fresh; aborted
/// when the verifier goes.
#[derive(Debug, Default)]
pub(crate) struct Tasks(Vec<AbortHandle>);

impl Tasks {
    pub(crate) fn push(&mut self, task: AbortHandle) {
        self.0.push(task);
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Judges tokens. Shared (behind an `Arc`) by a guard and every layer made
/// from it; its background tasks stop when the last of them goes.
pub(crate) struct Verifier {
    validation: Validation,
    algorithms: Option<Vec<Algorithm>>,
    keys: Arc<KeyStore>,
    cache: Arc<TokenCache>,
    revocations: Revocations,
    clock: Clock,
    dpop: Option<Dpop>,
    _tasks: Tasks,
}

/// What [`Verifier::new`] is made of.
pub(crate) struct Parts {
    pub(crate) validation: Validation,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) cache: Arc<TokenCache>,
    pub(crate) revocations: Revocations,
    pub(crate) clock: Clock,
    pub(crate) dpop: Option<Dpop>,
    pub(crate) tasks: Tasks,
}

impl Verifier {
    pub(crate) fn new(parts: Parts) -> Self {
        Verifier {
            validation: parts.validation,
            algorithms: parts.algorithms,
            keys: parts.keys,
            cache: parts.cache,
            revocations: parts.revocations,
            clock: parts.clock,
            dpop: parts.dpop,
            _tasks: parts.tasks,
        }
    }

    /// Judges `token` without waiting. Only a token naming an unknown `kid`
    /// on a remote key source gives [`Check::NeedsKeys`].
    #[inline]
    pub(crate) fn check(&self, token: &str) -> Check {
        let (generation, keys) = self.keys.snapshot();
        match self.judge(token, &keys) {
            Err(Rejection::InvalidToken(VerifyError::UnknownKid(kid)))
                if self.keys.can_refetch() =>
            {
                Check::NeedsKeys(KeyMiss {
                    token: token.into(),
                    kid,
                    generation,
                })
            }
            judged => Check::Done(judged),
        }
    }

    /// Re-fetches the keys for `miss` (single flight, at most once per
    /// cooldown); resolves to `miss` for [`Verifier::recheck`].
    pub(crate) fn refetch(&self, miss: KeyMiss) -> Refetch {
        let keys = Arc::clone(&self.keys);
        Box::pin(async move {
            keys.refresh_for_kid(&miss.kid, miss.generation).await;
            miss
        })
    }

    /// Judges the token of `miss` again, after [`Verifier::refetch`]: a `kid`
    /// still unknown is refused.
    pub(crate) fn recheck(&self, miss: &KeyMiss) -> Result<Auth, Rejection> {
        self.verify(&miss.token)
    }

    /// Judges `token` with the keys there are now, never re-fetching.
    pub(crate) fn verify(&self, token: &str) -> Result<Auth, Rejection> {
        let (_, keys) = self.keys.snapshot();
        self.judge(token, &keys)
    }

    fn judge(&self, token: &str, keys: &KeySet) -> Result<Auth, Rejection> {
        let now = (self.clock)();
        let leeway = self.validation.leeway_secs();

        // A hit is re-checked: not expired, its key still trusted, and not
        // revoked since it was cached (revoking never scans the cache).
        let hit = self.cache.get(token, |entry| {
            entry.exp().saturating_add(leeway) > now
                && keys.contains(&entry.kid)
                && !self
                    .revocations
                    .is_revoked(entry.auth.claims(), Some(&entry.kid))
        });
        if let Some(auth) = hit {
            return Ok(auth);
        }

        let verified = self
            .validation
            .verify(token, keys, now)
            .map_err(Rejection::InvalidToken)?;
        // The key that verified it: the token's kid, or the only key.
        let key = match verified.kid.as_deref() {
            Some(kid) => keys.get(kid),
            None => keys.iter().next(),
        };
        if let Some(accepted) = &self.algorithms
            && let Some(key) = key
            && !accepted.contains(&key.algorithm())
        {
            return Err(Rejection::InvalidToken(VerifyError::UnsupportedAlgorithm(
                key.algorithm().as_str().to_owned(),
            )));
        }
        if self
            .revocations
            .is_revoked(&verified.claims, key.and_then(|key| key.kid()))
        {
            return Err(Rejection::Revoked);
        }
        let auth = Auth::new(Arc::new(verified.claims));
        if let Some(kid) = &verified.kid {
            self.cache.insert(token, auth.clone(), kid, now, leeway);
        }
        Ok(auth)
    }

    /// Checks how a judged token was presented (RFC 9449 §7): a token bound
    /// to a key (`cnf.jkt`) only with the DPoP scheme and a valid proof of
    /// that key for this request, an unbound one only with Bearer. Runs on
    /// every request, cache hit or not.
    pub(crate) fn check_presentation(
        &self,
        auth: &Auth,
        scheme: Scheme,
        token: &str,
        request: (&HeaderMap, &Method, &Uri),
    ) -> Result<(), Rejection> {
        match (auth.claims().dpop_jkt(), scheme) {
            (None, Scheme::Bearer) => Ok(()),
            (None, Scheme::Dpop) => Err(Rejection::NotDpopBound),
            (Some(_), Scheme::Bearer) => Err(Rejection::DpopBoundAsBearer),
            (Some(jkt), Scheme::Dpop) => {
                let dpop = self
                    .dpop
                    .as_ref()
                    .ok_or(Rejection::Dpop(DpopRejection::NotAccepted))?;
                let (headers, method, uri) = request;
                dpop.check(headers, method, uri, token, jkt, (self.clock)())
                    .map_err(Rejection::Dpop)
            }
        }
    }

    /// A fresh DPoP nonce, when the guard requires them.
    pub(crate) fn dpop_nonce(&self) -> Option<String> {
        self.dpop.as_ref().and_then(|d| d.nonce((self.clock)()))
    }

    pub(crate) fn validation(&self) -> &Validation {
        &self.validation
    }

    pub(crate) fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.validation.issuers())
            .field("audiences", &self.validation.audiences())
            .field("algorithms", &self.algorithms)
            .field("keys", &self.keys.len())
            .field("cached_tokens", &self.cache.len())
            .field("revocations", &self.revocations)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2m_core::{AccessTokenClaims, Algorithm, JwkSet, RevokedToken, SigningKey, sign};

    fn verifier(keys: &[&SigningKey]) -> Verifier {
        let cache = Arc::new(TokenCache::new(16));
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
        };
        Verifier::new(Parts {
            validation: Validation::new("i", "a"),
            algorithms: None,
            keys: Arc::new(KeyStore::fixed(&set, Arc::clone(&cache)).unwrap()),
            cache,
            revocations: Revocations::new(),
            clock: Arc::new(|| 1_000),
            dpop: None,
            tasks: Tasks::default(),
        })
    }

    fn token(key: &SigningKey, jti: &str) -> String {
        let claims: AccessTokenClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "m2m_c", "client_id": "m2m_c", "aud": "a",
            "iat": 990, "exp": 2_000, "jti": jti, "scope": "x:read",
        }))
        .unwrap();
        sign(key, &claims).unwrap()
    }

    #[test]
    fn a_fixed_source_never_asks_for_keys_and_names_the_real_kid() {
        let known = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let unknown = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let verifier = verifier(&[&known]);
        match verifier.check(&token(&unknown, "j")) {
            Check::Done(Err(Rejection::InvalidToken(VerifyError::UnknownKid(kid)))) => {
                assert_eq!(kid, unknown.kid());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            verifier.check(&token(&known, "j")),
            Check::Done(Ok(_))
        ));
    }

    #[test]
    fn check_and_verify_judge_alike_and_share_the_cache() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let verifier = verifier(&[&key]);
        let t = token(&key, "j1");
        assert!(verifier.verify(&t).is_ok());
        assert_eq!(verifier.cached_tokens(), 1);
        assert!(matches!(verifier.check(&t), Check::Done(Ok(_))));
        verifier.revocations().revoke(RevokedToken {
            jti: "j1".into(),
            exp: 2_000,
        });
        assert_eq!(verifier.cached_tokens(), 1, "revoking leaves the cache");
        assert!(matches!(
            verifier.check(&t),
            Check::Done(Err(Rejection::Revoked))
        ));
        assert_eq!(verifier.verify(&t).unwrap_err(), Rejection::Revoked);
        assert_eq!(verifier.cached_tokens(), 0, "the refused hit left");
    }

    #[test]
    fn a_hundred_thousand_revocations_leave_the_cache_alone() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let verifier = verifier(&[&key]);
        let tokens: Vec<String> = (0..10).map(|i| token(&key, &format!("kept{i}"))).collect();
        for t in &tokens {
            assert!(verifier.verify(t).is_ok());
        }
        verifier
            .revocations()
            .extend((0..100_000).map(|i| RevokedToken {
                jti: format!("other{i}"),
                exp: 2_000,
            }));
        assert_eq!(verifier.revocations().len(), 100_000);
        assert_eq!(verifier.cached_tokens(), 10);
        for t in &tokens {
            assert!(matches!(verifier.check(t), Check::Done(Ok(_))));
        }
        assert_eq!(verifier.cached_tokens(), 10, "still cached, still served");
    }
}
